"""Market-data WebSocket paths: combined streams, raw streams, live SUBSCRIBE/UNSUBSCRIBE.

``/public/stream`` delivers only depth/bookTicker, ``/market/stream`` only trades and mark
price, ``/stream`` and ``/ws`` everything (legacy). A stream asked for on the wrong path is
accepted and silently never delivered, as on Binance since 2026.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson
from aiohttp import WSMsgType, web

from rtaid.sim.fanout import LEGACY, MARKET, PUBLIC, StreamConnection
from rtaid.sim.logs import LazyLogger

if TYPE_CHECKING:
    from rtaid.sim.server import SimExchange

log = LazyLogger("rtaid.sim.ws")


def too_chatty(conn: StreamConnection, limit: int) -> bool:
    """Record one client message; True when over ``limit`` in the last second."""
    now = time.monotonic()
    times = conn.msg_times
    times.append(now)
    while times and now - times[0] > 1.0:
        times.popleft()
    return len(times) > limit


def new_ws() -> web.WebSocketResponse:
    # autoping off: the handler answers pings itself and sees pongs (for the pong timeout);
    # compress off: fan-out writes pre-built uncompressed frames.
    return web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)


async def serve_control_loop(sim: "SimExchange", ws: web.WebSocketResponse, conn: StreamConnection,
                             on_text=None, rate_limited: bool = True) -> None:
    """Read client frames until close: pings/pongs, rate limit, and text via ``on_text``."""
    limit = sim.config.max_client_msgs_per_s
    async for msg in ws:
        if conn.closed:
            break
        if rate_limited and too_chatty(conn, limit):
            log.info("client_message_rate_exceeded", conn=conn.id, path=conn.path)
            sim.counters["rate_limited_disconnects"] += 1
            await ws.close(code=1008, message=b"Too many messages")
            break
        if msg.type == WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type == WSMsgType.PONG:
            conn.last_pong = time.monotonic()
        elif msg.type == WSMsgType.TEXT and on_text is not None:
            await on_text(msg.data)


def register(app: web.Application, sim: "SimExchange") -> None:
    hub = sim.hub

    async def handle_control(ws, conn: StreamConnection, text: str) -> None:
        try:
            req = orjson.loads(text)
            method = req.get("method")
            req_id = req.get("id")
        except (orjson.JSONDecodeError, AttributeError):
            await ws.send_str('{"error":{"code":3,"msg":"Invalid JSON"},"id":null}')
            return
        params = req.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(s, str) for s in params):
                await ws.send_bytes(orjson.dumps({"error": {"code": 2, "msg": "Invalid request: invalid params"},
                                                  "id": req_id}))
                return
            if method == "SUBSCRIBE" and len(set(conn.requested) | set(params)) > sim.config.max_streams_per_connection:
                await ws.send_bytes(orjson.dumps({"error": {"code": 2, "msg": "Invalid request: too many streams"},
                                                  "id": req_id}))
                return
            for stream in params:
                (hub.subscribe if method == "SUBSCRIBE" else hub.unsubscribe)(conn, stream)
            await ws.send_str(orjson.dumps({"result": None, "id": req_id}).decode())
        elif method == "LIST_SUBSCRIPTIONS":
            await ws.send_str(orjson.dumps({"result": list(conn.requested), "id": req_id}).decode())
        elif method in ("SET_PROPERTY", "GET_PROPERTY"):
            await ws.send_str(orjson.dumps({"result": None if method == "SET_PROPERTY" else False,
                                            "id": req_id}).decode())
        else:
            await ws.send_bytes(orjson.dumps({"error": {"code": 2, "msg": f"Invalid request: unknown method {method}"},
                                              "id": req_id}))

    async def serve(request: web.Request, path_class: str, streams: list[str], raw: bool) -> web.StreamResponse:
        ws = new_ws()
        await ws.prepare(request)
        conn = StreamConnection(hub, ws, request.transport, request.path, path_class, raw)
        hub.add(conn)
        for stream in streams[: sim.config.max_streams_per_connection]:
            hub.subscribe(conn, stream)
        sim.counters["ws_connections"] += 1
        try:
            await serve_control_loop(sim, ws, conn, lambda text: handle_control(ws, conn, text))
        finally:
            conn.closed = True
            hub.remove(conn)
        return ws

    def combined(path_class: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            streams = [s for s in request.query.get("streams", "").split("/") if s]
            return await serve(request, path_class, streams, raw=False)
        return handler

    def raw_streams(path_class: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            parts = [s for s in request.match_info["streams"].split("/") if s]
            if path_class in (LEGACY, "private") and len(parts) == 1 and parts[0] in sim.user_streams.keys:
                return await sim.serve_user_stream(request, parts[0])
            if path_class == "private":
                raise web.HTTPBadRequest(text='{"code":-1125,"msg":"This listenKey does not exist."}',
                                         content_type="application/json")
            return await serve(request, path_class, parts, raw=True)
        return handler

    r = app.router
    r.add_get("/stream", combined(LEGACY))
    r.add_get("/public/stream", combined(PUBLIC))
    r.add_get("/market/stream", combined(MARKET))
    async def bare_raw(request: web.Request) -> web.StreamResponse:
        return await serve(request, LEGACY, [], raw=True)

    r.add_get("/ws", bare_raw)
    r.add_get("/ws/{streams:.+}", raw_streams(LEGACY))
    r.add_get("/public/ws/{streams:.+}", raw_streams(PUBLIC))
    r.add_get("/market/ws/{streams:.+}", raw_streams(MARKET))
    r.add_get("/private/ws/{streams:.+}", raw_streams("private"))
