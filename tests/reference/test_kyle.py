"""Section 5: Kyle's lambda interval clock and exact OLS."""
import math
from collections import deque

import numpy as np
import pytest

from rtaid.reference.indicators import KyleLambda


def make(window=300, min_n=3, px_dec=0, qty_dec=0):
    return KyleLambda(1000, window, min_n, px_dec, qty_dec)


def l1(k, T, m2):
    k.advance(T)
    k.on_l1(m2)


def trade(k, T, d, p, q):
    k.advance(T)
    k.on_trade(d, p, q)


def test_interval_clock_empty_and_late_events():
    k = make()
    l1(k, 0, 200)                  # M = 100; interval 0 opens
    trade(k, 100, +1, 100, 1)      # X0 = 100
    l1(k, 1000, 202)               # closes 0 with M_end = 200 (mid BEFORE this event): no pair
    assert list(k.pairs) == []
    trade(k, 1500, -1, 101, 2)     # X1 = -202
    l1(k, 2000, 200)               # closes 1: M_end 202 vs 200
    assert list(k.pairs) == [(-202, 100.0)]
    trade(k, 4500, +1, 100, 3)     # closes 2 (x=0, M_end 200) and empty 3 (x=0, y=0)
    assert list(k.pairs)[1:] == [(0, (10000 * -2) / 202), (0, 0.0)]
    l1(k, 3900, 204)               # late: T in closed interval 3 -> counts in open 4
    assert len(k.pairs) == 3
    trade(k, 5000, +1, 1, 1)       # closes 4: X = 300, M_end = 204 vs 200
    assert list(k.pairs)[3] == (300, 200.0)
    assert k.open_x == 1 and k.open_i == 5


def test_no_pair_without_mid():
    k = make()
    trade(k, 0, +1, 100, 1)
    trade(k, 1000, +1, 100, 1)     # closes 0: no L1 state -> M_end undefined
    l1(k, 1500, 200)
    trade(k, 2000, +1, 100, 1)     # closes 1: M_end 200 but predecessor undefined
    assert list(k.pairs) == []
    assert k.advance(3000) is True  # closes 2: pair (100, 0.0)
    assert list(k.pairs) == [(100, 0.0)]


def test_exact_ols_matches_numpy():
    k = make(px_dec=2, qty_dec=3, min_n=3)
    xs = [12_345_678, -2_000_001, 40_000_000, 5, -17_000_000]
    ys = [1.5, -0.25, 3.0, 0.1, -2.0]
    k.pairs = deque(zip(xs, ys), maxlen=300)
    x = np.array(xs, dtype=float) / (10**5 * 1e6)
    slope = np.polyfit(x, np.array(ys), 1)[0]
    assert k.compute() == pytest.approx(slope, rel=1e-9)


def test_min_intervals_and_zero_variance():
    k = make(min_n=3)
    k.pairs = deque([(1, 1.0), (2, 2.0)], maxlen=300)
    assert math.isnan(k.compute())                       # fewer than min_intervals
    k.pairs = deque([(7, 1.0), (7, 2.0), (7, 5.0)], maxlen=300)
    assert math.isnan(k.compute())                       # Var(x) == 0 exactly
    k.pairs = deque([(1, 2.0), (2, 4.0), (3, 6.0)], maxlen=300)
    assert k.compute() == 2e6                            # 2 bps per unit x = 1e-6 M


def test_window_keeps_last_W_and_long_gap():
    k = make(window=5, min_n=3)
    l1(k, 0, 200)
    for i in range(1, 8):
        trade(k, i * 1000, +1, 1, i)
    assert len(k.pairs) == 5 and [x for x, _ in k.pairs] == [2, 3, 4, 5, 6]
    k.advance(10_000_000)           # 10^4 empty intervals: only zeros remain
    assert list(k.pairs) == [(0, 0.0)] * 5 and math.isnan(k.value)
