"""SymbolState: row semantics of section 0 on a real RefBook."""
import math

import pytest

from rtaid.reference.book import RefBook
from rtaid.reference.decode import DepthEvent
from rtaid.reference.indicators import INDICATOR_COLUMNS, Params, SymbolState

L2 = ["di", "mlofi_sum", "wall_bid", "wall_ask", "wall_net", "wall_dist_bid", "wall_dist_ask"]


def params(**kw):
    base = dict(px_dec=0, qty_dec=0, strategy_name="none", norm_warmup=1, ofi_levels=2)
    base.update(kw)
    return Params(**base)


def snap(u, bids, asks):
    return DepthEvent(E=0, T=0, U=u, u=u, pu=u, bids=bids, asks=asks)


def diff(T, U, u, pu, bids=(), asks=()):
    return DepthEvent(E=T, T=T, U=U, u=u, pu=pu, bids=list(bids), asks=list(asks))


def synced_book(st):
    book = RefBook()
    assert book.on_depth(diff(1, 9, 11, 8, [(100, 5)])) == "buffered"
    book.on_snapshot(snap(10, [(100, 4), (99, 3)], [(101, 7), (102, 2)]))
    return book


def test_bbo_stale_and_equal_u_and_row_columns():
    st = SymbolState("X", params())
    r = st.on_bbo(10, 5, 99, 1, 101, 3)
    assert list(r) == INDICATOR_COLUMNS and r["seq"] == 0 and r["event"] == "bbo"
    assert r["obi"] == -0.5 and r["mpd_ticks"] == -0.5
    assert st.on_bbo(11, 4, 99, 3, 101, 1) is None          # stale: no row, no change
    r = st.on_bbo(12, 5, 99, 3, 101, 1)                     # equal u: applied
    assert r["seq"] == 1 and r["obi"] == 0.5
    # first event: e = 0; second: bid eq 3-1, ask eq -1+3 -> 4 ; AD = (4 + 4)/2/2 = 2
    assert r["ofi"] == 4.0 and r["ofi_norm"] == 2.0
    t = st.on_trade(13, 777, 101, 2, False)
    assert (t["event"], t["u"], t["seq"], t["ti"]) == ("trade", 777, 2, 1.0)
    assert t["obi"] == 0.5                                  # carried, z too
    assert t["obi_z"] == r["obi_z"] or (math.isnan(t["obi_z"]) and math.isnan(r["obi_z"]))
    assert all(math.isnan(t[c]) for c in L2)


def test_z_nan_on_warmup_then_defined_then_nan_raw_gives_nan():
    st = SymbolState("X", params(norm_warmup=1))
    r = st.on_bbo(0, 1, 99, 1, 101, 3)
    assert math.isnan(r["obi_z"])                           # k = 1
    r = st.on_bbo(1, 2, 99, 1, 101, 3)
    assert math.isnan(r["obi_z"])                           # k = 2: no weight in var yet
    r = st.on_bbo(2, 3, 99, 1, 101, 1)
    assert r["obi_z"] == pytest.approx(0.5 / 1e-12)         # sigma 0 (equal values) -> floor
    assert r["obi_osc"] == 50 * math.erfc(-20 / math.sqrt(2))   # z clipped at 20
    r = st.on_bbo(3, 4, 99, 0, 101, 0)                      # obi NaN -> z, osc NaN
    assert math.isnan(r["obi"]) and math.isnan(r["obi_z"]) and math.isnan(r["obi_osc"])
    assert st.norms["obi"].count == 3                       # NaN never enters the state


def test_depth_rows_sync_gap_and_resync():
    st = SymbolState("X", params())
    book = RefBook()
    assert st.on_depth(1, 11, book.on_depth(diff(1, 9, 11, 8, [(100, 5)])), book) is None
    pending, book.buffer = book.buffer, []
    book.on_snapshot(snap(10, [(100, 4), (99, 3)], [(101, 7), (102, 2)]))
    (ev,) = pending
    status = book.on_depth(ev)
    assert status == "synced"
    r = st.on_depth(ev.T, ev.u, status, book)
    assert r["event"] == "depth" and r["u"] == 11
    # di, L=10 decay .5: (5-7 + .5*(3-2)) / (12 + .5*5) ; first diff: mlofi e = 0
    assert r["di"] == pytest.approx(-1.5 / 14.5) and r["mlofi_sum"] == 0.0
    assert r["wall_bid"] == 5 * 2 / 8 and r["wall_dist_ask"] == 0.0
    assert math.isnan(r["obi"])                             # bookTicker mode: no L1 yet
    ev = diff(2, 12, 12, 11, [(100, 6)])
    r = st.on_depth(2, 12, book.on_depth(ev), book)
    assert st.mlofi_vec == [1.0, 0.0]                        # e_1 = 6-5, level 2 unchanged
    ev = diff(3, 20, 20, 19, [(100, 1)])                    # pu break
    status = book.on_depth(ev)
    r = st.on_depth(3, 20, status, book)
    assert status == "gap" and all(math.isnan(r[c]) for c in L2)
    assert all(math.isnan(r[c + "_z"]) for c in ("di", "mlofi_sum", "wall_net"))
    assert len(st.mlofi.q) == 0 and st.book_synced is False
    r = st.on_trade(4, 1, 100, 1, True)
    assert math.isnan(r["di"])                              # carried NaN
    # resync: next snapshot, first diff again has no predecessor
    assert book.on_snapshot(snap(21, [(100, 4)], [(101, 4)])) == [("stale", ev)]
    ev = diff(5, 20, 21, 20, [(100, 8)])
    status = book.on_depth(ev)
    r = st.on_depth(5, 21, status, book)
    assert status == "synced" and r["mlofi_sum"] == 0.0 and r["di"] == pytest.approx(4 / 12)


def test_l1_from_book_mode():
    st = SymbolState("X", params(), l1_from_book=True)
    book = RefBook()
    book.on_snapshot(snap(10, [(100, 4), (99, 3)], [(101, 7), (102, 2)]))
    ev = diff(1, 9, 11, 8, [(100, 5)])
    r = st.on_depth(1, 11, book.on_depth(ev), book)
    assert r["obi"] == (5 - 7) / 12 and r["ofi"] == 0.0 and st.l1_T == 1
    ev = diff(2, 12, 12, 11, [(100, 9)])
    r = st.on_depth(2, 12, book.on_depth(ev), book)
    assert r["ofi"] == 4.0
    r = st.on_depth(3, 20, book.on_depth(diff(3, 20, 20, 19, [(100, 1)])), book)   # gap
    assert r["ofi"] == 4.0 and st.ofi.prev is None and len(st.ofi.q) == 0
    assert r["obi"] == (9 - 7) / 16                              # L1 values carry
    # crossed book also breaks the sync
    book.on_snapshot(snap(30, [(100, 4)], [(101, 4)]))
    status = book.on_depth(diff(4, 30, 31, 29, [(101, 1)]))
    r = st.on_depth(4, 31, status, book)
    assert status == "crossed" and math.isnan(r["di"])
