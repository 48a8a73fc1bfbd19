"""The wire benchmark's generator (bench/wire/generator.py): the shared recordings,
looped, over real WebSockets. A third-party client (websockets) feeds everything into
rtaid's Engine: across several loops the books stay synced (no gap, never crossed) and
equal, level for level, the generator's own REST snapshot; ids and exchange times only
grow; the floor client (picows + the Cython listener) takes the same stream."""
import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import websockets

from rtaid._kernels.engine import Engine
from tests.helpers import ROOT

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
PUBLIC = "btcusdt@depth@0ms/btcusdt@bookTicker/ethusdt@depth@0ms/ethusdt@bookTicker"
MARKET = "btcusdt@trade/ethusdt@trade"


@pytest.fixture
def generator(shared_data):
    proc = subprocess.Popen([sys.executable, "-m", "bench.wire.generator", "--max-lines", "2500"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("generator listening:"), line
    url = line.split()[2]
    yield url, int(line.split()[-1])
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def call(url, path, method="GET"):
    with urllib.request.urlopen(urllib.request.Request(url + path, method=method), timeout=10) as r:
        return r.read()


def levels(pairs):
    """REST snapshot levels in ticks and lots (2 and 3 decimals for both symbols)."""
    return [(round(float(p) * 100), round(float(q) * 1000)) for p, q in pairs]


def test_books_stay_synced_and_equal_across_loops(generator):
    url, per_loop = generator
    ws = url.replace("http://", "ws://")
    engine = Engine(SYMBOLS, scales={s: (2, 3) for s in SYMBOLS})
    seen = {"u": {s: [] for s in SYMBOLS}, "t": {s: [] for s in SYMBOLS}, "T": []}

    async def run():
        pub = await websockets.connect(f"{ws}/public/stream?streams={PUBLIC}", max_size=None)
        mkt = await websockets.connect(f"{ws}/market/stream?streams={MARKET}", max_size=None)
        # paused: the snapshots are exactly where the stream will start
        for i, sym in enumerate(SYMBOLS):
            rc, kind, _ = engine.feed(call(url, f"/fapi/v1/depth?symbol={sym}&limit=1000"), 0, i)
            assert (rc, kind) == (0, "snapshot")
        call(url, "/bench/mode?rate=max", "POST")
        counts = {"pub": 0, "mkt": 0}

        async def read(name, conn, until):
            while counts[name] < until[name]:
                msg = await conn.recv()
                data = json.loads(msg)["data"]
                sym = data["s"]
                seen["T"].append(data["T"])
                if data["e"] == "trade":
                    seen["t"][sym].append(data["t"])
                elif data["e"] == "depthUpdate":
                    seen["u"][sym].append(data["u"])
                rc, _, _ = engine.feed(msg.encode(), 0, -1)
                assert rc == 0
                counts[name] += 1

        # three loops and a bit, then pause and take everything that was sent
        target = {"pub": 10**12, "mkt": 10**12}
        readers = [asyncio.create_task(read("pub", pub, target)), asyncio.create_task(read("mkt", mkt, target))]
        while json.loads(call(url, "/bench/stats"))["loop"] < 3:
            await asyncio.sleep(0.02)
        stats = json.loads(call(url, "/bench/mode?rate=0", "POST"))
        by_path = {c["path"]: c["frames"] for c in stats["clients"]}
        target.update(pub=by_path["/public/stream"], mkt=by_path["/market/stream"])
        await asyncio.wait_for(asyncio.gather(*readers), 30)
        await pub.close()
        await mkt.close()
        return stats

    stats = asyncio.run(run())
    assert stats["loop"] >= 3 and stats["written"] >= 3 * per_loop
    for i, sym in enumerate(SYMBOLS):
        book = engine.book_stats(i)
        assert engine.book_state(i) == "synced"
        assert book["gap"] == 0 and book["crossed"] == 0 and book["applied"] > 3 * 100
        # the top 200 levels: deeper, a snapshot of 1000 levels leaves some unknown until
        # a diff touches them (as on Binance)
        snap = json.loads(call(url, f"/fapi/v1/depth?symbol={sym}&limit=1000"))
        assert engine.top(i, "bid", 200) == levels(snap["bids"][:200])
        assert engine.top(i, "ask", 200) == levels(snap["asks"][:200])
        for ids in (seen["u"][sym], seen["t"][sym]):
            assert all(b > a for a, b in zip(ids, ids[1:])), sym
    # exchange time ran on across the loops
    assert max(seen["T"]) - min(seen["T"]) > (stats["loop"] - 1) * stats["loop_ms"]


def test_an_unknown_stream_is_refused_by_name(generator):
    url, _ = generator

    async def run():
        with pytest.raises(websockets.InvalidStatus) as err:
            await websockets.connect(url.replace("http://", "ws://") + "/stream?streams=btcusdt@aggTrade")
        assert err.value.response.status_code == 400
        assert b"btcusdt@aggTrade" in err.value.response.body

    asyncio.run(run())


def test_the_floor_client_takes_the_stream(generator, tmp_path):
    url, _ = generator
    out = tmp_path / "floor.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench.wire.clients", "floor", "--ws",
                             url.replace("http://", "ws://"), "--ring", "1000", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "connected"
        call(url, "/bench/mode?rate=50000", "POST")
        while json.loads(call(url, "/bench/stats"))["written"] < 20_000:
            pass
        stats = json.loads(call(url, "/bench/mode?rate=0", "POST"))
        while any(c["unsent"] for c in json.loads(call(url, "/bench/stats"))["clients"]):
            time.sleep(0.05)
        time.sleep(0.5)         # what the client's socket still holds
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    got = json.loads(out.read_text())["connections"]
    sent = {c["path"]: c["frames"] for c in stats["clients"]}
    assert got["public-0"]["frames"] == sent["/public/stream"] > 0
    assert got["market-0"]["frames"] == sent["/market/stream"] > 0
