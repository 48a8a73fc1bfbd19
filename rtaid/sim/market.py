"""One symbol's market: its book, update-id sequence, and the frames every stream carries.

Both market sources (synthetic and replay) drive a `SymbolMarket`; it keeps the book,
the U/u/pu chain, bookTicker on the same sequence, trades and mark price consistent, and
it is where stream faults (skip, stall, corrupt) are applied just before fan-out.
"""
from __future__ import annotations

import asyncio
import random
import time
from typing import Callable

import orjson

from rtaid.sim.book import ASK, BID, OrderBook
from rtaid.sim.fanout import StreamHub
from rtaid.sim.instruments import Instrument
from rtaid.sim.klines import KlineSeries
from rtaid.sim.latency import LatencyRecorder

# (market, price_ticks, lots, buyer_is_maker)
TradeListener = Callable[["SymbolMarket", int, int, bool], None]

FUNDING_PERIOD_MS = 8 * 3600 * 1000
AGGREGATE_INTERVALS_MS = (100, 250, 500)


class DepthAggregate:
    """Diffs merged over one interval for ``@depth@100ms``-style streams (own pu chain)."""

    __slots__ = ("interval_ms", "streams", "changes", "first_u", "last_u", "prev_u")

    def __init__(self, interval_ms: int, streams: list[str]) -> None:
        self.interval_ms = interval_ms
        self.streams = streams
        self.changes: dict[tuple[int, int], int] = {}
        self.first_u = 0
        self.last_u = 0
        self.prev_u = 0

    def add(self, changes, first_u: int, last_u: int) -> None:
        if not self.changes:
            self.first_u = first_u
        for side, price, lots in changes:
            self.changes[(side, price)] = lots
        self.last_u = last_u


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SymbolMarket:
    """Book, sequence and stream publisher of one symbol.

    Parameters
    ----------
    inst : Instrument
        Grid and formatting of the symbol.
    hub : StreamHub
        Fan-out to subscribers.
    latency : LatencyRecorder
        Where frame-sent stamps go.
    mutable : bool
        Whether user orders consume book liquidity (synthetic) or leave the book
        alone (replay, whose book must follow the recording).
    rng : random.Random
        Source of update-id gaps.
    """

    def __init__(self, inst: Instrument, hub: StreamHub, latency: LatencyRecorder, *,
                 mutable: bool = True, rng: random.Random | None = None) -> None:
        self.inst = inst
        self.symbol = inst.symbol
        self.book = OrderBook()
        self.hub = hub
        self.latency = latency
        self.mutable = mutable
        self.rng = rng or random.Random()
        self.next_id = 0
        # First update id of the next depth event, when already known. REST snapshots report
        # it as lastUpdateId (the state is the same until that event), so a client that
        # subscribed after the last event still finds a first event with U <= L <= u.
        self.next_first_id: int | None = None
        self.trade_id = 0
        self.agg_id = 0
        self.last_trade_price: int | None = None
        self.trade_listeners: list[TradeListener] = []
        # GET /fapi/v1/klines; its synthetic history has its own seed (the symbol), so
        # it never shifts this market's update-id sequence
        self.klines = KlineSeries(inst, random.Random(inst.symbol))
        self.last_event_ms: int | None = None
        s = inst.lower
        self.s_depth0 = f"{s}@depth@0ms"
        self.s_ticker = f"{s}@bookTicker"
        self.s_trade = f"{s}@trade"
        self.s_agg = f"{s}@aggTrade"
        self.s_mark = f"{s}@markPrice@1s"
        self.s_mark_3s = f"{s}@markPrice"
        self.aggregates = [
            DepthAggregate(100, [f"{s}@depth@100ms"]),
            DepthAggregate(250, [f"{s}@depth", f"{s}@depth@250ms"]),
            DepthAggregate(500, [f"{s}@depth@500ms"]),
        ]
        self._top: tuple = ()
        # Exchange time of new events (E/T, ms): the wall clock, or a simulated clock when
        # a recording is generated faster than real time (rtaid.sim.record).
        self.clock_ms: Callable[[], int] = _now_ms
        self.events_applied = 0
        self.trades = 0
        # Fault state (see FaultController); checked only when faults_active is set.
        self.faults_active = False
        self.skip: dict[str, int] = {}
        # Pending corruptions, oldest first: [frames left, "malformed"|"truncated", stream or None].
        self.corrupt_queue: list[list] = []
        self.stalled = False
        self.stall_drop = False
        self.delisted = False        # the delist fault: no frames, REST says -1121
        self._held: list[tuple[str, bytes, int, int]] = []
        self._stall_handle: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ sequence
    def allocate_ids(self, n: int) -> tuple[int, int]:
        """Reserve ``n`` update ids; a random gap first, as real U is rarely prev u + 1."""
        first = self.next_first_id if self.next_first_id is not None else self.next_id + 1
        self.next_id = first + max(n, 1) - 1
        self.next_first_id = self.next_id + 1 + self.rng.randrange(4)
        return first, self.next_id

    def snapshot_update_id(self) -> int:
        """lastUpdateId for REST snapshots: the next event's U if known (see ``next_first_id``)."""
        nxt = self.next_first_id
        return self.book.last_update_id if nxt is None or nxt < self.book.last_update_id else nxt

    def depth_streams(self) -> list[str]:
        return [self.s_depth0] + [s for agg in self.aggregates for s in agg.streams]

    # ------------------------------------------------------------------ publishing
    def _emit(self, stream: str, data: bytes, seq: int, event_ms: int) -> None:
        if self.faults_active and self._intercept(stream, data, seq, event_ms):
            return
        if self.hub.publish(stream, data):
            self.latency.frame_sent(self.symbol, stream, seq, event_ms)

    def _intercept(self, stream: str, data: bytes, seq: int, event_ms: int) -> bool:
        """Apply active stream faults; True when the frame must not go out normally."""
        if self.stalled:
            if not self.stall_drop:
                self._held.append((stream, data, seq, event_ms))
            return True
        left = self.skip.get(stream)
        if left and self.hub.has_subscribers(stream):
            self.skip[stream] = left - 1
            self._refresh_fault_flag()
            return True
        if self.corrupt_queue:
            entry = self.corrupt_queue[0]
            if entry[2] in (None, stream) and self.hub.has_subscribers(stream):
                entry[0] -= 1
                if entry[0] <= 0:
                    self.corrupt_queue.pop(0)
                self.hub.publish_corrupt(stream, data, entry[1])
                self._refresh_fault_flag()
                return True
        return False

    def _refresh_fault_flag(self) -> None:
        self.faults_active = bool(self.stalled or self.corrupt_queue or any(self.skip.values()))

    def _depth_data(self, changes, first_u: int, last_u: int, prev_u: int, event_ms: int, tx_ms: int) -> bytes:
        fp, fq = self.inst.fmt_price, self.inst.fmt_qty
        bids = sorted((p, q) for s, p, q in changes if s == BID)
        asks = sorted((p, q) for s, p, q in changes if s == ASK)
        return orjson.dumps({
            "e": "depthUpdate", "E": event_ms, "T": tx_ms, "s": self.symbol,
            "U": first_u, "u": last_u, "pu": prev_u,
            "b": [[fp(p), fq(q)] for p, q in bids],
            "a": [[fp(p), fq(q)] for p, q in asks],
        })

    def apply(self, changes: list[tuple[int, int, int]], first_u: int, last_u: int,
              event_ms: int | None = None, tx_ms: int | None = None, *,
              data: bytes | None = None, publish_ticker: bool = True) -> None:
        """Apply one depth event (absolute level sizes) and publish it.

        ``data`` is the event's pre-serialized JSON (replay forwards recorded bytes);
        without it the frame is built here, and only if someone listens.
        """
        event_ms = self.clock_ms() if event_ms is None else event_ms
        tx_ms = event_ms if tx_ms is None else tx_ms
        bids, asks = self.book.bids, self.book.asks
        for side, price, lots in changes:
            (bids if side == BID else asks).set(price, lots)
        prev_u = self.book.last_update_id
        self.book.last_update_id = last_u
        self.last_event_ms = event_ms
        if last_u > self.next_id:
            self.next_id = last_u
        self.events_applied += 1
        for agg in self.aggregates:
            agg.add(changes, first_u, last_u)
        if data is None and (self.hub.has_subscribers(self.s_depth0) or self.faults_active):
            data = self._depth_data(changes, first_u, last_u, prev_u, event_ms, tx_ms)
        if data is not None:
            self._emit(self.s_depth0, data, last_u, event_ms)
        if publish_ticker:
            self.publish_ticker(last_u, event_ms, tx_ms)

    def publish_ticker(self, update_id: int, event_ms: int, tx_ms: int) -> None:
        """Send bookTicker if the top of book changed since the last one."""
        b, a = self.book.bids, self.book.asks
        bp, ap = b.best(), a.best()
        if bp is None or ap is None:
            return
        top = (bp, b.qty[bp], ap, a.qty[ap])
        if top == self._top:
            return
        self._top = top
        if not self.hub.has_subscribers(self.s_ticker):
            return
        i = self.inst
        data = orjson.dumps({
            "e": "bookTicker", "u": update_id, "s": self.symbol,
            "b": i.fmt_price(top[0]), "B": i.fmt_qty(top[1]), "a": i.fmt_price(top[2]), "A": i.fmt_qty(top[3]),
            "T": tx_ms, "E": event_ms,
        })
        self._emit(self.s_ticker, data, update_id, event_ms)

    def forward(self, stream: str, data: bytes, seq: int, event_ms: int) -> None:
        """Publish pre-serialized event bytes on ``stream`` (replay of recorded frames)."""
        self._emit(stream, data, seq, event_ms)

    def flush_aggregate(self, index: int, event_ms: int | None = None) -> None:
        """Publish the merged diffs of one aggregate interval (called on its timer)."""
        agg = self.aggregates[index]
        if not agg.changes:
            return
        changes = [(side, price, lots) for (side, price), lots in agg.changes.items()]
        agg.changes = {}
        event_ms = self.clock_ms() if event_ms is None else event_ms
        streams = [s for s in agg.streams if self.hub.has_subscribers(s)]
        if streams:
            data = self._depth_data(changes, agg.first_u, agg.last_u, agg.prev_u, event_ms, event_ms)
            for stream in streams:
                self._emit(stream, data, agg.last_u, event_ms)
        agg.prev_u = agg.last_u

    def publish_trade(self, price: int, lots: int, buyer_is_maker: bool, event_ms: int | None = None,
                      tx_ms: int | None = None, *, own: bool = False, data: bytes | None = None,
                      trade_id: int | None = None) -> None:
        """Publish a trade on ``@trade`` and ``@aggTrade``; resting user orders may fill on it."""
        event_ms = self.clock_ms() if event_ms is None else event_ms
        tx_ms = event_ms if tx_ms is None else tx_ms
        self.trade_id = self.trade_id + 1 if trade_id is None else trade_id
        self.agg_id += 1
        self.trades += 1
        self.last_trade_price = price
        self.last_event_ms = event_ms
        self.klines.add_trade(tx_ms, price, lots, buyer_is_maker)
        hub = self.hub
        if data is None and hub.has_subscribers(self.s_trade):
            data = orjson.dumps({
                "e": "trade", "E": event_ms, "T": tx_ms, "s": self.symbol, "t": self.trade_id,
                "p": self.inst.fmt_price(price), "q": self.inst.fmt_qty(lots), "X": "MARKET", "m": buyer_is_maker,
            })
        if data is not None:
            self._emit(self.s_trade, data, self.trade_id, event_ms)
        if hub.has_subscribers(self.s_agg):
            agg = orjson.dumps({
                "e": "aggTrade", "E": event_ms, "a": self.agg_id, "s": self.symbol,
                "p": self.inst.fmt_price(price), "q": self.inst.fmt_qty(lots),
                "f": self.trade_id, "l": self.trade_id, "T": tx_ms, "m": buyer_is_maker,
            })
            self._emit(self.s_agg, agg, self.agg_id, event_ms)
        if not own:
            for listener in self.trade_listeners:
                listener(self, price, lots, buyer_is_maker)

    def mark_price_text(self) -> str | None:
        b, a = self.book.bids.best(), self.book.asks.best()
        if b is None or a is None:
            if self.last_trade_price is None:
                return None
            b = a = self.last_trade_price
        return f"{(b + a) * self.inst.tick_units / (2 * self.inst.price_scale):.8f}"

    def mark_price(self) -> float | None:
        text = self.mark_price_text()
        return None if text is None else float(text)

    def publish_mark_price(self) -> None:
        streams = [s for s in (self.s_mark, self.s_mark_3s) if self.hub.has_subscribers(s)]
        mark = self.mark_price_text()
        if not streams or mark is None:
            return
        now = self.clock_ms()
        data = orjson.dumps({
            "e": "markPriceUpdate", "E": now, "s": self.symbol, "p": mark, "P": mark, "i": mark,
            "r": "0.00010000", "T": (now // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS,
        })
        for stream in streams:
            self._emit(stream, data, -1, now)

    # ------------------------------------------------------------------ liquidity
    def take(self, taker_side: str, lots: int, limit: int | None = None, *, dry_run: bool = False,
             own: bool = True) -> list[tuple[int, int]]:
        """Walk the opposite side for a taker of ``lots`` up to ``limit``; returns [(price, lots)].

        On a mutable market (and unless ``dry_run``) the consumed liquidity leaves the
        book as one depth event and each level prints a trade.
        """
        buying = taker_side == "BUY"
        side = self.book.asks if buying else self.book.bids
        fills: list[tuple[int, int]] = []
        remaining = lots
        for price in side.prices():
            if remaining <= 0 or (limit is not None and (price > limit if buying else price < limit)):
                break
            got = min(remaining, side.qty[price])
            fills.append((price, got))
            remaining -= got
        if dry_run or not fills or not self.mutable:
            return fills
        now = self.clock_ms()
        changes = [(ASK if buying else BID, p, side.qty[p] - q) for p, q in fills]
        first, last = self.allocate_ids(len(changes))
        for price, got in fills:
            # The taker's side is the aggressor: a buy taker means the seller was the maker.
            self.publish_trade(price, got, not buying, now, now, own=own)
        self.apply(changes, first, last, now, now)
        return fills

    # ------------------------------------------------------------------ faults
    def start_stall(self, seconds: float, drop: bool = False) -> None:
        """Stop delivering this symbol's frames for ``seconds``; held frames burst out after
        (``drop=False``, chain intact) or are lost (``drop=True``, the client sees a pu gap)."""
        self.stalled = True
        self.stall_drop = drop
        self._refresh_fault_flag()
        if self._stall_handle is not None:
            self._stall_handle.cancel()
        self._stall_handle = asyncio.get_running_loop().call_later(seconds, self.end_stall)

    def delist(self) -> None:
        """The exchange stops listing this symbol: its frames stop for good, REST answers
        -1121 Invalid symbol, exchangeInfo shows it SETTLING."""
        self.delisted = True
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None
        self.stalled = True
        self.stall_drop = True
        self._held.clear()
        self._refresh_fault_flag()

    def end_stall(self) -> None:
        if self.delisted:
            return
        self.stalled = False
        self._stall_handle = None
        self._refresh_fault_flag()
        held, self._held = self._held, []
        for stream, data, seq, event_ms in held:
            self._emit(stream, data, seq, event_ms)

    def add_skip(self, n: int = 1, stream: str | None = None) -> None:
        # Without a stream: every depth stream someone listens to (else the 0ms one), so
        # no stale skip waits for a future subscriber.
        targets = [stream] if stream else [s for s in self.depth_streams() if self.hub.has_subscribers(s)]
        for s in targets or [self.s_depth0]:
            self.skip[s] = self.skip.get(s, 0) + n
        self._refresh_fault_flag()

    def add_corrupt(self, n: int = 1, kind: str = "malformed", stream: str | None = None) -> None:
        """Corrupt the next ``n`` frames (after any corruption already pending)."""
        if n > 0:
            self.corrupt_queue.append([n, kind, stream])
        self._refresh_fault_flag()

    def clear_faults(self) -> None:
        self.skip.clear()
        self.corrupt_queue.clear()
        if self.stalled and not self.delisted:
            if self._stall_handle is not None:
                self._stall_handle.cancel()
            self.end_stall()
        self._refresh_fault_flag()

    # ------------------------------------------------------------------ views
    def depth_snapshot(self, limit: int | None, for_rest: bool = False) -> dict:
        """A ``GET /fapi/v1/depth``-shaped snapshot.

        ``lastUpdateId`` is the last applied ``u``, or with ``for_rest`` the id a syncing
        client needs (`snapshot_update_id`).
        """
        fp, fq = self.inst.fmt_price, self.inst.fmt_qty
        now = self.clock_ms()
        return {
            "lastUpdateId": self.snapshot_update_id() if for_rest else self.book.last_update_id, "E": now, "T": now,
            "bids": [[fp(p), fq(q)] for p, q in self.book.bids.levels(limit)],
            "asks": [[fp(p), fq(q)] for p, q in self.book.asks.levels(limit)],
        }
