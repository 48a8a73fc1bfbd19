"""One supervised WebSocket connection: connect, watch, reconnect."""
from __future__ import annotations

import asyncio
import functools
import time
from typing import TYPE_CHECKING

from picows import WSError, ws_connect

from rtaid._kernels.engine import AHEAD
from rtaid.feed.listener import FeedListener
from rtaid.feed.backoff import backoff_delay
from rtaid.infra.log import get_logger

if TYPE_CHECKING:
    from rtaid.feed.host import ConnectionHost
    from rtaid.feed.streams import StreamSet

log = get_logger("rtaid.feed.connection")

HANDED_OVER = "handed over"
# after the switch, the old connection's events may still be ahead of the new one's:
# the engine drops the new one's duplicates for this long
HANDOVER_GRACE_S = 1.0
HANDOVER_MIN_OVERLAP_S = 0.25


class StreamConnection:
    """Keeps one combined-stream connection alive for as long as the feed runs.

    A connection that delivers nothing for ``stale_after_s`` is dropped and reopened
    (the stale-stream watchdog); every such reconnect resets the books this connection
    carries: they resync from a fresh snapshot (binance.md). A connection older than
    ``max_connection_age_s`` (before Binance's 24 h limit cuts it at a moment of its
    choosing) is handed over make-before-break: a second connection to the same
    streams opens, the engine takes each event once from whichever delivers it first,
    and once the new one is level with the books the old one closes; the books stay
    synced and no event is lost or doubled. If the new connection cannot catch up in
    time, it falls back to break-then-make.
    """

    def __init__(self, streams: "StreamSet", host: "ConnectionHost"):
        self.streams = streams
        self.host = host
        self.transport = None
        self.listener: FeedListener | None = None
        self.connected = False
        self.generation = 0          # bumps on every connect: stale snapshot results are ignored
        self.connects = 0
        self.last_disconnect_mono = None
        self.last_reconnect_s = None  # disconnect -> connected again
        self.handovers = 0
        self._earlier_frames = 0     # frames of this connection's earlier listeners
        self._stopping = False
        self._standby_transport = None
        self._depth_idx = [host.index[s] for s in streams.depth_symbols]
        trade_syms = {s.split("@", 1)[0].upper() for s in streams.streams
                      if s.endswith(("@trade", "@aggTrade"))}
        self._trade_idx = [host.index[s] for s in sorted(trade_syms) if s in host.index]

    @property
    def name(self) -> str:
        return self.streams.name

    def _make_listener(self, source: int, standby: bool = False) -> FeedListener:
        return FeedListener(self.host.engine, self.host.on_book_state, self.host.on_bad_frame,
                            None if standby else self._on_connected, self._on_disconnected,
                            self.host.latency, source, self.host.on_targets)

    @property
    def frames(self) -> int:
        """Frames received over this connection's whole life (every reconnect and
        handover included)."""
        current = self.listener.frames if self.listener is not None else 0
        return self._earlier_frames + current

    def _retire(self, listener: FeedListener | None) -> None:
        if listener is not None and listener is self.listener:
            self._earlier_frames += listener.frames

    def _on_connected(self, listener: FeedListener) -> None:
        self._retire(self.listener)
        self.connected = True
        self.generation += 1
        self.connects += 1
        self.listener = listener
        if self.last_disconnect_mono is not None:
            self.last_reconnect_s = time.monotonic() - self.last_disconnect_mono
        for sym in self.streams.depth_symbols:
            self.host.reset_book(sym, "connect", listener)
            self.host.request_snapshot(sym)

    def _on_disconnected(self, listener: FeedListener) -> None:
        if listener is not self.listener:
            return          # a handed-over (or never promoted) connection: not ours any more
        self.connected = False
        self.last_disconnect_mono = time.monotonic()
        if self._stopping:
            return          # shutting down: the books stay as they were, for the last report
        for sym in self.streams.depth_symbols:
            self.host.reset_book(sym, "disconnect", listener)

    async def run(self) -> None:
        cfg = self.host.feed_config
        attempt = 0
        while not self._stopping:
            try:
                transport, _ = await ws_connect(
                    functools.partial(self._make_listener, self.host.next_source()),
                    self.streams.url,
                    websocket_handshake_timeout=cfg.stale_after_s,
                    enable_auto_pong=True, max_frame_size=16 * 1024 * 1024,
                    logger_name=f"rtaid.feed.{self.name}")
            except (OSError, asyncio.TimeoutError, WSError) as exc:
                delay = backoff_delay(attempt, cfg.reconnect_min_s, cfg.reconnect_max_s)
                attempt += 1
                self.host.counters["connect_failures"] += 1
                log.warning("ws_connect_failed", conn=self.name, error=f"{type(exc).__name__}: {exc}",
                            retry_in_s=round(delay, 3), attempt=attempt)
                await asyncio.sleep(delay)
                continue
            attempt = 0
            self.transport = transport
            log.info("ws_connected", conn=self.name, streams=len(self.streams.streams))
            try:
                reason = HANDED_OVER
                while reason == HANDED_OVER:
                    reason = await self._supervise(self.transport)
            finally:
                self.transport = None
            if self._stopping:
                return
            self.host.counters["reconnects"] += 1
            delay = backoff_delay(0, cfg.reconnect_min_s, cfg.reconnect_max_s)
            log.warning("ws_disconnected", conn=self.name, reason=reason, retry_in_s=round(delay, 3))
            await asyncio.sleep(delay)

    async def _supervise(self, transport) -> str:
        """Wait until the connection ends; end it when stale or too old. Returns why."""
        cfg = self.host.feed_config
        stale_ns = int(cfg.stale_after_s * 1e9)
        age_ns = int(cfg.max_connection_age_s * 1e9)
        tick = min(0.25, cfg.stale_after_s / 4)
        # One waiter for the whole connection: a fresh shielded waiter per tick would
        # leave a pending task behind every time the tick times out.
        closed = asyncio.ensure_future(transport.wait_disconnected())
        try:
            while True:
                done, _ = await asyncio.wait({closed}, timeout=tick)
                if done:
                    return "closed by peer"
                listener = self.listener
                now = time.monotonic_ns()
                if listener is None:
                    continue
                quiet = self._quiet_symbol(listener, now, stale_ns)
                if now - listener.last_frame_mono_ns > stale_ns:
                    self.host.counters["stale_reconnects"] += 1
                    reason = f"stale: no frame for {cfg.stale_after_s}s"
                elif quiet is not None:
                    self.host.counters["stale_reconnects"] += 1
                    reason = f"stale: no {quiet} frame for {cfg.stale_after_s}s"
                elif now - listener.connected_mono_ns > age_ns:
                    if await self._handover(transport, closed):
                        return HANDED_OVER
                    self.host.counters["age_reconnects"] += 1
                    reason = f"max age {cfg.max_connection_age_s}s"
                else:
                    continue
                transport.disconnect()
                await closed
                return reason
        finally:
            if not closed.done():
                closed.cancel()

    async def _handover(self, old_transport, old_closed) -> bool:
        """Make-before-break: open the same streams again, switch once the new connection
        is level with the books, close the old one. False: it did not work out (the
        caller then reconnects the ordinary way)."""
        cfg = self.host.feed_config
        engine = self.host.engine
        source = self.host.next_source()
        engine.overlap_begin(source)
        promoted = False
        transport = None
        started = time.monotonic()
        try:
            try:
                transport, listener = await asyncio.wait_for(ws_connect(
                    functools.partial(self._make_listener, source, True), self.streams.url,
                    websocket_handshake_timeout=cfg.stale_after_s, enable_auto_pong=True,
                    max_frame_size=16 * 1024 * 1024, logger_name=f"rtaid.feed.{self.name}"),
                    cfg.stale_after_s)
            except (OSError, asyncio.TimeoutError, WSError) as exc:
                self.host.counters["handover_failures"] += 1
                log.warning("handover_connect_failed", conn=self.name,
                            error=f"{type(exc).__name__}: {exc}")
                return False
            self._standby_transport = transport
            connected_ns = listener.connected_mono_ns
            deadline = started + max(2 * cfg.stale_after_s, 5.0)
            while True:
                await asyncio.sleep(0.005)
                if old_closed.done():
                    break           # nothing more will come from the old one: switch now
                if listener.transport is None:
                    self.host.counters["handover_failures"] += 1
                    log.warning("handover_new_connection_lost", conn=self.name)
                    return False
                fresh = all(listener.symbol_last_frame_ns(i) > connected_ns
                            for i in self._depth_idx
                            if self.host.states.get(self.host.symbols[i]) != "dropped")
                level = (engine.standby_behind(self._depth_idx, AHEAD["depth"] | AHEAD["bbo"])
                         + engine.standby_behind(self._trade_idx, AHEAD["trade"] | AHEAD["mark"])
                         ) == 0
                if fresh and level and time.monotonic() - started >= HANDOVER_MIN_OVERLAP_S:
                    break
                if time.monotonic() > deadline:
                    self.host.counters["handover_failures"] += 1
                    log.warning("handover_timeout", conn=self.name, fresh=fresh, level=level)
                    return False
            engine.promote(source)
            promoted = True
            old_listener = self.listener
            if old_listener is not None:
                old_listener.enabled = False
            self._retire(old_listener)
            self.listener = listener
            self.transport = transport
            self._standby_transport = None
            self.connects += 1
            self.handovers += 1
            self.host.counters["handovers"] += 1
            old_transport.disconnect()
            asyncio.get_running_loop().call_later(HANDOVER_GRACE_S, engine.overlap_end)
            log.info("handover", conn=self.name, overlap_s=round(time.monotonic() - started, 3),
                     **engine.overlap_stats())
            return True
        finally:
            if not promoted:
                engine.promote(source)
                engine.overlap_end()
                if transport is not None:
                    transport.disconnect()
                self._standby_transport = None

    def _quiet_symbol(self, listener, now_ns: int, stale_ns: int):
        """A symbol whose depth/bookTicker stream has gone silent on this connection.

        Only book streams: Binance sends them continuously for a live symbol, while
        trades can legitimately pause on a quiet one.
        """
        for sym in self.streams.depth_symbols:
            if self.host.states.get(sym) == "dropped":
                continue        # delisted: its silence is expected
            if now_ns - listener.symbol_last_frame_ns(self.host.index[sym]) > stale_ns:
                return sym
        return None

    async def stop(self) -> None:
        self._stopping = True
        if self._standby_transport is not None:
            self._standby_transport.disconnect()
        if self.transport is not None:
            self.transport.disconnect()
            await self.transport.wait_disconnected()
