"""Kernel throughput on the real BTCUSDT recording, as ratios to same-run baselines.

    python bench/kernels.py [--repeat N] [--update-readme]

Measures, best of N runs on one core:
- decode: the Cython decoder vs ``orjson.loads`` on the same frames;
- decode + book: the Engine (decode, sync state machine, L2 book) vs the pure-Python
  reference (``json.loads`` + rtaid.reference decode/book) on the same frames.
Writes bench/results/kernels.json and, with --update-readme, the README table.
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
from rtaid._kernels.decode import Decoder, decode_many  # noqa: E402
from rtaid._kernels.engine import Engine  # noqa: E402
from rtaid.reference import decode as ref  # noqa: E402
from rtaid.reference.book import RefBook  # noqa: E402
from tests.helpers import BTC_RECORDING  # noqa: E402
from tests.helpers import pack, read_frames  # noqa: E402


def best_of(repeat, fn, setup=None):
    """Best wall time of fn() (or fn(setup()) with setup untimed) over repeat runs."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        result = fn(arg) if setup else fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def reference_pipeline(payloads):
    book = RefBook()
    for payload in payloads:
        msg = json.loads(payload)
        data = msg.get("data", msg)
        kind = data.get("e")
        if kind == "depthUpdate":
            book.on_depth(ref.depth_event(data, 2, 3))
        elif kind == "bookTicker":
            ref.to_scaled_int(data["b"], 2), ref.to_scaled_int(data["B"], 3)
            ref.to_scaled_int(data["a"], 2), ref.to_scaled_int(data["A"], 3)
        elif kind == "trade":
            ref.to_scaled_int(data["p"], 2), ref.to_scaled_int(data["q"], 3)
        elif "lastUpdateId" in msg:
            book.on_snapshot(ref.snapshot_event(msg, 2, 3))
    return book


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)

    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    n = len(payloads)
    buf, offsets = pack(payloads)

    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    t_decode, ok = best_of(args.repeat, lambda: decode_many(dec, buf, offsets, 0))
    assert ok == n
    t_orjson, _ = best_of(args.repeat, lambda: [orjson.loads(p) for p in payloads])

    def fresh_engine():
        # built outside the timed region: construction preallocates every buffer
        return Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})

    def engine_run(engine):
        engine.run_frames(buf, offsets, 0)
        return engine

    t_engine, engine = best_of(args.repeat, engine_run, setup=fresh_engine)
    stats = engine.book_stats(0)
    assert stats["gap"] == 0 and engine.book_state(0) == "synced"
    t_ref, refbook = best_of(max(1, args.repeat // 3), lambda: reference_pipeline(payloads))
    assert engine.top(0, "bid", 50) == refbook.top("bid", 50)

    results = {
        "machine": machine_name(),
        "recording": BTC_RECORDING.name,
        "messages": n,
        "decode_ns_per_msg": t_decode / n * 1e9,
        "orjson_ns_per_msg": t_orjson / n * 1e9,
        "decode_vs_orjson": t_orjson / t_decode,
        "decode_book_msgs_per_s": n / t_engine,
        "reference_msgs_per_s": n / t_ref,
        "decode_book_vs_reference": t_ref / t_engine,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "kernels.json").write_text(json.dumps(results, indent=2) + "\n")
    table = "\n".join([
        f"Machine: {results['machine']}. Input: {n:,} frames of {BTC_RECORDING.name}, best of {args.repeat}.",
        "",
        "| measurement | result | baseline (same run) | ratio |",
        "|---|---|---|---|",
        f"| decode | {results['decode_ns_per_msg']:.0f} ns/msg | orjson.loads {results['orjson_ns_per_msg']:.0f} ns/msg "
        f"| {results['decode_vs_orjson']:.1f}x faster |",
        f"| decode + sync + L2 book | {results['decode_book_msgs_per_s'] / 1e6:.2f} M msg/s "
        f"| pure-Python reference {results['reference_msgs_per_s'] / 1e3:.0f} k msg/s "
        f"| {results['decode_book_vs_reference']:.0f}x faster |",
    ])
    print(table)
    if args.update_readme and not update_block("kernels", table):
        print("README.md has no <!-- bench:kernels --> block", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
