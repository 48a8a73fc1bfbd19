"""Candles for ``GET /fapi/v1/klines``: every trade the market prints, per minute, after a
seeded synthetic history.

A real exchange has years of klines; a fresh sim has none. Clients that need a warm-up
(rtaid's freqtrade producer sends at least 100 one-minute rows) would then wait for
100 minutes. So each market has ``history_minutes`` of synthetic one-minute candles
before its first trade: a seeded random walk (about 5 bps a minute) that ends at the
price of that first trade (or, when a client asks before any trade, at the market's
mid and the current minute). From the first trade on, candles are the market's own
trades, exactly: open/high/low/close from trade prices, volumes and trade counts summed,
taker-buy volume from the trades whose buyer is the taker. Minutes without a trade
between two traded minutes are flat candles at the previous close with zero volume,
as on Binance.

Prices stay on the instrument's tick grid and quantities on its step grid (integers
here; formatted like every other wire value).
"""
from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rtaid.sim.instruments import Instrument

MINUTE_MS = 60_000
# Binance's fixed-length intervals; 3d, 1w and 1M (calendar-aligned) are not simulated.
INTERVALS_MS = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
    "6h": 360, "8h": 480, "12h": 720, "1d": 1440,
}
MAX_LIMIT = 1500
DEFAULT_HISTORY_MINUTES = 1500
MAX_MINUTES = 100_000          # candles kept per symbol (about 70 days)
STEP_SIGMA = 0.0005            # per-minute log-return of the synthetic history


def klines_weight(params: dict) -> int:
    """Binance's request weight of /fapi/v1/klines by ``limit``."""
    try:
        limit = int(params.get("limit", 500))
    except ValueError:
        return 1
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


class Candle:
    """One minute in integers: prices in ticks, sizes in lots, notional in ticks*lots."""

    __slots__ = ("open", "high", "low", "close", "lots", "notional", "count", "buy_lots",
                 "buy_notional")

    def __init__(self, price: int) -> None:
        self.open = self.high = self.low = self.close = price
        self.lots = self.notional = self.count = self.buy_lots = self.buy_notional = 0

    def add(self, price: int, lots: int, taker_buy: bool) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.lots += lots
        self.notional += price * lots
        self.count += 1
        if taker_buy:
            self.buy_lots += lots
            self.buy_notional += price * lots


class KlineSeries:
    """One-minute candles of one symbol, and their aggregation to longer intervals.

    Parameters
    ----------
    inst : Instrument
        Grid and formatting of the symbol.
    rng : random.Random
        Source of the synthetic history (seeded by the sim).
    history_minutes : int
        Synthetic minutes before the first trade.
    """

    def __init__(self, inst: "Instrument", rng: random.Random,
                 history_minutes: int = DEFAULT_HISTORY_MINUTES) -> None:
        self.inst = inst
        self.rng = rng
        self.history_minutes = history_minutes
        self.candles: dict[int, Candle] = {}
        self.first_minute: int | None = None
        self.last_minute: int | None = None

    # ------------------------------------------------------------------ input
    def add_trade(self, t_ms: int, price: int, lots: int, buyer_is_maker: bool) -> None:
        """Count one trade (exchange time ``t_ms``) in its minute."""
        minute = t_ms - t_ms % MINUTE_MS
        if self.last_minute is None:
            self._synthesize(minute, price)
        if minute < self.last_minute:
            # a late trade (its minute already passed): it counts in the open minute, as
            # rtaid's bars count it; klines never rewrite a closed minute
            minute = self.last_minute
        candle = self.candles.get(minute)
        if candle is None:
            self._fill_flat(minute)
            candle = self.candles[minute] = Candle(price)
            self.last_minute = minute
            self._evict()
        candle.add(price, lots, not buyer_is_maker)

    def anchor(self, at_ms: int, price: int) -> None:
        """Before any trade: make the synthetic history, ending at ``price`` (ticks) in
        the minute before ``at_ms`` (the market's clock: its last event, else now)."""
        if self.last_minute is None:
            self._synthesize(at_ms - at_ms % MINUTE_MS, price)

    def _synthesize(self, first_trade_minute: int, price: int) -> None:
        rng, n = self.rng, self.history_minutes
        start = first_trade_minute - n * MINUTE_MS
        # walk backwards from the anchor so the history ends where trading starts
        closes = [float(price)]
        for _ in range(n - 1):
            closes.append(closes[-1] * math.exp(rng.gauss(0.0, STEP_SIGMA)))
        closes.reverse()
        prev_close = closes[0] * math.exp(rng.gauss(0.0, STEP_SIGMA))
        for k in range(n):
            open_ = max(1, round(prev_close))
            close = max(1, round(closes[k]))
            wick = abs(rng.gauss(0.0, STEP_SIGMA / 2)) * closes[k]
            candle = Candle(open_)
            candle.close = close
            candle.high = max(open_, close) + round(wick)
            candle.low = max(1, min(open_, close) - round(abs(rng.gauss(0.0, STEP_SIGMA / 2)) * closes[k]))
            candle.count = rng.randint(20, 400)
            candle.lots = sum(rng.randint(1, 50) for _ in range(8)) * candle.count // 8
            candle.buy_lots = candle.lots * rng.randint(30, 70) // 100
            mid = (open_ + close) // 2
            candle.notional = mid * candle.lots
            candle.buy_notional = mid * candle.buy_lots
            self.candles[start + k * MINUTE_MS] = candle
            prev_close = closes[k]
        self.first_minute = start
        self.last_minute = first_trade_minute - MINUTE_MS if n else None

    def _fill_flat(self, minute: int) -> None:
        last = self.last_minute
        if last is None:
            if self.first_minute is None:
                self.first_minute = minute
            return
        prev = self.candles.get(last)
        m = last + MINUTE_MS
        while prev is not None and m < minute:
            self.candles[m] = Candle(prev.close)
            m += MINUTE_MS

    def _evict(self) -> None:
        while len(self.candles) > MAX_MINUTES:
            self.candles.pop(self.first_minute, None)
            self.first_minute += MINUTE_MS

    # ------------------------------------------------------------------ output
    def klines(self, interval: str, start_ms: int | None, end_ms: int | None,
               limit: int) -> list[list]:
        """Binance's kline rows, oldest first: with ``start_ms`` the first ``limit``
        candles opening at or after it, else the last ``limit`` opening at or before
        ``end_ms`` (default: the newest)."""
        if self.first_minute is None or self.last_minute is None:
            return []
        span = INTERVALS_MS[interval] * MINUTE_MS
        first = self.first_minute - self.first_minute % span
        last = self.last_minute - self.last_minute % span
        if start_ms is not None:
            lo = max(first, start_ms + (-start_ms) % span)
            hi = last if end_ms is None else min(last, end_ms - end_ms % span)
            opens = range(lo, hi + 1, span)[:limit]
        else:
            hi = last if end_ms is None else min(last, end_ms - end_ms % span)
            opens = range(first, hi + 1, span)[-limit:]
        return [self._row(t, span) for t in opens]

    def _row(self, open_ms: int, span: int) -> list:
        inst = self.inst
        parts = [c for m in range(open_ms, open_ms + span, MINUTE_MS)
                 if (c := self.candles.get(m)) is not None]
        o, c = parts[0].open, parts[-1].close
        high = max(p.high for p in parts)
        low = min(p.low for p in parts)
        lots = sum(p.lots for p in parts)
        buy = sum(p.buy_lots for p in parts)
        return [open_ms, inst.fmt_price(o), inst.fmt_price(high), inst.fmt_price(low),
                inst.fmt_price(c), inst.fmt_qty(lots), open_ms + span - 1,
                self._fmt_notional(sum(p.notional for p in parts)),
                sum(p.count for p in parts), inst.fmt_qty(buy),
                self._fmt_notional(sum(p.buy_notional for p in parts)), "0"]

    def _fmt_notional(self, ticks_lots: int) -> str:
        inst = self.inst
        units = ticks_lots * inst.tick_units * inst.step_units
        decimals = inst.pp + inst.qp
        whole, frac = divmod(units, 10**decimals)
        return f"{whole}.{frac:0{decimals}d}" if decimals else str(whole)
