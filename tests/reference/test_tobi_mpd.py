"""Sections 1-2: obi, di, ti, mpd."""
import math

import pytest

from rtaid.reference.indicators import TradeImbalance, depth_imbalance, mpd, tobi


def test_obi():
    assert tobi(3, 1) == 0.5
    assert tobi(0, 5) == -1.0 and tobi(5, 0) == 1.0
    assert math.isnan(tobi(0, 0))


def test_di_missing_levels_count_zero():
    bids = [(100, 4), (99, 2)]
    asks = [(101, 1)]
    # num = 1*(4-1) + .5*(2-0) + .25*0 = 4 ; den = 1*5 + .5*2 = 6
    assert depth_imbalance(bids, asks, 3, 0.5) == pytest.approx(2 / 3, rel=1e-15)
    assert depth_imbalance([], asks, 3, 0.5) == -1.0
    assert math.isnan(depth_imbalance([], [], 10, 0.5))


def test_di_only_first_L_levels():
    bids = [(100 - k, 1) for k in range(12)]
    asks = [(101 + k, 1) for k in range(10)] + [(200, 1000)]
    assert depth_imbalance(bids, asks, 10, 0.5) == 0.0


def test_mpd_is_half_spread_times_obi():
    # Pb=100, Pa=102 (px units), Qb=3, Qa=1: I=.75, W=101.5, M=101 -> W-M = .5
    ticks, bps = mpd(100, 3, 102, 1, px_dec=0, tick_units=1.0)
    assert ticks == 0.5 and bps == pytest.approx(1e4 * 0.5 / 101, rel=1e-15)
    assert mpd(100, 3, 102, 1, 0, 2.0)[0] == 0.25
    assert all(map(math.isnan, mpd(100, 0, 102, 0, 0, 1.0)))
    # px_dec cancels in bps
    assert mpd(10000, 3, 10200, 1, 2, 100.0) == (0.5, pytest.approx(bps, rel=1e-15))


def test_ti_window_boundary_is_open_on_the_left():
    ti = TradeImbalance(10)
    assert ti.on_trade(0, +1, 5) == 1.0
    assert ti.on_trade(5, -1, 1) == pytest.approx(4 / 6)
    assert ti.on_trade(9, +1, 2) == pytest.approx(6 / 8)     # T=0 still in (-1, 9]
    assert ti.on_trade(10, +1, 0) == pytest.approx(1 / 3)    # T=0 evicted: (0, 10]
    t2 = TradeImbalance(10)
    assert math.isnan(t2.on_trade(0, +1, 0))
