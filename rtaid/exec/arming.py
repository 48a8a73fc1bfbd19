"""Arming the ccxt and binance venues' C order path (rtaid/exec/fastpath.pyx) from the
order manager's own decisions.

After every decision for a symbol the service re-arms it: for each target the strategy
may switch to (-1, 0, +1 times ``strategy.order_qty``), ``OrderManager.plan`` says what
the manager would place (or nothing), and the venue writes that order's request
template. Whatever may change what the manager decides disarms the symbol first, at
once (an answer, a fill, a position, a state change, a reload, an order a
reconciliation adopts or finds gone): until the next decision re-arms it (or, for an
answer, a fill or a rejection, the manager has taken it in: re-armed at once, before the
decision that follows a callback later), a target change goes the Python way (the same
transport, in the same loop turn).
"""
from __future__ import annotations

import time


class Arming:
    """Arm and disarm the C order path for an :class:`ExecutionService`."""

    def __init__(self, service) -> None:
        self.service = service
        self.venue = service.venue
        self.fast = service.venue.fast

    def disarm(self, symbol: str | None = None) -> None:
        inst = self.service.instruments.get(symbol) if symbol is not None else None
        if symbol is not None and inst is None:
            return
        self.fast.disarm(inst.sym if inst is not None else -1)

    def rearm(self, symbol: str) -> None:
        """Arm ``symbol`` with the manager's plans for the next target change."""
        service = self.service
        inst = service.instruments.get(symbol)
        if inst is None:
            return
        self.fast.disarm(inst.sym)
        if not self.fast.connected or service.state.state == "halted":
            return
        from rtaid.exec.service import symbol_section

        qty = symbol_section(service.config, symbol, "strategy").order_qty
        limits = service.limits(symbol)
        now_ms = time.time_ns() // 1_000_000
        for target in (-1, 0, 1):
            target_qty = target * qty
            order = service.manager.plan(symbol, inst.lots(target_qty), now_ms)
            if order is not None:
                self.venue.arm(symbol, target, target_qty, order, limits)
