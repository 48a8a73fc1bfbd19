"""Synthetic market: a stochastic order-flow model driving a `SymbolMarket`'s book.

The fair price follows a mean-reverting (Ornstein-Uhlenbeck) walk with rare jumps;
limit orders arrive around it, cancels prefer stale quotes (those on the wrong side of
fair), and market orders lean towards fair, so the book follows the fair price.
"""
from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass

from rtaid.sim.book import ASK, BID
from rtaid.sim.logs import LazyLogger
from rtaid.sim.market import SymbolMarket

log = LazyLogger("rtaid.sim.synthetic")


@dataclass
class FlowParams:
    """Order-flow model knobs (probabilities per event, distances in ticks)."""

    p_market: float = 0.12
    p_limit: float = 0.50  # the rest are cancels
    mean_distance: float = 3.0
    reversion: float = 0.0005
    volatility: float = 0.8
    jump_prob: float = 0.001
    jump_ticks: float = 25.0
    level_notional: float = 40_000.0
    take_notional: float = 15_000.0


class OrderFlowModel:
    """Generates book events for one symbol.

    Parameters
    ----------
    market : SymbolMarket
        The market whose book it drives.
    rng : random.Random
        Randomness (seed it for reproducible runs).
    levels : int
        Target book depth per side.
    params : FlowParams, optional
        Model knobs.
    """

    def __init__(self, market: SymbolMarket, rng: random.Random, levels: int = 200,
                 params: FlowParams | None = None) -> None:
        self.market = market
        self.rng = rng
        self.levels = max(levels, 5)
        self.p = params or FlowParams()
        inst = market.inst
        self.anchor = float(inst.parse_price(inst.spec.initial_price))
        self.fair = self.anchor
        price = inst.price_float(int(self.anchor))
        self.level_lots = max(1.0, self.p.level_notional / (price * inst.step))
        self.take_lots = max(1.0, self.p.take_notional / (price * inst.step))

    def _size(self, mean: float) -> int:
        return max(1, int(self.rng.expovariate(1.0 / mean)))

    def seed_book(self) -> None:
        """Fill both sides around the initial price (before any subscriber exists)."""
        mid = int(self.anchor)
        changes = []
        for k in range(self.levels):
            changes.append((BID, mid - 1 - k, self._size(self.level_lots)))
            changes.append((ASK, mid + k, self._size(self.level_lots)))
        first, last = self.market.allocate_ids(len(changes))
        self.market.apply(changes, first, last)

    def step(self) -> None:
        """Advance the fair price and apply one order-flow event."""
        rng, p = self.rng, self.p
        self.fair += -p.reversion * (self.fair - self.anchor) + p.volatility * rng.gauss(0.0, 1.0)
        if rng.random() < p.jump_prob:
            self.fair += rng.choice((-1, 1)) * rng.expovariate(1.0 / p.jump_ticks)
        book = self.market.book
        bb, ba = book.bids.best(), book.asks.best()
        if bb is None or ba is None:
            self.seed_book()
            return
        mid = (bb + ba) / 2.0
        r = rng.random()
        # Stale quotes get picked off: fair well beyond the touch draws aggressive flow.
        stale = self.fair > ba + 2 or self.fair < bb - 2
        if r < p.p_market or (stale and r < 0.5):
            self._market_order(mid)
        elif r < p.p_market + p.p_limit:
            self._limit_order(bb, ba)
        else:
            self._cancel(bb, ba)

    def _market_order(self, mid: float) -> None:
        lean = max(-0.45, min(0.45, (self.fair - mid) / 4.0))
        side = "BUY" if self.rng.random() < 0.5 + lean else "SELL"
        book_side = self.market.book.asks if side == "BUY" else self.market.book.bids
        # Never empty a side: at most everything but the last known level.
        prices = book_side.prices(8)
        cap = sum(book_side.qty[x] for x in prices[:-1]) if len(prices) > 1 else 0
        lots = min(self._size(self.take_lots), cap)
        if lots > 0:
            self.market.take(side, lots, own=False)

    def _distance(self, depth: int) -> int:
        # Most arrivals near the touch, the rest spread over the whole depth (keeps it filled).
        if self.rng.random() < 0.6 and depth >= self.levels // 2:
            return int(self.rng.expovariate(1.0 / self.p.mean_distance))
        return self.rng.randrange(self.levels)

    def _limit_order(self, bb: int, ba: int) -> None:
        rng = self.rng
        book = self.market.book
        if rng.random() < 0.5:
            side, book_side = BID, book.bids
            price = min(math.floor(self.fair - 0.5), ba - 1) - self._distance(len(book_side))
        else:
            side, book_side = ASK, book.asks
            price = max(math.ceil(self.fair + 0.5), bb + 1) + self._distance(len(book_side))
        if price <= 0:
            return
        changes = [(side, price, book_side.qty.get(price, 0) + self._size(self.level_lots / 3))]
        if len(book_side) >= self.levels * 1.2:
            changes.append((side, book_side.worst(), 0))
        self._apply(changes)

    def _cancel(self, bb: int, ba: int) -> None:
        rng = self.rng
        book = self.market.book
        if self.fair < bb - 2 and len(book.bids) > 1 and rng.random() < 0.5:
            changes = [(BID, bb, 0)]
        elif self.fair > ba + 2 and len(book.asks) > 1 and rng.random() < 0.5:
            changes = [(ASK, ba, 0)]
        else:
            side, book_side = (BID, book.bids) if rng.random() < 0.5 else (ASK, book.asks)
            n = len(book_side)
            if n < 2:
                return
            price = book_side.prices()[rng.randrange(n)]
            qty = book_side.qty[price]
            # Deletions only where the side is deep enough, partial cancels elsewhere.
            delete = qty <= 1 or (rng.random() < 0.25 and n > self.levels // 2)
            changes = [(side, price, 0 if delete else rng.randrange(1, qty))]
        self._apply(changes)

    def _apply(self, changes) -> None:
        first, last = self.market.allocate_ids(len(changes))
        self.market.apply(changes, first, last)


class SyntheticDriver:
    """Runs an `OrderFlowModel` at ``rate`` events per second, in small batches.

    Parameters
    ----------
    model : OrderFlowModel
        The model to step.
    rate : float
        Target events per second.
    max_batch : int
        Most events generated in one loop turn; when the loop falls behind further the
        backlog is dropped rather than letting the event loop starve.
    """

    def __init__(self, model: OrderFlowModel, rate: float, max_batch: int = 2000) -> None:
        self.model = model
        self.rate = rate
        self.max_batch = max_batch
        self.generated = 0
        self.paused = False

    async def run(self) -> None:
        if self.rate <= 0:
            return
        sleep_s = max(0.001, min(0.05, 1.0 / self.rate))
        start = time.monotonic()
        done = 0
        while True:
            await asyncio.sleep(sleep_s)
            due = int((time.monotonic() - start) * self.rate) - done
            if due > self.max_batch:
                done += due - self.max_batch
                due = self.max_batch
            if self.paused:
                done += due
                continue
            step = self.model.step
            for _ in range(due):
                step()
            done += due
            self.generated += due
