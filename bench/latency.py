"""Per-frame latency of rtaid's hot path on real Binance frames.

    python bench/latency.py [--passes N] [--update-readme]

1. Kernel latency: every frame of the BTCUSDT recording goes through Engine.on_frame
   (decode + sync + L2 book) with a monotonic clock read in C before and after each
   call; percentiles by message kind. Then the same for the engine as the daemon runs
   it: with the signal kernels (every indicator, z/osc, bars, strategy; parameters of
   tests/signals/conftest.py ACTIVE, so VPIN and the strategy work) and every record
   copied into the store's rings.
2. The same frames timed one by one from Python, for rtaid's ``Engine.feed`` and for
   ``orjson.loads`` (the baseline: parsing alone, no book), with the same timer, in the
   same run.
Writes bench/results/latency.json and, with --update-readme, the README table.
"""
import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench._machine import machine_name  # noqa: E402
from bench._readme import update_block  # noqa: E402
from rtaid._kernels.engine import Engine  # noqa: E402
from bench._timing import time_frames  # noqa: E402
from rtaid._kernels.hist import LatencyHistogram  # noqa: E402
from rtaid._kernels.ring import RecordRings  # noqa: E402
from rtaid._kernels.signals import SignalParams  # noqa: E402
from rtaid.store.tables import TABLES  # noqa: E402
from tests.helpers import BTC_RECORDING  # noqa: E402
from tests.helpers import active_config, pack, read_frames  # noqa: E402

QUANTILES = (50, 90, 99, 99.9)


def summary(h: LatencyHistogram) -> dict:
    out = {f"p{q:g}": h.percentile(q) for q in QUANTILES}
    out.update(max=h.max_ns, count=h.count, mean=h.sum_ns / h.count if h.count else None)
    return out


def python_timed(fn, payloads) -> LatencyHistogram:
    h = LatencyHistogram()
    clock = time.perf_counter_ns
    for p in payloads:
        t0 = clock()
        fn(p)
        h.record(clock() - t0)
    return h


def kernel_latency(make_engine, buf, offsets, passes):
    """Per-kind percentiles of Engine.on_frame, timed in C (the last of ``passes``)."""
    for _ in range(passes):     # earlier passes warm caches and branch predictors
        hists = {k: LatencyHistogram() for k in ("depth", "bbo", "trade", "other")}
        engine = make_engine()
        time_frames(engine, buf, offsets, 0, hists["depth"], hists["bbo"], hists["trade"], hists["other"])
    assert engine.book_stats(0)["gap"] == 0 and engine.book_state(0) == "synced"
    out = {k: summary(h) for k, h in hists.items() if h.count}
    allk = LatencyHistogram()
    for h in hists.values():
        allk.merge(h)
    out["all"] = summary(allk)
    return out, engine


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3, help="full passes; the last is reported")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)

    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    buf, offsets = pack(payloads)
    kernel, _ = kernel_latency(lambda: Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}),
                               buf, offsets, args.passes)
    params = {"BTCUSDT": SignalParams.from_config(active_config().for_symbol("BTCUSDT"), 2, 3)}
    # rings that hold a whole pass (a full ring drops records: a cheaper, untrue path)
    rings = RecordRings(TABLES, 1 << 19)

    def daemon_engine():
        for name in TABLES:     # empty the rings between passes (records are not kept)
            rings.drain(name, sink)
        return Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=rings,
                      signal_params=params)

    import numpy as np
    sink = np.empty(rings.capacity * max(t.dtype.itemsize for t in TABLES.values()), np.uint8)
    full, engine = kernel_latency(daemon_engine, buf, offsets, args.passes)
    assert engine.signal_state(0)["rows"] == 93_949
    assert all(rings.dropped(n) == 0 for n in TABLES)

    for _ in range(args.passes):
        engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
        feed = engine.feed
        py_rtaid = python_timed(lambda p: feed(p, 0, 0), payloads)
        py_orjson = python_timed(orjson.loads, payloads)
    results = {
        "machine": machine_name(), "recording": BTC_RECORDING.name, "frames": len(payloads),
        "kernel_ns": kernel,
        "daemon_engine_ns": full,
        "python_timed_ns": {"rtaid_engine_feed": summary(py_rtaid), "orjson_loads": summary(py_orjson)},
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps(results, indent=2) + "\n")

    def row(name, s):
        return f"| {name} | {s['count']:,} | " + " | ".join(f"{s[f'p{q:g}']:,}" for q in QUANTILES) + f" | {s['max']:,} |"

    lines = [
        f"Machine: {results['machine']}. {len(payloads):,} frames of {BTC_RECORDING.name}; "
        f"pass {args.passes} of {args.passes}. Nanoseconds per frame.",
        "",
        "Kernel (decode + sync + L2 book), timed in C around each `Engine.on_frame` call:",
        "",
        "| frames | count | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [row(k, kernel[k]) for k in ("bbo", "trade", "depth", "all") if k in kernel]
    lines += [
        "",
        "The engine as the daemon runs it (decode + book + every indicator, z/osc, bars and",
        "the strategy + every record copied into the store's rings), same timer, same run:",
        "",
        "| frames | count | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [row(k, full[k]) for k in ("bbo", "trade", "depth", "all") if k in full]
    r, o = results["python_timed_ns"]["rtaid_engine_feed"], results["python_timed_ns"]["orjson_loads"]
    lines += [
        "",
        "Called from Python one frame at a time, same timer, same run (baseline: `orjson.loads`, parsing only):",
        "",
        "| call | count | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|",
        row("rtaid `Engine.feed` (decode + book)", r),
        row("`orjson.loads` (parse only)", o),
        "",
        f"p50 ratio orjson / rtaid: {o['p50'] / r['p50']:.1f}x; p99 ratio: {o['p99'] / r['p99']:.1f}x.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.update_readme and not update_block("latency", table):
        print("README.md has no <!-- bench:latency --> block", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
