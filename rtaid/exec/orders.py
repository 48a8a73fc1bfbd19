"""Target-position reconciliation: the synchronous core of the execution layer.

For each symbol the manager knows the strategy's target (signed lots), the position
(:class:`rtaid.exec.pnl.PnlBook`) and the working orders, and :meth:`OrderManager.decide`
turns the difference into intents (place, cancel) for the venue. It never trades a
quantity twice: an order whose answer is pending blocks its symbol, working orders count
towards the target, and anything else (a lost fill, a reject, a restart) shows as a
difference at the next decision and is traded then, once.

Rules of :meth:`~OrderManager.decide`, in order:

The position a decision starts from is the booked one plus what the venue reports
filled and no fill has brought yet (:meth:`OrderManager.unbooked_lots`: a fill the user
stream lost, or one still on its way), so an order the venue filled is never bought
again while its fill is missing.

1. While the venue asks to be left alone (HTTP 429) or an order's answer is pending:
   nothing.
2. ``halted``: cancel every working order but a flatten's; a symbol being flattened gets
   reduce-only market orders until its position is zero.
3. A symbol the strategy has not decided on since start is not traded (the venue's
   position is adopted and held; orders left by a previous run are cancelled).
4. ``reducing``: the target is clamped so that orders only shrink the position.
5. Resting limit orders older than ``execution.order_timeout_ms`` are cancelled; with a
   venue that moves orders (the binance venue, ``order.modify``: :attr:`OrderManager.reprice`)
   they are moved to the touch instead, once rule 6 keeps them (one still at the touch
   stays and its timeout starts again; one the price checks refuse at the new touch is
   cancelled).
6. Working orders that go the wrong way or beyond the target are cancelled (all of them;
   nothing new is placed until the cancels are answered); working orders short of it
   stay (a target larger than ``risk.max_order_qty`` is worked in several orders).
7. One order for what the working orders leave to do, at most ``risk.max_order_qty``
   (and the exchange's maximum), rounded down to the step; priced at the touch (a GTX
   order at its own side, other limits at the side they take); reduce-only when, after
   the working orders, it only shrinks the position; checked by
   :class:`rtaid.exec.risk.RiskGate` (the position limit counts the working orders). A
   rejection is recorded and counted once until something changes; after a venue
   rejection the symbol waits :data:`REJECT_COOLOFF_MS`.

Time is the caller's clock (``now_ms``): exchange time for the paper venue, so that a
replay decides exactly what the live run decided.
"""
from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

from rtaid.exec.risk import lots_limit, price_problem
from rtaid.exec.state import HALTED, REDUCING

OPEN_STATUSES = ("sent", "accepted", "partially_filled")
_RANK = {"sent": 0, "accepted": 1, "partially_filled": 2}
TERMINAL_STATUSES = ("filled", "canceled", "rejected", "expired", "failed")
REJECT_COOLOFF_MS = 1000
KEEP_DONE = 2048          # terminal orders kept for late venue messages


DEFERRED_STAGE = "tick_to_deferred_order"


@dataclass(frozen=True)
class Cause:
    """The frame behind a decision: exchange time, receive time, monotonic stamp
    (0 outside the live feed), for the tables and the tick-to-order latency.
    ``deferred``: its frame's own turn placed no order (an answer pending, a cancel
    first, a hold): the order a later event places for it waited for that event."""

    ts_ms: int
    recv_ns: int = 0
    mono_ns: int = 0
    deferred: bool = False


def record_tick_to_order(latency: dict, cause: Cause | None, end_ns: int, *stages: str) -> None:
    """``end_ns`` (monotonic) minus the cause frame's stamp into ``stages`` (the venue's
    tick-to-order histograms), or into :data:`DEFERRED_STAGE` alone for a deferred cause:
    that order waited for another event (mostly the previous order's answer, a round
    trip), which is not the reaction of the path the tick-to-order figures time."""
    if cause is None or not cause.mono_ns:
        return
    for stage in (DEFERRED_STAGE,) if cause.deferred else stages:
        latency[stage].record(end_ns - cause.mono_ns)


@dataclass(eq=False)
class Order:
    """One order as this program knows it (prices in units, quantities in lots)."""

    client_id: str
    symbol: str
    sym: int
    side: int                 # +1 buy, -1 sell
    type: str                 # market | limit
    tif: str                  # GTC | IOC | FOK | GTX
    px: int                   # limit price (0: market)
    qty: int
    reduce_only: bool
    purpose: str              # target | flatten | adopted
    created_ms: int
    cause: Cause | None = None
    status: str = "sent"
    filled: int = 0           # cumulative lots the venue reports filled
    venue_id: int = 0
    fills_qty: int = 0        # lots booked as fills (deduplicates venue messages)
    fills_quote: float = 0.0  # sum of price units x lots booked
    cancel_requested: bool = False
    inflight: bool = False    # the venue has not answered the send (or its resolution)
    reprice_px: int = 0       # the price a move (order.modify) asks for

    @property
    def remaining(self) -> int:
        return max(self.qty - self.filled, 0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Intent(NamedTuple):
    """What the venue must do: ``place``, ``cancel`` or ``modify`` (move to
    ``order.reprice_px``) ``order``."""

    action: str
    order: Order


def reducing_target(target: int, position: int) -> int:
    """The target an only-reducing state allows: towards zero, never across it."""
    if position > 0:
        return min(max(target, 0), position)
    if position < 0:
        return max(min(target, 0), position)
    return 0


class OrderManager:
    """Targets, working orders and decisions for every symbol.

    Parameters
    ----------
    symbols : sequence of str
    instruments : dict of str to Instrument
        Grids (filled in as symbols' decimals become known).
    settings : rtaid.infra.config.ExecutionConfig
    limits : callable(symbol) -> RiskLimits
    state : rtaid.exec.state.TradingState
    risk : rtaid.exec.risk.RiskGate
    pnl : rtaid.exec.pnl.PnlBook
    ids : rtaid.exec.ids.ClientIds
    recorder : rtaid.exec.records.ExecRecorder
    market : MarketView
        By symbol index: ``synced(sym)``, ``age_ms(sym, now_ms)``, ``touch(sym, side)``
        (the price a ``side`` order takes), ``own_touch(sym, side)``, ``mid(sym)``.
    """

    def __init__(self, symbols, instruments, settings, limits, state, risk, pnl, ids, recorder,
                 market) -> None:
        self.instruments = instruments
        self.settings = settings
        self.limits = limits
        self.state = state
        self.risk = risk
        self.pnl = pnl
        self.ids = ids
        self.recorder = recorder
        self.market = market
        self.targets: dict[str, int | None] = {s: None for s in symbols}
        self.strategy_targets: dict[str, int | None] = {s: None for s in symbols}
        self.causes: dict[str, Cause | None] = {s: None for s in symbols}
        self.open: dict[str, dict[str, Order]] = {s: {} for s in symbols}
        self.by_id: dict[str, Order] = {}
        self.unbooked: dict[str, Order] = {}     # filled at the venue beyond the fills booked
        self._done: collections.deque = collections.deque()
        self.hold_until_ms = 0
        self.retry_at: dict[str, int] = {s: 0 for s in symbols}
        self._last_rejection: dict[str, tuple | None] = {s: None for s in symbols}
        self.counts: collections.Counter = collections.Counter()
        # the venue moves resting orders (order.modify): rule 5 moves instead of cancelling
        self.reprice = False

    # ------------------------------------------------------------------ inputs
    def set_target(self, symbol: str, lots: int, strategy_target: int, cause: Cause) -> None:
        """The strategy's target changed (signed lots; its -1/0/+1)."""
        self.targets[symbol] = lots
        self.strategy_targets[symbol] = strategy_target
        self.causes[symbol] = cause
        self._last_rejection[symbol] = None

    def frame_handled(self, symbol: str) -> None:
        """The decision in the turn of the target's frame is over: if it placed no order
        for the target, the order a later decision places carries a deferred cause."""
        cause = self.causes[symbol]
        if cause is not None and not cause.deferred:
            self.causes[symbol] = dataclasses.replace(cause, deferred=True)

    def working(self, symbol: str) -> int:
        """Signed lots the working orders of ``symbol`` still add."""
        return sum(o.side * o.remaining for o in self.open[symbol].values())

    def unbooked_lots(self, symbol: str) -> int:
        """Signed lots the venue reports filled on orders of ``symbol`` and no fill
        booked yet."""
        return sum(o.side * (o.filled - o.fills_qty) for o in self.unbooked.values()
                   if o.symbol == symbol)

    def held(self, symbol: str) -> int:
        """The position the venue has: booked plus unbooked fills."""
        return self.pnl.position(symbol) + self.unbooked_lots(symbol)

    # ------------------------------------------------------------------ decisions
    def decide(self, symbol: str, now_ms: int) -> list[Intent]:
        """What to do now for ``symbol`` (see the module's rules)."""
        if now_ms < self.hold_until_ms:
            return []
        orders = list(self.open[symbol].values())
        if any(o.inflight for o in orders):
            return []
        position = self.held(symbol)
        if self.state.state == HALTED:
            return self._halted(symbol, orders, position, now_ms)
        target = self.targets[symbol]
        if target is None:
            return [self._cancel(o) for o in orders
                    if o.purpose == "adopted" and not o.cancel_requested]
        if self.state.state == REDUCING:
            target = reducing_target(target, position)
        timeout = self.settings.order_timeout_ms
        stale = [o for o in orders if timeout and o.type == "limit" and not o.cancel_requested
                 and now_ms - o.created_ms >= timeout]
        if stale and not self.reprice:
            return [self._cancel(o) for o in stale]
        if any(o.cancel_requested for o in orders):
            return []
        gap, working = target - position, self.working(symbol)
        if (working and (working > 0) != (gap > 0)) or abs(working) > abs(gap):
            return [self._cancel(o) for o in orders]
        if stale:
            return self._reprice(stale, now_ms)
        if working == gap:
            return []
        if now_ms < self.retry_at[symbol]:
            return []
        order = self._new_order(symbol, gap - working, position + working, now_ms)
        return [Intent("place", order)] if order is not None else []

    def _reprice(self, orders: list[Order], now_ms: int) -> list[Intent]:
        """Rule 5 with a venue that moves orders: each stale order to its touch."""
        intents = []
        for o in orders:
            inst = self.instruments[o.symbol]
            px = (self.market.own_touch(inst.sym, o.side) if o.tif == "GTX"
                  else self.market.touch(inst.sym, o.side)) or 0
            if px == o.px:
                o.created_ms = now_ms           # still at the touch: it keeps its place
                continue
            limits = self.limits(o.symbol)
            if not px or price_problem(inst, o, px, limits, now_ms, self.market):
                intents.append(self._cancel(o))
                continue
            if self.risk.orders_in_window(now_ms) >= limits.max_orders_per_minute:
                continue                        # a move counts as an order: later
            o.reprice_px = px
            intents.append(Intent("modify", o))
        return intents

    def _halted(self, symbol, orders, position, now_ms) -> list[Intent]:
        intents = [self._cancel(o) for o in orders
                   if o.purpose != "flatten" and not o.cancel_requested]
        if intents or any(o.cancel_requested for o in orders):
            return intents
        if symbol not in self.state.flatten or position == 0 or orders:
            return []
        inst = self.instruments[symbol]
        qty = inst.floor_qty(min(abs(position), inst.max_lots(True) or abs(position)))
        if qty <= 0:
            return []       # dust below the step cannot be traded
        order = self._order(symbol, -1 if position > 0 else 1, qty, "market", 0, True,
                            "flatten", now_ms)
        self._register(order)
        return [Intent("place", order)]

    def _shape(self, symbol: str, diff: int, position: int) -> tuple:
        """``(side, qty, type, tif, reduce_only)`` of an order for ``diff`` lots from
        ``position`` (held plus working)."""
        inst = self.instruments[symbol]
        limits = self.limits(symbol)
        side = 1 if diff > 0 else -1
        qty = abs(diff)
        max_lots = lots_limit(limits.max_order_qty, inst.qty_dec)
        if max_lots >= inst.step:     # below one step the check below says why
            qty = min(qty, max_lots)
        otype = self.settings.order_type
        exchange_max = inst.max_lots(otype == "market")
        if exchange_max:
            qty = min(qty, exchange_max)
        qty = inst.floor_qty(qty) or qty     # a sub-step quantity: the filter check names it
        reduce_only = position != 0 and side == (-1 if position > 0 else 1) and qty <= abs(position)
        tif = self.settings.time_in_force if otype == "limit" else "GTC"
        return side, qty, otype, tif, reduce_only

    def _new_order(self, symbol: str, diff: int, position: int, now_ms: int) -> Order | None:
        """An order for ``diff`` lots from ``position`` (held plus working)."""
        inst = self.instruments[symbol]
        limits = self.limits(symbol)
        side, qty, otype, tif, reduce_only = self._shape(symbol, diff, position)
        px = 0
        if otype == "limit":
            touch = (self.market.own_touch(inst.sym, side) if tif == "GTX"
                     else self.market.touch(inst.sym, side))
            px = touch or 0
        order = self._order(symbol, side, qty, otype, px, reduce_only, "target", now_ms, tif)
        reason = self.risk.check(inst, order, limits, position, now_ms, self.market)
        if reason is not None:
            key = (reason, side, qty, self.targets[symbol])
            if key != self._last_rejection[symbol]:
                self._last_rejection[symbol] = key
                self._reject(order, reason, now_ms, order.cause.recv_ns if order.cause else 0)
            return None
        self._last_rejection[symbol] = None
        self.causes[symbol] = None      # the target's first order carries its frame
        self._register(order)
        return order

    def plan(self, symbol: str, target: int, now_ms: int) -> Order | None:
        """The order :meth:`decide` would place now if the target became ``target``
        lots, as far as it does not depend on the market (no price; the client id it
        would take next), or None when it would place nothing or decide otherwise
        (orders working, a hold, a halt, a rejection cool-off, a static risk check).
        No side effect. The binance venue arms its C order path with it
        (rtaid/exec/fastpath.pyx); the market checks run there."""
        if now_ms < self.hold_until_ms or now_ms < self.retry_at[symbol]:
            return None
        if self.open[symbol] or self.state.state == HALTED:
            return None
        position = self.held(symbol)
        if self.state.state == REDUCING:
            target = reducing_target(target, position)
        gap = target - position
        if gap == 0:
            return None
        inst = self.instruments[symbol]
        side, qty, otype, tif, reduce_only = self._shape(symbol, gap, position)
        order = Order(self.ids.peek(inst.sym, now_ms), symbol, inst.sym, side, otype, tif, 0,
                      qty, reduce_only, "target", now_ms)
        if self.risk.static_problem(inst, order, self.limits(symbol), position, now_ms):
            return None
        return order

    def _order(self, symbol, side, qty, otype, px, reduce_only, purpose, now_ms,
               tif="GTC") -> Order:
        inst = self.instruments[symbol]
        cause = self.causes[symbol] if purpose == "target" else None
        return Order(self.ids.next(inst.sym, now_ms), symbol, inst.sym, side, otype, tif, px,
                     qty, reduce_only, purpose, now_ms, cause)

    def _register(self, order: Order) -> None:
        self.open[order.symbol][order.client_id] = order
        self.by_id[order.client_id] = order

    def track(self, order: Order) -> None:
        """Follow an order the venue sent without a decision of this manager (the
        binance venue's C path, when the decision differed from its plan)."""
        self._register(order)

    def _cancel(self, order: Order) -> Intent:
        order.cancel_requested = True
        return Intent("cancel", order)

    # ------------------------------------------------------------------ venue feedback
    def sent(self, order: Order, ts_ms: int, recv_ns: int) -> None:
        """The order was handed to the venue."""
        self.risk.note_sent(ts_ms)
        self.counts["sent"] += 1
        self.recorder.order(order, ts_ms, recv_ns)

    def modified(self, order: Order, px: int, now_ms: int, ts_ms: int, recv_ns: int) -> None:
        """The venue moved ``order`` to ``px`` (its timeout starts again at ``now_ms``):
        a row with the new price, reason ``modified``."""
        order.px = px
        order.created_ms = now_ms
        self.risk.note_sent(now_ms)
        self.counts["modified"] += 1
        self.recorder.order(order, ts_ms, recv_ns, "modified")

    def rejected(self, order: Order, reason: str, ts_ms: int, recv_ns: int,
                 cooloff_from_ms: int | None = None) -> None:
        """The venue refused the order (it never worked)."""
        self._reject(order, reason, ts_ms, recv_ns)
        if cooloff_from_ms is not None:
            self.retry_at[order.symbol] = cooloff_from_ms + REJECT_COOLOFF_MS

    def _reject(self, order: Order, reason: str, ts_ms: int, recv_ns: int) -> None:
        order.inflight = False
        order.status = "rejected"
        self.risk.count(reason)
        self.counts["rejected"] += 1
        self.recorder.order(order, ts_ms, recv_ns, reason)
        self._retire(order)

    def update(self, order: Order, status: str, filled: int, ts_ms: int, recv_ns: int,
               venue_id: int = 0, reason: str = "") -> None:
        """The venue reports ``status`` with ``filled`` lots cumulated: record a change.

        Statuses only move forward (a terminal status stays, except ``failed``, which
        a later answer of the venue resolves); the filled quantity never shrinks.
        """
        if venue_id:
            order.venue_id = venue_id
        filled = max(filled, order.filled)
        if order.status in TERMINAL_STATUSES and order.status != "failed":
            if status == order.status and filled == order.filled:
                return
            if filled == order.filled:
                return                      # a late duplicate of an earlier state
            status = "filled" if filled >= order.qty else order.status
        if status == "partially_filled" and filled >= order.qty:
            status = "filled"
        if status in _RANK and order.status in _RANK and _RANK[status] < _RANK[order.status]:
            status = order.status     # an answer older than what the stream already said
        if status == order.status and filled == order.filled:
            return
        was_open = order.is_open
        order.status, order.filled = status, filled
        self._note_unbooked(order)
        self.recorder.order(order, ts_ms, recv_ns, reason)
        if status in TERMINAL_STATUSES:
            if was_open or order.client_id in self.open[order.symbol]:
                self.counts[status] += 1
            self._retire(order)
        elif order.client_id not in self.open[order.symbol]:
            self._register(order)           # a failed order the venue has after all

    def fill(self, order: Order | None, symbol: str, client_id: str, trade_id: int, side: int,
             px: int, lots: int, fee: float, maker: bool, ts_ms: int, recv_ns: int,
             realized: float | None = None, cum: int | None = None) -> bool:
        """Book a fill; ``cum`` (the order's cumulative filled lots after it, when the
        venue says) drops a fill already booked. Returns False for a duplicate."""
        if order is not None:
            if cum is not None:
                new = cum - order.fills_qty
                if new <= 0:
                    return False
                lots = min(lots, new)
            order.fills_qty += lots
            order.fills_quote += px * lots
            self._note_unbooked(order)
        gained = self.pnl.apply_fill(symbol, side, px, lots, fee, ts_ms, realized)
        self.recorder.fill(symbol, client_id, trade_id, side, px, lots, fee, maker, gained,
                           ts_ms, recv_ns)
        if order is not None and order.fills_qty > order.filled:
            status = "filled" if order.fills_qty >= order.qty else "partially_filled"
            self.update(order, status, order.fills_qty, ts_ms, recv_ns)
        return True

    def adopt(self, symbol: str, client_id: str, side: int, otype: str, tif: str, px: int,
              qty: int, filled: int, reduce_only: bool, venue_id: int, now_ms: int) -> Order:
        """An open order of ours the venue has and this run did not place (a previous
        run's): tracked, and cancelled by the next decision."""
        order = Order(client_id, symbol, self.instruments[symbol].sym, side, otype, tif, px,
                      qty, reduce_only, "adopted", now_ms, status="accepted", filled=filled,
                      venue_id=venue_id, fills_qty=filled)
        self._register(order)
        return order

    def _note_unbooked(self, order: Order) -> None:
        if order.filled > order.fills_qty:
            self.unbooked[order.client_id] = order
        else:
            self.unbooked.pop(order.client_id, None)

    def _retire(self, order: Order) -> None:
        order.inflight = False
        if self.open[order.symbol].pop(order.client_id, None) is not None:
            self._done.append(order.client_id)
            while len(self._done) > KEEP_DONE:
                old = self._done.popleft()
                gone = self.by_id.get(old)
                if gone is not None and not gone.is_open:
                    del self.by_id[old]
