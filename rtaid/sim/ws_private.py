"""User-data WebSocket (``/private/ws/<listenKey>``) and the WebSocket API (``/ws-fapi/v1``)."""
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


class ApiSession:
    """One WebSocket API connection's state: the API key ``session.logon`` authenticated
    (None: every signed request carries ``apiKey`` and ``signature``) and whether
    answers carry ``rateLimits`` (``?returnRateLimits=false`` in the URL turns that off)."""

    __slots__ = ("connected_ms", "api_key", "authorized_ms", "return_rate_limits")

    def __init__(self, return_rate_limits: bool = True) -> None:
        self.connected_ms = int(time.time() * 1000)
        self.api_key: str | None = None
        self.authorized_ms: int | None = None
        self.return_rate_limits = return_rate_limits

    def status(self) -> dict:
        return {"apiKey": self.api_key, "authorizedSince": self.authorized_ms,
                "connectedSince": self.connected_ms, "returnRateLimits": self.return_rate_limits,
                "serverTime": int(time.time() * 1000)}


# request weights (orders also count towards the order limits)
WEIGHTS = {"ping": 1, "time": 1, "order.place": 0, "order.modify": 1, "order.cancel": 1,
           "order.status": 1, "session.logon": 2, "session.status": 2, "session.logout": 2}


class WsApi:
    """``/ws-fapi/v1``: ``session.logon`` / ``session.status`` / ``session.logout``,
    ``order.place`` / ``order.modify`` / ``order.cancel`` / ``order.status``, ``ping``,
    ``time``; answers ``{"id", "status", "result"|"error", "rateLimits"}``."""

    def __init__(self, sim: "SimExchange") -> None:
        self.sim = sim

    def _authenticate(self, params: dict[str, Any], session: ApiSession) -> dict[str, str]:
        sim = self.sim
        text = _as_text(params)
        if session.api_key is not None and "signature" not in text and "apiKey" not in text:
            sim.auth.check_timestamp(text)     # the session's key; a timestamp still
            return text
        key = text.get("apiKey")
        sim.auth.check_api_key(key)
        sim.auth.check_signed(text, ws_api_payload(params), key=key)
        return text

    def _logon(self, params: dict[str, Any], session: ApiSession) -> dict:
        sim = self.sim
        text = _as_text(params)
        key = text.get("apiKey")
        if sim.auth.check_api_key(key) != "ed25519":
            # Binance: only Ed25519 keys can authenticate a session
            raise BinanceError(-1022, "Signature for this request is not valid.")
        sim.auth.check_signed(text, ws_api_payload(params), key=key)
        session.api_key = key
        session.authorized_ms = int(time.time() * 1000)
        return session.status()

    def dispatch(self, method: str, params: dict[str, Any], mono_ns: int, wall_ns: int,
                 session: ApiSession | None = None) -> Any:
        sim = self.sim
        session = session or ApiSession()
        weight = WEIGHTS.get(method)
        if weight is None:
            raise BinanceError(-1000, f"Unknown method '{method}'.")
        sim.limiter.charge_weight(weight)
        if method in ("ping", "time"):
            return {} if method == "ping" else {"serverTime": int(time.time() * 1000)}
        if method == "session.logon":
            return self._logon(params, session)
        if method == "session.status":
            return session.status()
        if method == "session.logout":
            session.api_key = session.authorized_ms = None
            return session.status()
        text = self._authenticate(params, session)
        if method == "order.place":
            sim.limiter.charge_order()
            return sim.place_order(text, "ws", mono_ns, wall_ns)
        if method == "order.modify":
            sim.limiter.charge_order()
            return sim.account.order_json(sim.account.modify(text))
        args = (text.get("symbol"), text.get("orderId"), text.get("origClientOrderId"))
        order = sim.account.cancel(*args) if method == "order.cancel" else sim.account.query(*args)
        return sim.account.order_json(order)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sim = self.sim
        if sim.faults.ws_api_refused():     # the fault "ws_api down"
            return web.Response(status=503, text="WebSocket API unavailable (sim fault)")
        ws = new_ws()
        await ws.prepare(request)
        conn = StreamConnection(sim.hub, ws, request.transport, request.path, "api", raw=True)
        sim.hub.add(conn)
        session = ApiSession(request.query.get("returnRateLimits", "true").lower() != "false")

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
            fault = sim.faults.take_ws_api_fault(method)
            if fault == "drop_before":          # lost on the way: never processed
                conn.abort()
                return
            rate_limits = session.return_rate_limits
            if isinstance(params, dict) and "returnRateLimits" in params:
                rate_limits = bool(params.pop("returnRateLimits"))
            try:
                result = self.dispatch(method, params, mono_ns, wall_ns, session)
                answer = {"id": req_id, "status": 200, "result": result}
            except BinanceError as err:
                answer = {"id": req_id, "status": err.status, "error": err.body()}
            except Exception:
                log.exception("ws_api_failed", method=method)
                answer = {"id": req_id, "status": 500,
                          "error": {"code": -1000, "msg": "An unknown error occured while processing the request."}}
            if rate_limits:
                answer["rateLimits"] = sim.limiter.rate_limits()
            if fault == "drop_after":           # processed, the answer lost with the connection
                conn.abort()
                return
            if fault == "silent":               # processed, never answered
                return
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
