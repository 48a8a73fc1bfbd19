"""Position and PnL curves from executions: average-cost accounting, marked at bar closes.

An execution is ``(time ms, signed qty, price, fee)``: the fills of the execution
issue's ``fills`` table, or, until it exists, the strategy's target changes executed
at the mid (a theoretical curve, no fees). A day has at most 1,440 bars and few
executions, so this is plain Python over small arrays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence


@dataclass
class PnlCurve:
    """Per event (an execution or a bar close), in time order.

    ``realised`` is net of fees (cumulative); ``unrealised`` marks the open position
    at the last price (``position * (price - average entry)``); ``total`` is their sum.
    """

    time_ms: list[int] = field(default_factory=list)
    position: list[float] = field(default_factory=list)
    realised: list[float] = field(default_factory=list)
    unrealised: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    fees: list[float] = field(default_factory=list)

    @property
    def final(self) -> dict[str, float]:
        """The last values (zeros when there are none)."""
        if not self.time_ms:
            return {"position": 0.0, "realised": 0.0, "unrealised": 0.0, "total": 0.0, "fees": 0.0}
        return {"position": self.position[-1], "realised": self.realised[-1],
                "unrealised": self.unrealised[-1], "total": self.total[-1], "fees": self.fees[-1]}


def pnl_curve(executions: Sequence[tuple[int, float, float, float]],
              marks: Sequence[tuple[int, float]] = (),
              realised_pnl: Sequence[float] | None = None,
              start_position: float = 0.0, start_price: float = math.nan) -> PnlCurve:
    """Build the position and PnL curve.

    Parameters
    ----------
    executions : sequence of (time_ms, qty, price, fee)
        Signed quantity (buy > 0), price, fee paid (quote currency), in time order.
    marks : sequence of (time_ms, price)
        Prices to mark the open position at (bar closes); NaN prices are skipped.
    realised_pnl : sequence of float or None, optional
        The venue's realised PnL per execution (gross of fees); where given it is used
        instead of the average-cost computation (the venue's word wins).
    start_position, start_price : float
        A position held before the first execution, and its entry price.
    """
    out = PnlCurve()
    position, avg_px = float(start_position), float(start_price)
    realised = fees = 0.0
    last_px = start_price
    events = [(t, 0, i) for i, (t, *_rest) in enumerate(executions)]
    events += [(t, 1, i) for i, (t, px) in enumerate(marks) if not math.isnan(px)]
    events.sort()  # at equal times the execution comes first: its price is the mark too
    for t, kind, i in events:
        if kind == 0:
            _, qty, px, fee = executions[i]
            gross, position, avg_px = _execute(position, avg_px, qty, px)
            venue = realised_pnl[i] if realised_pnl is not None else None
            realised += gross if venue is None else venue
            fees += fee
            last_px = px
        else:
            last_px = marks[i][1]
        unrealised = position * (last_px - avg_px) if position and not math.isnan(last_px) else 0.0
        out.time_ms.append(int(t))
        out.position.append(position)
        out.realised.append(realised - fees)
        out.unrealised.append(unrealised)
        out.total.append(realised - fees + unrealised)
        out.fees.append(fees)
    return out


def _execute(position: float, avg_px: float, qty: float, px: float) -> tuple[float, float, float]:
    """Apply one execution: ``(realised gross PnL, new position, new average entry)``."""
    if qty == 0:
        return 0.0, position, avg_px
    if position == 0 or (position > 0) == (qty > 0):
        new = position + qty
        avg = px if position == 0 else (avg_px * abs(position) + px * abs(qty)) / abs(new)
        return 0.0, new, avg
    closed = min(abs(qty), abs(position))
    gross = closed * (px - avg_px) * (1.0 if position > 0 else -1.0)
    new = position + qty
    if abs(new) < 1e-12:
        return gross, 0.0, math.nan
    if (new > 0) != (position > 0):  # reversed through zero: the rest opens at px
        return gross, new, px
    return gross, new, avg_px
