"""Price-level order book in integer ticks and lots."""
from __future__ import annotations

from bisect import bisect_left, insort

BID = 0
ASK = 1


class BookSide:
    """One side: level sizes by price plus a sorted key list whose index 0 is the best.

    Bids are keyed by negated price so both sides sort best-first ascending.
    """

    __slots__ = ("sign", "qty", "_keys")

    def __init__(self, is_bid: bool) -> None:
        self.sign = -1 if is_bid else 1
        self.qty: dict[int, int] = {}
        self._keys: list[int] = []

    def __len__(self) -> int:
        return len(self.qty)

    def set(self, price: int, lots: int) -> None:
        """Set the absolute size of a level; ``lots == 0`` deletes it."""
        key = price * self.sign
        if lots > 0:
            if price not in self.qty:
                insort(self._keys, key)
            self.qty[price] = lots
        elif price in self.qty:
            del self.qty[price]
            del self._keys[bisect_left(self._keys, key)]

    def best(self) -> int | None:
        return self._keys[0] * self.sign if self._keys else None

    def worst(self) -> int | None:
        return self._keys[-1] * self.sign if self._keys else None

    def prices(self, limit: int | None = None) -> list[int]:
        """Prices best first."""
        keys = self._keys if limit is None else self._keys[:limit]
        s = self.sign
        return [k * s for k in keys]

    def levels(self, limit: int | None = None) -> list[tuple[int, int]]:
        qty = self.qty
        return [(p, qty[p]) for p in self.prices(limit)]

    def clear(self) -> None:
        self.qty.clear()
        self._keys.clear()


class OrderBook:
    """Both sides of one symbol's book plus the update id it reflects."""

    __slots__ = ("bids", "asks", "last_update_id")

    def __init__(self) -> None:
        self.bids = BookSide(True)
        self.asks = BookSide(False)
        self.last_update_id = 0

    def side(self, side: int) -> BookSide:
        return self.bids if side == BID else self.asks

    def best_bid(self) -> tuple[int, int] | None:
        p = self.bids.best()
        return None if p is None else (p, self.bids.qty[p])

    def best_ask(self) -> tuple[int, int] | None:
        p = self.asks.best()
        return None if p is None else (p, self.asks.qty[p])

    def is_crossed(self) -> bool:
        b, a = self.bids.best(), self.asks.best()
        return b is not None and a is not None and b >= a
