"""A depth event in two parts (book_on_depth_split + book_finish, the listener's path):
the k best levels and the status are final after the first part, and after both the book
is exactly what the whole event makes of it; the engine's listener path records the same
rows as the plain one."""
import json
import random

import numpy as np
import pytest

from rtaid._kernels.book import Book
from rtaid._kernels.engine import Engine
from rtaid._kernels.ring import RecordRings
from rtaid._kernels.signals import SignalParams
from rtaid.store.tables import TABLES
from tests.helpers import BTC_RECORDING, active_config, read_frames

MID = 100_000


def random_side(rng, is_bid, order):
    """A side's list as Binance sends it (ascending price), or shuffled."""
    prices = set()
    for _ in range(rng.choice([1, 3, 10, 40, 150, 400])):
        prices.add(MID + (-1 if is_bid else 1) * (int(rng.expovariate(1 / rng.choice([3, 30, 300]))) + 1))
    levels = sorted((p, 0 if rng.random() < 0.4 else rng.randint(1, 9)) for p in prices)
    if order == "shuffled":
        rng.shuffle(levels)
    return levels


def run_events(seed, cap, k, order, n_events=150):
    """The same random events through apply (whole) and apply_split + finish; returns how
    many were split. Both books start full (every insert evicts or is dropped)."""
    rng = random.Random(seed)
    whole, split = Book(max_levels=cap), Book(max_levels=cap)
    bids = [(MID - 1 - i, rng.randint(1, 9)) for i in range(cap)]
    asks = [(MID + 1 + i, rng.randint(1, 9)) for i in range(cap)]
    for b in (whole, split):
        b.snapshot(10, bids, asks)
    u = 10
    for e in range(n_events):
        bl, al = random_side(rng, True, order), random_side(rng, False, order)
        if rng.random() < 0.01:
            bl.append((MID + 2, 1))               # crosses the book: the event unsyncs it
        U, u = u, u + 5
        status = whole.apply(U, u, u - 5, bl, al)
        assert split.apply_split(U, u, u - 5, bl, al, k=k) == status, (seed, e)
        for side in ("bid", "ask"):
            assert split.top(side, k) == whole.top(side, k), (seed, e, side)
        split.finish()
        assert not split.rest_pending
        assert split.depth() == whole.depth(), (seed, e)
        assert split.dropped_levels == whole.dropped_levels, (seed, e)
        for side in ("bid", "ask"):
            assert split.top(side, 10 * cap) == whole.top(side, 10 * cap), (seed, e, side)
        if status == "crossed":
            break
    return split.splits


@pytest.mark.parametrize("order", ["binance", "shuffled"])
@pytest.mark.parametrize("cap", [300, 1200])
def test_a_split_event_leaves_the_book_the_whole_event_does(order, cap):
    splits = sum(run_events(seed, cap, k, order) for seed in range(6) for k in (1, 10, 64))
    # sorted lists split at their heads (asks) and tails (bids); of shuffled ones only
    # those of one level or wholly far from the touch split, the rest apply whole
    assert splits > (500 if order == "binance" else 100)


def test_split_refuses_misuse():
    b = Book(max_levels=100)
    b.snapshot(1, [(MID - 1 - i, 1) for i in range(100)], [(MID + 1 + i, 1) for i in range(100)])
    with pytest.raises(ValueError):
        b.apply_split(1, 2, 0, [(MID - 50, 2)], [], k=0)
    assert b.apply_split(1, 2, 0, [(MID - 90, 2), (MID - 1, 3)], [], k=5) == "synced"
    assert b.rest_pending and b.top("bid", 1) == [(MID - 1, 3)]
    with pytest.raises(RuntimeError):
        b.apply(3, 3, 2, [(MID - 2, 1)], [])
    b.finish()
    assert b.top("bid", 100)[89] == (MID - 90, 2) and b.splits == 1


def engine_and_rings():
    rings = RecordRings(list(TABLES), 1 << 19)
    params = {"BTCUSDT": SignalParams.from_config(active_config().for_symbol("BTCUSDT"), 2, 3)}
    # 2,000 levels a side: the recording fills both sides to the cap (evictions)
    return Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=rings, signal_params=params,
                  max_levels=2000), rings


def drained(rings):
    out = {}
    for name, table in TABLES.items():
        sink = np.empty(rings.capacity * table.dtype.itemsize, np.uint8)
        n = rings.drain(name, sink)
        out[name] = bytes(sink[:n * table.dtype.itemsize])
    return out


def test_the_listener_path_records_what_the_plain_path_does(shared_data):
    """The BTCUSDT recording through feed (whole events) and feed_first + finish_frame
    (the listener: the late updates after the signals): between the two calls the
    levels the signals read are final and no row or stage time is recorded yet; after
    both, the books, every record and the stage histograms' counts agree."""
    frames = read_frames(BTC_RECORDING)
    plain, plain_rings = engine_and_rings()
    listener, listener_rings = engine_and_rings()
    for engine in (plain, listener):
        engine.set_timing(True)
    deferred = ("trades", "bbo", "depth", "indicators", "signals", "bars_1m")
    rows_deferred = dict.fromkeys(deferred, 0)
    for i, (recv_ns, payload) in enumerate(frames):
        got = plain.feed(payload, recv_ns, 0)       # (0: the snapshot lines name no symbol)
        before = {t: listener_rings.pushed(t) for t in deferred}
        timed = listener.stages["decode"].count
        assert listener.feed_first(payload, recv_ns, 0) == got, i
        assert listener.stages["decode"].count == timed, i
        # the frame's own rows and its signal kernels' rows wait for finish_frame (the
        # listener writes the order first; a snapshot, which replays buffered events,
        # each with its rows, records them as it goes)
        if got[1] != "snapshot":
            assert {t: listener_rings.pushed(t) for t in deferred} == before, i
        if listener.book_rest_pending:
            for side in ("bid", "ask"):
                assert listener.top(0, side, 20) == plain.top(0, side, 20), (i, side)
        listener.finish_frame()
        for t in deferred:
            assert listener_rings.pushed(t) == plain_rings.pushed(t), (i, t)
            rows_deferred[t] += listener_rings.pushed(t) - before[t]
        if i % 5000 == 0:
            for side in ("bid", "ask"):
                assert listener.top(0, side, 10_000) == plain.top(0, side, 10_000), (i, side)
    assert all(rows_deferred.values()), rows_deferred      # each kind of row was deferred
    # the listener's stage times are recorded in finish_frame, after the order: every
    # frame's, as the plain path records them
    counts = {name: (h.count, plain.stages[name].count) for name, h in listener.stages.items()
              if name != "frame"}
    assert all(a == b > 0 for a, b in counts.values()), counts
    assert listener.book_stats(0) == plain.book_stats(0)
    assert listener.book_stats(0)["dropped_levels"] > 0         # the side reached its cap
    depth_frames = sum(1 for _, p in frames if b"depthUpdate" in p)
    assert listener.book_splits(0) > depth_frames // 2 and plain.book_splits(0) == 0
    assert drained(listener_rings) == drained(plain_rings)


def test_a_frame_whose_tail_was_missed_is_recorded_before_what_follows(shared_data):
    """A listener that failed between feed_first and finish_frame: the next frame, or
    the live bar timer, records what it left first, so every table still holds what
    the plain path records, in the same order. Missed here: every 7th frame (the next
    frame records it) and every trade that closed a bar, with the timer called next (a
    minute late: it closes the bar the trade opened, after the one the trade closed)."""
    frames = read_frames(BTC_RECORDING)
    plain, plain_rings = engine_and_rings()
    listener, listener_rings = engine_and_rings()
    timer_bars = 0
    for i, (recv_ns, payload) in enumerate(frames):
        bars = plain_rings.pushed("bars_1m")
        got = plain.feed(payload, recv_ns, 0)
        assert listener.feed_first(payload, recv_ns, 0) == got, i
        if plain_rings.pushed("bars_1m") > bars and got[1] in ("trade", "aggTrade"):
            now_ms = json.loads(payload)["data"]["E"] + 61_000    # (the exchange's clock)
            closed = plain.bar_timer(now_ms)
            assert listener.bar_timer(now_ms) == closed, i
            timer_bars += closed
        elif i % 7:
            listener.finish_frame()
    listener.feed_first(b"", 0, 0)           # (a last frame recording the last miss)
    plain.feed(b"", 0, 0)
    assert timer_bars > 0
    assert drained(listener_rings) == drained(plain_rings)
