"""rtaid's kernels in-process on the real BTCUSDT recording, against the way the same job
is done in Python, in the same run.

    python bench/kernels.py [--repeat N] [--passes N] [--update-readme]

Every baseline runs as its users run it, with the same GC and allocation treatment as
rtaid's side: called once per frame, its result dropped at once (nothing accumulates for
the cyclic GC to walk again and again), the garbage collector on as by default.

Throughput, best of --repeat runs on one core:
- decode: rtaid's decoder (``decode_many``, a C loop over the recording) vs
  ``orjson.loads`` per frame (parsing only: the decimal strings stay strings, no book);
- decode + sync + L2 book: rtaid's Engine vs the baseline bot's book path
  (bench/baselines: orjson + exact decimal-to-int parsing + a dict book with Binance's
  sync procedure), per frame;
- the full pipeline as the daemon runs it (decode, book, every indicator, z/osc, bars,
  strategy, every record copied into the store's rings) vs the baseline bot (the same
  indicators and strategy, equal to rtaid's within 1e-9; each row built and dropped).
  Parameters: tests/helpers.py ACTIVE_SETTINGS on both sides (VPIN, bars and the
  strategy all work on the 346 s recording).

Per-frame latency, the last of --passes passes: the Engine timed in C around each
``Engine.on_frame`` (decode + book; and as the daemon runs it), and ``Engine.feed``
vs ``orjson.loads`` called from Python one frame at a time, same timer.

Writes bench/results/kernels.json and, with --update-readme, the README block
``<!-- bench:kernels -->``.
"""
import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import orjson  # noqa: E402

from bench._machine import machine_name  # noqa: E402
from bench._readme import update_block  # noqa: E402
from bench.baselines.bot import Bot, Market  # noqa: E402
from bench.baselines.indicators import settings_from_params  # noqa: E402
from rtaid._kernels.decode import Decoder, decode_many  # noqa: E402
from rtaid._kernels.engine import Engine  # noqa: E402
from bench._timing import time_frames  # noqa: E402
from rtaid._kernels.hist import LatencyHistogram  # noqa: E402
from rtaid._kernels.ring import RecordRings  # noqa: E402
from rtaid._kernels.signals import SignalParams  # noqa: E402
from rtaid.store.tables import TABLES  # noqa: E402
from tests.helpers import (  # noqa: E402
    BTC_RECORDING, active_config, active_params, pack, read_frames,
)

ACTIVE = active_params()     # the baseline bot's settings: the same keys as rtaid's

QUANTILES = (50, 90, 99, 99.9)
ROWS = 93_949      # indicator rows of the recording


def best_of(repeat, fn, setup=None):
    """Best wall time of fn(setup()) over repeat runs (setup untimed), and its result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        arg = setup() if setup else None
        t0 = time.perf_counter()
        result = fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best, result


# ---------------------------------------------------------------------------- rtaid
class DaemonEngine:
    """Engines as the daemon builds them: signal kernels + rings for every table (big
    enough for a whole pass; emptied, untimed, before each run)."""

    def __init__(self, config):
        self.rings = RecordRings(list(TABLES), 1 << 19)
        self.sink = np.empty(self.rings.capacity * max(t.dtype.itemsize for t in TABLES.values()), np.uint8)
        self.signal_params = {"BTCUSDT": SignalParams.from_config(
            config.for_symbol("BTCUSDT"), 2, 3)}

    def __call__(self):
        for name in TABLES:
            self.rings.drain(name, self.sink)
        return Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=self.rings,
                      signal_params=self.signal_params)

    def no_drops(self) -> bool:
        return all(self.rings.dropped(n) == 0 for n in TABLES)


def plain_engine():
    return Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})


# ---------------------------------------------------------------------------- baseline
def baseline_run(payloads, snapshot_at: int, signals: bool):
    """A fresh baseline bot; returns a function that runs the recording through it."""
    def make():
        market = Market("BTCUSDT", 2, 3, settings_from_params(ACTIVE), None, False, signals)
        return Bot({"BTCUSDT": market})

    def run(bot):
        on_message = bot.on_message
        for p in payloads[:snapshot_at]:
            on_message(p)
        bot.on_snapshot("BTCUSDT", orjson.loads(payloads[snapshot_at]))
        for p in payloads[snapshot_at + 1:]:
            on_message(p)
        if signals:
            bot.markets["BTCUSDT"].sig.finish()
        return bot

    return make, run


# ---------------------------------------------------------------------------- latency
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


# ---------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="throughput: best of N runs")
    parser.add_argument("--passes", type=int, default=3, help="latency: full passes, the last reported")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)

    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    n = len(payloads)
    buf, offsets = pack(payloads)
    snapshot_at = next(i for i, p in enumerate(payloads) if not p.startswith(b'{"stream"'))
    daemon_engine = DaemonEngine(active_config())

    # decode
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    t_decode, ok = best_of(args.repeat, lambda _: decode_many(dec, buf, offsets, 0))
    assert ok == n

    def orjson_per_frame(_):
        loads = orjson.loads
        for p in payloads:
            loads(p)

    t_orjson, _ = best_of(args.repeat, orjson_per_frame)

    # decode + book
    def engine_run(engine):
        engine.run_frames(buf, offsets, 0)
        return engine

    t_book, engine = best_of(args.repeat, engine_run, plain_engine)
    assert engine.book_stats(0)["gap"] == 0 and engine.book_state(0) == "synced"
    make, run = baseline_run(payloads, snapshot_at, signals=False)
    t_bot_book, bot = best_of(args.repeat, run, make)
    assert bot.markets["BTCUSDT"].book.bids.top(50) == engine.top(0, "bid", 50)

    # the full pipeline
    t_full, engine = best_of(args.repeat, engine_run, daemon_engine)
    assert engine.signal_state(0)["rows"] == ROWS and daemon_engine.no_drops()
    make, run = baseline_run(payloads, snapshot_at, signals=True)
    t_bot_full, bot = best_of(max(1, args.repeat // 2), run, make)
    assert bot.n_rows == ROWS

    # per-frame latency
    kernel, _ = kernel_latency(plain_engine, buf, offsets, args.passes)
    full, engine = kernel_latency(daemon_engine, buf, offsets, args.passes)
    assert engine.signal_state(0)["rows"] == ROWS and daemon_engine.no_drops()
    for _ in range(args.passes):
        feed = plain_engine().feed
        py_rtaid = python_timed(lambda p: feed(p, 0, 0), payloads)
        py_orjson = python_timed(orjson.loads, payloads)

    results = {
        "machine": machine_name(), "recording": BTC_RECORDING.name, "messages": n,
        "decode_ns_per_msg": t_decode / n * 1e9,
        "orjson_ns_per_msg": t_orjson / n * 1e9,
        "decode_vs_orjson": t_orjson / t_decode,
        "decode_book_msgs_per_s": n / t_book,
        "baseline_book_msgs_per_s": n / t_bot_book,
        "decode_book_vs_baseline": t_bot_book / t_book,
        "pipeline_msgs_per_s": n / t_full,
        "baseline_pipeline_msgs_per_s": n / t_bot_full,
        "pipeline_vs_baseline": t_bot_full / t_full,
        "kernel_ns": kernel,
        "daemon_engine_ns": full,
        "python_timed_ns": {"rtaid_engine_feed": summary(py_rtaid), "orjson_loads": summary(py_orjson)},
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "kernels.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, args)
    print(table)
    if args.update_readme and not update_block("kernels", table):
        print("README.md has no <!-- bench:kernels --> block", file=sys.stderr)
    return 0


def markdown(r: dict, args) -> str:
    def row(name, s):
        return (f"| {name} | {s['count']:,} | " + " | ".join(f"{s[f'p{q:g}']:,}" for q in QUANTILES)
                + f" | {s['max']:,} |")

    n = r["messages"]
    lines = [
        f"Machine: {r['machine']}. Input: {n:,} frames of {r['recording']}; throughput best of "
        f"{args.repeat}, latency pass {args.passes} of {args.passes}. Baselines are called once per "
        "frame with the result dropped at once, the GC on (as a feed handler runs them).",
        "",
        "| measurement | rtaid | baseline (same run) | ratio |",
        "|---|---|---|---|",
        f"| decode | {r['decode_ns_per_msg']:.0f} ns/msg | `orjson.loads` per frame (parsing only: "
        f"strings stay strings, no book) {r['orjson_ns_per_msg']:.0f} ns/msg | {r['decode_vs_orjson']:.1f}x |",
        f"| decode + sync + L2 book | {r['decode_book_msgs_per_s'] / 1e6:.2f} M msg/s | plain-Python bot: "
        f"orjson + exact decimal parsing + dict book, synced {r['baseline_book_msgs_per_s'] / 1e3:.0f} k msg/s "
        f"| {r['decode_book_vs_baseline']:.0f}x |",
        f"| the daemon's pipeline: decode, book, every indicator, z/osc, bars, strategy, every record "
        f"into the rings | {r['pipeline_msgs_per_s'] / 1e6:.2f} M msg/s | plain-Python bot, the same "
        f"indicators and strategy (equal within 1e-9), rows dropped {r['baseline_pipeline_msgs_per_s'] / 1e3:.1f} "
        f"k msg/s | {r['pipeline_vs_baseline']:.0f}x |",
        "",
        "Per-frame latency (ns), timed in C around each `Engine.on_frame` call, decode + sync + L2 book:",
        "",
        "| frames | count | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [row(k, r["kernel_ns"][k]) for k in ("bbo", "trade", "depth", "all") if k in r["kernel_ns"]]
    lines += [
        "",
        "The engine as the daemon runs it (+ every indicator, z/osc, bars, the strategy and every "
        "record copied into the store's rings), same timer, same run:",
        "",
        "| frames | count | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [row(k, r["daemon_engine_ns"][k]) for k in ("bbo", "trade", "depth", "all")
              if k in r["daemon_engine_ns"]]
    py = r["python_timed_ns"]
    lines += [
        "",
        "Called from Python one frame at a time, same timer, same run:",
        "",
        "| call | count | p50 | p90 | p99 | p99.9 | max |",
        "|---|---|---|---|---|---|---|",
        row("rtaid `Engine.feed` (decode + book)", py["rtaid_engine_feed"]),
        row("`orjson.loads` (parsing only)", py["orjson_loads"]),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
