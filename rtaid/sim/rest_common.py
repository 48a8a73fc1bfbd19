"""The REST endpoint wrapper: faults, weight, API key, signature, Binance error bodies."""
from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from rtaid.sim.auth import strip_signature
from rtaid.sim.errors import BinanceError, unknown_error
from rtaid.sim.faults import rest_fault_error
from rtaid.sim.logs import LazyLogger

if TYPE_CHECKING:
    from rtaid.sim.server import SimExchange

log = LazyLogger("rtaid.sim.rest")

NONE = 0  # public
API_KEY = 1  # USER_STREAM / MARKET_DATA: key only
SIGNED = 2  # TRADE / USER_DATA: key, signature, timestamp


@dataclass
class RequestContext:
    """What a handler gets besides its params."""

    request: web.Request
    arrival_mono_ns: int
    arrival_wall_ns: int


def json_response(obj: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json", headers=headers)


def error_response(err: BinanceError, headers: dict | None = None) -> web.Response:
    headers = dict(headers or {})
    if err.status in (418, 429):
        headers["Retry-After"] = "60"
    return json_response(err.body(), err.status, headers)


Handler = Callable[[dict[str, str], RequestContext], Any]


def endpoint(sim: "SimExchange", weight: int | Callable[[dict], int], security: int = NONE,
             order: bool = False) -> Callable[[Handler], Callable]:
    """Wrap ``fn(params, ctx)`` into an aiohttp handler with Binance's request pipeline."""

    def wrap(fn: Handler) -> Callable:
        async def handler(request: web.Request) -> web.Response:
            ctx = RequestContext(request, time.monotonic_ns(), time.time_ns())
            sim.counters["rest_requests"] += 1
            limiter = sim.limiter
            if sim.faults.rest_faults:
                fault = sim.faults.take_rest_fault(request.path)
                if fault is not None:
                    if fault.mode == "status":
                        return error_response(rest_fault_error(fault.status))
                    await asyncio.sleep(fault.seconds)
                    if fault.mode == "timeout":
                        return error_response(BinanceError(
                            -1007, "Timeout waiting for response from backend server. "
                            "Send status unknown; execution status unknown.", 503))
            try:
                # The signature covers the bytes as sent (still percent-encoded).
                raw_query = request.rel_url.raw_query_string
                body = await request.text() if request.can_read_body else ""
                params = dict(parse_qsl(raw_query, keep_blank_values=True))
                if body:
                    params.update(parse_qsl(body, keep_blank_values=True))
                limiter.charge_weight(weight(params) if callable(weight) else weight)
                key = request.headers.get("X-MBX-APIKEY")
                if security >= API_KEY:
                    sim.auth.check_api_key(key)
                if security == SIGNED:
                    sim.auth.check_signed(params, strip_signature(raw_query) + strip_signature(body),
                                          key=key)
                if order:
                    limiter.charge_order()
                result = fn(params, ctx)
                if inspect.isawaitable(result):
                    result = await result
                return json_response(result, headers=limiter.headers(order))
            except BinanceError as err:
                return error_response(err, limiter.headers(order))
            except Exception:  # a sim bug must still answer like Binance, and be visible in logs
                log.exception("rest_handler_failed", path=request.path)
                return error_response(unknown_error())

        handler.__name__ = fn.__name__
        return handler

    return wrap
