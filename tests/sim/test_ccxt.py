"""ccxt binanceusdm (async) pointed at the sim: markets, book, orders, positions."""
import ccxt.async_support as ccxt_async

from rtaid.sim import SimExchange
from tests.sim.helpers import KEY, SECRET, quiet_config


def make_exchange(rest_url: str):
    ex = ccxt_async.binanceusdm({"apiKey": KEY, "secret": SECRET, "options": {"fetchCurrencies": False}})
    for k, v in list(ex.urls["api"].items()):
        if isinstance(v, str) and v.startswith("https://fapi.binance.com"):
            ex.urls["api"][k] = rest_url + v[len("https://fapi.binance.com"):]
    return ex


def test_ccxt_markets_book_orders_positions(run):
    async def main():
        async with SimExchange(quiet_config(rate=200)) as sim:
            ex = make_exchange(sim.rest_url)
            try:
                markets = await ex.load_markets()
                btc = markets["BTC/USDT:USDT"]
                assert btc["id"] == "BTCUSDT"
                assert btc["precision"]["price"] == 0.1 and btc["precision"]["amount"] == 0.001
                assert "ETH/USDT:USDT" in markets

                ob = await ex.fetch_order_book("BTC/USDT:USDT", 1000)
                assert ob["nonce"] > 0
                assert ob["bids"][0][0] < ob["asks"][0][0]
                assert len(ob["bids"]) > 10

                # A resting post-only buy far below the market, then cancel it.
                far = round(ob["bids"][0][0] - 500, 1)
                order = await ex.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, far,
                                              {"timeInForce": "GTX", "newClientOrderId": "ccxt-rest-1"})
                assert order["status"] == "open" and order["clientOrderId"] == "ccxt-rest-1"
                opened = await ex.fetch_open_orders("BTC/USDT:USDT")
                assert [o["id"] for o in opened] == [order["id"]]
                canceled = await ex.cancel_order(order["id"], "BTC/USDT:USDT")
                assert canceled["status"] == "canceled"
                assert await ex.fetch_open_orders("BTC/USDT:USDT") == []

                # Market buy takes liquidity: a long position appears.
                await ex.create_order("BTC/USDT:USDT", "market", "buy", 0.005)
                positions = await ex.fetch_positions(["BTC/USDT:USDT"])
                assert len(positions) == 1
                assert positions[0]["side"] == "long" and positions[0]["contracts"] == 0.005
                # Flatten with reduceOnly.
                await ex.create_order("BTC/USDT:USDT", "market", "sell", 0.005, None, {"reduceOnly": True})
                assert await ex.fetch_positions(["BTC/USDT:USDT"]) == []
                balance = await ex.fetch_balance()
                assert balance["USDT"]["total"] < 100_000  # paid taker fees (and spread)
            finally:
                await ex.close()

    run(main())
