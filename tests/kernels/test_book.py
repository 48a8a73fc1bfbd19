"""Book kernel: stateful equivalence with the plain-dict reference, and the real recordings."""
import json

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from rtaid._kernels.book import Book
from rtaid._kernels.engine import Engine
from rtaid.reference import decode as ref
from rtaid.reference.book import RefBook
from tests.helpers import BTC_RECORDING, ETH_RECORDING
from tests.helpers import read_frames

PRICES = st.integers(90, 110)
LEVELS = st.lists(st.tuples(PRICES, st.integers(0, 5)), max_size=6)


class BookMachine(RuleBasedStateMachine):
    """Random diffs, snapshots, gaps and resets applied to both books."""

    def __init__(self):
        super().__init__()
        self.max_levels = 6
        # level pool large enough that only the event capacity (modelled by RefBook) binds
        self.kernel = Book(max_levels=self.max_levels, buffer_events=5, buffer_levels=100)
        self.ref = RefBook(max_levels=self.max_levels, buffer_events=5)
        self.next_u = 10
        self.prev_u = 0

    def _event(self, bids, asks, chained=True, bracket_back=0):
        U = self.next_u - bracket_back
        u = self.next_u + 2
        pu = self.prev_u if chained else self.prev_u - 1
        self.prev_u = u
        self.next_u = u + 1
        return ref.DepthEvent(E=u, T=u, U=U, u=u, pu=pu, bids=bids, asks=asks)

    def _apply(self, ev):
        got = self.kernel.apply(ev.U, ev.u, ev.pu, ev.bids, ev.asks)
        want = self.ref.on_depth(ev)
        assert got == want, (got, want)

    @rule(bids=LEVELS, asks=LEVELS)
    def diff(self, bids, asks):
        # keep the two sides apart most of the time so that crossing stays rare
        bids = [(p - 15, q) for p, q in bids]
        asks = [(p + 15, q) for p, q in asks]
        self._apply(self._event(bids, asks))

    @rule(bids=LEVELS, asks=LEVELS)
    def diff_that_may_cross(self, bids, asks):
        self._apply(self._event(bids, asks))

    @rule(back=st.integers(0, 3))
    def duplicate_of_an_old_event(self, back):
        u = max(self.prev_u - back, 1)
        self._apply(ref.DepthEvent(E=u, T=u, U=u - 1, u=u, pu=u - 2, bids=[(80, 9)], asks=[]))

    @rule()
    def broken_chain(self):
        self._apply(self._event([], [], chained=False))

    @rule(bids=LEVELS, asks=LEVELS, offset=st.integers(-3, 3))
    def snapshot(self, bids, asks, offset):
        # lastUpdateId somewhere around the stream's current position
        last = max(self.prev_u + offset, 1)
        bids = sorted({p - 15: q for p, q in bids if q}.items())
        asks = sorted({p + 15: q for p, q in asks if q}.items())
        got = self.kernel.snapshot(last, bids, asks)
        want = [(s, ev.u) for s, ev in self.ref.on_snapshot(
            ref.DepthEvent(E=0, T=0, U=last, u=last, pu=last, bids=bids, asks=asks))]
        assert got == want

    @rule()
    def reset(self):
        self.kernel.reset()
        self.ref.reset()

    @invariant()
    def same_book(self):
        assert self.kernel.state == self.ref.state
        assert self.kernel.top("bid", 100) == self.ref.top("bid", 100)
        assert self.kernel.top("ask", 100) == self.ref.top("ask", 100)
        assert self.kernel.dropped_levels == self.ref.dropped_levels
        assert self.kernel.buffer_overflows == self.ref.buffer_overflows


TestBookMatchesReference = BookMachine.TestCase
TestBookMatchesReference.settings = settings(max_examples=400, stateful_step_count=60, deadline=None)

WIDE_LEVELS = st.lists(st.tuples(st.integers(1, 700), st.integers(0, 3)), max_size=80)


class WideBookMachine(BookMachine):
    """Hundreds of levels: block splits, block removal, eviction at capacity, compaction."""

    def __init__(self):
        super().__init__()
        self.max_levels = 150
        self.kernel = Book(max_levels=150, buffer_events=5, buffer_levels=1000)
        self.ref = RefBook(max_levels=150, buffer_events=5)

    @rule(bids=WIDE_LEVELS, asks=WIDE_LEVELS)
    def wide_diff(self, bids, asks):
        self._apply(self._event([(p, q) for p, q in bids], [(p + 800, q) for p, q in asks]))


TestWideBookMatchesReference = WideBookMachine.TestCase
TestWideBookMatchesReference.settings = settings(max_examples=150, stateful_step_count=80, deadline=None)


def rebuild(path, symbol):
    """Replay a recording through the Engine; check tops against bookTickers."""
    frames = read_frames(path)
    engine = Engine([symbol])
    refbook = RefBook()
    px_dec = qty_dec = None
    top_by_u = {}
    statuses = []
    for _, payload in frames:
        msg = json.loads(payload)
        data = msg.get("data", msg)
        if px_dec is None:
            px_dec, qty_dec = ref.infer_decimals([(0, msg)] if "stream" in msg else [])
        rc, kind, status = engine.feed(payload, 0, 0)
        assert rc == 0
        if kind == "depth":
            statuses.append(status)
            refbook.on_depth(ref.depth_event(data, px_dec, qty_dec))
        elif kind == "snapshot":
            refbook.on_snapshot(ref.snapshot_event(data, px_dec, qty_dec))
        if engine.book_state(0) == "synced":
            if kind == "depth":
                top_by_u[data["u"]] = (engine.top(0, "bid", 1)[0], engine.top(0, "ask", 1)[0])
            bid, ask = engine.top(0, "bid", 1), engine.top(0, "ask", 1)
            assert bid and ask and bid[0][0] < ask[0][0], "book crossed"
    return engine, top_by_u, statuses, frames, px_dec, qty_dec


def bbo_matches(frames, top_by_u, px_dec, qty_dec):
    matched = 0
    for _, payload in frames:
        if b"bookTicker" not in payload:
            continue
        data = json.loads(payload)["data"]
        if data["u"] in top_by_u:
            want = ((ref.to_scaled_int(data["b"], px_dec), ref.to_scaled_int(data["B"], qty_dec)),
                    (ref.to_scaled_int(data["a"], px_dec), ref.to_scaled_int(data["A"], qty_dec)))
            assert top_by_u[data["u"]] == want, data["u"]
            matched += 1
    return matched


@pytest.mark.parametrize("path,symbol", [(BTC_RECORDING, "BTCUSDT"), (ETH_RECORDING, "ETHUSDT")])
def test_real_recording_rebuilds_without_gaps_and_matches_book_ticker(shared_data, path, symbol):
    engine, top_by_u, statuses, frames, px_dec, qty_dec = rebuild(path, symbol)
    stats = engine.book_stats(0)
    assert stats["gap"] == 0 and stats["crossed"] == 0
    assert stats["synced"] == 1
    assert engine.book_state(0) == "synced"
    # every diff ends up applied or stale (those buffered before the snapshot too)
    n_depth = sum(1 for _, p in frames if b"depthUpdate" in p)
    assert stats["applied"] + stats["synced"] + stats["stale"] == n_depth
    assert stats["buffered"] == statuses.count("buffered") > 0
    assert bbo_matches(frames, top_by_u, px_dec, qty_dec) > 500


def test_real_recording_full_book_equals_reference(shared_data):
    frames = read_frames(BTC_RECORDING)
    engine = Engine(["BTCUSDT"])
    refbook = RefBook()
    for i, (_, payload) in enumerate(frames):
        msg = json.loads(payload)
        data = msg.get("data", msg)
        engine.feed(payload, 0, 0)
        if data.get("e") == "depthUpdate":
            refbook.on_depth(ref.depth_event(data, 2, 3))
        elif "lastUpdateId" in msg:
            refbook.on_snapshot(ref.snapshot_event(msg, 2, 3))
        if i % 5000 == 0 or i == len(frames) - 1:
            assert engine.top(0, "bid", 10_000) == refbook.top("bid", 10_000)
            assert engine.top(0, "ask", 10_000) == refbook.top("ask", 10_000)
    assert engine.book_stats(0)["dropped_levels"] == refbook.dropped_levels > 0


def test_a_lost_event_is_a_gap_and_a_new_snapshot_recovers(shared_data):
    frames = read_frames(BTC_RECORDING)
    depth = [json.loads(p)["data"] for _, p in frames if b"depthUpdate" in p]
    lost_u = depth[3000]["u"]
    engine = Engine(["BTCUSDT"])
    truth = RefBook()          # sees every event: the exchange's book
    gap_at = None
    top_by_u = {}
    for _, payload in frames:
        msg = json.loads(payload)
        data = msg.get("data", msg)
        if "lastUpdateId" in msg:
            truth.on_snapshot(ref.snapshot_event(msg, 2, 3))
            engine.feed(payload, 0, 0)
            continue
        if data["e"] == "depthUpdate":
            truth.on_depth(ref.depth_event(data, 2, 3))
            if data["u"] == lost_u:
                continue
        rc, kind, status = engine.feed(payload, 0, 0)
        if kind == "depth" and status == "gap":
            gap_at = data["u"]
            assert engine.book_state(0) == "unsynced"
            # the feed now fetches a snapshot; the exchange serves its current book
            snap = {"lastUpdateId": data["u"], "E": data["E"], "T": data["T"],
                    "bids": [[f"{p / 100:.2f}", f"{q / 1000:.3f}"] for p, q in truth.top("bid", 1000)],
                    "asks": [[f"{p / 100:.2f}", f"{q / 1000:.3f}"] for p, q in truth.top("ask", 1000)]}
            rc, kind, status = engine.feed(json.dumps(snap).encode(), 0, 0)
            assert kind == "snapshot" and engine.book_state(0) == "synced"
        if kind == "depth" and engine.book_state(0) == "synced":
            top_by_u[data["u"]] = (engine.top(0, "bid", 1)[0], engine.top(0, "ask", 1)[0])
    assert gap_at is not None and gap_at > lost_u - 1
    stats = engine.book_stats(0)
    assert stats["gap"] == 1 and stats["synced"] == 2 and stats["resyncs_needed"] == 1
    # after recovery the top 1000 levels equal the exchange's
    assert engine.top(0, "bid", 1000) == truth.top("bid", 1000)
    assert engine.top(0, "ask", 1000) == truth.top("ask", 1000)
    assert bbo_matches(frames, {u: t for u, t in top_by_u.items() if u > gap_at}, 2, 3) > 100


def test_levels_beyond_capacity_are_dropped_and_counted():
    book = Book(max_levels=3)
    book.snapshot(10, [(100, 1), (99, 1), (98, 1)], [(101, 1)])
    assert book.apply(5, 11, 0, [(97, 4)], []) == "synced"        # worse than all: dropped
    assert book.apply(12, 12, 11, [(99, 0), (96, 1)], []) == "applied"
    assert book.top("bid", 5) == [(100, 1), (98, 1), (96, 1)]
    assert book.apply(13, 13, 12, [(100, 0), (100, 0)], []) == "applied"   # double delete
    assert book.top("bid", 5) == [(98, 1), (96, 1)]
    assert book.dropped_levels == 1



def test_keys_at_the_int64_limits():
    """A block's unused slots hold INT64_MAX, the largest key: a level with that key
    (a bid at 2**63 - 1, an ask at -(2**63 - 1)) is still found, changed and deleted."""
    top = 2 ** 63 - 1
    bids = Book()                      # one side only: never crossed
    bids.snapshot(10, [(1, 1), (top - 1, 1), (top, 2)], [])
    assert bids.apply(5, 11, 0, [(top, 7)], []) == "synced"
    assert bids.top("bid", 5) == [(top, 7), (top - 1, 1), (1, 1)]
    assert bids.apply(12, 12, 11, [(top, 0), (top - 1, 0)], []) == "applied"
    assert bids.top("bid", 5) == [(1, 1)]
    asks = Book()
    asks.snapshot(10, [], [(-top, 3), (5, 1)])
    assert asks.apply(5, 11, 0, [], [(-top, 0)]) == "synced"
    assert asks.top("ask", 5) == [(5, 1)]
    assert asks.apply(12, 12, 11, [], [(-top, 4)]) == "applied"
    assert asks.top("ask", 5) == [(-top, 4), (5, 1)]

def test_a_duplicate_of_an_applied_event_is_stale_not_a_gap():
    book = Book()
    book.snapshot(10, [(100, 1)], [(101, 1)])
    assert book.apply(9, 11, 8, [(99, 2)], []) == "synced"
    assert book.apply(12, 13, 11, [(98, 2)], []) == "applied"
    assert book.apply(12, 13, 11, [(98, 7)], []) == "stale"       # the same event again
    assert book.apply(14, 15, 13, [], []) == "applied"
    assert book.top("bid", 3) == [(100, 1), (99, 2), (98, 2)]


def test_crossed_book_goes_unsynced():
    book = Book()
    assert book.snapshot(10, [(100, 1)], [(101, 1)]) == []
    assert book.apply(10, 11, 9, [(102, 1)], []) == "crossed"
    assert book.state == "unsynced"
    assert book.apply(12, 12, 11, [], []) == "buffered"


def test_buffer_level_pool_overflow_forgets_old_events_and_resyncs():
    book = Book(buffer_events=100, buffer_levels=4)
    assert book.apply(1, 2, 0, [(100, 1), (99, 1), (98, 1)], []) == "buffered"
    assert book.apply(3, 4, 2, [(97, 1), (96, 1)], []) == "buffered"    # pool full: old dropped
    assert book.buffer_overflows == 1
    # the snapshot needed the forgotten event (u=2 brackets 2): no bracketing event left
    assert book.snapshot(2, [(90, 1)], [(110, 1)]) == [("gap", 4)]
    assert book.state == "unsynced"


@pytest.mark.breaks_book_invariants
def test_the_debug_build_fails_a_run_that_breaks_a_book(shared_data):
    """The invariant check of a debug build cannot raise inside the noexcept kernel: it
    counts, and the engine's Python entry point raises after the frame (CI runs
    tests/kernels on RTAID_DEBUG=1)."""
    from rtaid._kernels.book import DEBUG_BUILD, invariant_violations

    frames = [p for _, p in read_frames(BTC_RECORDING, max_lines=2000)]
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
    if not DEBUG_BUILD:
        with pytest.raises(RuntimeError, match="debug build"):
            engine.debug_break_book(0)
        pytest.skip("a release build does not check book invariants")
    synced_at = None
    for i, payload in enumerate(frames):
        engine.feed(payload, 0, 0)
        if engine.book_state(0) == "synced":
            synced_at = i
            break
    assert synced_at is not None
    before = invariant_violations()
    engine.debug_break_book(0)
    with pytest.raises(AssertionError, match="book invariant broken"):
        for payload in frames[synced_at + 1:]:
            engine.feed(payload, 0, 0)
    assert invariant_violations() > before
