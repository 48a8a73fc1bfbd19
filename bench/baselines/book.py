"""An L2 order book the way a careful Python bot keeps one: a dict per side plus a
sorted list of its prices (``bisect``), synced by Binance's documented procedure.

Prices and sizes are ints (ticks and lots): the bot parses the decimal strings
exactly, as rtaid does, so the indicators can agree to the last bit.

Sync (binance.md, "Keeping a local book"): buffer diffs until a REST snapshot has
loaded, drop those with ``u < lastUpdateId``, the first applied must bracket
``U <= lastUpdateId <= u``, every later one must have ``pu`` == the previous ``u``;
a break or a crossed book makes the book unsynced (buffering again until the next
snapshot). ``on_depth`` returns the diff's status, one of STATUSES.
"""
from __future__ import annotations

from bisect import bisect_left, insort

UNSYNCED, AWAITING, SYNCED = 0, 1, 2

# statuses of a diff (the ones after which the signal layer emits a row: ROW_STATUSES)
BUFFERED, STALE, FIRST, APPLIED, GAP, CROSSED = "buffered", "stale", "synced", "applied", "gap", "crossed"
ROW_STATUSES = frozenset((FIRST, APPLIED, GAP, CROSSED))


class Side:
    """One side: ``qty`` {price: size} and ``prices`` ascending."""

    __slots__ = ("qty", "prices", "is_bid")

    def __init__(self, is_bid: bool):
        self.qty: dict[int, int] = {}
        self.prices: list[int] = []
        self.is_bid = is_bid

    def clear(self) -> None:
        self.qty.clear()
        self.prices.clear()

    def best(self):
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def top(self, n: int) -> list:
        """The n best (price, size) levels, best first."""
        qty = self.qty
        if self.is_bid:
            prices = self.prices[:-n - 1:-1]
        else:
            prices = self.prices[:n]
        return [(p, qty[p]) for p in prices]


class DictBook:
    """One symbol's book and its sync state.

    ``max_levels`` per side (a full side keeps its best levels: a new better level
    pushes out the worst, a worse one is dropped) and ``buffer_events`` (diffs kept
    while waiting for a snapshot) are rtaid's defaults (feed.max_book_levels,
    feed.buffer_events).
    """

    __slots__ = ("bids", "asks", "state", "last_update_id", "prev_u", "buffer",
                 "max_levels", "buffer_events", "dropped_levels")

    def __init__(self, max_levels: int = 5000, buffer_events: int = 4096):
        self.bids = Side(True)
        self.asks = Side(False)
        self.state = UNSYNCED
        self.last_update_id = 0
        self.prev_u = 0
        self.buffer: list = []
        self.max_levels = max_levels
        self.buffer_events = buffer_events
        self.dropped_levels = 0

    @property
    def synced(self) -> bool:
        return self.state == SYNCED

    def reset(self) -> None:
        """A (re)connect: forget everything, buffer until the next snapshot."""
        self.bids.clear()
        self.asks.clear()
        self.state = UNSYNCED
        self.buffer = []

    # ------------------------------------------------------------------ levels
    def _set(self, side: Side, px: int, qty: int) -> None:
        book = side.qty
        prices = side.prices
        if qty == 0:
            if px in book:
                del book[px]
                del prices[bisect_left(prices, px)]
            return
        if px in book:
            book[px] = qty
            return
        if len(book) >= self.max_levels:
            self.dropped_levels += 1
            if side.is_bid:
                worst = prices[0]
                if px <= worst:
                    return
                del prices[0]
            else:
                worst = prices[-1]
                if px >= worst:
                    return
                prices.pop()
            del book[worst]
        book[px] = qty
        insort(prices, px)

    def _apply(self, bids, asks) -> None:
        side = self.bids
        for px, qty in bids:
            self._set(side, px, qty)
        side = self.asks
        for px, qty in asks:
            self._set(side, px, qty)

    def _crossed(self) -> bool:
        b, a = self.bids.prices, self.asks.prices
        return bool(b) and bool(a) and b[-1] >= a[0]

    # ------------------------------------------------------------------ events
    def _unsync(self, ev) -> None:
        self.state = UNSYNCED
        self.buffer = [ev]

    def _process(self, ev) -> str:
        """ev = (T, U, u, pu, bids, asks) for a book that has a snapshot."""
        u = ev[2]
        if self.state == AWAITING:
            if u < self.last_update_id:
                return STALE
            if not ev[1] <= self.last_update_id <= u:
                # the snapshot is older than the stream can bridge: keep this diff for the next one
                self._unsync(ev)
                return GAP
            status = FIRST
        else:
            if u <= self.prev_u:
                return STALE          # already applied (a duplicate delivery)
            if ev[3] != self.prev_u:
                self._unsync(ev)
                return GAP
            status = APPLIED
        self._apply(ev[4], ev[5])
        self.prev_u = u
        if self._crossed():
            self.state = UNSYNCED
            self.buffer = []
            return CROSSED
        self.state = SYNCED
        return status

    def on_depth(self, ev) -> str:
        if self.state == UNSYNCED:
            if len(self.buffer) >= self.buffer_events:
                self.buffer = []
            self.buffer.append(ev)
            return BUFFERED
        return self._process(ev)

    def load_snapshot(self, last_update_id: int, bids, asks) -> list:
        """Load a snapshot; returns the buffered diffs to replay (through ``replay``)."""
        self.bids.clear()
        self.asks.clear()
        self._apply(bids, asks)
        self.last_update_id = last_update_id
        self.state = AWAITING
        pending, self.buffer = self.buffer, []
        return pending

    def replay(self, ev) -> str:
        """One buffered diff after a snapshot (after a break the rest is buffered again)."""
        if self.state == UNSYNCED:
            return self.on_depth(ev)
        return self._process(ev)
