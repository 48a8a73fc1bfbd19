"""REST depth snapshots with Binance's weight limit respected and failures retried."""
from __future__ import annotations

import asyncio
import json
import random
import time

import aiohttp

from rtaid.infra.log import get_logger

log = get_logger("rtaid.feed.snapshots")

WEIGHT_LIMIT_PER_MIN = 2400
# GET /fapi/v1/depth weight by limit (binance.md)
DEPTH_WEIGHT = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


# Binance's error code for a symbol it does not (or no longer) list
INVALID_SYMBOL = -1121


class SnapshotError(Exception):
    """A snapshot could not be fetched (the caller retries, unless the exchange said the
    symbol is invalid: ``code == INVALID_SYMBOL``)."""

    def __init__(self, message: str, retry_after_s: float | None = None,
                 code: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.code = code


class SnapshotClient:
    """GET /fapi/v1/depth, keeping the IP's used weight below a safety margin.

    Parameters
    ----------
    rest_url : str
        Base URL (``https://fapi.binance.com`` or rtaid-sim's).
    limit : int
        Levels per side requested.
    timeout_s : float
        Total time for one request.
    weight_budget : float
        Fraction of the 2400/min weight this process may use before it waits for the
        next minute.
    """

    def __init__(self, rest_url: str, limit: int = 1000, timeout_s: float = 10.0,
                 weight_budget: float = 0.5):
        self.url = rest_url.rstrip("/") + "/fapi/v1/depth"
        self.limit = limit
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.weight_cap = WEIGHT_LIMIT_PER_MIN * weight_budget
        self.used_weight = 0
        self.used_weight_minute = 0
        self.banned_until = 0.0
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _wait_for_weight(self) -> None:
        now = time.time()
        if now < self.banned_until:
            await asyncio.sleep(self.banned_until - now)
        minute = int(time.time() // 60)
        if minute != self.used_weight_minute:
            self.used_weight, self.used_weight_minute = 0, minute
        if self.used_weight + DEPTH_WEIGHT.get(self.limit, 20) > self.weight_cap:
            wait = 60 - time.time() % 60 + random.uniform(0.05, 0.5)
            log.warning("snapshot_weight_wait", used_weight=self.used_weight, wait_s=round(wait, 2))
            await asyncio.sleep(wait)

    async def fetch(self, symbol: str) -> bytes:
        """The raw JSON body of a depth snapshot; SnapshotError on any failure."""
        await self._wait_for_weight()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.get(self.url, params={"symbol": symbol, "limit": self.limit}) as resp:
                body = await resp.read()
                used = resp.headers.get("X-MBX-USED-WEIGHT-1M")
                if used is not None and used.isdigit():
                    self.used_weight = int(used)
                    self.used_weight_minute = int(time.time() // 60)
                else:
                    self.used_weight += DEPTH_WEIGHT.get(self.limit, 20)
                if resp.status == 200:
                    return body
                retry = resp.headers.get("Retry-After")
                retry_s = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
                if resp.status == 418:          # IP banned: wait it out, whatever it says
                    self.banned_until = time.time() + (retry_s or 120.0)
                raise SnapshotError(f"HTTP {resp.status}: {body[:200]!r}", retry_s,
                                    _error_code(body))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise SnapshotError(f"{type(exc).__name__}: {exc}") from None


def _error_code(body: bytes) -> int | None:
    """Binance's ``{"code": -1121, "msg": ...}`` error code of an answer, if any."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None
