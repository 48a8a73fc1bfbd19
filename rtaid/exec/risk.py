"""Pre-trade risk: synchronous, cheap checks every order passes before it leaves.

``[risk]`` (live on SIGHUP): max_position, max_order_qty, max_notional_usd (per
symbol), max_orders_per_minute, kill_switch, price_band_bps, max_book_age_ms; the book
must be synced and fresh; the exchange's filters (tick, step, quantity bounds, min
notional). ``max_daily_loss_usd`` halts and flattens (the service watches the PnL).
Every rejection is counted by reason; the reason names the limit (its config key's
last part) or the filter. The orders of a flatten are not checked: they only close.
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
from dataclasses import dataclass

WINDOW_MS = 60_000
KEEP_MS = 86_400_000   # order times kept for the rate window (see RiskGate.note_sent)


@dataclass(frozen=True)
class RiskLimits:
    """A symbol's effective ``[risk]`` values."""

    max_position: float
    max_order_qty: float
    max_notional_usd: float
    max_orders_per_minute: int
    max_daily_loss_usd: float
    kill_switch: bool
    price_band_bps: float
    max_book_age_ms: int

    @classmethod
    def of(cls, risk) -> "RiskLimits":
        """From a ``RiskConfig`` section (global, or a symbol's effective one)."""
        return cls(risk.max_position, risk.max_order_qty, risk.max_notional_usd,
                   risk.max_orders_per_minute, risk.max_daily_loss_usd, risk.kill_switch,
                   risk.price_band_bps, risk.max_book_age_ms)


def lots_limit(value: float, qty_dec: int) -> int:
    """A base-unit limit in lots (rounded down: a limit is never exceeded)."""
    return int(value * 10 ** qty_dec + 1e-9)


class RiskGate:
    """The checks, the order-rate window and the rejection counters."""

    def __init__(self) -> None:
        self.rejected: collections.Counter = collections.Counter()
        self._sent_ms: list[int] = []
        self._latest_ms = 0

    def check(self, inst, order, limits: RiskLimits, exposure: int, now_ms: int,
              market) -> str | None:
        """Why ``order`` must not be sent (None: it may).

        Parameters
        ----------
        inst : rtaid.exec.instruments.Instrument
        order : rtaid.exec.orders.Order
        limits : RiskLimits
        exposure : int
            Signed lots the symbol holds once its working orders fill (without ``order``).
        now_ms : int
            The decision's time (exchange time for the paper venue).
        market : MarketView
            Book state, touch and mid.
        """
        if limits.kill_switch:
            return "kill_switch"
        problem = market_problem(inst, order, limits, now_ms, market)
        if problem:
            return problem
        problem = size_problem(inst, order, limits, exposure)
        if problem:
            return problem
        ref = order.px if order.type == "limit" else market.touch(inst.sym, order.side)
        notional = inst.notional(ref, order.qty)
        if notional > limits.max_notional_usd:
            return "max_notional_usd"
        problem = filter_problem(inst, order, notional)
        if problem:
            return problem
        if self.orders_in_window(now_ms) >= limits.max_orders_per_minute:
            return "max_orders_per_minute"
        return None

    def static_problem(self, inst, order, limits: RiskLimits, exposure: int,
                       now_ms: int) -> str | None:
        """The checks of :meth:`check` that do not depend on the order's price or the
        book (the binance venue's armed plans: the rest runs in C when the order goes,
        rtaid/exec/fastpath.pyx, the twin of :func:`market_problem`, the notional cap and
        :func:`price_filter_problem`)."""
        if limits.kill_switch:
            return "kill_switch"
        problem = size_problem(inst, order, limits, exposure) or qty_filter_problem(inst, order)
        if problem:
            return problem
        if self.orders_in_window(now_ms) >= limits.max_orders_per_minute:
            return "max_orders_per_minute"
        return None

    def note_sent(self, now_ms: int) -> None:
        """An order left (any purpose): it counts in the rate window.

        Times are kept sorted and counted in (now - 60 s, now], not pruned by the latest
        time alone: a replay runs the recorded symbols one after another, and a symbol's
        window must still see the orders the others sent in it.
        """
        bisect.insort(self._sent_ms, now_ms)
        self._latest_ms = max(self._latest_ms, now_ms)
        if len(self._sent_ms) > 4096 and self._sent_ms[0] < self._latest_ms - KEEP_MS:
            del self._sent_ms[:bisect.bisect_left(self._sent_ms, self._latest_ms - KEEP_MS)]

    def orders_in_window(self, now_ms: int) -> int:
        return (bisect.bisect_right(self._sent_ms, now_ms)
                - bisect.bisect_right(self._sent_ms, now_ms - WINDOW_MS))

    def count(self, reason: str) -> None:
        self.rejected[reason] += 1


def market_problem(inst, order, limits: RiskLimits, now_ms: int, market) -> str | None:
    """The book: synced, fresh, and the order's price (a market order's: the touch it
    takes) within ``price_band_bps`` of the mid. Twin: fastpath.pyx ``send_target``."""
    sym = inst.sym
    if not market.synced(sym):
        return "book_unsynced"
    age = market.age_ms(sym, now_ms)
    if age is None or age > limits.max_book_age_ms:
        return "book_stale"
    ref = order.px if order.type == "limit" else market.touch(sym, order.side)
    mid = market.mid(sym)
    if not ref or not mid:
        return "book_unsynced"
    if abs(ref - mid) * 1e4 > limits.price_band_bps * mid:
        return "price_band"
    return None


def price_problem(inst, order, px: int, limits: RiskLimits, now_ms: int, market) -> str | None:
    """The checks of :meth:`RiskGate.check` that depend on the price, for a resting limit
    ``order`` moved to ``px`` (its quantity unchanged): the book, the band, the notional
    cap, tick and min notional."""
    moved = dataclasses.replace(order, px=px)
    problem = market_problem(inst, moved, limits, now_ms, market)
    if problem:
        return problem
    notional = inst.notional(px, moved.qty)
    if notional > limits.max_notional_usd:
        return "max_notional_usd"
    return price_filter_problem(inst, moved, notional)


def size_problem(inst, order, limits: RiskLimits, exposure: int) -> str | None:
    """``max_order_qty``, and ``max_position`` for an order that grows the exposure."""
    if order.qty > lots_limit(limits.max_order_qty, inst.qty_dec):
        return "max_order_qty"
    after = exposure + order.side * order.qty
    if abs(after) > abs(exposure) and abs(after) > lots_limit(limits.max_position, inst.qty_dec):
        return "max_position"
    return None


def filter_problem(inst, order, notional: float) -> str | None:
    """The exchange filter ``order`` breaks (None: none)."""
    return qty_filter_problem(inst, order) or price_filter_problem(inst, order, notional)


def qty_filter_problem(inst, order) -> str | None:
    if order.qty <= 0 or order.qty % inst.step:
        return "step_size"
    if inst.min_qty and order.qty < inst.min_qty:
        return "min_qty"
    limit = inst.max_lots(order.type == "market")
    if limit and order.qty > limit:
        return "max_qty"
    return None


def price_filter_problem(inst, order, notional: float) -> str | None:
    """Tick and min notional (twin: fastpath.pyx ``send_target``)."""
    if order.type == "limit" and order.px % inst.tick:
        return "tick_size"
    if inst.min_notional and not order.reduce_only and notional < inst.min_notional:
        return "min_notional"
    return None
