"""Full-pipeline throughput of the signal kernels on the real BTCUSDT recording.

    python bench/signals.py [--repeat N] [--update-readme]

Measures, best of N runs on one core (parameters: tests/signals/conftest.py ACTIVE, so
that VPIN, bars and the strategy all work):
- the full pipeline (decode, book sync, L2 book, every indicator, z/osc, bars,
  strategy) in messages/s and ns/message, against the decode + book Engine alone;
- the same in the Engine, with the rows of the signal tables (indicators, bars_1m,
  signals) copied into the store's rings; and as the daemon runs it when it records
  everything (also trades, bbo, every depth level, book_top, book_events); rings are
  drained between runs, outside the timed region;
- each indicator family's own cost, counted in-kernel with the TSC around every
  family section (one profiled run; the empty-section overhead is subtracted): ns per
  message and per event that drives the family.
The comparison with Python (the same indicators in a plain-Python bot) is in
bench/kernels.py; the pure-Python reference is written for clarity, not speed, and is
no baseline anyone runs.
Writes bench/results/signals.json and, with --update-readme, the README block
``<!-- bench:signals -->`` (if the README has one).
"""
import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_name  # noqa: E402
from bench._readme import update_block  # noqa: E402
import numpy as np  # noqa: E402

from rtaid._kernels.engine import Engine  # noqa: E402
from rtaid._kernels.ring import RecordRings  # noqa: E402
from rtaid._kernels.signals import (  # noqa: E402
    SignalDriver, SignalParams, pack_frames, read_recording_frames, resolve_params, tsc_calibration,
)
from rtaid.store.tables import TABLES  # noqa: E402
from tests.conftest import BTC_RECORDING  # noqa: E402
from tests.signals.conftest import ACTIVE  # noqa: E402

# events that drive each family (indicators.md T1): per-event costs divide by these
DRIVERS = {
    "tobi": ("bbo",), "ofi": ("bbo",), "dev": ("bbo",), "lpi": ("bbo", "trade"),
    "kyle": ("bbo", "trade"), "ti": ("trade",), "vpin": ("trade",), "di": ("depth",),
    "mlofi": ("depth",), "wall": ("depth",), "norm": ("bbo", "trade", "depth"),
    "bars": ("bbo", "trade", "depth"), "strategy": ("bbo", "trade", "depth"),
    "l2_copy": ("depth",),
}


def best_of(repeat, fn):
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


SIGNAL_TABLES = ("indicators", "bars_1m", "signals")


def engine_pipeline(repeat, params, l1_book, buf, offsets, tables):
    """Best time of the Engine with signals and the rings of ``tables`` attached (rings
    big enough for the whole recording; drained, untimed, after each run)."""
    rings = RecordRings({name: (TABLES[name].ring, TABLES[name].dtype.itemsize)
                         for name in tables}, 1 << 19)   # > the 445,521 depth rows of a run
    sink = np.empty(rings.capacity * max(TABLES[t].dtype.itemsize for t in tables),
                    dtype=np.uint8)
    best = float("inf")
    for _ in range(repeat):
        engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=rings,
                        signal_params={s: SignalParams(p) for s, p in params.items()},
                        l1_from_book=l1_book)
        t0 = time.perf_counter()
        engine.run_frames(buf, offsets, 0)
        best = min(best, time.perf_counter() - t0)
        assert engine.signal_state(0)["rows"] == 93_949
        for name in tables:
            rings.drain(name, sink)
            assert rings.dropped(name) == 0, name
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)

    params, l1_book, _ = resolve_params([BTC_RECORDING], ACTIVE)
    payloads = read_recording_frames(BTC_RECORDING)
    n = len(payloads)
    buf, offsets = pack_frames(payloads)

    def pipeline():
        # built outside the timed region; reset() reuses every buffer
        driver = SignalDriver(["BTCUSDT"], params, l1_book, expected_rows=n)

        def run():
            driver.reset()
            driver.run_frames(buf, offsets, 0)
            driver.finish()
            return driver

        return best_of(args.repeat, run)

    t_full, driver = pipeline()
    rows, bars, signals = driver.counts
    assert rows == 93_949 and driver.stats(0)["book_synced"]
    events = driver.arrays()["indicators"]["event"]
    per_kind = {k: int((events == i).sum()) for i, k in enumerate(("bbo", "depth", "trade"))}

    t_engine = float("inf")
    for _ in range(args.repeat):
        engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})   # built untimed
        t0 = time.perf_counter()
        engine.run_frames(buf, offsets, 0)
        t_engine = min(t_engine, time.perf_counter() - t0)
    t_signal_rings = engine_pipeline(args.repeat, params, l1_book, buf, offsets, SIGNAL_TABLES)
    t_daemon = engine_pipeline(args.repeat, params, l1_book, buf, offsets, tuple(TABLES))
    # per family: one profiled run (TSC around each section), overhead subtracted
    per_ns, empty = tsc_calibration()
    driver.set_profile(True)
    driver.reset()
    driver.run_frames(buf, offsets, 0)
    driver.finish()
    family = {}
    for name, (cycles, calls) in driver.profile(0).items():
        net = max(cycles - empty * calls, 0.0) / per_ns
        n_drive = sum(per_kind[k] for k in DRIVERS[name])
        family[name] = {"ns_per_msg": net / n, "ns_per_event": net / n_drive,
                        "ns_per_call": net / calls if calls else 0.0,
                        "calls": calls, "driving_events": n_drive}
    driver.set_profile(False)

    results = {
        "machine": machine_name(),
        "recording": BTC_RECORDING.name,
        "messages": n,
        "rows": rows, "bars": bars, "signals": signals,
        "full_msgs_per_s": n / t_full,
        "full_ns_per_msg": t_full / n * 1e9,
        "decode_book_msgs_per_s": n / t_engine,
        "engine_with_signal_records_msgs_per_s": n / t_signal_rings,
        "engine_with_signal_records_ns_per_msg": t_signal_rings / n * 1e9,
        "engine_with_records_msgs_per_s": n / t_daemon,
        "engine_with_records_ns_per_msg": t_daemon / n * 1e9,
        "signals_ns_per_msg": (t_full - t_engine) / n * 1e9,
        "families": family,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "signals.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        f"Machine: {results['machine']}. Input: {n:,} frames of {BTC_RECORDING.name} "
        f"({rows:,} indicator rows, {bars} bars, {signals} signals), best of {args.repeat}.",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| full pipeline (decode, book, indicators, z/osc, bars, strategy) "
        f"| {results['full_msgs_per_s'] / 1e6:.2f} M msg/s ({results['full_ns_per_msg']:.0f} ns/msg) |",
        f"| the engine: the full pipeline + the indicators, bars_1m and signals rows into the "
        f"store's rings | {results['engine_with_signal_records_msgs_per_s'] / 1e6:.2f} M msg/s "
        f"({results['engine_with_signal_records_ns_per_msg']:.0f} ns/msg) |",
        f"| the daemon's engine recording everything: + trades, bbo, book_top, book_events and "
        f"every depth level (445,521 rows) into the rings "
        f"| {results['engine_with_records_msgs_per_s'] / 1e6:.2f} M msg/s "
        f"({results['engine_with_records_ns_per_msg']:.0f} ns/msg) |",
        f"| signal kernels on top of decode + book ({results['decode_book_msgs_per_s'] / 1e6:.2f} M msg/s) "
        f"| {results['signals_ns_per_msg']:.0f} ns/msg |",
        "",
        "| family (in-kernel TSC) | ns/msg | ns/driving event | driving events | ns/call |",
        "|---|---|---|---|---|",
    ]
    for name, f in family.items():
        lines.append(f"| {name} | {f['ns_per_msg']:.1f} | {f['ns_per_event']:.1f} "
                     f"| {f['driving_events']:,} | {f['ns_per_call']:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.update_readme and not update_block("signals", table):
        print("README.md has no <!-- bench:signals --> block", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
