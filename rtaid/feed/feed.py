"""The feed: every connection of one rtaid process, and the books' snapshot sync."""
from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Callable

from rtaid._kernels.decode import result_name
from rtaid.feed.backoff import backoff_delay
from rtaid.feed.connection import StreamConnection
from rtaid.feed.snapshots import INVALID_SYMBOL, SnapshotClient, SnapshotError
from rtaid.feed.streams import stream_sets
from rtaid.infra.log import RateLimitedLog, get_logger

log = get_logger("rtaid.feed")


class Feed:
    """Connect to the configured streams and keep every symbol's book synced.

    The feed is its connections' ``ConnectionHost`` (rtaid/feed/host.py).

    Parameters
    ----------
    config : rtaid.infra.config.Config
        Uses ``[exchange] rest_url, ws_url`` and the ``[feed]`` section.
    engine : rtaid._kernels.engine.Engine
        Built for exactly ``config.feed.symbols``, in that order.
    on_book_state : callable(symbol, previous_state, state, reason), optional
        Called on every sync state change (daemon: metrics, READY, book_events).
    on_targets : callable() or rtaid._kernels.engine.ExecWaker, optional
        Called after a frame that queued target changes in the engine (the daemon
        wakes its execution task; the changes are drained from the engine).
    """

    def __init__(self, config, engine, on_book_state: Callable | None = None,
                 on_targets: Any = None):
        fc = config.feed
        self.config = config
        self.feed_config = fc
        self.engine = engine
        self.symbols = [s.upper() for s in engine.symbols]
        if self.symbols != [s.upper() for s in fc.symbols]:
            raise ValueError("the engine's symbols must be config.feed.symbols, in order")
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.states = {s: "unsynced" for s in self.symbols}
        self.on_book_state_cb = on_book_state
        self.on_targets = on_targets
        # receipt -> engine done, per frame: the engine's "frame" stage histogram
        self.latency = engine.stages["frame"]
        self.counters: collections.Counter = collections.Counter()
        self.connections = [StreamConnection(ss, self) for ss in stream_sets(
            config.exchange.ws_url, self.symbols, depth_speed=fc.depth_speed, trades=fc.trades,
            book_ticker=fc.book_ticker, mark_price=fc.mark_price)]
        self._conn_of = {sym: c for c in self.connections for sym in c.streams.depth_symbols}
        self.snapshots = SnapshotClient(config.exchange.rest_url, fc.snapshot_limit,
                                        config.exchange.request_timeout_s)
        self.all_synced = asyncio.Event()
        self._wanted: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._bad_log = RateLimitedLog(log, 5.0)
        self._sources = 0

    def next_source(self) -> int:
        """A new connection's id (0 is the REST snapshots' and replay's)."""
        self._sources += 1
        return self._sources

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(c.run(), name=f"feed-{c.name}") for c in self.connections]
        self._tasks.append(asyncio.create_task(self._snapshot_worker(), name="feed-snapshots"))

    async def stop(self) -> None:
        for c in self.connections:
            await c.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.snapshots.close()

    async def wait_synced(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self.all_synced.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    # ------------------------------------------------------------------ book state
    def on_book_state(self, sym_index: int, state: str, reason: str = "") -> None:
        """Listener callback: a book changed sync state (rare)."""
        sym = self.symbols[sym_index]
        prev = self.states[sym]
        if state == prev or prev == "dropped":
            return
        self.states[sym] = state
        if state == "unsynced":
            if not reason:
                self.counters["resyncs"] += 1
                reason = "gap or crossed book"
            log.warning("book_unsynced", symbol=sym, reason=reason)
            self.request_snapshot(sym)
        elif state == "synced":
            log.info("book_synced", symbol=sym)
        self._update_all_synced()
        if self.on_book_state_cb is not None:
            self.on_book_state_cb(sym, prev, state, reason or state)

    def _update_all_synced(self) -> None:
        live = [s for s in self.states.values() if s != "dropped"]
        if live and all(s == "synced" for s in live):
            self.all_synced.set()
        else:
            self.all_synced.clear()

    def drop_symbol(self, sym: str, reason: str) -> None:
        """The exchange no longer lists a symbol (delisted while running): stop syncing
        it, say so, and carry on with the others."""
        prev = self.states[sym]
        if prev == "dropped":
            return
        self.states[sym] = "dropped"
        self._wanted.discard(sym)
        self.counters["symbols_dropped"] += 1
        log.error("symbol_dropped", symbol=sym, reason=reason,
                  consequence="no more data or signals for it; the other symbols go on")
        self._update_all_synced()
        if self.on_book_state_cb is not None:
            self.on_book_state_cb(sym, prev, "dropped", reason)

    def on_bad_frame(self, result_code: int) -> None:
        """Listener callback, at most once a second per connection."""
        self._bad_log.warning("bad_frame", "bad_frame", result=result_name(result_code))

    def reset_book(self, sym: str, reason: str, listener) -> None:
        """Forget a book (a connection opened or closed): it buffers until a snapshot."""
        if self.states[sym] == "dropped":
            return
        i = self.index[sym]
        self.engine.reset_book(i)
        listener.note_state(i, "unsynced")
        self.on_book_state(i, "unsynced", reason)

    @property
    def bad_frames(self) -> int:
        return sum(c.listener.bad_frames for c in self.connections if c.listener is not None)

    # ------------------------------------------------------------------ snapshots
    def request_snapshot(self, sym: str) -> None:
        if self.states[sym] == "dropped":
            return
        self._wanted.add(sym)
        self._wake.set()

    async def _snapshot_worker(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._wanted:
                sym = min(self._wanted)
                self._wanted.discard(sym)
                conn = self._conn_of[sym]
                if conn.connected and self.states[sym] == "unsynced":
                    await self._sync(sym, conn)

    async def _sync(self, sym: str, conn: StreamConnection) -> None:
        """Fetch and load one snapshot, retrying with backoff until it loads."""
        fc = self.config.feed
        generation = conn.generation
        attempt = 0
        while conn.connected and conn.generation == generation:
            try:
                body = await self.snapshots.fetch(sym)
            except SnapshotError as exc:
                self.counters["snapshot_errors"] += 1
                if exc.code == INVALID_SYMBOL:
                    self.drop_symbol(sym, f"the exchange no longer lists it ({exc})")
                    return
                delay = exc.retry_after_s or backoff_delay(attempt, fc.reconnect_min_s, fc.reconnect_max_s)
                attempt += 1
                log.warning("snapshot_failed", symbol=sym, error=str(exc), retry_in_s=round(delay, 3))
                await asyncio.sleep(delay)
                continue
            if not conn.connected or conn.generation != generation:
                return          # the connection it was for is gone; a new one asks again
            i = self.index[sym]
            rc, kind, _ = self.engine.feed(body, time.time_ns(), i)
            if rc != 0 or kind != "snapshot":
                self.counters["snapshot_errors"] += 1
                log.warning("snapshot_undecodable", symbol=sym, result=result_name(rc))
                await asyncio.sleep(backoff_delay(attempt, fc.reconnect_min_s, fc.reconnect_max_s))
                attempt += 1
                continue
            self.counters["snapshots"] += 1
            state = self.engine.book_state(i)
            if conn.listener is not None:
                conn.listener.note_state(i, state)
            if state == "unsynced":
                # the stream had moved past the snapshot's update id: try again
                self.counters["snapshot_too_old"] += 1
                await asyncio.sleep(backoff_delay(0, fc.reconnect_min_s, fc.reconnect_max_s))
                continue
            self.on_book_state(i, state)
            return

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        return {
            "symbols": dict(self.states),
            "connections": {c.name: {"connected": c.connected, "connects": c.connects,
                                     "last_reconnect_s": c.last_reconnect_s,
                                     "handovers": c.handovers, "frames": c.frames}
                            for c in self.connections},
            "counters": dict(self.counters),
            "bad_frames": self.bad_frames,
            "latency_ns": {"p50": self.latency.percentile(50), "p99": self.latency.percentile(99),
                           "max": self.latency.max_ns},
        }
