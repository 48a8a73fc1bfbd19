"""The ccxt venue's first sends: written on a keep-alive connection in the turn that
placed the order (rtaid/exec/venues/keepalive.py), answered as ccxt would answer them;
without an idle connection, or after a broken one, ccxt sends as before."""
import asyncio

import pytest

from rtaid.exec.venues.keepalive import ResponseParser
from tests.exec.helpers import (
    daemon_at, exec_config, rtaid_position, run, sim_orders, sim_position, target, until,
    with_sim,
)


def feed_bytewise(parser, data: bytes):
    """Feed one byte at a time (answers split anywhere); what the last byte completed."""
    done = None
    for i in range(len(data)):
        assert done is None, f"complete before byte {i}"
        done = parser.feed(data[i:i + 1])
    return done


def test_an_answer_with_a_length_is_complete_at_its_last_byte_however_it_is_split():
    body = b'{"orderId": 7, "status": "NEW"}'
    raw = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-MBX-USED-WEIGHT-1M: 3\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
    answer, keep_alive = feed_bytewise(ResponseParser(), raw)
    assert (answer.status, answer.reason, answer.text) == (200, "OK", body.decode())
    assert answer.headers["X-MBX-USED-WEIGHT-1M"] == "3" and keep_alive


def test_a_chunked_answer_and_repeated_headers():
    raw = (b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nVary: a\r\nVary: b\r\n\r\n"
           b"5\r\n{\"cod\r\n17;ext=1\r\ne\": -2019, \"msg\": \"no\"}\r\n0\r\n\r\n")
    answer, keep_alive = feed_bytewise(ResponseParser(), raw)
    assert answer.status == 400 and answer.text == '{"code": -2019, "msg": "no"}'
    assert answer.headers["Vary"] == "a, b" and keep_alive


def test_an_answer_without_a_length_ends_at_the_close_and_the_connection_with_it():
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy") is None
    answer, keep_alive = parser.eof()
    assert (answer.status, answer.text, keep_alive) == (503, "busy", False)
    closing = ResponseParser().feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                                    b"Content-Length: 2\r\n\r\n{}")
    assert closing[1] is False


@pytest.mark.parametrize("raw", [
    b"SSH-2.0-OpenSSH\r\n\r\n",                                      # not HTTP
    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",                     # bad header line
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1",       # more than asked
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
])
def test_what_is_not_one_http_answer_is_refused(raw):
    with pytest.raises(ValueError):
        ResponseParser().feed(raw)


def test_an_order_is_written_before_the_placing_call_returns(tmp_path):
    """The target change's order is handed to the connection's transport before
    on_events returns (no await in between), on the wire by the end of that turn; its
    answer is ccxt's (the order manager sees it filled); the tick_to_order
    sample is that write."""
    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, tmp_path / "data")) as daemon:
            svc = daemon.execution
            pool = svc.venue.keepalive
            assert await until(lambda: pool.idle_count() == 2)
            n_orders = len(sim_orders(sim))
            svc.on_events([target("BTCUSDT", 0.001)])
            assert pool.sent == 1      # handed to the transport in this turn
            (written,) = [c for c in pool.connections if c.waiter is not None]
            await asyncio.sleep(0)     # uvloop flushes a turn's writes at its end
            assert written.transport.get_write_buffer_size() == 0
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001
                               and rtaid_position(daemon, "BTCUSDT") == 0.001)
            assert len(sim_orders(sim)) == n_orders + 1
            st = svc.status()
            assert st["latency_us"]["tick_to_order"]["count"] == 1
            assert st["orders"]["filled"] == 1 and st["venue_errors"] == {}
            # a refusal comes back as ccxt maps it
            sim.faults.reject_orders(1, -2019, "Margin is insufficient.")
            svc.on_events([target("BTCUSDT", 0.002)])
            assert pool.sent == 2
            assert await until(lambda: svc.status()["orders"]["rejected"] == {"venue:-2019": 1})

    run(with_sim(scenario))


def test_a_connection_broken_mid_request_never_doubles_the_order(tmp_path):
    """The exchange holds the order 1 s; the connection breaks meanwhile: the order's
    fate is unknown, it is looked up once its recvWindow passed and adopted or sent
    again with the same client id: one order at the exchange either way."""
    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, tmp_path / "data")) as daemon:
            svc = daemon.execution
            pool = svc.venue.keepalive
            assert await until(lambda: pool.idle_count() == 2)
            sim.faults.fail_rest("delay", seconds=1.0, count=1, path="/fapi/v1/order")
            svc.on_events([target("BTCUSDT", 0.001)])
            (busy,) = [c for c in pool.connections if c.waiter is not None]
            await asyncio.sleep(0.2)
            busy.transport.abort()
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001
                               and rtaid_position(daemon, "BTCUSDT") == 0.001, 15)
            await asyncio.sleep(0.5)
            ids = [o.client_order_id for o in sim_orders(sim)]
            assert len(ids) == len(set(ids)) == 1
            assert sim_position(sim, "BTCUSDT") == 0.001
            assert svc.status()["venue_errors"] == {"network": 1}
            # the pool opened another connection in its place
            assert await until(lambda: pool.idle_count() == 2)

    run(with_sim(scenario))


def test_without_an_idle_connection_ccxt_sends_the_order(tmp_path):
    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, tmp_path / "data")) as daemon:
            svc = daemon.execution
            pool = svc.venue.keepalive
            await pool.close()
            svc.on_events([target("BTCUSDT", 0.001)])
            assert pool.sent == 0 and pool.unavailable == 1
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001
                               and rtaid_position(daemon, "BTCUSDT") == 0.001)
            st = svc.status()
            assert st["latency_us"]["tick_to_order"]["count"] == 1   # aiohttp's write
            assert st["venue_errors"] == {}

    run(with_sim(scenario))


def test_a_connect_that_hangs_is_given_up_not_waited_for(monkeypatch):
    """A server that takes the TCP connection and never answers the TLS handshake: the
    pool's start returns after OPEN_TIMEOUT_S with no connection (orders go through
    ccxt), counted and logged, instead of holding the venue's start."""
    from rtaid.exec.venues import keepalive
    monkeypatch.setattr(keepalive, "OPEN_TIMEOUT_S", 0.3)

    async def scenario():
        silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        pool = keepalive.KeepAlivePool(f"https://127.0.0.1:{port}", 2)
        started = asyncio.get_running_loop().time()
        await pool.start()
        took = asyncio.get_running_loop().time() - started
        assert pool.connections == [] and pool.open_errors == 2 and took < 3
        assert pool.send("POST", f"https://127.0.0.1:{port}/x", {}, "a=1") is None
        await pool.close()
        silent.close()

    asyncio.run(scenario())
