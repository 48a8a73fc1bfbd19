"""Market-data WebSocket: book rebuild, bookTicker, formats, path split, subscriptions."""
import asyncio
import re
from decimal import Decimal

import aiohttp
import orjson
import pytest

from rtaid.sim import SimExchange
from tests.sim.helpers import book_levels, quiet_config, recv_json, sync_book, ws_connect

BTC_PRICE = re.compile(r"^\d+\.\d0$")  # 2 decimals on a 0.10 grid
QTY3 = re.compile(r"^\d+\.\d{3}$")


def test_client_rebuilds_book_and_matches_book_ticker(run):
    async def main():
        async with SimExchange(quiet_config(rate=3000)) as sim:
            url = f"{sim.ws_url}/public/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker"
            checked = []

            def on_ticker(book, t):
                # bookTicker shares the depth sequence: when u matches the book's, the top must too.
                if book.synced and t["u"] == book.last_u:
                    assert (Decimal(t["b"]), Decimal(t["B"]), Decimal(t["a"]), Decimal(t["A"])) == book.best()
                    checked.append(t["u"])

            async with aiohttp.ClientSession() as http, ws_connect(url) as ws:
                book = await sync_book(ws, http, sim.rest_url, "BTCUSDT", "btcusdt@depth@0ms", 1500, on_ticker)
                assert len(checked) > 100
                # Pause the generator to compare the rebuilt book with the sim's own.
                sim.drivers["BTCUSDT"].paused = True
                while True:
                    try:
                        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 0.3))
                    except asyncio.TimeoutError:
                        break
                    if msg["stream"] == "btcusdt@depth@0ms":
                        assert book.apply(msg["data"])
                async with http.get(f"{sim.rest_url}/sim/book?symbol=BTCUSDT&limit=50") as resp:
                    sim_book = await resp.json()
                assert sim_book["lastUpdateId"] == book.last_u
                bids, asks = book.top(50)
                assert (bids, asks) == book_levels(sim_book)
    run(main())


def test_wire_formats(run):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim:
            streams = "btcusdt@depth@0ms/btcusdt@bookTicker/btcusdt@trade/btcusdt@aggTrade/ethusdt@bookTicker"
            seen = {}
            async with ws_connect(f"{sim.ws_url}/stream?streams={streams}") as ws:
                while len(seen) < 5:
                    msg = await recv_json(ws)
                    seen.setdefault(msg["stream"], msg["data"])
            d = seen["btcusdt@depth@0ms"]
            assert set(d) == {"e", "E", "T", "s", "U", "u", "pu", "b", "a"} and d["e"] == "depthUpdate"
            for p, q in d["b"] + d["a"]:
                assert BTC_PRICE.match(p) and QTY3.match(q)
            t = seen["btcusdt@bookTicker"]
            assert list(t) == ["e", "u", "s", "b", "B", "a", "A", "T", "E"]
            assert BTC_PRICE.match(t["b"]) and QTY3.match(t["A"])
            tr = seen["btcusdt@trade"]
            assert set(tr) == {"e", "E", "T", "s", "t", "p", "q", "X", "m"} and tr["X"] == "MARKET"
            ag = seen["btcusdt@aggTrade"]
            assert set(ag) == {"e", "E", "a", "s", "p", "q", "f", "l", "T", "m"}
            eth = seen["ethusdt@bookTicker"]
            assert re.match(r"^\d+\.\d{2}$", eth["b"]) and QTY3.match(eth["B"])
    run(main())


def test_deletes_are_formatted_as_zero_with_decimals(run):
    async def main():
        async with SimExchange(quiet_config(rate=3000)) as sim:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams=btcusdt@depth@0ms") as ws:
                for _ in range(2000):
                    data = (await recv_json(ws))["data"]
                    zeros = [q for _, q in data["b"] + data["a"] if Decimal(q) == 0]
                    if zeros:
                        assert set(zeros) == {"0.000"}
                        return
            pytest.fail("no delete seen")
    run(main())


def test_path_split_wrong_path_is_silently_never_delivered(run):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim:
            async with ws_connect(
                    f"{sim.ws_url}/public/stream?streams=btcusdt@aggTrade/btcusdt@trade/btcusdt@depth@0ms") as pub, \
                    ws_connect(
                        f"{sim.ws_url}/market/stream?streams=btcusdt@bookTicker/btcusdt@trade") as mkt:
                pub_streams, mkt_streams = set(), set()
                for _ in range(300):
                    pub_streams.add((await recv_json(pub))["stream"])
                for _ in range(30):
                    mkt_streams.add((await recv_json(mkt))["stream"])
                assert pub_streams == {"btcusdt@depth@0ms"}
                assert mkt_streams == {"btcusdt@trade"}
                # LIST_SUBSCRIPTIONS still shows what was asked for.
                await pub.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 9}).decode())
                while True:
                    msg = await recv_json(pub)
                    if msg.get("id") == 9:
                        assert sorted(msg["result"]) == ["btcusdt@aggTrade", "btcusdt@depth@0ms", "btcusdt@trade"]
                        break
    run(main())


def test_live_subscribe_unsubscribe_and_raw_stream(run):
    async def main():
        async with SimExchange(quiet_config(rate=2000)) as sim:
            async with ws_connect(f"{sim.ws_url}/public/stream") as ws:
                await ws.send('{"method":"SUBSCRIBE","params":["ethusdt@bookTicker"],"id":1}')
                assert await recv_json(ws) == {"result": None, "id": 1}
                msg = await recv_json(ws)
                assert msg["stream"] == "ethusdt@bookTicker" and msg["data"]["s"] == "ETHUSDT"
                await ws.send('{"method":"UNSUBSCRIBE","params":["ethusdt@bookTicker"],"id":2}')
                while (await recv_json(ws)).get("id") != 2:
                    pass
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.3)
                await ws.send("not json")
                assert (await recv_json(ws))["error"]["code"] == 3
            async with ws_connect(f"{sim.ws_url}/ws/btcusdt@bookTicker") as raw:
                data = await recv_json(raw)
                assert data["e"] == "bookTicker" and "stream" not in data
            async with ws_connect(f"{sim.ws_url}/ws") as raw:
                await raw.send('{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":"s"}')
                assert await recv_json(raw) == {"result": None, "id": "s"}
                assert (await recv_json(raw))["e"] == "trade"
            async with ws_connect(f"{sim.ws_url}/market/ws/btcusdt@bookTicker/btcusdt@aggTrade") as raw:
                assert (await recv_json(raw))["e"] == "aggTrade"  # bookTicker is not on /market
    run(main())


@pytest.mark.parametrize("speed", ["100ms", "250ms"])
def test_aggregated_depth_stream_has_its_own_pu_chain(run, speed):
    async def main():
        async with SimExchange(quiet_config(rate=3000)) as sim:
            stream = f"btcusdt@depth@{speed}"
            async with aiohttp.ClientSession() as http, ws_connect(
                    f"{sim.ws_url}/public/stream?streams={stream}") as ws:
                book = await sync_book(ws, http, sim.rest_url, "BTCUSDT", stream, 4)
                assert book.synced
    run(main())


def test_mark_price_stream(run):
    async def main():
        async with SimExchange(quiet_config(rate=200, mark_price_interval_s=0.05)) as sim:
            async with ws_connect(f"{sim.ws_url}/market/stream?streams=btcusdt@markPrice@1s") as ws:
                data = (await recv_json(ws))["data"]
                assert data["e"] == "markPriceUpdate" and data["s"] == "BTCUSDT"
                assert re.match(r"^\d+\.\d{8}$", data["p"]) and 59000 < float(data["p"]) < 61000
    run(main())


def test_client_syncs_when_it_subscribes_after_the_last_event(run):
    async def main():
        async with SimExchange(quiet_config(rate=1000)) as sim:
            await asyncio.sleep(0.05)
            sim.drivers["BTCUSDT"].paused = True
            await asyncio.sleep(0.05)
            async with aiohttp.ClientSession() as http, ws_connect(
                    f"{sim.ws_url}/public/stream?streams=btcusdt@depth@0ms") as ws:
                async with http.get(f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
                    snap = await r.json()
                # Nothing was sent since the subscription; the snapshot id must still let
                # the next event be the first one applied (U <= lastUpdateId <= u).
                sim.drivers["BTCUSDT"].paused = False
                data = (await recv_json(ws))["data"]
                assert data["U"] <= snap["lastUpdateId"] <= data["u"]
    run(main())
