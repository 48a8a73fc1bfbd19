"""Fault injection, driven from tests (Python API) or over HTTP (``POST /sim/fault``).

JSON bodies accepted by ``POST /sim/fault`` (one fault per request; ``DELETE /sim/fault``
clears everything, ``GET /sim/fault`` lists what is pending):

- ``{"fault": "drop", "target": "stream"|"public"|"market"|"legacy"|"user"|"api"|"all", "clean": false}``
  close matching WebSocket connections (``clean: false`` aborts TCP without a close frame).
- ``{"fault": "stall", "symbol": "BTCUSDT", "seconds": 2.0, "drop": false}``
  hold the symbol's frames for ``seconds`` then burst them (or lose them with ``drop: true``).
- ``{"fault": "skip", "symbol": "BTCUSDT", "count": 1, "stream": null}``
  do not send the next ``count`` depth events (every depth stream, or one stream): a pu break.
- ``{"fault": "corrupt", "symbol": "BTCUSDT", "count": 1, "mode": "malformed"|"truncated", "stream": null}``
  replace the next ``count`` frames with invalid JSON or a truncated frame (successive
  corrupt faults queue up in order).
- ``{"fault": "rest", "mode": "status"|"delay"|"timeout", "status": 503, "seconds": 1.0, "count": 1, "path": "/fapi/v1/depth"}``
  the next ``count`` REST calls (optionally only those whose path starts with ``path``)
  answer ``status`` with a Binance error body, are delayed ``seconds`` then served,
  or hang ``seconds`` then answer 503 / -1007 (a backend timeout).
- ``{"fault": "reject_orders", "count": 1, "code": -2019, "msg": "Margin is insufficient."}``
  reject the next ``count`` new orders (REST or WebSocket API).
- ``{"fault": "ws_api", "mode": "drop_before"|"drop_after"|"silent", "count": 1, "method": "order.place"}``
  the next ``count`` WebSocket API requests (of ``method``; null: any): the connection
  drops before the request is processed (``drop_before``: it never happened), after it
  was processed with its answer lost (``drop_after``), or it is processed and never
  answered (``silent``).
- ``{"fault": "ws_api", "mode": "down", "seconds": 2.0}``
  the WebSocket API goes down: its connections are aborted and new ones refused (HTTP
  503 to the handshake) for ``seconds``; REST keeps working.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rtaid.sim.errors import BinanceError
from rtaid.sim.logs import LazyLogger

if TYPE_CHECKING:
    from rtaid.sim.fanout import StreamHub
    from rtaid.sim.market import SymbolMarket

log = LazyLogger("rtaid.sim.faults")

STREAM_CLASSES = {"public": "public", "market": "market", "legacy": "all"}


@dataclass
class RestFault:
    """A pending REST fault (see module docstring)."""

    mode: str  # "status", "delay" or "timeout"
    status: int = 500
    seconds: float = 1.0
    count: int = 1
    path: str | None = None

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)


def rest_fault_error(status: int) -> BinanceError:
    """The Binance-style body for an injected HTTP status."""
    if status == 429:
        return BinanceError(-1003, "Too many requests; current limit of IP is 2400 requests per minute. "
                            "Please use WebSocket Streams for live updates to avoid polling the API.", 429)
    if status == 418:
        return BinanceError(-1003, "Way too many requests; IP(127.0.0.1) banned until 4102444800000. "
                            "Please use the websocket for live updates to avoid bans.", 418)
    if status == 408 or status == 504:
        return BinanceError(-1007, "Timeout waiting for response from backend server. "
                            "Send status unknown; execution status unknown.", status)
    return BinanceError(-1001, "Internal error; unable to process your request. Please try again.", status)


class FaultController:
    """Injects faults into a running simulator.

    Parameters
    ----------
    markets : dict of str to SymbolMarket
        The simulator's markets by symbol.
    hub : StreamHub
        Registry of every WebSocket connection (streams, user data, WebSocket API).
    """

    def __init__(self, markets: dict[str, "SymbolMarket"], hub: "StreamHub") -> None:
        self.markets = markets
        self.hub = hub
        self.rest_faults: list[RestFault] = []
        self.order_rejects: list[list] = []  # [count, code, msg]
        self.ws_api_faults: list[list] = []  # [mode, method or None, count]
        self.ws_api_down_until = 0.0         # monotonic: WebSocket API handshakes refused
        self.injected: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def _market(self, symbol: str) -> "SymbolMarket":
        try:
            return self.markets[symbol.upper()]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol}") from None

    # -------------------------------------------------------------- streams
    def drop_connections(self, target: str = "stream", clean: bool = False) -> int:
        """Close WebSocket connections; returns how many.

        ``target``: ``stream`` (all market-data paths), ``public``, ``market``, ``legacy``
        (/stream and /ws), ``user``, ``api`` or ``all``.
        """
        n = 0
        for conn in list(self.hub.connections.values()):
            cls = conn.path_class
            hit = (
                target == "all"
                or (target == "stream" and cls in ("public", "market", "all"))
                or STREAM_CLASSES.get(target) == cls
                or target == cls
            )
            if not hit:
                continue
            n += 1
            if clean:
                conn.closed = True
                self.hub.remove(conn)
                asyncio.ensure_future(conn.ws.close(code=1001, message=b"sim fault"))
            else:
                conn.abort()
        self._count("drop")
        log.info("fault_drop", target=target, clean=clean, connections=n)
        return n

    def stall_stream(self, symbol: str, seconds: float, drop: bool = False) -> None:
        """Stop ``symbol``'s frames for ``seconds`` (burst after, or lost if ``drop``)."""
        self._market(symbol).start_stall(seconds, drop)
        self._count("stall")

    def skip_events(self, symbol: str, count: int = 1, stream: str | None = None) -> None:
        """Withhold the next ``count`` depth events of ``symbol`` (a pu break for clients)."""
        self._market(symbol).add_skip(count, stream)
        self._count("skip")

    def corrupt_frames(self, symbol: str, count: int = 1, mode: str = "malformed", stream: str | None = None) -> None:
        """Replace the next ``count`` frames of ``symbol`` with malformed or truncated JSON."""
        if mode not in ("malformed", "truncated"):
            raise ValueError(f"unknown corrupt mode {mode}")
        self._market(symbol).add_corrupt(count, mode, stream)
        self._count("corrupt")

    # -------------------------------------------------------------- REST / orders
    def fail_rest(self, mode: str = "status", *, status: int = 500, seconds: float = 1.0, count: int = 1,
                  path: str | None = None) -> None:
        """Make the next ``count`` REST calls fail (``status``), lag (``delay``) or hang (``timeout``)."""
        if mode not in ("status", "delay", "timeout"):
            raise ValueError(f"unknown rest fault mode {mode}")
        self.rest_faults.append(RestFault(mode, status, seconds, count, path))
        self._count("rest")

    def reject_orders(self, count: int = 1, code: int = -2019, msg: str = "Margin is insufficient.") -> None:
        """Reject the next ``count`` new orders with ``code``/``msg``."""
        self.order_rejects.append([count, code, msg])
        self._count("reject_orders")

    def fail_ws_api(self, mode: str = "drop_after", method: str | None = "order.place",
                    count: int = 1) -> None:
        """The next ``count`` WebSocket API requests (of ``method``) lose their connection
        before (``drop_before``) or after (``drop_after``) being processed, or are never
        answered (``silent``)."""
        if mode not in ("drop_before", "drop_after", "silent"):
            raise ValueError(f"unknown ws_api fault mode {mode}")
        self.ws_api_faults.append([mode, method, count])
        self._count("ws_api")

    def ws_api_down(self, seconds: float) -> int:
        """Take the WebSocket API down for ``seconds`` (connections aborted, handshakes
        refused); returns the connections dropped."""
        self.ws_api_down_until = time.monotonic() + seconds
        n = self.drop_connections("api")
        self._count("ws_api_down")
        log.info("fault_ws_api_down", seconds=seconds, connections=n)
        return n

    def ws_api_refused(self) -> bool:
        """Whether a WebSocket API handshake is refused now (:meth:`ws_api_down`)."""
        return time.monotonic() < self.ws_api_down_until

    def take_ws_api_fault(self, method: str | None) -> str | None:
        for entry in self.ws_api_faults:
            if entry[1] is None or entry[1] == method:
                entry[2] -= 1
                if entry[2] <= 0:
                    self.ws_api_faults.remove(entry)
                return entry[0]
        return None

    def take_rest_fault(self, path: str) -> RestFault | None:
        for fault in self.rest_faults:
            if fault.matches(path):
                fault.count -= 1
                if fault.count <= 0:
                    self.rest_faults.remove(fault)
                return fault
        return None

    def take_order_reject(self) -> BinanceError | None:
        if not self.order_rejects:
            return None
        entry = self.order_rejects[0]
        entry[0] -= 1
        if entry[0] <= 0:
            self.order_rejects.pop(0)
        return BinanceError(entry[1], entry[2])

    # -------------------------------------------------------------- control
    def clear(self) -> None:
        """Cancel every pending fault (stalled streams resume and flush)."""
        self.rest_faults.clear()
        self.order_rejects.clear()
        self.ws_api_faults.clear()
        self.ws_api_down_until = 0.0
        for market in self.markets.values():
            market.clear_faults()

    def pending(self) -> dict[str, Any]:
        return {
            "rest": [vars(f).copy() for f in self.rest_faults],
            "reject_orders": [{"count": c, "code": code, "msg": msg} for c, code, msg in self.order_rejects],
            "ws_api": [{"mode": m, "method": meth, "count": c} for m, meth, c in self.ws_api_faults],
            "streams": {
                s: {"stalled": m.stalled, "skip": {k: v for k, v in m.skip.items() if v}, "corrupt": sum(e[0] for e in m.corrupt_queue)}
                for s, m in self.markets.items() if m.faults_active
            },
            "injected": dict(self.injected),
        }

    def apply(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Apply one JSON fault description (the ``POST /sim/fault`` body)."""
        spec = dict(spec)
        kind = spec.pop("fault", None)
        if kind == "drop":
            return {"dropped": self.drop_connections(spec.get("target", "stream"), bool(spec.get("clean", False)))}
        if kind == "stall":
            self.stall_stream(spec["symbol"], float(spec.get("seconds", 1.0)), bool(spec.get("drop", False)))
        elif kind == "skip":
            self.skip_events(spec["symbol"], int(spec.get("count", 1)), spec.get("stream"))
        elif kind == "corrupt":
            self.corrupt_frames(spec["symbol"], int(spec.get("count", 1)), spec.get("mode", "malformed"),
                                spec.get("stream"))
        elif kind == "rest":
            self.fail_rest(spec.get("mode", "status"), status=int(spec.get("status", 500)),
                           seconds=float(spec.get("seconds", 1.0)), count=int(spec.get("count", 1)),
                           path=spec.get("path"))
        elif kind == "reject_orders":
            self.reject_orders(int(spec.get("count", 1)), int(spec.get("code", -2019)),
                               spec.get("msg", "Margin is insufficient."))
        elif kind == "ws_api" and spec.get("mode") == "down":
            return {"dropped": self.ws_api_down(float(spec.get("seconds", 1.0)))}
        elif kind == "ws_api":
            self.fail_ws_api(spec.get("mode", "drop_after"), spec.get("method", "order.place"),
                             int(spec.get("count", 1)))
        elif kind == "delist":
            self._market(spec["symbol"]).delist()
            self._count("delist")
        elif kind == "clear":
            self.clear()
        else:
            raise ValueError(f"unknown fault {kind!r}")
        return {"ok": True}
