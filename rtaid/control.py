"""The daemon's control socket: the server side of the protocol in rtaid/ctl.py.

A unix stream socket at ``control.socket`` (mode ``control.socket_mode``), served by the
event loop: one JSON object per line (at most ``MAX_LINE`` bytes), one answer line per
request. The server never blocks the loop and a client cannot hurt the daemon:

- a line that is not a JSON object, an unknown command or bad fields get an
  ``{"ok": false, "error": ...}`` answer, and the connection stays open;
- a line longer than ``MAX_LINE`` gets an error answer and the connection is closed
  (what is left of the line is never buffered);
- answers go out through the transport's buffer; a client that does not read them is
  disconnected once that buffer holds more than ``MAX_PENDING`` bytes or a write has
  waited ``WRITE_TIMEOUT_S``;
- at most ``MAX_CLIENTS`` connections at once; a connection idle for ``IDLE_TIMEOUT_S``
  is closed.
"""
from __future__ import annotations

import asyncio
import json
import os
import stat

from rtaid.ctl import MAX_LINE
from rtaid.infra.log import get_logger

log = get_logger("rtaid.control")

MAX_CLIENTS = 64
MAX_PENDING = 4 << 20          # bytes of unread answers before a client is dropped
WRITE_TIMEOUT_S = 5.0
IDLE_TIMEOUT_S = 300.0
COMMANDS = ("status", "pause", "resume", "flatten", "book", "reload")
FIELDS = {"status": set(), "pause": set(), "resume": set(), "reload": set(),
          "flatten": {"symbol"}, "book": {"symbol", "depth"}}


class RequestError(Exception):
    """A request the daemon refuses; ``str()`` is the answer's ``error``."""


class ControlServer:
    """Serve the control protocol for a Daemon.

    Parameters
    ----------
    daemon : rtaid.daemon.Daemon
        What the commands act on (``status``: rtaid/status.py; ``pause``/``resume``/
        ``flatten``: its execution service; ``book``: its engine; ``reload``: as SIGHUP).
    path : str
        Socket path (``control.socket``).
    mode : int
        Permissions of the socket file (``control.socket_mode``).
    """

    def __init__(self, daemon, path: str, mode: int) -> None:
        self.daemon = daemon
        self.path = path
        self.mode = mode
        self.server: asyncio.AbstractServer | None = None
        self.clients: set[asyncio.StreamWriter] = set()
        self.requests = 0
        self.errors = 0
        self.dropped_clients = 0

    async def start(self) -> None:
        """Bind the socket (replacing a stale one a killed daemon left)."""
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, exist_ok=True)
        try:
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.server = await asyncio.start_unix_server(self._client, path=self.path,
                                                      limit=MAX_LINE + 1)
        os.chmod(self.path, self.mode)
        log.info("control_socket", path=self.path, mode=oct(self.mode))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.clients):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None
        try:
            os.unlink(self.path)
        except OSError:
            pass

    # ------------------------------------------------------------------ connections
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.clients) >= MAX_CLIENTS:
            self.dropped_clients += 1
            writer.transport.abort()
            return
        writer.transport.set_write_buffer_limits(high=MAX_PENDING)
        self.clients.add(writer)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT_S)
                except asyncio.TimeoutError:
                    return
                except (asyncio.LimitOverrunError, ValueError):
                    # longer than MAX_LINE: answer once, then hang up (the rest of the
                    # line is not read into memory)
                    self.errors += 1
                    await self._send(writer, {"ok": False,
                                              "error": f"request longer than {MAX_LINE} bytes"})
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                self.requests += 1
                answer = await self.answer(line)
                if not await self._send(writer, answer):
                    return
        except (ConnectionError, OSError):
            return
        finally:
            self.clients.discard(writer)
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()          # a reader that stopped reading
            else:
                writer.close()

    async def _send(self, writer: asyncio.StreamWriter, answer: dict) -> bool:
        writer.write(json.dumps(answer, separators=(",", ":"), default=str).encode() + b"\n")
        if writer.transport.get_write_buffer_size() > MAX_PENDING:
            self.dropped_clients += 1
            writer.transport.abort()
            return False
        try:
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT_S)
        except (asyncio.TimeoutError, ConnectionError):
            self.dropped_clients += 1
            writer.transport.abort()
            return False
        return True

    # ------------------------------------------------------------------ requests
    async def answer(self, line: bytes) -> dict:
        """The answer to one request line (never raises)."""
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            self.errors += 1
            return {"ok": False, "error": "not a JSON object"}
        try:
            return await self.handle(request)
        except RequestError as exc:
            self.errors += 1
            return {"ok": False, "error": str(exc)}
        except Exception as exc:   # noqa: BLE001 - a bug must not kill the connection loop
            self.errors += 1
            log.error("control_request_failed", request=str(request)[:200],
                      error=f"{type(exc).__name__}: {exc}")
            return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}

    async def handle(self, request) -> dict:
        if not isinstance(request, dict):
            raise RequestError("not a JSON object")
        cmd = request.get("cmd")
        if cmd not in COMMANDS:
            raise RequestError(f"unknown cmd {cmd!r} (one of: {', '.join(COMMANDS)})")
        unknown = set(request) - {"cmd"} - FIELDS[cmd]
        if unknown:
            raise RequestError(f"unknown field(s) for {cmd}: {', '.join(sorted(unknown))}")
        daemon = self.daemon
        if cmd == "status":
            from rtaid.status import build_status
            return {"ok": True, **build_status(daemon)}
        if cmd == "book":
            return {"ok": True, **self._book(request)}
        if cmd == "reload":
            daemon.reload()
            return {"ok": True, "message": "configuration reloaded (see the log)"}
        execution = getattr(daemon, "execution", None)
        if execution is None:
            raise RequestError(f"{cmd}: no execution venue (execution.venue = off)")
        if cmd == "pause":
            return {"ok": True, **(execution.pause() or {})}
        if cmd == "resume":
            return {"ok": True, **(execution.resume() or {})}
        symbol = request.get("symbol")
        if symbol is not None and (not isinstance(symbol, str) or symbol.upper() not in daemon.engine.symbols):
            raise RequestError(f"flatten: unknown symbol {symbol!r}")
        result = await execution.flatten(symbol.upper() if symbol else None)
        if not result.get("flat", False):
            return {"ok": False, "error": result.get("message", "not flat"), **result}
        return {"ok": True, **result}

    def _book(self, request: dict) -> dict:
        engine = self.daemon.engine
        symbol = request.get("symbol")
        if not isinstance(symbol, str) or symbol.upper() not in engine.symbols:
            raise RequestError(f"book: unknown symbol {symbol!r}")
        depth = request.get("depth", 10)
        if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= 1000:
            raise RequestError("book: depth must be an integer 1..1000")
        sym = engine.symbols.index(symbol.upper())
        px_dec, qty_dec = engine.decoder.scales(sym)

        def fmt(levels):
            return [[f"{p / 10 ** px_dec:.{px_dec}f}", f"{q / 10 ** qty_dec:.{qty_dec}f}"]
                    for p, q in levels]
        from rtaid.feed.listener import book_last_update_id
        return {"symbol": symbol.upper(), "synced": engine.book_state(sym) == "synced",
                "u": book_last_update_id(engine, sym),
                "bids": fmt(engine.top(sym, "bid", depth)),
                "asks": fmt(engine.top(sym, "ask", depth))}
