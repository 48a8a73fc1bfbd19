"""User-data WebSocket (``/private/ws/<listenKey>``) and WebSocket order entry (``/ws-fapi/v1``)."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from rtaid.sim.auth import ws_api_payload
from rtaid.sim.errors import BinanceError
from rtaid.sim.fanout import StreamConnection
from rtaid.sim.logs import LazyLogger
from rtaid.sim.ws_market import new_ws, serve_control_loop

if TYPE_CHECKING:
    from rtaid.sim.server import SimExchange

log = LazyLogger("rtaid.sim.ws_private")


async def serve_user_stream(sim: "SimExchange", request: web.Request, listen_key: str) -> web.StreamResponse:
    """Attach a connection to the account's event stream for ``listen_key``."""
    ws = new_ws()
    await ws.prepare(request)
    conn = StreamConnection(sim.hub, ws, request.transport, request.path, "user", raw=True)
    sim.hub.add(conn)
    sim.user_streams.attach(listen_key, conn)
    try:
        await serve_control_loop(sim, ws, conn)
    finally:
        conn.closed = True
        sim.user_streams.detach(listen_key, conn)
        sim.hub.remove(conn)
    return ws


def _as_text(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in params.items():
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class WsApi:
    """``order.place`` / ``order.cancel`` / ``order.status`` / ``ping`` / ``time`` over one WebSocket."""

    def __init__(self, sim: "SimExchange") -> None:
        self.sim = sim

    def _authenticate(self, params: dict[str, Any]) -> dict[str, str]:
        sim = self.sim
        text = _as_text(params)
        sim.auth.check_api_key(text.get("apiKey"))
        sim.auth.check_signed(text, ws_api_payload(params))
        return text

    def dispatch(self, method: str, params: dict[str, Any], mono_ns: int, wall_ns: int) -> Any:
        sim = self.sim
        if method in ("ping", "time"):
            sim.limiter.charge_weight(1)
            return {} if method == "ping" else {"serverTime": int(time.time() * 1000)}
        if method == "order.place":
            sim.limiter.charge_weight(0)
            text = self._authenticate(params)
            sim.limiter.charge_order()
            return sim.place_order(text, "ws", mono_ns, wall_ns)
        if method in ("order.cancel", "order.status"):
            sim.limiter.charge_weight(1)
            text = self._authenticate(params)
            args = (text.get("symbol"), text.get("orderId"), text.get("origClientOrderId"))
            order = sim.account.cancel(*args) if method == "order.cancel" else sim.account.query(*args)
            return sim.account.order_json(order)
        raise BinanceError(-1000, f"Unknown method '{method}'.")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sim = self.sim
        ws = new_ws()
        await ws.prepare(request)
        conn = StreamConnection(sim.hub, ws, request.transport, request.path, "api", raw=True)
        sim.hub.add(conn)

        async def on_text(text: str) -> None:
            mono_ns, wall_ns = time.monotonic_ns(), time.time_ns()
            try:
                req = orjson.loads(text)
                req_id, method = req.get("id"), req.get("method")
                params = req.get("params") or {}
            except (orjson.JSONDecodeError, AttributeError):
                await ws.send_bytes(orjson.dumps({"id": None, "status": 400,
                                                  "error": {"code": -1000, "msg": "Malformed request."}}))
                return
            try:
                result = self.dispatch(method, params, mono_ns, wall_ns)
                answer = {"id": req_id, "status": 200, "result": result, "rateLimits": sim.limiter.rate_limits()}
            except BinanceError as err:
                answer = {"id": req_id, "status": err.status, "error": err.body(),
                          "rateLimits": sim.limiter.rate_limits()}
            except Exception:
                log.exception("ws_api_failed", method=method)
                answer = {"id": req_id, "status": 500,
                          "error": {"code": -1000, "msg": "An unknown error occured while processing the request."}}
            await ws.send_str(orjson.dumps(answer).decode())

        try:
            # The WebSocket API's limits are request weight, not the 10 msg/s of market streams.
            await serve_control_loop(sim, ws, conn, on_text, rate_limited=False)
        finally:
            conn.closed = True
            sim.hub.remove(conn)
        return ws


def register(app: web.Application, sim: "SimExchange") -> None:
    app.router.add_get("/ws-fapi/v1", WsApi(sim).handle)
