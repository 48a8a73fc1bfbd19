"""Section 10: one-minute bars (BarBuilder alone and through SymbolState)."""
import math

import pytest

from rtaid.reference.bars import BarBuilder
from rtaid.reference.indicators import Params, SymbolState


def test_bar_boundaries_and_contents():
    b = BarBuilder("X", px_dec=1, qty_dec=2)
    assert b.advance(120_000 + 5) is None
    b.on_l1(2); b.on_row({"obi": 0.1}, 100.05)
    b.on_trade(1000, 150, +1)
    b.on_trade(1010, 50, -1)
    assert b.advance(179_999) is None              # still inside [120000, 180000)
    b.on_trade(990, 100, +1); b.on_l1(4); b.on_row({"obi": 0.3}, 100.0)
    bar = b.advance(180_000)                       # exactly at the end: emits
    assert bar["minute_ms"] == 120_000
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (100.0, 101.0, 99.0, 99.0)
    assert (bar["volume"], bar["buy_volume"], bar["sell_volume"]) == (3.0, 2.5, 0.5)
    assert bar["trade_count"] == 3
    assert bar["vwap"] == (1000 * 150 + 1010 * 50 + 990 * 100) / (300 * 10)
    assert bar["spread_mean"] == 0.3 and bar["mid_last"] == 100.0
    assert bar["obi_last"] == 0.3 and math.isnan(bar["di_last"])


def test_late_event_counts_in_open_bar_and_flush():
    b = BarBuilder("X", px_dec=0, qty_dec=0)
    b.advance(60_000); b.on_row({}, 1.0)
    assert b.advance(59_000) is None               # late: stays in the open bar
    b.on_trade(7, 1, +1); b.on_row({}, 1.0)
    bar = b.flush()
    assert bar["minute_ms"] == 60_000 and bar["open"] == 7.0
    assert b.flush() is None


def test_no_trades_gives_nan_prices_and_skipped_minutes_have_no_bar():
    b = BarBuilder("X", px_dec=0, qty_dec=0)
    b.advance(0); b.on_row({}, float("nan"))
    bar = b.advance(600_000)
    assert bar["minute_ms"] == 0 and math.isnan(bar["open"]) and math.isnan(bar["vwap"])
    assert bar["volume"] == 0.0 and bar["trade_count"] == 0 and math.isnan(bar["spread_mean"])
    b.on_row({}, 1.0)
    assert b.flush()["minute_ms"] == 600_000


def test_state_emits_bar_before_the_triggering_row():
    st = SymbolState("X", Params(px_dec=0, qty_dec=0, strategy_name="none"))
    st.on_bbo(59_000, 1, 99, 1, 101, 1)
    st.on_trade(59_500, 7, 100, 2, False)
    assert st.bars_out == []
    st.on_trade(60_000, 8, 102, 1, True)
    (bar,) = st.bars_out
    assert bar["minute_ms"] == 0 and bar["close"] == 100.0 and bar["volume"] == 2.0
    assert bar["ti_last"] == 1.0 and bar["spread_mean"] == 2.0 and bar["mid_last"] == 100.0
    st.finish()
    assert st.bars_out[1]["minute_ms"] == 60_000 and st.bars_out[1]["ti_last"] == pytest.approx(1 / 3)
