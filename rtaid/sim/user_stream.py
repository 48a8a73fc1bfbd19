"""listenKeys and the user-data stream fan-out (``/private/ws/<listenKey>``, ``/ws/<listenKey>``)."""
from __future__ import annotations

import secrets
import time

import orjson

from rtaid.sim.errors import listen_key_unknown
from rtaid.sim.fanout import StreamConnection, ws_text_frame
from rtaid.sim.logs import LazyLogger

log = LazyLogger("rtaid.sim.user_stream")


class UserStreams:
    """Issues listenKeys (one account) and pushes account events to their connections.

    Parameters
    ----------
    ttl_s : float
        Validity of a listenKey since its last keep-alive (Binance: 60 min).
    """

    def __init__(self, ttl_s: float = 3600.0) -> None:
        self.ttl_s = ttl_s
        self.keys: dict[str, float] = {}  # listenKey -> expiry (monotonic)
        self.connections: dict[str, set[StreamConnection]] = {}
        self.events_sent = 0

    def create(self) -> str:
        """POST: Binance returns the existing valid key if there is one, extending it."""
        for key in self.keys:
            self.keys[key] = time.monotonic() + self.ttl_s
            return key
        key = secrets.token_urlsafe(48)[:64]
        self.keys[key] = time.monotonic() + self.ttl_s
        return key

    def keepalive(self, key: str | None = None) -> str:
        if key is None:
            key = next(iter(self.keys), None)
        if key is None or key not in self.keys:
            raise listen_key_unknown()
        self.keys[key] = time.monotonic() + self.ttl_s
        return key

    def delete(self, key: str | None = None) -> None:
        for k in [key] if key else list(self.keys):
            if k in self.keys:
                del self.keys[k]
                for conn in self.connections.pop(k, set()):
                    conn.abort()

    def is_valid(self, key: str) -> bool:
        expiry = self.keys.get(key)
        return expiry is not None and expiry > time.monotonic()

    def attach(self, key: str, conn: StreamConnection) -> None:
        self.connections.setdefault(key, set()).add(conn)

    def detach(self, key: str, conn: StreamConnection) -> None:
        conns = self.connections.get(key)
        if conns is not None:
            conns.discard(conn)

    def publish(self, event: dict) -> None:
        """Send one account event to every user-data connection (serialized once)."""
        if not self.connections:
            return
        frame = ws_text_frame(orjson.dumps(event))
        for conns in self.connections.values():
            for conn in tuple(conns):
                if conn.write(frame):
                    self.events_sent += 1

    def expire(self) -> None:
        """Drop expired keys, telling their connections with a ``listenKeyExpired`` event."""
        now = time.monotonic()
        for key in [k for k, t in self.keys.items() if t <= now]:
            del self.keys[key]
            frame = ws_text_frame(orjson.dumps({"e": "listenKeyExpired", "E": int(time.time() * 1000), "listenKey": key}))
            for conn in self.connections.pop(key, set()):
                conn.write(frame)
                conn.abort()
            log.info("listen_key_expired", key=key[:8])
