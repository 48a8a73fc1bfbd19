"""Section 6: LPI matured realized spread."""
import math

import pytest

from rtaid.reference.indicators import Lpi


def test_maturity_and_ewma():
    lp = Lpi(5000, 60_000, 2.0, qty_dec=0)
    lp.on_l1(0, 200)                      # M = 100
    lp.on_trade(100, +1, 101, 2)
    lp.on_trade(200, -1, 99, 1)
    v, n = lp.on_l1(5099, 202)            # 100 + 5000 > 5099
    assert n == 0 and math.isnan(v)
    v, n = lp.on_l1(5100, 204)            # matures trade 1 at m_h = 102
    assert n == 1 and v == (10000 * 1 * (202 - 204)) / 200 - 2.0 == -102.0
    v, n = lp.on_l1(5300, 198)            # trade 2: rs = -1e4 (99 - 99) / 100 = 0
    f = math.exp(-math.log(2) * 100.0 / 60_000)
    assert n == 1 and v == pytest.approx((f * 2 * -100.0) / (f * 2 + 1) - 2.0, rel=1e-15)


def test_several_trades_maturing_at_one_event_in_arrival_order():
    lp = Lpi(10, 100, 0.0, qty_dec=0)
    lp.on_l1(0, 200)
    lp.on_trade(300, +1, 110, 1)          # arrives first, later T
    lp.on_trade(100, +1, 90, 3)
    v, n = lp.on_l1(310, 200)
    assert n == 2
    # arrival order: trade@300 first (no decay), then trade@100: dt = max(100-300, 0) = 0
    rs1, rs2 = 1e4 * (110 - 100) / 100, 1e4 * (90 - 100) / 100
    assert v == pytest.approx((rs1 * 1 + rs2 * 3) / 4, rel=1e-15)
    assert lp.t_prev == 100


def test_reference_mid_selection():
    lp = Lpi(5000, 60_000, 2.0, qty_dec=0)
    lp.on_trade(0, +1, 100, 1)            # no L1 state yet: never enters
    assert lp.pending == []
    lp.on_l1(0, 200)
    lp.on_l1(50, 210)
    lp.on_l1(40, 220)                     # received later, older time
    lp.on_trade(45, +1, 100, 1)           # newest received state with T <= 45 -> 220
    lp.on_trade(30, +1, 100, 1)           # -> 200 (the T=0 state)
    assert [t[4] for t in lp.pending] == [220, 200]


def test_history_is_bounded():
    lp = Lpi(5000, 60_000, 2.0, qty_dec=0, history=2)
    for t in range(3):
        lp.on_l1(t, 200 + t)
    lp.on_trade(0, +1, 100, 1)            # the T=0 state fell out of the history
    assert lp.pending == []
