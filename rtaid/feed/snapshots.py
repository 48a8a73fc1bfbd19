"""REST depth snapshots with Binance's weight limit respected and failures retried.

The requests go through the standard library's ``http.client`` on a worker thread, one
at a time on a kept-alive connection (the feed's snapshot worker asks for one snapshot
at a time anyway). aiohttp would do, but importing it costs the daemon ~10 MiB of RSS
(measured: 81.8 against 71.1 MiB after importing it on top of what the daemon imports
before it), and nothing else of a daemon without an order venue needs it.
"""
from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import random
import socket
import ssl
import threading
import time
import urllib.parse
import zlib

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
        parts = urllib.parse.urlsplit(rest_url.rstrip("/"))   # an http(s) URL: the config checked
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._path = parts.path + "/fapi/v1/depth"
        self.limit = limit
        self.timeout_s = timeout_s
        self.weight_cap = WEIGHT_LIMIT_PER_MIN * weight_budget
        self.used_weight = 0
        self.used_weight_minute = 0
        self.banned_until = 0.0
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()     # one request at a time on the connection

    async def close(self) -> None:
        self._drop()         # a request still running on it fails, as it should

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
        query = urllib.parse.urlencode({"symbol": symbol, "limit": self.limit})
        try:
            # the socket's timeout bounds each read; this, the whole request
            status, headers, body = await asyncio.wait_for(
                asyncio.to_thread(self._get, f"{self._path}?{query}"), self.timeout_s)
        except asyncio.TimeoutError:
            raise SnapshotError(f"TimeoutError: no answer within {self.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise SnapshotError(f"{type(exc).__name__}: {exc}") from None
        used = headers.get("X-MBX-USED-WEIGHT-1M")
        if used is not None and used.isdigit():
            self.used_weight = int(used)
            self.used_weight_minute = int(time.time() // 60)
        else:
            self.used_weight += DEPTH_WEIGHT.get(self.limit, 20)
        if status == 200:
            return body
        retry = headers.get("Retry-After")
        retry_s = float(retry) if retry and retry.replace(".", "", 1).isdigit() else None
        if status == 418:          # IP banned: wait it out, whatever it says
            self.banned_until = time.time() + (retry_s or 120.0)
        raise SnapshotError(f"HTTP {status}: {body[:200]!r}", retry_s, _error_code(body))

    # ------------------------------------------------------------------ the worker thread
    def _get(self, target: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        with self._lock:
            reused = self._conn is not None
            try:
                return self._request(target)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
                if not reused:
                    raise
            # the server closed the kept-alive connection meanwhile: once more on a new one
            try:
                return self._request(target)
            except BaseException:
                self._drop()
                raise

    def _request(self, target: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(self._host, self._port,
                                                         timeout=self.timeout_s,
                                                         context=ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=self.timeout_s)
        conn = self._conn
        try:
            conn.request("GET", target, headers={"Accept-Encoding": "gzip",
                                                 "User-Agent": "rtaid"})
            resp = conn.getresponse()
            body = resp.read()
        except (socket.timeout, OSError, http.client.HTTPException):
            self._drop()
            raise
        if resp.getheader("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as exc:
                self._drop()
                raise http.client.HTTPException(f"a gzip body that does not decompress: {exc}") from None
        if resp.will_close:
            self._drop()
        return resp.status, resp.headers, body

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _error_code(body: bytes) -> int | None:
    """Binance's ``{"code": -1121, "msg": ...}`` error code of an answer, if any."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None
