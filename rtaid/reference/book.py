"""Reference L2 book: two plain dicts and the Binance USD-M sync procedure.

Written to be obviously right, not fast; the Cython book (rtaid/_kernels/book.pyx)
must agree with it event by event. The procedure (binance.md, "Keeping a local book"):

1. buffer depth events until a snapshot arrives;
2. drop buffered events with ``u < lastUpdateId``;
3. the first applied event must bracket: ``U <= lastUpdateId <= u``;
4. every later event must have ``pu`` equal to the previous event's ``u``;
5. a break, or a crossed book after an event, makes the book unsynced until the
   next snapshot (events are buffered again meanwhile).

Statuses returned per event: ``buffered``, ``stale`` (dropped: u < lastUpdateId, or an
event already applied, u <= the last applied u),
``synced`` (the first event applied after a snapshot), ``applied``, ``gap`` (pu break,
or no bracketing event after the snapshot), ``crossed`` (applied, then best bid >= best ask).
"""
from __future__ import annotations

UNSYNCED = "unsynced"   # no usable snapshot: buffering
AWAITING = "awaiting"   # snapshot applied, waiting for the bracketing event
SYNCED = "synced"


class RefBook:
    def __init__(self, max_levels: int = 5000, buffer_events: int = 4096):
        self.max_levels = max_levels
        self.buffer_events = buffer_events
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.state = UNSYNCED
        self.last_update_id = 0
        self.prev_u = 0
        self.buffer: list = []
        self.dropped_levels = 0
        self.buffer_overflows = 0

    # -- queries -------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self.state == SYNCED

    def best_bid(self):
        return max(self.bids) if self.bids else None

    def best_ask(self):
        return min(self.asks) if self.asks else None

    def top(self, side: str, n: int) -> list:
        """The n best (px, qty) levels of 'bid' or 'ask', best first."""
        book = self.bids if side == "bid" else self.asks
        prices = sorted(book, reverse=(side == "bid"))[:n]
        return [(p, book[p]) for p in prices]

    # -- updates -------------------------------------------------------------
    def _set(self, book: dict, is_bid: bool, px: int, qty: int) -> None:
        if qty == 0:
            book.pop(px, None)
            return
        if px in book or len(book) < self.max_levels:
            book[px] = qty
            return
        worst = min(book) if is_bid else max(book)
        better = px > worst if is_bid else px < worst
        self.dropped_levels += 1
        if better:
            del book[worst]
            book[px] = qty

    def _apply(self, ev) -> None:
        for px, qty in ev.bids:
            self._set(self.bids, True, px, qty)
        for px, qty in ev.asks:
            self._set(self.asks, False, px, qty)

    def _crossed(self) -> bool:
        return bool(self.bids) and bool(self.asks) and max(self.bids) >= min(self.asks)

    def _unsync(self) -> None:
        self.state = UNSYNCED
        self.buffer = []

    def _process(self, ev) -> str:
        if self.state == AWAITING:
            if ev.u < self.last_update_id:
                return "stale"
            if not (ev.U <= self.last_update_id <= ev.u):
                # The snapshot is older than the stream can bridge; this event may
                # still bracket the next snapshot, so it is kept.
                self._unsync()
                self.buffer.append(ev)
                return "gap"
            self._apply(ev)
            self.prev_u = ev.u
            if self._crossed():
                self._unsync()
                return "crossed"
            self.state = SYNCED
            return "synced"
        # SYNCED
        if ev.u <= self.prev_u:
            return "stale"      # already applied (a duplicate delivery): nothing to do
        if ev.pu != self.prev_u:
            self._unsync()
            self.buffer.append(ev)
            return "gap"
        self._apply(ev)
        self.prev_u = ev.u
        if self._crossed():
            self._unsync()
            return "crossed"
        return "applied"

    def on_depth(self, ev) -> str:
        """Process one depth diff; returns its status."""
        if self.state == UNSYNCED:
            if len(self.buffer) >= self.buffer_events:
                self.buffer = []
                self.buffer_overflows += 1
            self.buffer.append(ev)
            return "buffered"
        return self._process(ev)

    def on_snapshot(self, snap) -> list:
        """Load a snapshot and replay the buffer; returns [(status, event)] for the buffer."""
        self.bids = {}
        self.asks = {}
        self._apply(snap)
        self.last_update_id = snap.u
        self.state = AWAITING
        pending, self.buffer = self.buffer, []
        out = []
        for ev in pending:
            # After a break inside the buffer, the rest waits for the next snapshot.
            status = self.on_depth(ev) if self.state == UNSYNCED else self._process(ev)
            out.append((status, ev))
        return out

    def reset(self) -> None:
        """Forget everything (reconnect): back to buffering, waiting for a snapshot."""
        self.bids = {}
        self.asks = {}
        self._unsync()
