"""Section 3: OFI (non-strict inequalities, exact window), multi-level OFI."""
import math

import pytest

from rtaid.reference.indicators import MultiLevelOfi, Ofi, ofi_e


@pytest.mark.parametrize("prev,cur,e", [
    ((100, 5, 102, 7), (100, 8, 102, 3), 8 - 5 - 3 + 7),   # both equal: both terms each side
    ((100, 5, 102, 7), (101, 2, 102, 7), 2),               # bid up: +Qb_n only
    ((100, 5, 102, 7), (99, 4, 102, 7), -5),               # bid down: -Qb_n-1 only
    ((100, 5, 102, 7), (100, 5, 101, 3), -3),              # ask down: -Qa_n only
    ((100, 5, 102, 7), (100, 5, 103, 3), 7),               # ask up: +Qa_n-1 only
])
def test_ofi_e_non_strict(prev, cur, e):
    assert ofi_e(prev, cur) == e


def test_ofi_window_eviction_at_boundary_and_norm():
    o = Ofi(10, qty_dec=0)
    assert o.on_l1(0, 100, 5, 101, 7) == (0.0, 0.0)          # first event: e = 0
    o.on_l1(5, 100, 8, 101, 3)                              # e = 7
    ofi, norm = o.on_l1(9, 100, 8, 101, 4)                  # e = -1, T=0 still inside
    assert ofi == 6 and norm == pytest.approx(6 / ((12 + 11 + 12) / 6), rel=1e-15)
    o2 = Ofi(10, qty_dec=3)
    o2.on_l1(0, 100, 5, 101, 7)
    o2.on_l1(5, 100, 8, 101, 3)
    ofi, norm = o2.on_l1(10, 100, 8, 101, 4)                 # T=0 evicted: (0, 10]
    assert ofi == 0.006
    assert norm == 24 / 23            # AD = (11 + 12) / 2 / 2 lots; units cancel


def test_ofi_reset_first_event_after_resync_has_no_predecessor():
    o = Ofi(10_000, qty_dec=0)
    o.on_l1(0, 100, 5, 101, 7)
    o.reset()
    assert o.on_l1(1, 90, 1, 91, 1) == (0.0, 0.0)


def test_ofi_zero_sizes_nan_norm():
    o = Ofi(10_000, qty_dec=0)
    ofi, norm = o.on_l1(0, 100, 0, 101, 0)
    assert ofi == 0.0 and math.isnan(norm)


def test_mlofi_missing_level_and_ad10():
    m = MultiLevelOfi(levels=2, window_ms=10_000, qty_dec=0)
    vec, s = m.on_book(0, [(100, 5), (99, 3)], [(101, 7), (102, 2)])
    assert vec == [0.0, 0.0] and s == 0.0                    # first diff: e = 0
    vec, s = m.on_book(1, [(100, 6), (99, 3)], [(101, 7)])   # ask level 2 missing
    assert vec == [1.0, 0.0]
    # AD10 = mean over 2 diffs x 2 levels of (qb+qa)/2 = (6 + 2.5 + 6.5 + 1.5) / 4
    assert s == pytest.approx(1 / 4.125, rel=1e-15) and s == 8 / 33


def test_mlofi_window_eviction_and_reset():
    m = MultiLevelOfi(levels=1, window_ms=10, qty_dec=0)
    m.on_book(0, [(100, 5)], [(101, 5)])
    m.on_book(5, [(100, 9)], [(101, 5)])                     # e = 4
    vec, _ = m.on_book(10, [(100, 9)], [(101, 5)])           # T=0 evicted, e = 0
    assert vec == [4.0] and len(m.q) == 2
    m.reset()
    vec, s = m.on_book(11, [(100, 1)], [(101, 1)])
    assert vec == [0.0] and s == 0.0
