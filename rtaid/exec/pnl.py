"""Positions and PnL per symbol: average-cost accounting of fills, like the exchange's.

Realised PnL is gross of fees (the ``fills.realized_pnl`` column, the venue's ``rp``);
fees are kept apart; unrealised PnL marks the position at a price the caller gives (the
book's mid). The day's realised PnL net of fees (UTC day of the clock the fills carry:
exchange time for the paper venue) is what ``risk.max_daily_loss_usd`` watches, with
the open positions' unrealised PnL.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class SymbolPnl:
    """One symbol: signed position (lots), average entry price, realised PnL, fees."""

    position: int = 0
    entry: float = 0.0
    realized: float = 0.0
    fees: float = 0.0
    fills: int = 0


def utc_day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


class PnlBook:
    """Every symbol's :class:`SymbolPnl`, the day's net PnL and the account balance.

    Parameters
    ----------
    symbols : sequence of str
    instruments : dict of str to Instrument
        Grids (filled in as symbols' decimals become known).
    balance : float or None
        Starting balance (paper); a live venue reports it (:meth:`set_balance`).
    """

    def __init__(self, symbols, instruments: dict, balance: float | None = None) -> None:
        self.instruments = instruments
        self.symbols = {s: SymbolPnl() for s in symbols}
        self.balance = balance
        self.balance_from_venue = False
        self.day = ""
        self.day_net = 0.0

    def position(self, symbol: str) -> int:
        return self.symbols[symbol].position

    def apply_fill(self, symbol: str, side: int, px: int, lots: int, fee: float, ts_ms: int,
                   realized: float | None = None) -> float:
        """Book a fill (``side`` +1 buy / -1 sell, ``px`` price units, ``lots``); returns
        the realised PnL (the venue's when given, else average cost)."""
        inst = self.instruments[symbol]
        pos = self.symbols[symbol]
        price, signed = inst.price(px), side * lots
        computed = 0.0
        if pos.position == 0 or (pos.position > 0) == (signed > 0):
            total = pos.position + signed
            pos.entry = (pos.entry * abs(pos.position) + price * lots) / abs(total)
            pos.position = total
        else:
            closing = min(lots, abs(pos.position))
            direction = 1 if pos.position > 0 else -1
            computed = (price - pos.entry) * inst.qty(closing) * direction
            pos.position += signed
            if pos.position == 0:
                pos.entry = 0.0
            elif (pos.position > 0) != (direction > 0):
                pos.entry = price   # flipped: the rest opened at this fill
        gained = computed if realized is None else realized
        pos.realized += gained
        pos.fees += fee
        pos.fills += 1
        self.roll_day(ts_ms)
        self.day_net += gained - fee
        if self.balance is not None and not self.balance_from_venue:
            self.balance += gained - fee
        return gained

    def set_position(self, symbol: str, lots: int, entry: float) -> None:
        """Adopt the venue's position (a restart, a fill missed, a position opened
        outside this program)."""
        pos = self.symbols[symbol]
        pos.position, pos.entry = lots, (entry if lots else 0.0)

    def set_balance(self, balance: float) -> None:
        self.balance, self.balance_from_venue = balance, True

    def roll_day(self, ts_ms: int) -> None:
        day = utc_day(ts_ms)
        if day != self.day:
            self.day, self.day_net = day, 0.0

    def unrealized(self, symbol: str, mark_px: float | None) -> float:
        """Unrealised PnL at ``mark_px`` (price units; None or 0: not known -> 0)."""
        pos = self.symbols[symbol]
        if not pos.position or not mark_px:
            return 0.0
        inst = self.instruments[symbol]
        return (inst.price(mark_px) - pos.entry) * inst.qty(pos.position)
