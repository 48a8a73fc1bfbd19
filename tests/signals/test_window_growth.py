"""The time windows' rings start small and widen in place (to their capacity) when a
burst fills them: a burst into a window whose ring has wrapped many times widens it with
every entry kept, no forced eviction, no allocation, and every indicator equal to the
reference's (which keeps its windows in unbounded lists)."""
import json
import random

from rtaid._kernels.mem import allocation_counts
from rtaid.reference.indicators import Params
from rtaid.reference.pipeline import run_recording
from tests.helpers import config_from_keys, kernel_tables
from tests.signals.compare import compare_tables
from tests.signals.synthetic import apply_levels

SYMBOL = "TSTUSDT"
# windows long enough for a burst to hold thousands of entries
KEYS = {"tobi.trade_window_ms": 2000, "ofi.window_ms": 2000, "lpi.horizon_ms": 2000}
START_SIZE = 512   # WINDOW_START_SIZE in rtaid/_kernels/signals.pyx


def px(p):
    return f"{p / 100:.2f}"


def qty(q):
    return f"{q / 1000:.3f}"


def write_bursty_recording(path, seed, phases):
    """Depth diffs, bookTickers and trades in equal parts on one synced book; each phase
    is (events, milliseconds between events: a choice)."""
    rng = random.Random(seed)
    low = SYMBOL.lower()
    bids = {p: rng.randint(1, 5000) for p in range(9950, 10000)}
    asks = {p: rng.randint(1, 5000) for p in range(10000, 10050)}
    T = 1_700_000_000_000
    u = 1000
    lines = []

    def emit(obj):
        lines.append(f"{T * 1_000_000} {json.dumps(obj, separators=(',', ':'))}")

    # the snapshot arrives after the first diff, which straddles its lastUpdateId (the
    # futures rule: U <= lastUpdateId <= u) and is applied on top of it
    snapshot = {"lastUpdateId": u + 1, "E": T, "T": T,
                "bids": [[px(p), qty(q)] for p, q in sorted(bids.items(), reverse=True)],
                "asks": [[px(p), qty(q)] for p, q in sorted(asks.items())]}
    trade_id = 1
    for n_events, gaps in phases:
        for i in range(n_events):
            T += rng.choice(gaps)
            kind = i % 3
            if kind == 0:
                U, u = u + 1, u + 1 + rng.randint(0, 2)
                b_out = [[px(rng.randint(9950, 9998)), qty(rng.randint(1, 8000))]]
                a_out = [[px(rng.randint(10002, 10049)), qty(rng.randint(0, 8000))]]
                apply_levels(bids, asks, b_out, a_out)
                emit({"stream": f"{low}@depth@0ms", "data": {
                    "e": "depthUpdate", "E": T, "T": T, "s": SYMBOL, "U": U, "u": u,
                    "pu": U - 1, "b": b_out, "a": a_out}})
                if snapshot is not None:
                    emit(snapshot)
                    snapshot = None
            elif kind == 1:
                bb, ba = max(bids), min(asks)
                emit({"stream": f"{low}@bookTicker", "data": {
                    "e": "bookTicker", "u": u, "s": SYMBOL, "b": px(bb), "B": qty(bids[bb]),
                    "a": px(ba), "A": qty(asks[ba]), "T": T, "E": T}})
            else:
                emit({"stream": f"{low}@aggTrade", "data": {
                    "e": "aggTrade", "E": T, "a": trade_id, "s": SYMBOL,
                    "p": px(rng.randint(9995, 10005)), "q": qty(rng.choice([1, 20, 1500])),
                    "f": trade_id, "l": trade_id, "T": T, "m": rng.random() < 0.5}})
                trade_id += 1
    path.write_text("\n".join(lines) + "\n")


def test_bursts_widen_wrapped_windows_and_match_the_reference(tmp_path):
    path = tmp_path / "rec.txt"
    # slow (windows of ~100 entries each wrap the 512-slot rings), a burst of ~1,500 of
    # each kind within the window (512 -> 1024 -> 2048 with the oldest entries mid-ring),
    # slow again, a second burst into the widened rings
    slow, burst = [15, 25], [0, 1]
    write_bursty_recording(path, seed=3, phases=[(6000, slow), (4500, burst), (3000, slow),
                                                 (4500, burst), (600, slow)])
    want = run_recording(path, params=Params().with_keys(KEYS))
    engines = []
    before = allocation_counts()
    got = kernel_tables(path, config=config_from_keys(KEYS), engine_out=engines)
    compare_tables(want, got)
    st = engines[0].signal_stats(0)
    for name in ("ti", "ofi", "mlofi"):
        assert st[f"{name}_high_water"] > 2 * START_SIZE, (name, st)
        assert st[f"{name}_forced_evictions"] == 0
    assert st["lpi_pending_high_water"] > 2 * START_SIZE and st["lpi_forced_evictions"] == 0
    # the replay allocated its engine; widening allocates nothing on its own (the same
    # count as a replay of a recording that never fills a window is checked below)
    quiet = tmp_path / "quiet.txt"
    write_bursty_recording(quiet, seed=3, phases=[(6000, slow)])
    mid = allocation_counts()
    kernel_tables(quiet, config=config_from_keys(KEYS))
    after = allocation_counts()
    assert mid[0] - before[0] == after[0] - mid[0]
