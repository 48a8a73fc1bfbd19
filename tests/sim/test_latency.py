"""Latency stamping: frames out and orders in, per symbol, via Python and GET /sim/latency."""
import asyncio
import time

import aiohttp
import orjson

from rtaid.sim import SimExchange
from tests.sim.helpers import quiet_config, recv_json, ws_connect, ws_request


def test_wire_to_wire_pairs_each_order_with_the_last_frame_sent(run):
    async def main():
        async with SimExchange(quiet_config(rate=500)) as sim, aiohttp.ClientSession() as http:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams=btcusdt@bookTicker") as md, \
                    ws_connect(f"{sim.ws_url}/ws-fapi/v1") as api:
                for _ in range(6):
                    ticker = (await recv_json(md))["data"]
                sim.drivers["BTCUSDT"].paused = True
                sim.drivers["ETHUSDT"].paused = True
                # Drain in-flight tickers so the last one the client saw is the last one sent.
                last = ticker
                while True:
                    try:
                        last = orjson.loads(await asyncio.wait_for(md.recv(), 0.2))["data"]
                    except asyncio.TimeoutError:
                        break
                before = time.monotonic_ns()
                await api.send(ws_request("l1", "order.place", {
                    "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                    "quantity": "0.001", "price": "30000.00", "newClientOrderId": "lat-1"}))
                assert (await recv_json(api))["status"] == 200
            orders = sim.latency.orders("BTCUSDT")
            assert orders[-1]["client_order_id"] == "lat-1" and orders[-1]["transport"] == "ws"
            assert orders[-1]["mono_ns"] > before and orders[-1]["order_id"] > 0
            frames = sim.latency.frames("BTCUSDT")
            assert frames[-1]["stream"] == "btcusdt@bookTicker" and frames[-1]["seq"] == last["u"]
            pair = sim.latency.wire_to_wire("BTCUSDT")[-1]
            assert pair["seq"] == last["u"] and pair["latency_ns"] == pair["order_mono_ns"] - pair["frame_mono_ns"] > 0
            async with http.get(f"{sim.rest_url}/sim/latency?symbol=BTCUSDT&limit=5") as r:
                body = await r.json()
            assert body["BTCUSDT"]["wire_to_wire"][-1] == pair
            assert len(body["BTCUSDT"]["frames"]) == 5
            async with http.get(f"{sim.rest_url}/sim/stats") as r:
                stats = await r.json()
            assert stats["counters"]["orders"] == 1 and stats["connections"] == {}
            assert stats["symbols"]["BTCUSDT"]["events"] > 0
    run(main())
