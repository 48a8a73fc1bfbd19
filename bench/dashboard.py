"""The dashboard's Market page on a day of one symbol, at real volume.

    python bench/dashboard.py [--hours 24] [--repeat 5] [--keep DIR] [--update-docs]

A day of BTCUSDT at the recording's rate does not exist as a recording, so it is built
from the real one: ``rtaid replay`` of btcusdt_20240808.gz (346 s, 93,949 indicator
rows), then its ``indicators``, ``bars_1m`` and ``signals`` rows tiled over ``--hours``
with the times shifted by the recording's length, laid out like the daemon's writer
(hourly part files, a row group per minute, zstd). For 24 h: ~23.5 M indicator rows,
1,440 bars.

Measured, each step in a fresh process (best of ``--repeat``; the first, cold run too;
peak RSS and Arrow's peak), with the four default oscillators, the dashboard's code
against baselines in the same run:
- the day as the Market page draws it (a window of 4 h or more): ``bars_1m`` with the
  oscillators' per-minute values and the signals read, the figure built and serialised
  as Streamlit does (``plotly.io.to_json``); baseline: the reads with pyarrow.dataset;
- a 4 h window of the per-event ``indicators`` downsampled in the query (the largest
  window the page reads per event), and the whole day; baselines: the same aggregation
  in an Acero plan (pyarrow's engine), and the columns read into pandas and grouped there;
- the whole Market page of the day under Streamlit's AppTest (first run, cached rerun).
Writes bench/results/dashboard.json; with --update-docs the block
``<!-- bench:dashboard -->`` of docs/dashboard.md.
"""
import argparse
import gc
import json
import math
import os
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench._machine import machine_name  # noqa: E402
from tests.helpers import BTC_RECORDING  # noqa: E402

SYMBOL, DAY = "BTCUSDT", "2024-08-09"
DAY_START_MS = 1723161600000  # 2024-08-09 00:00 UTC
OSCILLATORS = ("Price deviation (strategy)", "OFI", "VPIN", "TOBI (top-of-book imbalance)")
OVERRIDES = ("vpin.calibration_ms=10000", "norm.warmup=20", "strategy.toxic_max=100")
DOCS = ROOT / "docs" / "dashboard.md"


def build_day(root: pathlib.Path, hours: float) -> dict:
    """Replay the recording, then tile its signal tables over ``hours`` from midnight,
    laid out as the daemon's writer does: hourly part files (storage.rotate_s = 3600),
    a row group per minute (row_group_s = 60), zstd."""
    from rtaid import cli

    replayed = root / "replayed"
    argv = ["replay", str(BTC_RECORDING), "--out", str(replayed)]
    for text in OVERRIDES:
        argv += ["--set", text]
    assert cli.main(argv) == 0
    day = root / "day"
    counts = {}
    for table, time_column in (("indicators", "ts_ms"), ("bars_1m", "minute_ms"),
                               ("signals", "ts_ms")):
        source = ds.dataset(replayed / table / f"symbol={SYMBOL}", format="parquet",
                            partitioning="hive").to_table()
        source = source.drop_columns([c for c in ("date",) if c in source.column_names])
        times = source[time_column]
        first = pc.min(times).as_py()
        length = 346_000
        if table == "bars_1m":  # the recording's 6 complete minutes, tiled by whole minutes
            length = 6 * 60_000
            source = source.filter(pc.less(times, first + length))
        copies = math.ceil(hours * 3_600_000 / length)
        per_minute = max(1, round(source.num_rows * 60_000 / length))
        counts[table] = _write_tiles(day / table / f"symbol={SYMBOL}" / f"date={DAY}", source,
                                     time_column, first, length, copies, per_minute)
    return counts


def _write_tiles(directory, source, time_column, first, length, copies, per_minute) -> int:
    directory.mkdir(parents=True)
    index = source.column_names.index(time_column)
    base = pc.subtract(source[time_column], first)
    writer, hour, rows = None, None, 0
    for k in range(copies):
        start = DAY_START_MS + k * length
        shifted = source.set_column(index, source.schema.field(index), pc.add(base, start))
        shifted = shifted.filter(pc.less(shifted[time_column], DAY_START_MS + 86_400_000))
        for offset in range(0, shifted.num_rows, per_minute):
            chunk = shifted.slice(offset, per_minute)
            chunk_hour = chunk[time_column][0].as_py() // 3_600_000
            if writer is None or chunk_hour != hour:
                if writer is not None:
                    writer.close()
                hour = chunk_hour
                writer = pq.ParquetWriter(
                    directory / f"part-{chunk[time_column][0].as_py()}-0000.parquet",
                    source.schema, compression="zstd")
            writer.write_table(chunk)
        rows += shifted.num_rows
    writer.close()
    return rows


def best(repeat, fn):
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times), result


def child(step: str, root: pathlib.Path, repeat: int) -> dict:
    """One measurement in this (fresh) process: time, peak RSS and Arrow's peak."""
    import resource

    import pandas as pd  # noqa: F401  (every step pays the same imports)
    import plotly.io as pio

    from rtaid.dashboard import dataset, figures
    from rtaid.dashboard.schema import (BAR_COLUMNS, BAR_LAST_SUFFIX, OSCILLATOR_BY_LABEL,
                                        SIGNAL_COLUMNS, strategy_thresholds)
    from rtaid.infra.config import load_config

    data = str(root / "day")
    strategy = load_config(None, OVERRIDES).strategy
    chosen = [OSCILLATOR_BY_LABEL[label] for label in OSCILLATORS]
    columns = tuple(o.column for o in chosen)
    bar_refs = dataset.files(data, "bars_1m", SYMBOL, [DAY])
    signal_refs = dataset.files(data, "signals", SYMBOL, [DAY])
    ind_refs = dataset.files(data, "indicators", SYMBOL, [DAY])
    span = dataset.time_span(ind_refs, "ts_ms")
    bar_columns = BAR_COLUMNS + tuple(c + BAR_LAST_SUFFIX for c in columns)

    def day_page(read):
        # a window of 4 h or more: the oscillator rows come from bars_1m (as the page does)
        def run():
            bars = read(bar_refs, bar_columns, "minute_ms")
            signals = read(signal_refs, SIGNAL_COLUMNS, "ts_ms")
            series = {o.column: figures.series_from_bars(bars, o.column) for o in chosen}
            fig = figures.market_figure(bars, signals, None, chosen, series,
                                        strategy_thresholds(strategy), None, None)
            return {"rows": bars.num_rows, "signals": signals.num_rows,
                    "figure_json_bytes": len(pio.to_json(fig, validate=False))}
        return run

    def downsampled(engine, hours):
        def run():
            end = span[0] + int(hours * 3_600_000)
            w = dataset.bucket_width(end - span[0], 2000)
            buckets = engine(ind_refs, "ts_ms", columns, w, span[0], end)
            return {"hours": hours, "bucket_ms": w, "buckets": buckets.num_rows,
                    "rows": int(pc.sum(buckets["rows"]).as_py())}
        return run

    def in_pandas():
        frame = ds.dataset([r[0] for r in ind_refs], format="parquet").to_table(
            columns=["ts_ms", *columns]).to_pandas()
        w = dataset.bucket_width(span[1] - span[0], 2000)
        grouped = frame.groupby(frame.ts_ms // w * w)[list(columns)].agg(["mean", "min", "max"])
        return {"buckets": len(grouped), "rows": len(frame), "bucket_ms": w}

    steps = {
        "day": day_page(dataset.read),
        "day_pyarrow": day_page(pyarrow_read),
        "window4h": downsampled(dataset.downsample, 4),
        "window4h_acero": downsampled(acero_downsample, 4),
        "downsample": downsampled(dataset.downsample, 24),
        "downsample_acero": downsampled(acero_downsample, 24),
        "pandas": in_pandas,
    }
    if step == "apptest":
        result = apptest(data)
    else:
        cold, warm, info = best(repeat, steps[step])
        result = {"cold_s": cold, "best_s": warm, "repeat": repeat, **info}
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["arrow_peak_bytes"] = pa.default_memory_pool().max_memory()
    return result


# Baselines: the same reads with pyarrow.dataset, the same aggregation with Acero (one
# thread, as the dashboard's DuckDB), as the dashboard did before it used DuckDB.


def pyarrow_read(refs, columns, time_column):
    table = ds.dataset([r[0] for r in refs], format="parquet").to_table(columns=list(columns))
    return table.sort_by(time_column)


def acero_downsample(refs, time_column, columns, width_ms, start_ms, end_ms):
    import pyarrow.acero as acero

    dataset = ds.dataset([r[0] for r in refs], format="parquet")
    width = pa.scalar(int(width_ms), pa.int64())
    bucket = pc.multiply(pc.divide(pc.field(time_column), width), width)
    null = pa.scalar(None, pa.float64())
    values = [pc.if_else(pc.is_nan(pc.field(c)), null, pc.field(c)) for c in columns]
    aggregates = [(time_column, "hash_count", pc.CountOptions(mode="all"), "rows")]
    flat, names = [pc.field("bucket_ms"), pc.field("rows")], ["bucket_ms", "rows"]
    for c in columns:
        aggregates += [(c, "hash_mean", None, f"{c}_mean"), (c, "hash_min_max", None, f"{c}_mm")]
        flat += [pc.field(f"{c}_mean"), pc.field(f"{c}_mm", "min"), pc.field(f"{c}_mm", "max")]
        names += [f"{c}_mean", f"{c}_min", f"{c}_max"]
    condition = (pc.field(time_column) >= start_ms) & (pc.field(time_column) < end_ms)
    plan = acero.Declaration.from_sequence([
        acero.Declaration("scan", acero.ScanNodeOptions(
            dataset, columns=[time_column, *columns], filter=condition)),
        acero.Declaration("filter", acero.FilterNodeOptions(condition)),
        acero.Declaration("project", acero.ProjectNodeOptions(
            [bucket, pc.field(time_column), *values], ["bucket_ms", time_column, *columns])),
        acero.Declaration("aggregate", acero.AggregateNodeOptions(aggregates, keys=["bucket_ms"])),
        acero.Declaration("project", acero.ProjectNodeOptions(flat, names)),
        acero.Declaration("order_by", acero.OrderByNodeOptions([("bucket_ms", "ascending")])),
    ])
    return plan.to_table(use_threads=False)


STEPS = ("day", "day_pyarrow", "window4h", "window4h_acero", "downsample", "downsample_acero",
         "pandas", "apptest")


def measure(root: pathlib.Path, repeat: int) -> dict:
    """Each step in its own process, so that peaks do not mix."""
    import subprocess

    out = {}
    for step in STEPS:
        times = 1 if step == "apptest" else min(repeat, 2) if step == "pandas" else repeat
        done = subprocess.run([sys.executable, __file__, "--child", step, "--keep", str(root),
                               "--repeat", str(times)], capture_output=True, text=True, check=True)
        out[step] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def apptest(data: str) -> dict:
    """The Market page as Streamlit runs it: a first run (empty caches), then reruns."""
    from streamlit.testing.v1 import AppTest

    from rtaid.dashboard.settings import ENV_SETTINGS, Settings

    os.environ[ENV_SETTINGS] = Settings(data_dir=data, socket="/nonexistent.sock",
                                        overrides=OVERRIDES).to_env()
    times = []
    at = AppTest.from_file(str(ROOT / "rtaid" / "dashboard" / "app.py"), default_timeout=600)
    at.query_params["symbol"] = SYMBOL
    for _ in range(3):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(figure["data"]) > 4, "the Market page drew no oscillators"
    return {"first_run_s": times[0], "cached_run_s": min(times[1:])}


def report(results: dict) -> str:
    r = results

    def mib(n):
        return f"{n / 2**20:,.0f} MiB"

    def row(what, m, timing=None):
        if timing is None:
            unit_ms = m["best_s"] < 1
            timing = (f"{m['best_s'] * 1e3:,.0f} ms ({m['cold_s'] * 1e3:,.0f} ms)" if unit_ms
                      else f"{m['best_s']:.2f} s ({m['cold_s']:.2f} s)")
        return (f"| {what} | {m.get('repeat', 3)} | {timing} | {mib(m['peak_rss_bytes'])} | "
                f"{mib(m['arrow_peak_bytes'])} |")

    def ratio(a, b):
        return f"{r[b]['best_s'] / r[a]['best_s']:.1f}x"

    day, w4, full, app = r["day"], r["window4h"], r["downsample"], r["apptest"]
    return "\n".join([
        f"Machine: {r['machine']}, shared with other jobs while it ran. A day of {SYMBOL} built "
        f"from the real recording (btcusdt_20240808.gz tiled over {r['hours']:g} h; hourly "
        f"part files, a row group per minute, zstd, as the daemon writes them): "
        f"{r['rows']['indicators']:,} indicator rows, {r['rows']['bars_1m']:,} bars, "
        f"{r['rows']['signals']:,} signals. Four oscillators. Each step in a fresh process with "
        f"the same imports; best of the runs, the first (cold) in brackets; peak RSS of the "
        f"process, and of Arrow's memory pool (DuckDB's memory is in the RSS only). DuckDB and "
        f"Acero on one thread.",
        "",
        "| Market page step | runs | time | peak RSS | Arrow peak |",
        "|---|---|---|---|---|",
        row(f"**the day** (a window >= 4 h): bars_1m with the oscillators' minute values and "
            f"the signals read (DuckDB), figure built and serialised "
            f"({day['figure_json_bytes'] / 1e3:,.0f} kB JSON)", day),
        row(f"baseline: the same with pyarrow.dataset reads ({ratio('day', 'day_pyarrow')} "
            f"the time)", r["day_pyarrow"]),
        row(f"**a 4 h window** of the per-event indicators downsampled in the query (DuckDB: "
            f"{w4['rows']:,} rows into {w4['buckets']:,} buckets of {w4['bucket_ms'] / 1000:g} s; "
            f"mean, min, max)", w4),
        row(f"baseline: the same in the scan with Acero ({ratio('window4h', 'window4h_acero')})",
            r["window4h_acero"]),
        row(f"the whole day of per-event indicators downsampled in the query (DuckDB: "
            f"{full['rows']:,} rows into {full['buckets']:,} buckets of "
            f"{full['bucket_ms'] / 1000:g} s)", full),
        row(f"baseline: the same with Acero ({ratio('downsample', 'downsample_acero')})",
            r["downsample_acero"]),
        row(f"baseline: the same columns read into pandas (default threads) and grouped there "
            f"({ratio('downsample', 'pandas')})", r["pandas"]),
        row("the whole Market page of the day under AppTest: first run (empty cache) / "
            "cached rerun", {**app, "repeat": 3},
            f"{app['first_run_s']:.2f} s / {app['cached_run_s']:.2f} s"),
    ])


def update_docs(text: str) -> bool:
    import re

    body = DOCS.read_text()
    start, end = "<!-- bench:dashboard -->", "<!-- /bench:dashboard -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(body):
        return False
    DOCS.write_text(pattern.sub(lambda _: f"{start}\n{text.rstrip()}\n{end}", body))
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="build (or reuse) the day here and keep it")
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one step, in a fresh process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, pathlib.Path(args.keep), args.repeat)))
        return 0
    root = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="rtaid-bench-dashboard-"))
    try:
        counts_file = root / "rows.json"
        if counts_file.exists():
            counts = json.loads(counts_file.read_text())
        else:
            counts = build_day(root, args.hours)
            counts_file.write_text(json.dumps(counts))
        results = {"machine": machine_name(), "hours": args.hours, "rows": counts,
                   **measure(root, args.repeat)}
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    print(text)
    if args.update_docs and not update_docs(text):
        print("docs/dashboard.md has no <!-- bench:dashboard --> block", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
