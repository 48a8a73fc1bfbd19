"""The REST depth snapshot client (http.client on a worker thread): against rtaid-sim
for answers, weight, errors and a hanging server; against a bare HTTP server for what the
sim does not do (a kept-alive connection the server closes, a gzip body)."""
import asyncio
import gzip
import json
import time

import pytest

from rtaid.feed.snapshots import INVALID_SYMBOL, SnapshotClient, SnapshotError
from rtaid.sim import SimConfig, SimExchange


async def with_client(scenario, **client_kw):
    async with SimExchange(SimConfig(port=0, rate=50, seed=3)) as sim:
        client = SnapshotClient(sim.rest_url, **{"limit": 100, **client_kw})
        try:
            await scenario(sim, client)
        finally:
            await client.close()


def test_snapshots_weight_and_one_kept_alive_connection(run):
    async def scenario(sim, client):
        first = json.loads(await client.fetch("BTCUSDT"))
        conn = client._conn
        second = json.loads(await client.fetch("ETHUSDT"))
        assert client._conn is conn is not None        # the same connection, kept alive
        assert first["lastUpdateId"] > 0 and len(first["bids"]) == len(first["asks"]) == 100
        assert second["lastUpdateId"] > 0
        # the exchange's own count of this minute's weight (two requests of limit 100)
        assert client.used_weight == sim.limiter.weight.current(time.time()) >= 10
    run(with_client(scenario), timeout=30)


def test_errors_say_what_the_exchange_said(run):
    async def scenario(sim, client):
        with pytest.raises(SnapshotError) as err:
            await client.fetch("NOPEUSDT")
        assert err.value.code == INVALID_SYMBOL and "HTTP 400" in str(err.value)
        sim.faults.fail_rest(mode="status", status=429, path="/fapi/v1/depth")
        with pytest.raises(SnapshotError) as err:
            await client.fetch("BTCUSDT")
        assert err.value.retry_after_s == 60 and "HTTP 429" in str(err.value)
        sim.faults.fail_rest(mode="status", status=418, path="/fapi/v1/depth")
        with pytest.raises(SnapshotError):
            await client.fetch("BTCUSDT")
        assert client.banned_until > time.time() + 50      # waited out before the next
        client.banned_until = 0.0
        assert json.loads(await client.fetch("BTCUSDT"))["lastUpdateId"] > 0
    run(with_client(scenario), timeout=30)


def test_a_hanging_server_times_out_and_the_next_request_works(run):
    async def scenario(sim, client):
        sim.faults.fail_rest(mode="delay", seconds=3.0, path="/fapi/v1/depth")
        t0 = time.monotonic()
        with pytest.raises(SnapshotError, match="TimeoutError"):
            await client.fetch("BTCUSDT")
        assert time.monotonic() - t0 < 1.5
        assert json.loads(await client.fetch("BTCUSDT"))["lastUpdateId"] > 0
    run(with_client(scenario, timeout_s=0.5), timeout=30)


def test_a_closed_kept_alive_connection_is_reopened_and_gzip_is_read(run):
    body = json.dumps({"lastUpdateId": 7, "E": 1, "T": 1, "bids": [], "asks": []}).encode()
    packed = gzip.compress(body)
    connections = []

    async def serve(reader, writer):
        connections.append(writer)
        await reader.readuntil(b"\r\n\r\n")
        # answers with keep-alive, then closes the connection without a word
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Encoding: gzip\r\nX-MBX-USED-WEIGHT-1M: 5\r\n"
                     b"Content-Length: " + str(len(packed)).encode() + b"\r\n\r\n" + packed)
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()

    async def scenario():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = SnapshotClient(f"http://127.0.0.1:{port}")
        try:
            assert await client.fetch("BTCUSDT") == body and client.used_weight == 5
            await asyncio.sleep(0.3)                       # the server has closed it
            assert await client.fetch("BTCUSDT") == body
            assert len(connections) == 2
        finally:
            await client.close()
            server.close()
            await server.wait_closed()
    run(scenario(), timeout=30)
