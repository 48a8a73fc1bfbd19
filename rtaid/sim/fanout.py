"""Stream fan-out: each event is serialized once and the same frame bytes go to every subscriber.

Frames are written straight to the connection's transport (server frames are unmasked and
uncompressed, so a WebSocket text frame is just a header plus the payload) instead of going
through one ``await ws.send_str`` per subscriber: one event costs one serialization and one
``transport.write`` per subscriber, and the event loop never waits on a slow client.
"""
from __future__ import annotations

import itertools
import struct
import time
from collections import deque
from typing import Any

from rtaid.sim.logs import LazyLogger

log = LazyLogger("rtaid.sim.fanout")

PUBLIC = "public"  # depth and bookTicker (/public/...)
MARKET = "market"  # trades, markPrice, klines (/market/...)
LEGACY = "all"  # /stream and /ws serve every class


def stream_class(stream: str) -> str:
    """Traffic class of a stream name (the 2026 split between /public and /market)."""
    _, _, kind = stream.partition("@")
    if kind.startswith("depth") or kind == "bookTicker":
        return PUBLIC
    return MARKET


def ws_text_frame(payload: bytes) -> bytes:
    """A complete server-to-client (unmasked, FIN) WebSocket text frame."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


_conn_ids = itertools.count(1)


class StreamConnection:
    """A market-data WebSocket connection as the hub sees it.

    ``raw`` connections (``/ws/<stream>``) get the bare event; others the combined
    ``{"stream":..,"data":..}`` wrapper.
    """

    __slots__ = (
        "id", "ws", "transport", "path", "path_class", "raw", "requested", "opened_mono",
        "opened_wall", "closed", "hub", "last_ping", "last_pong", "msg_times",
    )

    def __init__(self, hub: "StreamHub", ws: Any, transport: Any, path: str, path_class: str, raw: bool) -> None:
        self.id = next(_conn_ids)
        self.hub = hub
        self.ws = ws
        self.transport = transport
        self.path = path
        self.path_class = path_class
        self.raw = raw
        # Everything the client asked for (LIST_SUBSCRIPTIONS echoes it), deliverable or not.
        self.requested: list[str] = []
        self.opened_mono = time.monotonic()
        self.opened_wall = time.time()
        self.closed = False
        # Server-ping bookkeeping (monotonic seconds) and recent client message times.
        self.last_ping = self.opened_mono
        self.last_pong = self.opened_mono
        self.msg_times: deque[float] = deque()

    def accepts(self, stream: str) -> bool:
        return self.path_class == LEGACY or stream_class(stream) == self.path_class

    def write(self, frame: bytes) -> bool:
        t = self.transport
        # ws.closed turns true once a close frame went out: nothing may follow it.
        if self.closed or t is None or t.is_closing() or self.ws.closed:
            return False
        if t.get_write_buffer_size() > self.hub.slow_client_limit:
            # Binance disconnects consumers that cannot keep up; so do we.
            log.warning("slow_client_dropped", conn=self.id, path=self.path)
            self.hub.stats["slow_clients_dropped"] += 1
            self.abort()
            return False
        t.write(frame)
        return True

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a network failure as seen by the client)."""
        self.closed = True
        self.hub.remove(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class StreamHub:
    """Who is subscribed to which stream, and the publish fan-out."""

    def __init__(self, slow_client_limit: int = 8 * 1024 * 1024) -> None:
        self.slow_client_limit = slow_client_limit
        self.subscribers: dict[str, set[StreamConnection]] = {}
        self.connections: dict[int, StreamConnection] = {}
        self.stats = {"frames_sent": 0, "bytes_sent": 0, "events_published": 0, "slow_clients_dropped": 0}

    def add(self, conn: StreamConnection) -> None:
        self.connections[conn.id] = conn

    def remove(self, conn: StreamConnection) -> None:
        self.connections.pop(conn.id, None)
        for stream in conn.requested:
            subs = self.subscribers.get(stream)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self.subscribers[stream]

    def subscribe(self, conn: StreamConnection, stream: str) -> None:
        if stream not in conn.requested:
            conn.requested.append(stream)
        # A stream on the wrong path is accepted but silently never delivered.
        if conn.accepts(stream):
            self.subscribers.setdefault(stream, set()).add(conn)

    def unsubscribe(self, conn: StreamConnection, stream: str) -> None:
        if stream in conn.requested:
            conn.requested.remove(stream)
        subs = self.subscribers.get(stream)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subscribers[stream]

    def has_subscribers(self, stream: str) -> bool:
        return stream in self.subscribers

    def publish(self, stream: str, data: bytes) -> int:
        """Send one event (its JSON ``data`` bytes) to every subscriber; returns how many got it."""
        subs = self.subscribers.get(stream)
        if not subs:
            return 0
        combined = raw = None
        sent = 0
        for conn in tuple(subs):
            if conn.raw:
                if raw is None:
                    raw = ws_text_frame(data)
                frame = raw
            else:
                if combined is None:
                    combined = ws_text_frame(b'{"stream":"' + stream.encode() + b'","data":' + data + b"}")
                frame = combined
            if conn.write(frame):
                sent += 1
                self.stats["bytes_sent"] += len(frame)
        self.stats["frames_sent"] += sent
        self.stats["events_published"] += 1
        return sent

    def publish_corrupt(self, stream: str, data: bytes, kind: str) -> int:
        """Send a malformed or truncated version of an event (fault injection)."""
        subs = self.subscribers.get(stream)
        if not subs:
            return 0
        combined = b'{"stream":"' + stream.encode() + b'","data":' + data + b"}"
        for conn in tuple(subs):
            payload = data if conn.raw else combined
            if kind == "truncated":
                payload = payload[: max(1, len(payload) // 2)]
            else:
                payload = b'{"stream":"' + stream.encode() + b'","data":{"e":' + b"\x7b\x7d,,]" + b"}"
            conn.write(ws_text_frame(payload))
        return len(subs)
