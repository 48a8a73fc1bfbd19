"""REST: exchangeInfo, depth, auth errors, rate limits, order matching, positions, PnL."""
import time

import aiohttp
import pytest

from rtaid.sim import SimExchange
from tests.sim.helpers import get_json, quiet_config, signed


def filters(entry):
    return {f["filterType"]: f for f in entry["filters"]}


def test_exchange_info_carries_the_grid(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            status, info = await get_json(http, f"{sim.rest_url}/fapi/v1/exchangeInfo")
            assert status == 200
            by = {s["symbol"]: s for s in info["symbols"]}
            btc, eth = by["BTCUSDT"], by["ETHUSDT"]
            assert filters(btc)["PRICE_FILTER"]["tickSize"] == "0.10"
            assert filters(btc)["LOT_SIZE"]["stepSize"] == "0.001"
            assert (btc["pricePrecision"], btc["quantityPrecision"]) == (2, 3)
            assert filters(eth)["PRICE_FILTER"]["tickSize"] == "0.01"
            assert (eth["pricePrecision"], eth["quantityPrecision"]) == (2, 3)
            status, t = await get_json(http, f"{sim.rest_url}/fapi/v1/time")
            assert abs(t["serverTime"] - time.time() * 1000) < 5000
            assert (await get_json(http, f"{sim.rest_url}/fapi/v1/ping")) == (200, {})
    run(main())


def test_depth_limits_and_weight_header(run):
    async def main():
        async with SimExchange(quiet_config(synthetic_levels=150)) as sim, aiohttp.ClientSession() as http:
            async with http.get(f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=5") as r:
                snap = await r.json()
                w1 = int(r.headers["X-MBX-USED-WEIGHT-1M"])
            assert len(snap["bids"]) == 5 and len(snap["asks"]) == 5
            assert snap["lastUpdateId"] >= sim.markets["BTCUSDT"].book.last_update_id
            async with http.get(f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
                w2 = int(r.headers["X-MBX-USED-WEIGHT-1M"])
            # Same minute window almost surely; tolerate a window roll-over.
            assert w2 - w1 == 20 or w2 == 20
            status, err = await get_json(http, f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=7")
            assert status == 400 and err["code"] == -1130
            status, err = await get_json(http, f"{sim.rest_url}/fapi/v1/depth?symbol=NOPEUSDT")
            assert (status, err["code"]) == (400, -1121)
    run(main())


def test_signature_timestamp_and_key_errors(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            url = f"{sim.rest_url}/fapi/v2/balance"
            status, body, _ = await signed(http, "GET", url, {}, secret="wrong")
            assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
            stale = int(time.time() * 1000) - 10_000
            status, body, _ = await signed(http, "GET", url, {}, timestamp=stale)
            assert status == 400 and body["code"] == -1021
            status, body, _ = await signed(http, "GET", url, {"recvWindow": 20_000}, timestamp=stale)
            assert status == 200 and body[0]["asset"] == "USDT"
            future = int(time.time() * 1000) + 5_000
            status, body, _ = await signed(http, "GET", url, {}, timestamp=future)
            assert body["code"] == -1021
            status, body, _ = await signed(http, "GET", url, {}, key="other-key")
            assert (status, body["code"]) == (401, -2015)
            async with http.get(f"{url}?timestamp=1") as resp:
                assert (resp.status, (await resp.json())["code"]) == (401, -2014)
            # Params (and signature) in a form body are checked the same way.
            status, body, _ = await signed(http, "POST", f"{sim.rest_url}/fapi/v1/order",
                                           {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                            "quantity": "0.001", "price": "30000.00"}, in_body=True)
            assert status == 200 and body["status"] == "NEW"
            status, body, _ = await signed(http, "POST", f"{sim.rest_url}/fapi/v1/order",
                                           {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                            "quantity": "0.001", "price": "30000.00"}, in_body=True, secret="x")
            assert body["code"] == -1022
    run(main())


def test_rate_limits_answer_429(run):
    async def main():
        cfg = quiet_config(weight_limit_1m=45, order_limit_10s=3)
        async with SimExchange(cfg) as sim, aiohttp.ClientSession() as http:
            answers = []
            for _ in range(5):  # 20 weight each: some minute window must exceed 45
                async with http.get(f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
                    answers.append((r.status, (await r.json()).get("code")))
                    assert "X-MBX-USED-WEIGHT-1M" in r.headers
            assert (429, -1003) in answers
            sim.limiter.weight.limit = 10_000
            codes = []
            for i in range(7):  # 3 per 10 s
                status, body, headers = await signed(
                    http, "POST", f"{sim.rest_url}/fapi/v1/order",
                    {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                     "quantity": "0.001", "price": "30000.00"})
                codes.append((status, body.get("code")))
                assert "X-MBX-ORDER-COUNT-10S" in headers
            assert (429, -1015) in codes
    run(main())


async def _order(http, sim, **params):
    params.setdefault("symbol", "BTCUSDT")
    return await signed(http, "POST", f"{sim.rest_url}/fapi/v1/order", params)


def test_duplicate_client_order_id_and_validation(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            base = dict(side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.002", price="30000.00",
                        newClientOrderId="dup-1")
            status, body, _ = await _order(http, sim, **base)
            assert status == 200 and body["clientOrderId"] == "dup-1"
            status, body, _ = await _order(http, sim, **base)
            assert (status, body) == (400, {"code": -4116, "msg": "ClientOrderId is duplicated."})
            status, body, _ = await _order(http, sim, **{**base, "newClientOrderId": "x", "price": "30000.05"})
            assert body["code"] == -4014
            status, body, _ = await _order(http, sim, **{**base, "newClientOrderId": "y", "quantity": "0.0015"})
            assert body["code"] == -1111
            status, body, _ = await _order(http, sim, **{**base, "newClientOrderId": "bad id!"})
            assert body["code"] == -4015
            status, body, _ = await _order(http, sim, side="SELL", type="MARKET", quantity="0.001", reduceOnly="true")
            assert body["code"] == -2022
            # Cancel by client id, then cancelling again is unknown.
            status, body, _ = await signed(http, "DELETE", f"{sim.rest_url}/fapi/v1/order",
                                           {"symbol": "BTCUSDT", "origClientOrderId": "dup-1"})
            assert status == 200 and body["status"] == "CANCELED"
            status, body, _ = await signed(http, "DELETE", f"{sim.rest_url}/fapi/v1/order",
                                           {"symbol": "BTCUSDT", "origClientOrderId": "dup-1"})
            assert body["code"] == -2011
            # Once cancelled the id can be reused.
            status, body, _ = await _order(http, sim, **base)
            assert status == 200
    run(main())


def test_matching_positions_pnl_and_time_in_force(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            market = sim.markets["BTCUSDT"]
            sim.drivers["BTCUSDT"].paused = True
            inst = market.inst
            ask, ask_lots = market.book.best_ask()
            # GTX that would cross is rejected; FOK larger than the whole ask side is rejected.
            status, body, _ = await _order(http, sim, side="BUY", type="LIMIT", timeInForce="GTX",
                                           quantity="0.001", price=inst.fmt_price(ask))
            assert body["code"] == -5022
            status, body, _ = await _order(http, sim, side="BUY", type="LIMIT", timeInForce="FOK",
                                           quantity="900.000", price=inst.fmt_price(ask))
            assert body["code"] == -5021
            # IOC for more than the best level at the best price: partial fill, rest expires.
            status, body, _ = await _order(http, sim, side="BUY", type="LIMIT", timeInForce="IOC",
                                           quantity=inst.fmt_qty(ask_lots + 5), price=inst.fmt_price(ask),
                                           newOrderRespType="RESULT")
            assert body["status"] == "EXPIRED" and body["executedQty"] == inst.fmt_qty(ask_lots)
            bought = float(body["cumQuote"])
            assert market.book.asks.qty.get(ask) is None  # liquidity left the book
            status, pos, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v3/positionRisk", {"symbol": "BTCUSDT"})
            assert pos[0]["positionAmt"] == inst.fmt_qty(ask_lots)
            assert float(pos[0]["entryPrice"]) == pytest.approx(inst.price_float(ask))
            # Close by selling into the bids: realized PnL = sold - bought notional.
            status, body, _ = await _order(http, sim, side="SELL", type="MARKET", quantity=inst.fmt_qty(ask_lots),
                                           reduceOnly="true", newOrderRespType="RESULT")
            assert body["status"] == "FILLED"
            sold = float(body["cumQuote"])  # may sweep several bid levels
            status, pos, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v3/positionRisk", {})
            assert pos == []
            account = sim.account
            realized = account.positions["BTCUSDT"].realized_pnl
            assert realized == pytest.approx(sold - bought) and realized < 0
            fees = 0.0005 * (bought + sold)
            status, bal, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v2/balance", {})
            assert float(bal[0]["balance"]) == pytest.approx(100_000 + realized - fees, abs=1e-6)
    run(main())


def test_resting_order_fills_when_a_trade_crosses_it(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            market = sim.markets["BTCUSDT"]
            sim.drivers["BTCUSDT"].paused = True
            inst = market.inst
            bid, _ = market.book.best_bid()
            price = bid - 10
            status, body, _ = await _order(http, sim, side="BUY", type="LIMIT", timeInForce="GTC",
                                           quantity="0.003", price=inst.fmt_price(price))
            order_id = body["orderId"]
            market.publish_trade(price + 1, 10, True)  # above the limit: no fill
            market.publish_trade(price, 2, False)  # at the limit but a buyer aggressor: no fill
            status, opened, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v1/openOrders", {"symbol": "BTCUSDT"})
            assert opened[0]["executedQty"] == "0.000"
            market.publish_trade(price, 2, True)  # seller hits our price: 2 lots fill
            status, q, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v1/order",
                                        {"symbol": "BTCUSDT", "orderId": order_id})
            assert (q["status"], q["executedQty"]) == ("PARTIALLY_FILLED", "0.002")
            market.publish_trade(price - 1, 5, True)  # through the limit: the rest fills
            status, q, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v1/order",
                                        {"symbol": "BTCUSDT", "orderId": order_id})
            assert (q["status"], q["executedQty"]) == ("FILLED", "0.003")
            assert sim.account.positions["BTCUSDT"].lots == 3
            status, body, _ = await signed(http, "DELETE", f"{sim.rest_url}/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"})
            assert body["code"] == 200
            status, br, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v1/leverageBracket", {})
            assert {b["symbol"] for b in br} == {"BTCUSDT", "ETHUSDT"}
    run(main())


def test_ticker_premium_index_account_and_leverage(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            sim.drivers["BTCUSDT"].paused = True
            market = sim.markets["BTCUSDT"]
            status, t = await get_json(http, f"{sim.rest_url}/fapi/v1/ticker/bookTicker?symbol=BTCUSDT")
            assert t["bidPrice"] == market.inst.fmt_price(market.book.bids.best())
            assert t["askQty"] == market.inst.fmt_qty(market.book.best_ask()[1])
            status, p = await get_json(http, f"{sim.rest_url}/fapi/v1/premiumIndex?symbol=BTCUSDT")
            assert float(p["markPrice"]) == market.mark_price()
            status, body, _ = await signed(http, "POST", f"{sim.rest_url}/fapi/v1/leverage",
                                           {"symbol": "BTCUSDT", "leverage": 5})
            assert (status, body["leverage"]) == (200, 5)
            status, rows, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v2/positionRisk", {})
            assert {r["symbol"] for r in rows} == {"BTCUSDT", "ETHUSDT"} and rows[0]["leverage"] == "5"
            status, acct, _ = await signed(http, "GET", f"{sim.rest_url}/fapi/v2/account", {})
            assert acct["assets"][0]["asset"] == "USDT" and float(acct["totalWalletBalance"]) == 100_000
    run(main())
