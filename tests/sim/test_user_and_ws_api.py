"""User-data stream (listenKey) and WebSocket order entry (/ws-fapi/v1)."""
import asyncio

import aiohttp

from rtaid.sim import SimExchange
from tests.sim.helpers import KEY, quiet_config, recv_json, ws_connect, ws_request


async def listen_key(http, sim):
    async with http.post(f"{sim.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
        assert r.status == 200
        return (await r.json())["listenKey"]


def test_ws_api_place_cancel_and_user_events(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            sim.drivers["BTCUSDT"].paused = True
            key = await listen_key(http, sim)
            async with http.put(f"{sim.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
                assert (await r.json())["listenKey"] == key
            async with ws_connect(f"{sim.ws_url}/private/ws/{key}") as user, \
                    ws_connect(f"{sim.ws_url}/ws-fapi/v1") as api:
                bid = sim.markets["BTCUSDT"].book.bids.best()
                price = sim.markets["BTCUSDT"].inst.fmt_price(bid - 50)
                await api.send(ws_request("a1", "order.place", {
                    "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                    "quantity": "0.004", "price": price, "newClientOrderId": "wsapi-1"}))
                answer = await recv_json(api)
                assert answer["id"] == "a1" and answer["status"] == 200
                assert answer["result"]["status"] == "NEW" and answer["result"]["price"] == price
                assert answer["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
                ev = await recv_json(user)
                assert ev["e"] == "ORDER_TRADE_UPDATE"
                assert (ev["o"]["x"], ev["o"]["X"], ev["o"]["c"], ev["o"]["p"]) == ("NEW", "NEW", "wsapi-1", price)

                await api.send(ws_request("a2", "order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": "wsapi-1"}))
                answer = await recv_json(api)
                assert answer["status"] == 200 and answer["result"]["status"] == "CANCELED"
                ev = await recv_json(user)
                assert ev["o"]["X"] == "CANCELED"

                # A market order: TRADE event then ACCOUNT_UPDATE with the new position.
                await api.send(ws_request("a3", "order.place", {
                    "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                    "newOrderRespType": "RESULT"}))
                answer = await recv_json(api)
                assert answer["result"]["status"] == "FILLED"
                kinds = []
                while "ACCOUNT_UPDATE" not in kinds:
                    ev = await recv_json(user)
                    kinds.append(ev["e"])
                    if ev["e"] == "ACCOUNT_UPDATE":
                        assert ev["a"]["P"][0]["pa"] == "0.001"
                    elif ev["e"] == "TRADE_LITE":
                        assert (ev["S"], ev["l"], ev["m"]) == ("BUY", "0.001", False)
                    elif ev["o"]["x"] == "TRADE":
                        assert ev["o"]["X"] == "FILLED" and ev["o"]["l"] == "0.001"
                assert kinds == ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE", "TRADE_LITE", "ACCOUNT_UPDATE"]

                # Errors: bad signature, unknown order.
                await api.send(ws_request("a4", "order.cancel", {"symbol": "BTCUSDT", "orderId": 1}, secret="bad"))
                answer = await recv_json(api)
                assert answer["status"] == 400 and answer["error"]["code"] == -1022
                await api.send(ws_request("a5", "order.cancel", {"symbol": "BTCUSDT", "orderId": 1}))
                assert (await recv_json(api))["error"]["code"] == -2011

            # The legacy /ws/<listenKey> path works too; a deleted key closes its stream.
            async with ws_connect(f"{sim.ws_url}/ws/{key}") as user:
                async with http.delete(f"{sim.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
                    assert r.status == 200
                await asyncio.wait_for(user.wait_closed(), 5)
    run(main())


def test_listen_key_expires(run):
    async def main():
        async with SimExchange(quiet_config(listen_key_ttl_s=0.3, ping_interval_s=0.2)) as sim, \
                aiohttp.ClientSession() as http:
            key = await listen_key(http, sim)
            async with ws_connect(f"{sim.ws_url}/private/ws/{key}") as user:
                ev = await recv_json(user)
                assert ev == {"e": "listenKeyExpired", "E": ev["E"], "listenKey": key}
                await asyncio.wait_for(user.wait_closed(), 5)
            async with http.put(f"{sim.rest_url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
                assert (await r.json())["code"] == -1125
    run(main())
