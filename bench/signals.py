"""Throughput of the daemon's Engine with the signal kernels on the real BTCUSDT recording.

    python bench/signals.py [--repeat N] [--families] [--update-readme]

Measures, best of N runs on one core, parameters: the defaults with tests/helpers.py
ACTIVE_SETTINGS (VPIN calibrated over 10 s instead of 600 s, normalisers warm after 20
updates instead of 100, Kyle after 10 intervals, vpin_osc never blocking entries), so
that VPIN, bars and the strategy all work on the 346 s recording; every figure is
labelled with them:
- the Engine with decode and book only (the baseline the signals add to);
- the Engine with the signal kernels (every indicator, z/osc, bars, strategy), rows
  not recorded;
- the same with the rows of the signal tables (indicators, bars_1m, signals) copied
  into the store's rings; and as the daemon runs it when it records everything (also
  trades, bbo, every depth level, book_top, book_events); rings are drained between
  runs, outside the timed region;
- with ``--families``: each indicator family's own cost, counted with the TSC around
  every family section in a profiled copy of the kernels (bench/_profile_build.py;
  production builds have no brackets), the empty-section overhead subtracted: ns per
  message and per event that drives the family;
The comparison with what a user would run instead (the same indicators in a plain-Python
bot) is in bench/kernels.py and, over the wire, bench/latency.py; the pure-Python
reference is the clarity-first specification the kernels are tested against, no
baseline anyone runs, so it is not timed here.
Writes bench/results/signals.json and, with --update-readme, the README block
``<!-- bench:signals -->`` (if the README has one).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# events that drive each family (indicators.md T1): per-event costs divide by these
DRIVERS = {
    "tobi": ("bbo",), "ofi": ("bbo",), "dev": ("bbo",), "lpi": ("bbo", "trade"),
    "kyle": ("bbo", "trade"), "ti": ("trade",), "vpin": ("trade",), "di": ("depth",),
    "mlofi": ("depth",), "wall": ("depth",), "norm": ("bbo", "trade", "depth"),
    "bars": ("bbo", "trade", "depth"), "strategy": ("bbo", "trade", "depth"),
    "l2_copy": ("depth",),
}
SIGNAL_TABLES = ("indicators", "bars_1m", "signals")


def best_of(repeat, setup, fn):
    best = float("inf")
    for _ in range(repeat):
        state = setup()
        t0 = time.perf_counter()
        fn(state)
        best = min(best, time.perf_counter() - t0)
    return best


def load_input():
    from rtaid._kernels.signals import SignalParams
    from tests.helpers import BTC_RECORDING, active_config, pack, read_frames

    params = {"BTCUSDT": SignalParams.from_config(active_config().for_symbol("BTCUSDT"), 2, 3)}
    buf, offsets = pack(p for _, p in read_frames(BTC_RECORDING))
    return params, buf, offsets


def engine_time(repeat, params, buf, offsets, tables):
    """Best time of one pass of the Engine (signals when ``params``), with the rings of
    ``tables`` attached (big enough for a whole pass; drained untimed between runs)."""
    from rtaid._kernels.engine import Engine
    from rtaid.store.memory import MemoryTables

    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, signal_params=params)
    memory = MemoryTables(engine, tables, ring_records=1 << 19) if tables else None

    def setup():
        engine.reset()
        if memory is not None:
            memory.drain()
            memory.clear()

    best = best_of(repeat, setup, lambda _: engine.run_frames(buf, offsets, 0))
    if params:
        assert engine.signal_state(0)["rows"] == 93_949
    if memory is not None:
        assert not any(memory.dropped().values())
    return best, engine, memory


def families_child():
    """In the profiled copy (a child process): the family counts of one pass, as JSON."""
    from rtaid._kernels.engine import Engine
    from rtaid._kernels.signals import tsc_calibration
    from rtaid.store.memory import MemoryTables

    params, buf, offsets = load_input()
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, signal_params=params)
    memory = MemoryTables(engine, ("indicators",), ring_records=1 << 17)
    per_ns, empty = tsc_calibration()
    engine.set_profile(True)
    engine.run_frames(buf, offsets, 0)
    memory.drain()
    events = memory.arrays()["indicators"]["event"]
    per_kind = {k: int((events == i).sum()) for i, k in enumerate(("bbo", "depth", "trade"))}
    prof = engine.profile(0)
    calls = {name: c for name, (_, c) in prof.items()}
    # the brackets count what they should: one section per family per driving event
    assert calls["tobi"] == calls["ofi"] == calls["dev"] == per_kind["bbo"], calls
    assert calls["ti"] == calls["vpin"] == per_kind["trade"], calls
    assert calls["di"] == calls["mlofi"] == calls["wall"] == per_kind["depth"], calls
    print(json.dumps({"per_ns": per_ns, "empty": empty, "per_kind": per_kind,
                      "profile": prof, "messages": len(offsets) - 1}))


def families(n):
    from bench._profile_build import profiled_copy

    where = profiled_copy()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(where), str(ROOT)]))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "signals.py"), "--families-child"],
                         env=env, cwd=where, check=True, capture_output=True, text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    family = {}
    for name, (cycles, calls) in got["profile"].items():
        net = max(cycles - got["empty"] * calls, 0.0) / got["per_ns"]
        n_drive = sum(got["per_kind"][k] for k in DRIVERS[name])
        family[name] = {"ns_per_msg": net / n, "ns_per_event": net / n_drive,
                        "ns_per_call": net / calls if calls else 0.0,
                        "calls": calls, "driving_events": n_drive}
    return family


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--families", action="store_true",
                        help="also the per-family costs (builds a profiled copy once)")
    parser.add_argument("--families-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    if args.families_child:
        families_child()
        return 0

    from bench._machine import machine_name
    from bench._readme import update_block
    from rtaid.store.tables import TABLES
    from tests.helpers import ACTIVE_SETTINGS, BTC_RECORDING

    params, buf, offsets = load_input()
    n = len(offsets) - 1
    t_book, _, _ = engine_time(args.repeat, None, buf, offsets, ())
    t_full, engine, _ = engine_time(args.repeat, params, buf, offsets, ())
    t_signal_rings, _, memory = engine_time(args.repeat, params, buf, offsets, SIGNAL_TABLES)
    engine.finish_signals()
    memory.drain()
    rows, bars, signals = (len(memory.arrays()[t]) for t in SIGNAL_TABLES)
    assert rows == 93_949 and signals > 0
    t_daemon, _, _ = engine_time(args.repeat, params, buf, offsets, tuple(TABLES))
    family = families(n) if args.families else None

    results = {
        "machine": machine_name(),
        "recording": BTC_RECORDING.name,
        "parameters": list(ACTIVE_SETTINGS),
        "messages": n,
        "rows": rows, "signals": signals,
        "decode_book_msgs_per_s": n / t_book,
        "full_msgs_per_s": n / t_full,
        "full_ns_per_msg": t_full / n * 1e9,
        "engine_with_signal_records_msgs_per_s": n / t_signal_rings,
        "engine_with_signal_records_ns_per_msg": t_signal_rings / n * 1e9,
        "engine_with_records_msgs_per_s": n / t_daemon,
        "engine_with_records_ns_per_msg": t_daemon / n * 1e9,
        "signals_ns_per_msg": (t_full - t_book) / n * 1e9,
        "families": family,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "signals.json").write_text(json.dumps(results, indent=2) + "\n")
    r = results
    lines = [
        f"Machine: {r['machine']}. Input: {n:,} frames of {BTC_RECORDING.name} "
        f"({rows:,} indicator rows, {signals} signals), best of {args.repeat}, one core. "
        f"Parameters: the defaults with {', '.join(ACTIVE_SETTINGS)} (so that VPIN and "
        f"the strategy act within the 346 s recording).",
        "",
        "| the daemon's Engine | result | vs decode + book (same run) |",
        "|---|---|---|",
        f"| decode + sync + L2 book | {r['decode_book_msgs_per_s'] / 1e6:.2f} M msg/s | |",
        f"| + every indicator, z/osc, bars, strategy (rows not recorded) "
        f"| {r['full_msgs_per_s'] / 1e6:.2f} M msg/s ({r['full_ns_per_msg']:.0f} ns/msg) "
        f"| +{r['signals_ns_per_msg']:.0f} ns/msg |",
        f"| + the indicators, bars_1m and signals rows into the store's rings "
        f"| {r['engine_with_signal_records_msgs_per_s'] / 1e6:.2f} M msg/s "
        f"({r['engine_with_signal_records_ns_per_msg']:.0f} ns/msg) | |",
        f"| recording everything: + trades, bbo, book_top, book_events and every depth "
        f"level (445,521 rows) | {r['engine_with_records_msgs_per_s'] / 1e6:.2f} M msg/s "
        f"({r['engine_with_records_ns_per_msg']:.0f} ns/msg) | |",
    ]
    if family:
        lines += [
            "",
            "| family (TSC, profiled copy) | ns/msg | ns/driving event | driving events | ns/call |",
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
