"""What a connection needs from its owner: the small interface ``StreamConnection`` calls.

The feed implements it; a connection never imports the feed (no import circle), and a
test can drive a connection with any object that has these members.
"""
from __future__ import annotations

import collections
from typing import Any, Mapping, Protocol


class ConnectionHost(Protocol):
    """The owner of a set of stream connections (``rtaid.feed.Feed``)."""

    engine: Any                        # rtaid._kernels.engine.Engine, shared by all connections
    feed_config: Any                   # rtaid.infra.config.FeedConfig
    index: Mapping[str, int]           # symbol -> the engine's symbol index
    symbols: list                      # the engine's symbols, by index
    states: Mapping[str, str]          # symbol -> unsynced | synced | dropped
    counters: collections.Counter      # feed counters (reconnects, handovers, ...)
    latency: Any                       # rtaid._kernels.hist.LatencyHistogram, per frame
    on_targets: Any                    # callable() or ExecWaker waking the execution task, or None

    def next_source(self) -> int:
        """A new connection's id for the engine's handover deduplication."""

    def on_book_state(self, sym_index: int, state: str, reason: str = "") -> None:
        """A book changed sync state (called by the listener)."""

    def on_bad_frame(self, result_code: int) -> None:
        """The decoder rejected a frame (rate-limited by the listener)."""

    def reset_book(self, sym: str, reason: str, listener) -> None:
        """Forget a book: its connection opened or closed."""

    def request_snapshot(self, sym: str) -> None:
        """Fetch a REST snapshot for a book that must (re)sync."""
