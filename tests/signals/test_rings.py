"""Kernel-level behaviour the recordings never reach: ring overflow accounting (a full
window evicts its oldest entry and counts it), resets after a gap, a reconnect, and
building the kernel parameters."""
import json
import math

import pytest

from rtaid._kernels.mem import allocation_counts
from rtaid._kernels.signals import DEFAULT_CAPACITIES, SignalParams
from rtaid.reference.indicators import Lpi, Params, ofi_e
from tests.helpers import EngineDriver

SYM = "TSTUSDT"
P = Params(px_dec=2, qty_dec=3)


def driver(**caps):
    return EngineDriver([SYM], {SYM: P}, capacities=caps)


def driver_l1_from_book(**caps):
    return EngineDriver([SYM], {SYM: P}, l1_from_book=[SYM], capacities=caps)


def px(p):
    return f"{p / 100:.2f}"


def qty(q):
    return f"{q / 1000:.3f}"


def bbo(T, u, pb, qb, pa, qa):
    return json.dumps({"stream": "tstusdt@bookTicker", "data": {
        "e": "bookTicker", "u": u, "s": SYM, "b": px(pb), "B": qty(qb), "a": px(pa),
        "A": qty(qa), "T": T, "E": T}}).encode()


def trade(T, tid, p, q, buyer_maker):
    return json.dumps({"stream": "tstusdt@aggTrade", "data": {
        "e": "aggTrade", "E": T, "a": tid, "s": SYM, "p": px(p), "q": qty(q), "f": tid,
        "l": tid, "T": T, "m": buyer_maker}}).encode()


def depth(T, U, u, pu, bids=(), asks=()):
    return json.dumps({"stream": "tstusdt@depth@0ms", "data": {
        "e": "depthUpdate", "E": T, "T": T, "s": SYM, "U": U, "u": u, "pu": pu,
        "b": [[px(p), qty(q)] for p, q in bids], "a": [[px(p), qty(q)] for p, q in asks]}}).encode()


def snapshot(last, bids, asks):
    return json.dumps({"lastUpdateId": last, "E": 0, "T": 0,
                       "bids": [[px(p), qty(q)] for p, q in bids],
                       "asks": [[px(p), qty(q)] for p, q in asks]}).encode()


def last_row(d):
    ind = d.tables()["indicators"]
    return {c: v[-1] for c, v in ind.items()}


BOOK_BIDS = [(10000 - k, 1000 + 10 * k) for k in range(12)]
BOOK_ASKS = [(10001 + k, 900 + 20 * k) for k in range(12)]


def synced_driver(make=driver, **caps):
    """A driver whose book is synced by a snapshot at u = 100 and one diff."""
    d = make(**caps)
    d.feed(snapshot(100, BOOK_BIDS, BOOK_ASKS), 0)
    d.feed(depth(1_000, 99, 101, 98, [(10000, 1500)], []))
    assert d.stats(0)["book_synced"]
    return d


# ---------------------------------------------------------------- overflow accounting
def test_trade_window_overflow_evicts_oldest_and_counts():
    d = driver(trade_window_cap=4)
    sides = [False, True, True, False, True, False, False, True, True, True]
    for i, maker in enumerate(sides):
        d.feed(trade(1_000 + i, i, 10000, 100 + i, maker))
    st = d.stats(0)
    assert st["ti_window"] == 4 and st["ti_forced_evictions"] == 6
    assert st["ti_high_water"] == st["ti_capacity"] == 4
    kept = [(100 + i, -1 if m else 1) for i, m in enumerate(sides)][-4:]
    buy = sum(q for q, s in kept if s > 0)
    sell = sum(q for q, s in kept if s < 0)
    assert last_row(d)["ti"] == (buy - sell) / (buy + sell)
    # time-based eviction is not counted as forced
    d.feed(trade(20_000, 99, 10000, 7, False))
    st = d.stats(0)
    assert st["ti_window"] == 1 and st["ti_forced_evictions"] == 6
    assert last_row(d)["ti"] == 1.0


def test_l1_window_overflow_evicts_oldest_and_counts():
    d = driver(l1_window_cap=3)
    states = [(10000, 500, 10001, 700), (10001, 300, 10002, 100), (10001, 600, 10003, 200),
              (10000, 200, 10001, 900), (10002, 100, 10003, 300), (10002, 400, 10003, 250)]
    for i, s in enumerate(states):
        d.feed(bbo(1_000 + i, 10 + i, *s))
    st = d.stats(0)
    assert st["ofi_window"] == 3 and st["ofi_forced_evictions"] == 3
    es = [0] + [ofi_e(a, b) for a, b in zip(states, states[1:])]
    sum_e = sum(es[-3:])
    sum_q = sum(qb + qa for _, qb, _, qa in states[-3:])
    row = last_row(d)
    assert row["ofi"] == sum_e / 1000
    assert row["ofi_norm"] == (2 * 3 * sum_e) / sum_q


def test_depth_window_overflow_evicts_oldest_and_counts():
    d = synced_driver(depth_window_cap=2)
    prev_u = 101
    for i in range(5):
        d.feed(depth(1_001 + i, prev_u + 1, prev_u + 2, prev_u,
                     [(10000 - i, 2000 + i)], [(10001 + i % 2, 800 + 3 * i)]))
        prev_u += 2
    st = d.stats(0)
    assert st["mlofi_window"] == 2 and st["mlofi_forced_evictions"] == 4   # 6 diffs, cap 2
    assert st["ofi_forced_evictions"] == st["ti_forced_evictions"] == 0


def test_lpi_pending_overflow_drops_oldest_trades_and_counts():
    h = P.lpi_horizon_ms
    d = driver(lpi_pending_cap=2)
    d.feed(bbo(1_000, 1, 10000, 500, 10002, 500))
    trades = [(1_001 + i, 10000 + (i % 3), 100 * (i + 1), i % 2 == 0) for i in range(5)]
    for i, (T, p, q, m) in enumerate(trades):
        d.feed(trade(T, i, p, q, m))
    assert d.stats(0)["lpi_pending"] == 2 and d.stats(0)["lpi_forced_evictions"] == 3
    d.feed(bbo(1_010 + h, 2, 10004, 500, 10006, 500))
    assert d.stats(0)["lpi_pending"] == 0
    # the reference fed only the two surviving trades gives the same lpi
    ref = Lpi(h, P.lpi_half_life_ms, P.lpi_maker_fee_bps, 3)
    ref.on_l1(1_000, 20002)
    for T, p, q, m in trades[-2:]:
        ref.on_trade(T, -1 if m else 1, p, q)
    want, matured = ref.on_l1(1_010 + h, 20010)
    assert matured == 2
    assert last_row(d)["lpi"] == want


def test_capacities_are_validated():
    with pytest.raises(KeyError):
        SignalParams(P, no_such_window=3)
    with pytest.raises(ValueError):
        SignalParams(P, trade_window_cap=0)
    with pytest.raises(ValueError):
        SignalParams(P.with_keys({"vpin.bucket_volume": 0.0001}))   # below one lot
    with pytest.raises(ValueError):
        SignalParams(P.with_keys({"strategy.name": "martingale"}))


# ---------------------------------------------------------------- resets
@pytest.mark.parametrize("l1_from_book", [False, True])
def test_a_gap_clears_the_l2_windows_and_a_resync_restarts_them(l1_from_book):
    d = synced_driver(driver_l1_from_book if l1_from_book else driver)
    d.feed(bbo(1_000, 101, 10000, 1500, 10001, 900))
    for i in range(3):
        d.feed(depth(1_001 + i, 102 + i, 102 + i, 101 + i, [(9999, 100 * i + 1)], []))
    before = d.stats(0)
    assert before["mlofi_window"] == 4 and before["ofi_window"] >= 1
    obi_before = last_row(d)["obi"]
    d.feed(depth(1_010, 110, 110, 109, [(9999, 5)], []))            # pu 109 != 104: gap
    row = last_row(d)
    assert row["event"] == "depth"
    for c in ("di", "mlofi_sum", "wall_bid", "wall_ask", "wall_net", "wall_dist_bid",
              "wall_dist_ask", "di_z", "di_osc", "mlofi_sum_osc", "wall_net_osc"):
        assert math.isnan(row[c]), c
    assert row["obi"] == obi_before                                  # L1 carries over
    st = d.stats(0)
    assert not st["book_synced"] and st["mlofi_window"] == 0
    # L1 from the book: the OFI predecessor and window go too; with bookTicker they stay
    assert st["ofi_window"] == (0 if l1_from_book else before["ofi_window"])
    assert all(math.isnan(x) for x in d.mlofi_vec(0))
    # buffered diffs get no row; the next snapshot + bracketing diff resyncs
    n_rows = d.counts[0]
    d.feed(depth(1_011, 111, 112, 110, [(9998, 7)], []))
    assert d.counts[0] == n_rows
    d.feed(snapshot(111, BOOK_BIDS, BOOK_ASKS), 0)
    assert d.counts[0] == n_rows + 1 and d.stats(0)["book_synced"]
    row = last_row(d)
    assert row["mlofi_sum"] == 0.0 and d.mlofi_vec(0) == [0.0] * P.ofi_levels
    assert d.stats(0)["mlofi_window"] == 1
    if l1_from_book:
        assert row["ofi"] == 0.0 and d.stats(0)["ofi_window"] == 1


def test_reconnect_forgets_the_book_and_the_l2_state():
    d = synced_driver()
    d.feed(bbo(1_000, 101, 10000, 1500, 10001, 900))
    d.reconnect(0)
    st = d.stats(0)
    assert not st["book_synced"] and st["mlofi_window"] == 0
    d.feed(trade(1_002, 1, 10000, 5, False))
    row = last_row(d)
    assert math.isnan(row["di"]) and math.isnan(row["wall_net"]) and row["obi"] == 0.25
    assert d.book_stats(0)["bid_levels"] == 0


def test_reset_restores_a_fresh_state_without_allocating():
    d = synced_driver()
    d.feed(bbo(1_000, 101, 10000, 1500, 10001, 900))
    first = d.tables()
    before = allocation_counts()
    d.reset()
    d.feed(snapshot(100, BOOK_BIDS, BOOK_ASKS), 0)
    d.feed(depth(1_000, 99, 101, 98, [(10000, 1500)], []))
    d.feed(bbo(1_000, 101, 10000, 1500, 10001, 900))
    assert allocation_counts()[0] == before[0]
    assert json.dumps(d.tables()) == json.dumps(first)


# ---------------------------------------------------------------- params
def test_kernel_params_from_reference_params_and_from_config():
    """Both are built from the config schema: the same struct, default for default."""
    c = SignalParams(Params(px_dec=1, qty_dec=3, tick=0.1)).as_dict()
    assert c["tick_units"] == 1.0 and c["pscale"] == 10 and c["qscale"] == 1000
    assert c["vpin_capacity_lots"] == 0 and c["strategy_kind"] == 1
    for k, v in DEFAULT_CAPACITIES.items():
        assert c[k] == v
    c = SignalParams(Params(qty_dec=3).with_keys({"vpin.bucket_volume": 2.5,
                                                  "strategy.name": "none"}),
                     l1_window_cap=10).as_dict()
    assert c["vpin_capacity_lots"] == 2500 and c["strategy_kind"] == 0
    assert c["l1_window_cap"] == 10
    from rtaid.infra import config
    sc = config.Config().for_symbol("BTCUSDT")
    assert SignalParams.from_config(sc, px_dec=2, qty_dec=3).as_dict() == \
        SignalParams(Params(px_dec=2, qty_dec=3)).as_dict()


def test_bar_timer_emits_one_second_after_the_minute_and_late_events_go_forward():
    d = driver()
    d.feed(trade(60_000 * 5 + 10, 1, 10000, 100, False))
    assert not d.bar_timer(60_000 * 6 + 999)             # minute over, < 1 s after
    assert d.bar_timer(60_000 * 6 + 1000)
    assert not d.bar_timer(60_000 * 6 + 5000)            # nothing open any more
    d.feed(trade(60_000 * 5 + 20, 2, 10010, 100, True))  # late: counts in the next minute
    d.feed(trade(60_000 * 6 + 20, 3, 10020, 100, True))
    d.finish()
    bars = d.tables()["bars_1m"]
    assert bars["minute_ms"] == [300_000, 360_000]
    assert bars["trade_count"] == [1, 2] and bars["close"] == [100.0, 100.2]
