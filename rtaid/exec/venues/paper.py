"""The paper venue: orders filled by the engine's own fill model (engine_paper.pxi), on
exchange time, against the live book and trades, with no keys.

An order works from exchange time ``submit + execution.paper_latency_ms``: a market
order walks the book, a limit order takes what is marketable and rests until trades
print through its price (maker) or until ``execution.order_timeout_ms`` of exchange time
has passed (the engine takes it off; the order is "canceled"). Fills and "done" (a
market order that ran out of book: "expired"; a timeout) come back as the engine's execution events, which the service hands to
:meth:`PaperVenue.on_event`. Fees: ``execution.taker_fee_bps`` / ``maker_fee_bps`` of
the notional. Everything here happens on the engine's thread between frames, and
decisions are taken right after the frame that caused them (the daemon handles a paper
venue's events synchronously, ``rtaid replay`` stops after each such frame), so a
replay of a live run's journal gives that run's orders and fills.

Ids: the engine's order id is ``counter << 8 | symbol index`` and trade ids count per
symbol, so that they do not depend on how the symbols' frames interleave.
"""
from __future__ import annotations

import time

from rtaid.exec.orders import record_tick_to_order

SYM_BITS = 8   # the decoder's MAX_SYMBOLS is 256


class PaperVenue:
    """Submit, cancel and fill paper orders in ``engine``.

    Parameters
    ----------
    engine : rtaid._kernels.engine.Engine
    sink : ExecutionService
        Receives ``sent`` / ``rejected`` / ``update`` / ``fill`` (see rtaid.exec.venues).
    latency : dict of str to LatencyHistogram
        ``tick_to_order`` is recorded at the submit call for orders a target change caused.
    taker_fee_bps, maker_fee_bps : float
    latency_ms : int
        ``engine.paper_latency_ms``.
    order_timeout_ms : int
        A limit order's rest is taken off after this much exchange time (0: never).
    """

    name = "paper"

    def __init__(self, engine, sink, latency: dict, taker_fee_bps: float, maker_fee_bps: float,
                 latency_ms: int, order_timeout_ms: int = 0) -> None:
        self.engine = engine
        self.order_timeout_ms = order_timeout_ms
        self.sink = sink
        self.latency = latency
        self.taker_fee = taker_fee_bps / 1e4
        self.maker_fee = maker_fee_bps / 1e4
        engine.paper_latency_ms = latency_ms
        self.orders: dict[int, object] = {}        # engine order id -> Order
        self._order_counters: dict[int, int] = {}
        self._trade_counters: dict[int, int] = {}

    def place(self, order, now_ms: int, recv_ns: int) -> None:
        n = self._order_counters.get(order.sym, 0) + 1
        self._order_counters[order.sym] = n
        paper_id = n << SYM_BITS | order.sym
        try:
            self.engine.paper_submit(paper_id, order.sym, order.side, order.type == "limit",
                                     order.px, order.qty, now_ms, self.order_timeout_ms)
        except (ValueError, OverflowError) as exc:
            self.sink.rejected(order, "paper_" + type(exc).__name__.lower(), now_ms, recv_ns,
                               venue=True, message=str(exc))
            return
        # the fill call is this venue's transport
        record_tick_to_order(self.latency, order.cause, time.monotonic_ns(), "tick_to_order")
        self.orders[paper_id] = order
        self.sink.sent(order, now_ms, recv_ns)
        self.sink.update(order, "accepted", 0, now_ms, recv_ns, venue_id=paper_id)

    def cancel(self, order, now_ms: int, recv_ns: int) -> None:
        self.engine.paper_cancel(order.venue_id)
        # None: not working any more; its fills and "done" were handed over already
        # (events are handled after each frame), so what it has is final
        self.orders.pop(order.venue_id, None)
        if order.is_open:
            self.sink.update(order, "canceled", order.filled, now_ms, recv_ns)

    def on_event(self, ev: dict) -> str | None:
        """A "fill" or "done" event; returns its symbol (None: not an order of ours)."""
        order = self.orders.get(ev["order_id"])
        if order is None:
            return None
        ts, recv = ev["ts_ms"], ev["recv_ns"]
        if ev["type"] == "fill":
            n = self._trade_counters.get(order.sym, 0) + 1
            self._trade_counters[order.sym] = n
            inst = self.sink.instruments[order.symbol]
            fee = inst.notional(ev["px"], ev["qty"]) * (self.maker_fee if ev["maker"] else self.taker_fee)
            self.sink.fill(order, order.symbol, order.client_id, n, order.side, ev["px"],
                           ev["qty"], fee, ev["maker"], ts, recv,
                           cum=order.qty - ev["remaining"])
            if ev["remaining"] == 0:
                self.orders.pop(ev["order_id"], None)
        else:
            self.orders.pop(ev["order_id"], None)
            # a timeout is the venue's cancel of the rest; "unfilled": the book ran out
            timeout = ev.get("reason") == "timeout"
            self.sink.update(order, "canceled" if timeout else "expired",
                             order.qty - ev["remaining"], ts, recv,
                             reason="order_timeout" if timeout else "")
        return order.symbol

    def working(self) -> list[dict]:
        return self.engine.paper_orders()
