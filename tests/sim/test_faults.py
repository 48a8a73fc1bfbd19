"""Every fault is observable by a client; triggered over HTTP (/sim/fault) or in-process."""
import asyncio

import aiohttp
import orjson
import pytest
import websockets

from rtaid.sim import SimExchange
from tests.sim.helpers import quiet_config, recv_json, signed, sync_book, ws_connect

DEPTH = "btcusdt@depth@0ms"


async def post_fault(http, sim, **spec):
    async with http.post(f"{sim.rest_url}/sim/fault", data=orjson.dumps(spec)) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def next_depth(ws) -> dict:
    while True:
        msg = await recv_json(ws)
        if msg["stream"] == DEPTH:
            return msg["data"]


def test_drop_connection(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams={DEPTH}") as pub, \
                    ws_connect(f"{sim.ws_url}/market/stream?streams=btcusdt@trade") as mkt:
                await recv_json(pub)
                assert (await post_fault(http, sim, fault="drop", target="public")) == {"dropped": 1}
                with pytest.raises(websockets.ConnectionClosedError):
                    while True:
                        await pub.recv()
                assert pub.close_code is None or pub.close_code == 1006  # no close frame: abort
                await recv_json(mkt)  # the other path is untouched
                assert sim.faults.drop_connections("market", clean=True) == 1
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        await mkt.recv()
    run(main())


def test_skip_event_breaks_pu_chain(run):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim, aiohttp.ClientSession() as http:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams={DEPTH}") as ws:
                book = await sync_book(ws, http, sim.rest_url, "BTCUSDT", DEPTH, 20)
                await post_fault(http, sim, fault="skip", symbol="BTCUSDT", count=1)
                for _ in range(3000):  # events already in flight still chain
                    ev = await next_depth(ws)
                    if ev["pu"] != book.last_u:
                        break
                    assert book.apply(ev)
                assert ev["pu"] != book.last_u and not book.apply(ev)
                assert sim.markets["BTCUSDT"].skip[DEPTH] == 0
    run(main())


def test_stall_holds_frames_then_bursts_with_chain_intact(run):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim, aiohttp.ClientSession() as http:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams={DEPTH}") as ws:
                book = await sync_book(ws, http, sim.rest_url, "BTCUSDT", DEPTH, 10)
                sim.faults.stall_stream("BTCUSDT", 1.5)
                # Drain what was already in flight; then silence.
                with pytest.raises(asyncio.TimeoutError):
                    while True:
                        assert book.apply(orjson.loads(await asyncio.wait_for(ws.recv(), 0.3))["data"])
                for _ in range(50):
                    assert book.apply(await next_depth(ws))  # the burst continues the chain
    run(main())


def test_stall_with_drop_loses_frames(run):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim, aiohttp.ClientSession() as http:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams={DEPTH}") as ws:
                book = await sync_book(ws, http, sim.rest_url, "BTCUSDT", DEPTH, 10)
                await post_fault(http, sim, fault="stall", symbol="BTCUSDT", seconds=0.3, drop=True)
                broken = False
                for _ in range(3000):
                    if not book.apply(await next_depth(ws)):
                        broken = True
                        break
                assert broken
    run(main())


@pytest.mark.parametrize("mode", ["malformed", "truncated"])
def test_corrupt_frames(run, mode):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim, aiohttp.ClientSession() as http:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams={DEPTH}") as ws:
                await ws.recv()
                await post_fault(http, sim, fault="corrupt", symbol="BTCUSDT", count=1, mode=mode)
                bad, after = 0, 0
                for _ in range(3000):  # frames already in flight come first
                    try:
                        orjson.loads(await ws.recv())
                    except orjson.JSONDecodeError:
                        bad += 1
                    if bad:
                        after += 1
                        if after > 50:
                            break
                assert bad == 1
    run(main())


def test_rest_faults(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            url = f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=5"
            for status, code in ((503, -1001), (500, -1001), (429, -1003), (418, -1003)):
                await post_fault(http, sim, fault="rest", mode="status", status=status, path="/fapi/v1/depth")
                async with http.get(url) as r:
                    assert (r.status, (await r.json())["code"]) == (status, code)
            async with http.get(url) as r:
                assert r.status == 200  # count=1: used up
            # A delayed call is still served (and the fault is used up).
            sim.faults.fail_rest("delay", seconds=0.1, path="/fapi/v1/time")
            async with http.get(f"{sim.rest_url}/fapi/v1/time") as r:
                assert r.status == 200
            assert sim.faults.rest_faults == []
            sim.faults.fail_rest("timeout", seconds=1.0)
            with pytest.raises(asyncio.TimeoutError):
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=0.2)) as r:
                    await r.read()
            async with http.get(f"{sim.rest_url}/sim/fault") as r:
                assert (await r.json())["injected"]["rest"] == 6
    run(main())


def test_reject_orders_and_clear(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                     "quantity": "0.001", "price": "30000.00"}
            await post_fault(http, sim, fault="reject_orders", count=1, code=-2019, msg="Margin is insufficient.")
            status, body, _ = await signed(http, "POST", f"{sim.rest_url}/fapi/v1/order", order)
            assert (status, body) == (400, {"code": -2019, "msg": "Margin is insufficient."})
            status, body, _ = await signed(http, "POST", f"{sim.rest_url}/fapi/v1/order", order)
            assert status == 200
            sim.faults.reject_orders(5)
            sim.faults.skip_events("BTCUSDT", 3)
            async with http.delete(f"{sim.rest_url}/sim/fault") as r:
                assert r.status == 200
            async with http.get(f"{sim.rest_url}/sim/fault") as r:
                pending = await r.json()
            assert pending["reject_orders"] == [] and pending["streams"] == {}
            async with http.post(f"{sim.rest_url}/sim/fault", data=b'{"fault":"nope"}') as r:
                assert r.status == 400
    run(main())


def test_successive_corruptions_compose(run):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams={DEPTH}") as ws:
                await ws.recv()
                sim.faults.corrupt_frames("BTCUSDT", 2, mode="malformed")
                sim.faults.corrupt_frames("BTCUSDT", 2, mode="truncated")
                kinds = []
                for _ in range(3000):
                    text = await ws.recv()
                    try:
                        orjson.loads(text)
                    except orjson.JSONDecodeError:
                        # A truncated frame is a prefix of a real one; a malformed one is not.
                        kinds.append("malformed" if '"data":{"e":{},,]}' in text else "truncated")
                        if len(kinds) == 4:
                            break
                assert kinds == ["malformed", "malformed", "truncated", "truncated"]
                assert sim.faults.pending()["streams"] == {}
    run(main())
