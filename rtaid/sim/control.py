"""``/sim/*`` control and inspection endpoints (not part of Binance's API)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from rtaid.sim.rest_common import json_response

if TYPE_CHECKING:
    from rtaid.sim.server import SimExchange


def register(app: web.Application, sim: "SimExchange") -> None:
    def bad(msg: str, status: int = 400) -> web.Response:
        return json_response({"error": msg}, status)

    async def post_fault(request: web.Request) -> web.Response:
        try:
            spec = orjson.loads(await request.read())
            return json_response(sim.faults.apply(spec))
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            return bad(str(exc))

    async def get_faults(request: web.Request) -> web.Response:
        return json_response(sim.faults.pending())

    async def clear_faults(request: web.Request) -> web.Response:
        sim.faults.clear()
        return json_response({"ok": True})

    async def get_book(request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "").upper()
        market = sim.markets.get(symbol)
        if market is None:
            return bad(f"unknown symbol {symbol!r}", 404)
        limit = request.query.get("limit")
        return json_response(market.depth_snapshot(int(limit) if limit else None))

    async def get_stats(request: web.Request) -> web.Response:
        return json_response(sim.stats())

    async def get_latency(request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "").upper()
        limit = int(request.query.get("limit", 1000))
        symbols = [symbol] if symbol else sim.latency.symbols()
        return json_response({
            s: {"frames": sim.latency.frames(s, limit), "orders": sim.latency.orders(s, limit),
                "wire_to_wire": sim.latency.wire_to_wire(s)[-limit:]}
            for s in symbols
        })

    r = app.router
    r.add_post("/sim/fault", post_fault)
    r.add_get("/sim/fault", get_faults)
    r.add_delete("/sim/fault", clear_faults)
    r.add_get("/sim/book", get_book)
    r.add_get("/sim/stats", get_stats)
    r.add_get("/sim/latency", get_latency)
