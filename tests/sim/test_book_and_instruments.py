"""Integer book and wire formatting (no float drift), plus the synthetic model's invariants."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtaid.sim.book import ASK, BID, OrderBook
from rtaid.sim.config import KNOWN_SYMBOLS, SymbolSpec
from rtaid.sim.fanout import StreamHub
from rtaid.sim.instruments import Instrument
from rtaid.sim.latency import LatencyRecorder
from rtaid.sim.market import SymbolMarket
from rtaid.sim.synthetic import OrderFlowModel

BTC = Instrument(KNOWN_SYMBOLS["BTCUSDT"])
ETH = Instrument(KNOWN_SYMBOLS["ETHUSDT"])


def test_btc_prices_two_decimals_on_a_tenth_grid():
    assert BTC.fmt_price(618003) == "61800.30"
    assert BTC.parse_price("61800.30") == 618003
    assert BTC.parse_price("61800.3") == 618003
    with pytest.raises(ValueError):
        BTC.parse_price("61800.35")
    assert BTC.fmt_qty(0) == "0.000" and BTC.fmt_qty(2507) == "2.507"
    with pytest.raises(ValueError):
        BTC.parse_qty("0.0005")
    assert ETH.fmt_price(260001) == "2600.01"


def test_spec_rejects_grid_finer_than_wire_precision():
    with pytest.raises(ValueError):
        SymbolSpec("XUSDT", tick_size="0.001", price_precision=2)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**7))
def test_format_parse_roundtrip(ticks, lots):
    assert BTC.parse_price(BTC.fmt_price(ticks)) == ticks
    assert ETH.parse_qty(ETH.fmt_qty(lots)) == lots


@settings(max_examples=200)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 60), st.integers(0, 5)), max_size=200))
def test_book_side_matches_a_reference(ops):
    book = OrderBook()
    ref = {BID: {}, ASK: {}}
    for is_bid, price, lots in ops:
        side = BID if is_bid else ASK
        book.side(side).set(price, lots)
        if lots:
            ref[side][price] = lots
        else:
            ref[side].pop(price, None)
    assert book.bids.levels() == sorted(ref[BID].items(), reverse=True)
    assert book.asks.levels() == sorted(ref[ASK].items())
    assert book.bids.best() == (max(ref[BID]) if ref[BID] else None)
    assert book.asks.best() == (min(ref[ASK]) if ref[ASK] else None)


def test_synthetic_model_keeps_a_sane_uncrossed_book():
    market = SymbolMarket(BTC, StreamHub(), LatencyRecorder(), rng=random.Random(3))
    model = OrderFlowModel(market, random.Random(3), levels=100)
    model.seed_book()
    last_u = market.book.last_update_id
    for _ in range(20_000):
        model.step()
        assert market.book.last_update_id >= last_u
        last_u = market.book.last_update_id
    book = market.book
    assert not book.is_crossed()
    assert 20 < len(book.bids) < 150 and 20 < len(book.asks) < 150
    assert abs(BTC.price_float(book.bids.best()) - 60000) < 600  # mean-reverting mid
    assert market.trades > 100
