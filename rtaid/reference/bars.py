"""Reference one-minute bars (indicators.md section 10).

Decision (B0), replay model of the emission rule: the bar of minute m (exchange time, [m, m + 60 000))
is emitted by the first row-producing event of the symbol with T >= m + 60 000, BEFORE
that event changes anything; at end of input the open bar is flushed.  (The live
"timer one second after the minute" cannot fire in a continuous replay.)

Decisions:
* (B1) Only events that produce an indicators row (applied bbo, trade, depth row) drive
  the bar clock; stale bookTickers and buffered/stale diffs are invisible to bars.
* (B2) A late event (T before the open bar's start) counts in the open bar, like Kyle's
  intervals; a bar is only ever opened by an event in it, so minutes without any event
  have no bar (no empty bars).
* (B3) open/high/low/close/vwap come from trades only (NaN when the minute had none;
  volume sums are then 0 and trade_count 0).
* (B4) spread_mean = arithmetic mean of S over the L1 updates applied in the bar
  (event-weighted, not time-weighted), NaN when none; mid_last = the current L1 mid when
  the bar is closed (it may come from an earlier minute), NaN without any L1 state.
* (B5) ``<x>_last`` = the value of x on the last indicators row of the bar.
Floats: prices px / 10**px_dec, volumes lots / 10**qty_dec, vwap = sum(px*qty) /
(sum(qty) * 10**px_dec), spread_mean = sum(S) / (n * 10**px_dec) -- all int / int.
"""
from __future__ import annotations

NAN = float("nan")
MINUTE_MS = 60_000


def bar_columns(raw_columns, norm_columns) -> list:
    return (["symbol", "minute_ms", "open", "high", "low", "close", "volume", "buy_volume",
             "sell_volume", "trade_count", "vwap", "spread_mean", "mid_last"]
            + [f"{c}_last" for c in raw_columns] + [f"{c}_last" for c in norm_columns])


class BarBuilder:
    def __init__(self, symbol: str, px_dec: int, qty_dec: int):
        self.symbol = symbol
        self.pscale = 10**px_dec
        self.qscale = 10**qty_dec
        self.start = None
        self._reset()

    def _reset(self) -> None:
        self.o = self.h = self.l = self.c = None
        self.vol = self.buy = self.sell = 0
        self.count = 0
        self.pq = 0
        self.spread_sum = 0
        self.spread_n = 0
        self.last_row = None
        self.last_mid = NAN

    def advance(self, T: int):
        """Call before each row event; returns the closed bar (dict) or None."""
        minute = (T // MINUTE_MS) * MINUTE_MS
        if self.start is None:
            self.start = minute
            return None
        if T >= self.start + MINUTE_MS:
            bar = self._emit()
            self.start = minute
            self._reset()
            return bar
        return None

    def on_trade(self, px: int, qty: int, d: int) -> None:
        if self.o is None:
            self.o = self.h = self.l = px
        self.h = max(self.h, px)
        self.l = min(self.l, px)
        self.c = px
        self.vol += qty
        if d > 0:
            self.buy += qty
        else:
            self.sell += qty
        self.count += 1
        self.pq += px * qty

    def on_l1(self, spread: int) -> None:
        self.spread_sum += spread
        self.spread_n += 1

    def on_row(self, row: dict, mid: float) -> None:
        self.last_row = row
        self.last_mid = mid

    def flush(self):
        if self.start is None or self.last_row is None:
            return None
        bar = self._emit()
        self.start = None
        self._reset()
        return bar

    def _emit(self) -> dict:
        px = (lambda v: NAN if v is None else v / self.pscale)
        bar = {
            "symbol": self.symbol,
            "minute_ms": self.start,
            "open": px(self.o), "high": px(self.h), "low": px(self.l), "close": px(self.c),
            "volume": self.vol / self.qscale,
            "buy_volume": self.buy / self.qscale,
            "sell_volume": self.sell / self.qscale,
            "trade_count": self.count,
            "vwap": self.pq / (self.vol * self.pscale) if self.vol else NAN,
            "spread_mean": (self.spread_sum / (self.spread_n * self.pscale)
                            if self.spread_n else NAN),
            "mid_last": self.last_mid,
        }
        row = self.last_row or {}
        from .indicators import NORM_COLUMNS, RAW_COLUMNS  # noqa: cyclic at import time
        for c in RAW_COLUMNS + NORM_COLUMNS:
            bar[f"{c}_last"] = row.get(c, NAN)
        return bar
