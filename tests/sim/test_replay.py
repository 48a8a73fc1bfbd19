"""Replay of a real recording: a client syncs from the sim's snapshot + the replayed chain."""
import asyncio
import gzip
from decimal import Decimal

import aiohttp
import orjson

from rtaid.sim import SimConfig, SimExchange
from rtaid.sim.replay import load_recording
from tests.helpers import BTC_RECORDING
from tests.sim.helpers import LocalBook, book_levels, get_json, ws_connect

LINES = 6000


def test_load_recording_splits_snapshot_and_stream(shared_data):
    rec = load_recording(BTC_RECORDING, LINES)
    assert rec.symbol == "BTCUSDT"
    assert rec.snapshot["lastUpdateId"] == 5123107852948
    assert rec.pre_snapshot_depth and all("U" in d for d in rec.pre_snapshot_depth)
    assert len(rec.lines) == LINES - 55  # everything after the snapshot line (line 55)


def test_replay_is_served_with_a_chain_a_client_can_sync_to(run, shared_data):
    async def main():
        cfg = SimConfig(port=0, replay=(str(BTC_RECORDING),), speed=25.0, replay_max_lines=LINES)
        async with SimExchange(cfg) as sim:
            assert sim.markets["BTCUSDT"].inst.spec.tick_size == "0.10"
            url = f"{sim.ws_url}/public/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker"
            book = LocalBook()
            raw_frames: list[str] = []
            tickers_checked = 0
            async with aiohttp.ClientSession() as http, ws_connect(url) as ws:
                status, snap = await get_json(http, f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=1000")
                assert status == 200
                book.load_snapshot(snap)
                while True:
                    try:
                        text = await asyncio.wait_for(ws.recv(), 0.5)
                    except asyncio.TimeoutError:
                        if sim.replays["BTCUSDT"].finished.is_set():
                            break
                        continue
                    raw_frames.append(text)
                    msg = orjson.loads(text)
                    data = msg["data"]
                    if msg["stream"] == "btcusdt@depth@0ms":
                        assert book.apply(data), "replayed chain is broken"
                    elif book.synced and data["u"] == book.last_u:
                        b, bq, a, aq = book.best()
                        assert (Decimal(data["b"]), Decimal(data["B"]), Decimal(data["a"]), Decimal(data["A"])) \
                            == (b, bq, a, aq)
                        tickers_checked += 1
                assert book.synced and book.applied > 100
                assert tickers_checked > 10
                # The client only knows what the 1000-level snapshot and the diffs told it:
                # compare the top, where both are complete.
                status, sim_book = await get_json(http, f"{sim.rest_url}/sim/book?symbol=BTCUSDT&limit=300")
                assert sim_book["lastUpdateId"] == book.last_u
                bids, asks = book.top(300)
                assert (bids, asks) == book_levels(sim_book)
            # Recorded frames are forwarded byte for byte.
            with gzip.open(BTC_RECORDING, "rt") as fh:
                recorded = {line.partition(" ")[2].rstrip("\n") for _, line in zip(range(LINES), fh)}
            assert raw_frames and all(f in recorded for f in raw_frames)

    run(main())


def test_replay_derives_agg_trades_on_market_path(run, shared_data):
    async def main():
        cfg = SimConfig(port=0, replay=(str(BTC_RECORDING),), speed=25.0, replay_max_lines=LINES)
        async with SimExchange(cfg) as sim:
            async with ws_connect(
                    f"{sim.ws_url}/market/stream?streams=btcusdt@aggTrade/btcusdt@trade") as ws:
                seen = {}
                while len(seen) < 2:
                    msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
                    seen[msg["stream"]] = msg["data"]
                assert seen["btcusdt@aggTrade"]["e"] == "aggTrade"
                assert seen["btcusdt@trade"]["p"].endswith("0")  # 0.10 grid, 2 decimals
    run(main())


def test_fast_replay_book_equals_the_recording_rebuilt_independently(run, shared_data):
    async def main():
        cfg = SimConfig(port=0, replay=(str(BTC_RECORDING),), speed=0, replay_max_lines=LINES)
        async with SimExchange(cfg) as sim:
            await sim.wait_replay_finished()
            sim_book = sim.book("BTCUSDT")
        # Rebuild from the file alone, the official way: buffer diffs, snapshot, apply.
        book = LocalBook()
        buffered = []
        with gzip.open(BTC_RECORDING, "rt") as fh:
            for _, line in zip(range(LINES), fh):
                msg = orjson.loads(line.partition(" ")[2])
                if "stream" not in msg:
                    book.load_snapshot(msg)
                    for ev in buffered:
                        assert book.apply(ev)
                elif msg["stream"].endswith("@depth@0ms"):
                    if book.last_u is None:
                        buffered.append(msg["data"])
                    else:
                        assert book.apply(msg["data"])
        assert sim_book["lastUpdateId"] == book.last_u
        bids, asks = book.top(1000)
        sim_bids, sim_asks = book_levels(sim_book)
        assert (bids, asks) == (sim_bids[:1000], sim_asks[:1000])

    run(main())
