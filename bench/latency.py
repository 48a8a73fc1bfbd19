"""Per-frame latency of rtaid's hot path on real Binance frames.

    python bench/latency.py [--passes N] [--update-readme]

1. Kernel latency: every frame of the BTCUSDT recording goes through Engine.on_frame
   (decode + sync + L2 book) with a monotonic clock read in C before and after each
   call; percentiles by message kind.
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
from rtaid._kernels.frame_timing import time_frames  # noqa: E402
from rtaid._kernels.hist import LatencyHistogram  # noqa: E402
from tests.conftest import BTC_RECORDING  # noqa: E402
from tests.kernels.recordings import pack, read_frames  # noqa: E402

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3, help="full passes; the last is reported")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)

    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    buf, offsets = pack(payloads)
    for _ in range(args.passes):     # earlier passes warm caches and branch predictors
        hists = {k: LatencyHistogram() for k in ("depth", "bbo", "trade", "other")}
        engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
        time_frames(engine, buf, offsets, 0, hists["depth"], hists["bbo"], hists["trade"], hists["other"])
    assert engine.book_stats(0)["gap"] == 0 and engine.book_state(0) == "synced"
    kernel = {k: summary(h) for k, h in hists.items() if h.count}
    allk = LatencyHistogram()
    for h in hists.values():
        allk.merge(h)
    kernel["all"] = summary(allk)

    for _ in range(args.passes):
        engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
        feed = engine.feed
        py_rtaid = python_timed(lambda p: feed(p, 0, 0), payloads)
        py_orjson = python_timed(orjson.loads, payloads)
    results = {
        "machine": machine_name(), "recording": BTC_RECORDING.name, "frames": len(payloads),
        "kernel_ns": kernel,
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
