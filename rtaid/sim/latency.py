"""Exchange-side timestamps: when each frame went out and when each order came in."""
from __future__ import annotations

import time
from bisect import bisect_right
from collections import deque


class LatencyRecorder:
    """Per-symbol ring buffers of frame-sent and order-arrival stamps.

    Parameters
    ----------
    capacity : int
        Records kept per symbol and kind (oldest dropped first).

    Notes
    -----
    A frame record is ``(stream, seq, E_ms, mono_ns, wall_ns)`` where ``seq`` is the
    depth/bookTicker ``u``, the trade id, or -1. An order record is
    ``(client_order_id, order_id, transport, mono_ns, wall_ns)``.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._frames: dict[str, deque] = {}
        self._orders: dict[str, deque] = {}

    def frame_sent(self, symbol: str, stream: str, seq: int, event_ms: int) -> None:
        q = self._frames.get(symbol)
        if q is None:
            q = self._frames[symbol] = deque(maxlen=self.capacity)
        q.append((stream, seq, event_ms, time.monotonic_ns(), time.time_ns()))

    def order_arrived(self, symbol: str, client_order_id: str, transport: str, mono_ns: int, wall_ns: int) -> list:
        """Record an arrival; returns the mutable record so the order id can be filled in later."""
        q = self._orders.get(symbol)
        if q is None:
            q = self._orders[symbol] = deque(maxlen=self.capacity)
        rec = [client_order_id, 0, transport, mono_ns, wall_ns]
        q.append(rec)
        return rec

    def frames(self, symbol: str, limit: int | None = None) -> list[dict]:
        """Frame-sent records of ``symbol``, oldest first."""
        rows = list(self._frames.get(symbol, ()))
        if limit is not None:
            rows = rows[-limit:]
        return [dict(zip(("stream", "seq", "E", "mono_ns", "wall_ns"), r)) for r in rows]

    def orders(self, symbol: str, limit: int | None = None) -> list[dict]:
        """Order-arrival records of ``symbol``, oldest first."""
        rows = list(self._orders.get(symbol, ()))
        if limit is not None:
            rows = rows[-limit:]
        return [dict(zip(("client_order_id", "order_id", "transport", "mono_ns", "wall_ns"), r)) for r in rows]

    def wire_to_wire(self, symbol: str, stream: str | None = None) -> list[dict]:
        """For each order, the last frame sent on ``symbol`` (optionally one stream) before it arrived.

        Returns dicts with the order record, the frame record and ``latency_ns``
        (order arrival minus frame send, both monotonic).
        """
        frames = [r for r in self._frames.get(symbol, ()) if stream is None or r[0] == stream]
        times = [r[3] for r in frames]
        out = []
        for o in self._orders.get(symbol, ()):
            i = bisect_right(times, o[3]) - 1
            if i < 0:
                continue
            f = frames[i]
            out.append({
                "client_order_id": o[0], "order_id": o[1], "stream": f[0], "seq": f[1],
                "frame_mono_ns": f[3], "order_mono_ns": o[3], "latency_ns": o[3] - f[3],
            })
        return out

    def symbols(self) -> list[str]:
        return sorted(set(self._frames) | set(self._orders))

    def clear(self) -> None:
        self._frames.clear()
        self._orders.clear()
