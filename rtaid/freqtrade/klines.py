"""The exchange's one-minute klines: the warm-up rows of a fresh data dir.

freqtrade only takes a first frame of at least 100 rows, and a fresh data dir has no
bars. So, like freqtrade's own producers (whose first rows are candles their strategy
has not analysed yet), rtaid fills the minutes its dataset lacks with the exchange's
candles: ``GET /fapi/v1/klines?symbol=...&interval=1m&limit=1500`` (request weight 10),
OHLCV only, rtaid's columns empty (NaN; trade_count null -> NaN too, target 0).
"""
from __future__ import annotations

import asyncio
import time

import aiohttp

from rtaid.infra.log import get_logger

log = get_logger("rtaid.freqtrade.klines")

MINUTE_MS = 60_000
MAX_LIMIT = 1500


class RateLimited(ValueError):
    """HTTP 429/418 from the exchange; ``retry_after_s`` is its Retry-After."""

    def __init__(self, text: str, retry_after_s: float) -> None:
        super().__init__(text)
        self.retry_after_s = retry_after_s


async def fetch_closed(session: aiohttp.ClientSession, rest_url: str, symbol: str,
                       limit: int = MAX_LIMIT, timeout_s: float = 10.0,
                       now_ms: int | None = None) -> dict[int, tuple[float, ...]]:
    """``{open_ms: (open, high, low, close, volume)}`` of the newest ``limit`` closed
    one-minute klines (the open one is left out).

    Raises
    ------
    aiohttp.ClientError, asyncio.TimeoutError
        Network problems.
    ValueError
        An answer that is not Binance's kline array (error bodies are named in it).
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    current = now_ms - now_ms % MINUTE_MS
    url = f"{rest_url.rstrip('/')}/fapi/v1/klines"
    params = {"symbol": symbol, "interval": "1m", "limit": str(limit),
              "endTime": str(current - 1)}
    async with session.get(url, params=params,
                           timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
        body = await resp.json(content_type=None)
        if resp.status in (418, 429):
            try:
                retry = float(resp.headers.get("Retry-After", "60"))
            except ValueError:
                retry = 60.0
            raise RateLimited(f"GET /fapi/v1/klines {symbol}: HTTP {resp.status} {str(body)[:200]}",
                              min(max(retry, 1.0), 300.0))
        if resp.status != 200 or not isinstance(body, list):
            raise ValueError(f"GET /fapi/v1/klines {symbol}: HTTP {resp.status} {str(body)[:200]}")
    out = {}
    for row in body:
        open_ms = int(row[0])
        if open_ms + MINUTE_MS <= now_ms:
            out[open_ms] = tuple(float(v) for v in row[1:6])
    return out


async def fetch_with_retry(session: aiohttp.ClientSession, rest_url: str, symbol: str,
                           attempts: int = 5, timeout_s: float = 10.0,
                           now_ms: int | None = None) -> dict:
    """:func:`fetch_closed`, retried with backoff (1, 2, 4, ... s, or the exchange's
    Retry-After when it rate-limits); {} after the last failure (logged): the pair then
    waits for 100 bars of its own."""
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            return await fetch_closed(session, rest_url, symbol, timeout_s=timeout_s,
                                      now_ms=now_ms)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.warning("klines_failed", symbol=symbol, attempt=attempt,
                        error=f"{type(exc).__name__}: {exc}")
            if attempt < attempts:
                await asyncio.sleep(exc.retry_after_s if isinstance(exc, RateLimited) else delay)
                delay = min(delay * 2, 30.0)
    log.error("klines_unavailable", symbol=symbol,
              consequence="no warm-up rows: the first frame waits for 100 bars")
    return {}
