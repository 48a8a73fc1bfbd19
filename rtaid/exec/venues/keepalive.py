"""Keep-alive HTTP/1.1 connections that write a signed request in the caller's turn.

Through aiohttp, an order ccxt has signed leaves in a later turn of the event loop
(``create_task``, the connector, the body's own task): 1.2-1.3 ms at the median from
the frame that caused it at 20,000 frames/s (README, bench/exec.py). Here the venue's
first send of an order is written to an idle, already open connection before
``place`` returns; the answer is read by this module's parser and handed back as
ccxt's ``fetch`` would see it (status, reason, headers, text). Everything else (its
retries, lookups, cancels, reconciliation) stays with ccxt and aiohttp.

One request at a time per connection (no pipelining). A connection is opened at start
and again after it closed (backoff up to :data:`MAX_REOPEN_S`), and recycled when it
has been idle :data:`IDLE_RECYCLE_S` (servers close idle keep-alive connections; a
request written into one the server is closing is lost: its order's fate is unknown).
When no connection is idle, :meth:`KeepAlivePool.send` returns None and the caller
sends through ccxt.
"""
from __future__ import annotations

import asyncio
import time
import urllib.parse

from rtaid.infra.log import get_logger

log = get_logger("rtaid.exec.keepalive")

IDLE_RECYCLE_S = 20.0
OPEN_TIMEOUT_S = 5.0      # a connect (and TLS handshake) that hangs is given up
MAX_REOPEN_S = 5.0
MAX_HEADER_BYTES = 64 << 10
MAX_BODY_BYTES = 8 << 20


class Closed(Exception):
    """The connection ended before the whole answer was read."""


class Answer:
    """An HTTP answer: ``status``, ``reason``, ``headers`` (name -> value, repeated
    names joined with ", " as ccxt does) and ``text``."""

    __slots__ = ("status", "reason", "headers", "text")

    def __init__(self, status: int, reason: str, headers: dict, text: str) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.text = text


class ResponseParser:
    """Incremental HTTP/1.1 response parser (Content-Length, chunked, or to the close)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.head: tuple | None = None     # (status, reason, headers, keep_alive)
        self.chunks: list[bytes] = []
        self.length: int | None = None     # body length, when Content-Length says
        self.chunked = False
        self.to_close = False

    def feed(self, data: bytes) -> tuple | None:
        """Add bytes; ``(Answer, keep_alive)`` once an answer is complete."""
        self.buf += data
        if self.head is None and not self._read_head():
            return None
        if self.chunked:
            return self._read_chunks()
        if self.length is not None:
            if len(self.buf) < self.length:
                return None
            body = bytes(self.buf[:self.length])
            if len(self.buf) > self.length:
                raise ValueError("bytes after the answer (no request was pipelined)")
            return self._done(body)
        if len(self.buf) > MAX_BODY_BYTES:
            raise ValueError("answer body too large")
        return None      # read to the close (eof)

    def eof(self) -> tuple | None:
        """The connection closed: the answer if it was read to the close."""
        if self.head is not None and self.to_close:
            return self._done(bytes(self.buf))
        return None

    def _read_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEADER_BYTES:
                raise ValueError("answer headers too large")
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[:end + 4]
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"bad header line: {line[:80]!r}")
            name, value = name.strip(), value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        lower = {k.lower(): v.lower() for k, v in headers.items()}
        connection = lower.get("connection", "")
        keep_alive = "close" not in connection and (version != "HTTP/1.0"
                                                     or "keep-alive" in connection)
        self.head = (int(code), reason, headers, keep_alive)
        if "chunked" in lower.get("transfer-encoding", ""):
            self.chunked = True
        elif "content-length" in lower:
            self.length = int(lower["content-length"])
            if not 0 <= self.length <= MAX_BODY_BYTES:
                raise ValueError(f"Content-Length {self.length}")
        elif int(code) in (204, 304) or 100 <= int(code) < 200:
            self.length = 0
        else:
            self.to_close = True
        return True

    def _read_chunks(self) -> tuple | None:
        while True:
            line_end = self.buf.find(b"\r\n")
            if line_end < 0:
                return None
            size = int(bytes(self.buf[:line_end]).split(b";")[0].strip() or b"x", 16)
            if size == 0:
                trailer_end = self.buf.find(b"\r\n\r\n", line_end)
                if self.buf[line_end:line_end + 4] == b"\r\n\r\n" or trailer_end >= 0:
                    return self._done(b"".join(self.chunks))
                return None
            if len(self.buf) < line_end + 2 + size + 2:
                return None
            self.chunks.append(bytes(self.buf[line_end + 2:line_end + 2 + size]))
            if sum(map(len, self.chunks)) > MAX_BODY_BYTES:
                raise ValueError("answer body too large")
            del self.buf[:line_end + 2 + size + 2]

    def _done(self, body: bytes) -> tuple:
        status, reason, headers, keep_alive = self.head
        return Answer(status, reason, headers, body.decode("utf-8", "replace")), \
            keep_alive and not self.to_close


class _Connection(asyncio.Protocol):
    def __init__(self, pool: "KeepAlivePool") -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None   # the answer of the request written
        self.parser: ResponseParser | None = None
        self.idle_since = time.monotonic()
        self.closed = False

    @property
    def idle(self) -> bool:
        return not self.closed and self.transport is not None and self.waiter is None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> tuple[asyncio.Future, int]:
        """Write a request; its answer's future and the monotonic ns of the handover
        (the write first: its answer is read in a later loop turn)."""
        handed = time.monotonic_ns()
        self.transport.write(data)
        self.waiter = self.pool.loop.create_future()
        self.waiter.add_done_callback(self._given_up)
        self.parser = ResponseParser()
        return self.waiter, handed

    def _given_up(self, waiter: asyncio.Future) -> None:
        # the caller stopped waiting (its timeout): an answer may still come, to nobody
        if waiter.cancelled() and waiter is self.waiter:
            self.waiter = self.parser = None
            self.close()

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self._fail(Closed("bytes from the server while no request was waiting"))
            return
        try:
            done = self.parser.feed(data)
        except ValueError as exc:
            self._fail(Closed(f"unreadable answer: {exc}"))
            return
        if done is not None:
            answer, keep_alive = done
            waiter, self.waiter, self.parser = self.waiter, None, None
            self.idle_since = time.monotonic()
            if not waiter.done():
                waiter.set_result(answer)
            if not keep_alive:
                self.close()

    def eof_received(self):
        if self.parser is not None and self.waiter is not None:
            done = self.parser.eof()
            if done is not None:
                waiter, self.waiter = self.waiter, None
                if not waiter.done():
                    waiter.set_result(done[0])
        return False     # the transport closes itself

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail(Closed(f"connection closed ({exc})" if exc else "connection closed"))
        self.pool._lost(self)

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter, self.parser = self.waiter, None, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class KeepAlivePool:
    """``size`` keep-alive connections to the host of ``base_url``.

    Parameters
    ----------
    base_url : str
        ``http://`` or ``https://`` host (and port) the requests go to.
    size : int
        Connections kept open.
    ssl_context : ssl.SSLContext or None
        For https (None: the default context).
    """

    def __init__(self, base_url: str, size: int = 2, ssl_context=None) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url}")
        self.scheme = url.scheme
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        default_port = self.port == (443 if url.scheme == "https" else 80)
        self.host_header = url.hostname if default_port else f"{url.hostname}:{self.port}"
        self.size = size
        self.ssl_context = ssl_context
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: list[_Connection] = []
        self._keeper: asyncio.Task | None = None
        self._stopped = False
        self.sent = 0          # requests written here
        self.unavailable = 0   # sends refused: no idle connection
        self.opens = 0
        self.open_errors = 0

    async def start(self) -> None:
        """Open the connections (failures are retried in the background)."""
        self.loop = asyncio.get_running_loop()
        await asyncio.gather(*(self._open() for _ in range(self.size)))
        self._keeper = self.loop.create_task(self._keep())

    async def close(self) -> None:
        self._stopped = True
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        for conn in list(self.connections):
            conn.close()
        self.connections.clear()

    def send(self, method: str, url: str, headers: dict, body: str | None):
        """Write the request now on an idle connection: ``(future of its Answer,
        monotonic ns when it was handed to the transport)`` (the future's exception:
        :class:`Closed`; cancelling it closes the connection), or None when no
        connection is idle."""
        return self.send_prepared(self.head(method, url, headers), body.encode() if body else b"",
                                  method in ("POST", "PUT"))

    def head(self, method: str, url: str, headers: dict) -> bytes:
        """A request's head up to its Content-Length (what :meth:`send_prepared` takes:
        made once for requests that differ only in their body)."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        head = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}",
                "Connection: keep-alive"]
        for name, value in headers.items():
            if name.lower() not in ("host", "content-length", "connection",
                                    "accept-encoding", "transfer-encoding"):
                head.append(f"{name}: {value}")
        return ("\r\n".join(head) + "\r\n").encode("latin-1")

    def send_prepared(self, head: bytes, body: bytes, with_length: bool = True):
        """:meth:`send` of a request whose :meth:`head` is made."""
        conn = self.idle_connection()
        if conn is None:
            self.unavailable += 1
            return None
        self.sent += 1
        if body or with_length:
            return conn.write(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
        return conn.write(head + b"\r\n")

    def idle_connection(self):
        for conn in self.connections:
            if conn.idle:
                return conn
        return None

    def idle_count(self) -> int:
        return sum(1 for c in self.connections if c.idle)

    async def _open(self) -> bool:
        try:
            _, conn = await asyncio.wait_for(self.loop.create_connection(
                lambda: _Connection(self), self.host, self.port,
                ssl=self._ssl() if self.scheme == "https" else None), OPEN_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            self.open_errors += 1
            log.warning("keepalive_open_failed", host=self.host, port=self.port,
                        error=f"{type(exc).__name__}: {exc}")
            return False
        if self._stopped:
            conn.close()
            return False
        self.opens += 1
        self.connections.append(conn)
        return True

    def _ssl(self):
        if self.ssl_context is None:
            import ssl
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    def _lost(self, conn: _Connection) -> None:
        if conn in self.connections:
            self.connections.remove(conn)

    async def _keep(self) -> None:
        """Reopen what closed (with backoff), recycle what has idled too long."""
        delay = 0.1
        while not self._stopped:
            await asyncio.sleep(delay if len(self.connections) < self.size else 1.0)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.idle and now - conn.idle_since >= IDLE_RECYCLE_S:
                    conn.close()
                    self._lost(conn)
            opened = True
            while len(self.connections) < self.size and not self._stopped:
                opened = await self._open()
                if not opened:
                    break
            delay = 0.1 if opened else min(delay * 2, MAX_REOPEN_S)
