"""The producer endpoint against raw WebSocket clients (freqtrade's own consumer talks to it
in test_freqtrade_consumer.py): framing, requests, live rows, tokens, slow consumers."""
import asyncio
import contextlib
import json
import socket

import aiohttp
import pytest
import websockets
import websockets.exceptions

from rtaid.freqtrade import bars as barlib
from rtaid.freqtrade import wire
from rtaid.freqtrade.producer import PATH, Producer, ProducerError
from rtaid.infra.secrets import Secret
from rtaid.sim import SimExchange
from rtaid.store.tables import TABLES
from tests.sim.helpers import quiet_config

TOKEN = "tok-3.x_~Z"
BAR_COLUMNS = [c for c, *_ in TABLES["bars_1m"].columns]
MINUTE = 60_000
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
PREFIX = '{"type":"analyzed_df","data":{"key":["%s","1m","futures"],"df":{"__type__":"dataframe","__value__":"'


class LiveBars:
    """The injected live source: what the test says the daemon has closed."""

    def __init__(self):
        self.bars = {}

    def __call__(self):
        return dict(self.bars)


@contextlib.asynccontextmanager
async def serving(data_dir, **kw):
    async with SimExchange(quiet_config()) as sim:
        live = LiveBars()
        producer = Producer(["BTCUSDT", "ETHUSDT"], Secret(TOKEN), live, BAR_COLUMNS,
                            str(data_dir), sim.rest_url, port=0, poll_s=0.05, **kw)
        await producer.start()
        try:
            await asyncio.wait_for(producer.ready.wait(), 30)
            yield producer, live, sim
        finally:
            await producer.stop()


def url(producer, token=TOKEN):
    return f"ws://127.0.0.1:{producer.port}{PATH}" + ("" if token is None else f"?token={token}")


def frame_of(message, pair):
    assert message.startswith(PREFIX % pair), message[:200]
    data = json.loads(message)["data"]
    assert list(data) == ["key", "df", "la"]
    df = json.loads(data["df"]["__value__"])
    assert list(df) == ["columns", "index", "data"]
    assert df["index"] == list(range(len(df["data"])))
    return df


async def recv_json(ws, timeout=20):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_wire_cells_and_requests():
    assert wire.row_text([1723161240000, 61800.3, float("nan"), float("inf"), None, 3, 1e-12, -0.0]) \
        == "[1723161240000,61800.3,null,null,null,3,1e-12,-0.0]"
    header = wire.FrameHeader(["date", "open"])
    msg = wire.analyzed_df("BTC/USDT:USDT", header, ["[1,2.5]", "[2,null]"], 1723161240.5)
    assert msg == ('{"type":"analyzed_df","data":{"key":["BTC/USDT:USDT","1m","futures"],"df":'
                   '{"__type__":"dataframe","__value__":"{\\"columns\\":[\\"date\\",\\"open\\"],'
                   '\\"index\\":[0,1],\\"data\\":[[1,2.5],[2,null]]}"},'
                   '"la":"2024-08-08T23:54:00.500000+00:00"}}')
    assert wire.whitelist(PAIRS) == '{"type":"whitelist","data":["BTC/USDT:USDT","ETH/USDT:USDT"]}'
    assert wire.parse_request('{"type":"analyzed_df","data":{"limit":3000}}') == ("analyzed_df", {"limit": 3000})
    assert wire.analyzed_df_request({"limit": 3000}) == (1500, None)
    assert wire.analyzed_df_request({"limit": 5, "pair": "X"}) == (5, "X")
    assert wire.analyzed_df_request(None) == (None, None)
    for bad, text in (('{"type":"nope"}', "Invalid request type: nope"), ("[1]", "Invalid request type: None"),
                      ("{", "Invalid request type: None")):
        with pytest.raises(wire.BadRequest, match=text):
            wire.parse_request(bad)
    with pytest.raises(wire.BadRequest):
        wire.analyzed_df_request({"limit": "x"})


def test_tokens_are_refused_like_freqtrade_refuses_them(run, dataset):
    async def main():
        async with serving(dataset) as (producer, _, _):
            for token in ("wrong", "", None, TOKEN + "x"):
                with pytest.raises(websockets.exceptions.InvalidStatus) as err:
                    async with websockets.connect(url(producer, token)):
                        pass
                resp = err.value.response
                assert (resp.status_code, bytes(resp.body)) == (403, b"")
                assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert producer.counters["tokens_refused"] == 4
            async with aiohttp.ClientSession() as http:   # not a WebSocket: a clear 400
                async with http.get(url(producer)) as r:
                    assert r.status == 400 and "WebSocket" in await r.text()
            async with websockets.connect(url(producer)) as ws:
                await ws.send('{"type":"whitelist"}')
                assert await recv_json(ws) == {"type": "whitelist", "data": PAIRS}
                await asyncio.wait_for(await ws.ping(), 5)    # answered
    run(main())


def test_requests_frames_and_live_rows(run, dataset):
    async def main():
        async with serving(dataset) as (producer, live, sim):
            async with websockets.connect(url(producer), max_size=None, max_queue=None) as ws, \
                    websockets.connect(url(producer), max_size=None, max_queue=None) as candles:
                # freqtrade's consumer's first three requests, in its order
                await ws.send('{"type":"subscribe","data":["whitelist","analyzed_df"]}')
                await ws.send('{"type":"whitelist"}')
                await ws.send('{"type":"analyzed_df","data":{"limit":1500}}')
                assert await recv_json(ws) == {"type": "whitelist", "data": PAIRS}
                columns = barlib.frame_columns(BAR_COLUMNS)
                for pair in PAIRS:
                    df = frame_of(await asyncio.wait_for(ws.recv(), 20), pair)
                    assert df["columns"] == columns and len(df["data"]) == 1500
                    dates = [r[0] for r in df["data"]]
                    assert dates == list(range(dates[0], dates[0] + 1500 * MINUTE, MINUTE))
                    if pair == PAIRS[0]:
                        async with aiohttp.ClientSession() as http:
                            async with http.get(f"{sim.rest_url}/fapi/v1/klines?symbol=BTCUSDT"
                                                f"&interval=1m&limit=1500&startTime={dates[0]}") as r:
                                klines = {k[0]: k for k in await r.json()}
                        # a fresh window (the dataset's bars are from 2024): the exchange's
                        # closed klines, OHLCV only, rtaid's columns empty
                        for row in df["data"]:
                            k = klines[row[0]]
                            assert row[1:6] == [float(x) for x in k[1:6]]
                            assert row[6:] == [None] * (len(columns) - 6)
                        assert max(klines) >= dates[-1]
                last = dates[-1]
                # a per-pair backfill request, and bad requests answered like freqtrade
                await ws.send('{"type":"analyzed_df","data":{"limit":5,"pair":"ETH/USDT:USDT"}}')
                small = frame_of(await asyncio.wait_for(ws.recv(), 20), "ETH/USDT:USDT")
                assert small["data"] == df["data"][-5:]
                for req, answer in (('{"type":"nope"}', "Invalid request type: nope"),
                                    ('{"type":"analyzed_df","data":{"limit":"x"}}', "Error processing request"),
                                    ('{"type":"analyzed_df","data":{"pair":"XRP/USDT:USDT"}}', "Unknown pair: XRP/USDT:USDT")):
                    await ws.send(req)
                    assert await recv_json(ws) == {"type": "exception", "data": answer}
                await candles.send('{"type":"subscribe","data":["new_candle"]}')
                await asyncio.sleep(0.2)
                # the daemon closes a bar: one row to the subscribers, target at its close
                bar = barlib.newest_bar(str(dataset), "ETHUSDT")
                bar = {**bar, "minute_ms": last + MINUTE}
                producer.note_targets([{"symbol": "ETHUSDT", "ts_ms": last + MINUTE + 5, "target": 1},
                                       {"symbol": "ETHUSDT", "ts_ms": last + 2 * MINUTE, "target": -1}])
                live.bars = {"ETHUSDT": bar}
                row = frame_of(await asyncio.wait_for(ws.recv(), 20), "ETH/USDT:USDT")["data"]
                want = [bar["minute_ms"]] + [bar[c] for c in columns[1:-1]] + [1]
                assert row == [[None if isinstance(v, float) and v != v else v for v in want]]
                assert await recv_json(candles) == {"type": "new_candle",
                                                    "data": ["ETH/USDT:USDT", "1m", "futures"]}
                # the next poll sees the same bar: nothing more is sent
                await asyncio.sleep(0.3)
                await ws.send('{"type":"analyzed_df","data":{"limit":2,"pair":"ETH/USDT:USDT"}}')
                tail = frame_of(await asyncio.wait_for(ws.recv(), 20), "ETH/USDT:USDT")
                assert [r[0] for r in tail["data"]] == [last, last + MINUTE]
            assert producer.counters["backfill_requests"] == 2
            assert producer.counters["bad_requests"] == 3
    run(main())


def test_a_stuck_consumer_is_dropped_and_the_others_keep_their_rows(run, dataset):
    async def main():
        async with serving(dataset, max_pending=6, send_timeout_s=1.0) as (producer, live, _):
            # flooding: asks for everything more often than it may have queued; stuck: asks
            # for full frames now and then and never reads them (its socket fills up)
            flooding = await websockets.connect(url(producer), max_size=None, max_queue=1)
            stuck = await websockets.connect(url(producer), max_size=None, max_queue=1, compression=None)
            sock = stuck.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.transport.pause_reading()
            async with websockets.connect(url(producer), max_size=None, max_queue=None) as ok:
                await ok.send('{"type":"subscribe","data":["analyzed_df"]}')
                await flooding.send('{"type":"subscribe","data":["analyzed_df"]}')
                for _ in range(12):
                    await flooding.send('{"type":"analyzed_df","data":{"limit":1500}}')
                for _ in range(60):     # 0.4 MB per frame (klines: rtaid's columns empty)
                    if producer.counters["consumers_dropped_stuck"]:
                        break
                    await stuck.send('{"type":"analyzed_df","data":{"limit":1500}}')
                    await asyncio.sleep(0.4)
                start = producer.pairs["BTC/USDT:USDT"].last_minute
                bar = barlib.newest_bar(str(dataset), "BTCUSDT")
                seen = []
                for i in range(1, 7):
                    live.bars = {"BTCUSDT": {**bar, "minute_ms": start + i * MINUTE}}
                    row = frame_of(await asyncio.wait_for(ok.recv(), 20), "BTC/USDT:USDT")["data"]
                    seen.append(row[0][0])
                assert seen == [start + i * MINUTE for i in range(1, 7)]
                for _ in range(100):
                    if len(producer.consumers) == 1:
                        break
                    await asyncio.sleep(0.1)
                assert producer.counters["consumers_dropped_slow"] == 1     # the flooding one
                assert producer.counters["consumers_dropped_stuck"] == 1    # the one not reading
                assert len(producer.consumers) == 1
            for ws in (flooding, stuck):
                ws.transport.abort()
    run(main())


def test_a_port_in_use_fails_at_start(run, dataset):
    async def main():
        async with serving(dataset) as (producer, _, _):
            other = Producer(["BTCUSDT"], Secret(TOKEN), LiveBars(), BAR_COLUMNS, str(dataset), None,
                             port=producer.port)
            with pytest.raises(ProducerError, match=f"127.0.0.1:{producer.port}"):
                await other.start()
    run(main())


def test_klines_are_retried_and_a_rate_limit_is_honoured(run):
    from rtaid.freqtrade import klines as klinelib

    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            sim.faults.fail_rest("status", status=503, count=1, path="/fapi/v1/klines")
            got = await klinelib.fetch_with_retry(http, sim.rest_url, "BTCUSDT")
            assert len(got) == 1500 and sim.faults.rest_faults == []
            assert all(t % MINUTE == 0 for t in got)
            sim.faults.fail_rest("status", status=429, count=1, path="/fapi/v1/klines")
            with pytest.raises(klinelib.RateLimited) as err:
                await klinelib.fetch_closed(http, sim.rest_url, "BTCUSDT")
            assert err.value.retry_after_s == 60.0
            with pytest.raises(ValueError, match="HTTP 400"):
                await klinelib.fetch_closed(http, sim.rest_url, "NOPEUSDT")
    run(main())
