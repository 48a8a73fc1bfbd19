"""Connection rules: server pings and pong timeout, the (scaled) 24 h lifetime, 10 msg/s."""
import asyncio

import aiohttp

from rtaid.sim import SimExchange
from tests.sim.helpers import quiet_config, ws_connect


def test_server_pings_and_drops_clients_that_never_pong(run):
    async def main():
        cfg = quiet_config(rate=0, ping_interval_s=0.1, pong_timeout_s=0.5)
        async with SimExchange(cfg) as sim, aiohttp.ClientSession() as http:
            # autoping=False: this client sees the server's pings and never answers them.
            async with http.ws_connect(f"{sim.ws_url}/public/stream", autoping=False) as ws:
                msg = await asyncio.wait_for(ws.receive(), 5)
                assert msg.type == aiohttp.WSMsgType.PING
                while msg.type == aiohttp.WSMsgType.PING:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
            assert sim.counters["pong_timeouts"] == 1
            # A normal client answers pings and stays connected past the pong timeout.
            async with ws_connect(f"{sim.ws_url}/public/stream") as ws:
                conn = next(iter(sim.hub.connections.values()))
                opened_pong = conn.last_pong
                await asyncio.sleep(0.8)
                assert conn.last_pong > opened_pong and not conn.closed
                await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
                assert await asyncio.wait_for(ws.recv(), 5) == '{"result":[],"id":1}'
    run(main())


def test_connection_lifetime_is_enforced(run):
    async def main():
        cfg = quiet_config(connection_lifetime_factor=0.3 / 86400)  # 24 h scaled to 0.3 s
        async with SimExchange(cfg) as sim:
            async with ws_connect(f"{sim.ws_url}/public/stream?streams=btcusdt@bookTicker") as ws:
                await asyncio.wait_for(ws.wait_closed(), 5)
                assert ws.close_code == 1000
            assert sim.counters["lifetime_disconnects"] == 1
    run(main())


def test_more_than_10_client_messages_per_second_disconnects(run):
    async def main():
        async with SimExchange(quiet_config(rate=0)) as sim:
            async with ws_connect(f"{sim.ws_url}/public/stream") as ws:
                for i in range(10):
                    await ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
                    await asyncio.wait_for(ws.recv(), 5)
                await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":99}')
                await asyncio.wait_for(ws.wait_closed(), 5)
                assert ws.close_code == 1008
            assert sim.counters["rate_limited_disconnects"] == 1
    run(main())
