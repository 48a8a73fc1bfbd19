"""Public REST: ping, time, exchangeInfo, depth, klines, bookTicker, premiumIndex."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

from rtaid.sim.errors import BinanceError, invalid_symbol, missing
from rtaid.sim.instruments import exchange_symbol_entry
from rtaid.sim.klines import INTERVALS_MS, MAX_LIMIT, klines_weight
from rtaid.sim.rest_common import endpoint

if TYPE_CHECKING:
    from rtaid.sim.server import SimExchange

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def depth_weight(params: dict) -> int:
    try:
        limit = int(params.get("limit", 500))
    except ValueError:
        return 2
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def exchange_info(sim: "SimExchange") -> dict:
    cfg = sim.config
    return {
        "timezone": "UTC",
        "serverTime": int(time.time() * 1000),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": cfg.weight_limit_1m},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": cfg.order_limit_1m},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": cfg.order_limit_10s},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [dict(exchange_symbol_entry(m.inst.spec),
                         **({"status": "SETTLING"} if m.delisted else {}))
                    for m in sim.markets.values()],
    }


def register(app: web.Application, sim: "SimExchange") -> None:
    def market_of(params: dict):
        symbol = params.get("symbol")
        if not symbol:
            raise missing("symbol")
        market = sim.markets.get(symbol.upper())
        if market is None or market.delisted:
            raise invalid_symbol()
        return market

    @endpoint(sim, 1)
    def ping(params, ctx):
        return {}

    @endpoint(sim, 1)
    def server_time(params, ctx):
        return {"serverTime": int(time.time() * 1000)}

    @endpoint(sim, 1)
    def info(params, ctx):
        return exchange_info(sim)

    @endpoint(sim, depth_weight)
    def depth(params, ctx):
        market = market_of(params)
        try:
            limit = int(params.get("limit", 500))
        except ValueError:
            limit = -1
        if limit not in DEPTH_LIMITS:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        return market.depth_snapshot(limit, for_rest=True)

    def optional_int(params: dict, name: str) -> int | None:
        text = params.get(name)
        if text is None or text == "":
            return None
        try:
            return int(text)
        except ValueError:
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; "
                                      f"legal range is '^[0-9]{{1,20}}$'.") from None

    @endpoint(sim, klines_weight)
    def klines(params, ctx):
        market = market_of(params)
        interval = params.get("interval")
        if not interval:
            raise missing("interval")
        if interval not in INTERVALS_MS:
            raise BinanceError(-1120, "Invalid interval.")
        limit = optional_int(params, "limit")
        limit = 500 if limit is None else limit
        if not 1 <= limit <= MAX_LIMIT:
            raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
        series = market.klines
        if series.last_minute is None:
            # no trade yet: the history ends now, at the mid (or the configured price)
            b, a = market.book.best_bid(), market.book.best_ask()
            price = ((b[0] + a[0]) // 2 if b and a
                     else max(1, round(float(market.inst.spec.initial_price) / market.inst.tick)))
            series.anchor(market.last_event_ms or int(time.time() * 1000), price)
        return series.klines(interval, optional_int(params, "startTime"),
                             optional_int(params, "endTime"), limit)

    def ticker_of(market) -> dict:
        i = market.inst
        b, a = market.book.best_bid(), market.book.best_ask()
        now = int(time.time() * 1000)
        return {
            "symbol": market.symbol, "bidPrice": i.fmt_price(b[0]) if b else "0", "bidQty": i.fmt_qty(b[1]) if b else "0",
            "askPrice": i.fmt_price(a[0]) if a else "0", "askQty": i.fmt_qty(a[1]) if a else "0",
            "time": now, "lastUpdateId": market.book.last_update_id,
        }

    @endpoint(sim, lambda p: 2 if p.get("symbol") else 5)
    def book_ticker(params, ctx):
        if params.get("symbol"):
            return ticker_of(market_of(params))
        return [ticker_of(m) for m in sim.markets.values()]

    def premium_of(market) -> dict:
        mark = market.mark_price_text() or "0"
        now = int(time.time() * 1000)
        return {
            "symbol": market.symbol, "markPrice": mark, "indexPrice": mark, "estimatedSettlePrice": mark,
            "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
            "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000, "time": now,
        }

    @endpoint(sim, 1)
    def premium_index(params, ctx):
        if params.get("symbol"):
            return premium_of(market_of(params))
        return [premium_of(m) for m in sim.markets.values()]

    app.router.add_get("/fapi/v1/ping", ping)
    app.router.add_get("/fapi/v1/time", server_time)
    app.router.add_get("/fapi/v1/exchangeInfo", info)
    app.router.add_get("/fapi/v1/depth", depth)
    app.router.add_get("/fapi/v1/klines", klines)
    app.router.add_get("/fapi/v1/ticker/bookTicker", book_ticker)
    app.router.add_get("/fapi/v1/premiumIndex", premium_index)
