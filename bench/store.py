"""The store's cost: writer throughput, and hot-path latency with and without it.

    python bench/store.py [--passes N] [--repeat N] [--update-readme]

Input: the real BTCUSDT recording, run ``--passes`` times back to back through one
Engine (each pass resyncs at its snapshot). Measures:

- hot path: the time of each ``Engine.on_frame`` call (clock read around it in C,
  GIL released) with (a) no store, (b) records copied into the rings (drained
  between passes, outside the timing), (c) rings plus the writer thread running
  concurrently (drain, Arrow, zstd, Parquet files every 10 ms);
- writer: rows/s and MB/s of ``StoreWriter.flush(final=True)`` over rings holding
  one pass of records (drain + Arrow conversion + encoding + files), zstd and snappy.

Writes bench/results/store.json and, with --update-readme, the README block
``<!-- bench:store -->`` if present.
"""
import argparse
import json
import pathlib
import shutil
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench._machine import machine_name  # noqa: E402
from bench._readme import update_block  # noqa: E402
from rtaid._kernels.engine import Engine  # noqa: E402
from rtaid.store import Store  # noqa: E402
from tests.helpers import BTC_RECORDING  # noqa: E402
from bench._timing import run_frames_timed  # noqa: E402
from tests.helpers import pack, read_frames  # noqa: E402

RING_RECORDS = 1 << 20
CHUNK = 1000
HOT_PATH_MODES = ("no store", "rings, no writer", "rings + writer thread",
                  "rings + journal + writer thread")
STALL_NS = 20_000
SCALES = {"BTCUSDT": (2, 3)}


def load():
    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    buf, offsets = pack(payloads)
    return buf, offsets, len(payloads)


def percentiles(ns):
    p = np.percentile(ns, [50, 90, 99, 99.9])
    return {"mean": float(ns.mean()), "p50": float(p[0]), "p90": float(p[1]),
            "p99": float(p[2]), "p99.9": float(p[3]), "max": float(ns.max())}


def drain_all(store):
    for name, table in store.writer.tables.items():
        scratch = np.empty(store.rings.capacity, dtype=table.dtype).view(np.uint8)
        while store.rings.drain(name, scratch):
            pass


def hot_path(mode, buf, offsets, n, passes, rate, tmp):
    """Per-frame on_frame ns over ``passes`` runs of the recording, in one mode.

    Frames go in chunks of CHUNK, paced to ``rate`` frames/s (0: as fast as possible)
    so that the writer, which must keep up in a real run, is not simply overrun.
    """
    engine = Engine(["BTCUSDT"], scales=SCALES)
    store = None
    if mode != "no store":
        store = Store(engine, str(tmp / mode.replace(" ", "_").replace(",", "")),
                      ring_records=RING_RECORDS, flush_interval_ms=10, row_group_s=0.0,
                      raw_journal="journal" in mode, journal_now_ns=lambda: 0)
    if "writer thread" in mode:
        store.start()
    out = np.empty(n * passes, dtype=np.int64)
    busy = 0.0
    k = 0
    t_start = time.perf_counter()
    for _ in range(passes):
        for start in range(0, n, CHUNK):
            end = min(start + CHUNK, n)
            t0 = time.perf_counter()
            run_frames_timed(engine, buf, offsets[start:end + 1], 0, out[k:k + end - start])
            busy += time.perf_counter() - t0
            k += end - start
            if mode == "rings, no writer":
                drain_all(store)   # outside the timing: the rings never fill
            if rate:
                ahead = t_start + k / rate - time.perf_counter()
                if ahead > 0:
                    time.sleep(ahead)
    result = percentiles(out)
    result["frames_per_s_busy"] = n * passes / busy
    result["rows_dropped_ring"] = 0
    if store is not None:
        if "writer thread" in mode:
            store.stop()
        stats = store.stats()
        result["rows_dropped_ring"] = sum(stats["rows_dropped_ring"].values())
        if "journal" in stats:
            result["rows_dropped_ring"] += stats["journal"]["lines_dropped_ring"]
        result["rows_written"] = sum(stats["rows_written"].values())
    return result


def hot_path_gil(mode, payloads, rate, tmp):
    """Per-frame ns of ``Engine.feed`` called from Python, as the feed's WebSocket
    callback does on the event loop: the GIL is held, so a writer holding it shows up
    here. Paced to ``rate`` frames/s in chunks of CHUNK."""
    engine = Engine(["BTCUSDT"], scales=SCALES)
    store = None
    if mode == "rings + writer thread":
        store = Store(engine, str(tmp / "gil_writer"), ring_records=RING_RECORDS,
                      flush_interval_ms=10, row_group_s=0.0)
        store.start()
    n = len(payloads)
    out = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    feed = engine.feed
    t_start = time.perf_counter()
    for start in range(0, n, CHUNK):
        for i in range(start, min(start + CHUNK, n)):
            t0 = clock()
            feed(payloads[i], 0, 0)
            out[i] = clock() - t0
        ahead = t_start + (start + CHUNK) / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    if store is not None:
        store.stop()
    return percentiles(out)


def writer_throughput(compression, buf, offsets, repeat, tmp):
    best = None
    for k in range(repeat):
        engine = Engine(["BTCUSDT"], scales=SCALES)
        out = tmp / f"writer_{compression}_{k}"
        store = Store(engine, str(out), ring_records=RING_RECORDS, compression=compression,
                      row_group_s=None)
        engine.run_frames(buf, offsets, 0)
        rows = sum(store.rings.pending(name) for name in store.writer.tables)
        t0 = time.perf_counter()
        store.writer.flush(final=True)
        dt = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
        assert sum(store.stats()["rows_written"].values()) == rows
        if best is None or dt < best["seconds"]:
            best = {"seconds": dt, "rows": rows, "rows_per_s": rows / dt,
                    "bytes": size, "bytes_per_row": size / rows}
        shutil.rmtree(out)
    return best


def loop_stalls(buf, offsets, tmp, switch_interval):
    """How long the writer keeps the GIL from a Python loop (the feed's event loop).

    One pass of records is written by the writer in a thread while this thread spins
    reading the clock; a gap above STALL_NS between two readings is a stall (the GIL
    was elsewhere). Returns the stalls' count, total and maximum, and the writer's time.
    """
    engine = Engine(["BTCUSDT"], scales=SCALES)
    store = Store(engine, str(tmp / f"stalls_{switch_interval}"), ring_records=RING_RECORDS,
                  row_group_s=None)
    engine.run_frames(buf, offsets, 0)
    old = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)
    try:
        writer = threading.Thread(target=store.writer.flush, kwargs={"final": True})
        gaps = []
        clock = time.perf_counter_ns
        t_start = last = clock()
        writer.start()
        while writer.is_alive():
            now = clock()
            if now - last > STALL_NS:
                gaps.append(now - last)
            last = now
        wall = clock() - t_start
    finally:
        sys.setswitchinterval(old)
    gaps = np.array(gaps or [0], dtype=np.int64)
    return {"switch_interval_ms": switch_interval * 1e3, "writer_ms": wall / 1e6,
            "stalls": int((gaps > 0).sum()), "stalled_ms": float(gaps.sum() / 1e6),
            "max_stall_us": float(gaps.max() / 1e3),
            "p99_stall_us": float(np.percentile(gaps, 99) / 1e3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200_000,
                        help="frames/s fed to the engine (0: unpaced)")
    parser.add_argument("--gil-rate", type=float, default=50_000,
                        help="frames/s of the Engine.feed (GIL held) measurement")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    buf, offsets, n = load()
    results = {"machine": machine_name(), "recording": BTC_RECORDING.name, "frames": n,
               "passes": args.passes, "rate": args.rate, "hot_path_ns": {}, "writer": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for mode in HOT_PATH_MODES:
            # best of repeat by p99: the least disturbed run of each mode
            runs = [hot_path(mode, buf, offsets, n, args.passes, args.rate, tmp) for _ in range(args.repeat)]
            results["hot_path_ns"][mode] = min(runs, key=lambda r: r["p99"])
        for compression in ("zstd", "snappy"):
            results["writer"][compression] = writer_throughput(compression, buf, offsets,
                                                               args.repeat, tmp)
        results["gil"] = [loop_stalls(buf, offsets, tmp, si) for si in (0.005, 0.0005)]
        payloads = [p for _, p in read_frames(BTC_RECORDING)]
        results["hot_path_gil_ns"] = {}
        for mode in ("no store", "rings + writer thread"):
            runs = [hot_path_gil(mode, payloads, args.gil_rate, tmp) for _ in range(args.repeat)]
            results["hot_path_gil_ns"][mode] = min(runs, key=lambda r: r["p99"])
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "store.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"Machine: {results['machine']}. Input: {n:,} frames of {BTC_RECORDING.name} x "
        f"{args.passes} passes, fed at {args.rate:,.0f} frames/s "
        f"({args.rate / 270:,.0f}x the recording's rate), best of {args.repeat} by p99.",
        "",
        "| hot path (Engine.on_frame) | mean | p50 | p90 | p99 | p99.9 | rows dropped |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in results["hot_path_ns"].items():
        lines.append(f"| {mode} | {r['mean']:.0f} ns | {r['p50']:.0f} ns | {r['p90']:.0f} ns "
                     f"| {r['p99']:.0f} ns | {r['p99.9']:.0f} ns | {r['rows_dropped_ring']:,} |")
    lines += ["", "| writer (drain, Arrow, encode, files) | rows/s | bytes/row |", "|---|---|---|"]
    for compression, r in results["writer"].items():
        lines.append(f"| {compression}, {r['rows']:,} rows | {r['rows_per_s'] / 1e6:.2f} M "
                     f"| {r['bytes_per_row']:.1f} |")
    lines += ["", f"| hot path under the GIL (Engine.feed from Python, {args.gil_rate:,.0f} frames/s) "
              "| mean | p50 | p90 | p99 | p99.9 | max |", "|---|---|---|---|---|---|---|"]
    for mode, r in results["hot_path_gil_ns"].items():
        lines.append(f"| {mode} | {r['mean']:.0f} ns | {r['p50']:.0f} ns | {r['p90']:.0f} ns "
                     f"| {r['p99']:.0f} ns | {r['p99.9']:.0f} ns | {r['max'] / 1e3:.0f} us |")
    lines += ["", f"| GIL: a Python loop while the writer writes one pass | writer time "
              f"| stalls > {STALL_NS // 1000} us | stalled | max stall |", "|---|---|---|---|---|"]
    for r in results["gil"]:
        lines.append(f"| switch interval {r['switch_interval_ms']:g} ms | {r['writer_ms']:.0f} ms "
                     f"| {r['stalls']} | {r['stalled_ms']:.1f} ms | {r['max_stall_us']:.0f} us |")
    table = "\n".join(lines)
    print(table)
    if args.update_readme and not update_block("store", table):
        print("README.md has no <!-- bench:store --> block", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
