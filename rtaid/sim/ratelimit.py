"""Request-weight and order-count limits in fixed clock-aligned windows, like Binance."""
from __future__ import annotations

import time

from rtaid.sim.errors import too_many_orders, too_much_weight


class _Window:
    __slots__ = ("seconds", "limit", "index", "used")

    def __init__(self, seconds: int, limit: int) -> None:
        self.seconds = seconds
        self.limit = limit
        self.index = -1
        self.used = 0

    def add(self, amount: int, now: float) -> int:
        index = int(now // self.seconds)
        if index != self.index:
            self.index = index
            self.used = 0
        self.used += amount
        return self.used

    def current(self, now: float) -> int:
        return self.used if int(now // self.seconds) == self.index else 0


class RateLimiter:
    """IP weight per minute, account orders per 10 s and per minute.

    Parameters
    ----------
    weight_limit_1m, order_limit_10s, order_limit_1m : int
        Limits; exceeding one answers 429 (-1003 weight, -1015 orders).
    """

    def __init__(self, weight_limit_1m: int = 2400, order_limit_10s: int = 300, order_limit_1m: int = 1200) -> None:
        self.weight = _Window(60, weight_limit_1m)
        self.orders_10s = _Window(10, order_limit_10s)
        self.orders_1m = _Window(60, order_limit_1m)
        self.rejected = 0

    def charge_weight(self, weight: int) -> int:
        """Add ``weight``; raises the 429 `BinanceError` when the minute's limit is exceeded."""
        used = self.weight.add(weight, time.time())
        if used > self.weight.limit:
            self.rejected += 1
            raise too_much_weight(self.weight.limit)
        return used

    def charge_order(self) -> None:
        now = time.time()
        n10 = self.orders_10s.add(1, now)
        n60 = self.orders_1m.add(1, now)
        if n10 > self.orders_10s.limit:
            self.rejected += 1
            raise too_many_orders(self.orders_10s.limit, "TEN_SECONDS")
        if n60 > self.orders_1m.limit:
            self.rejected += 1
            raise too_many_orders(self.orders_1m.limit, "MINUTE")

    def headers(self, with_orders: bool = False) -> dict[str, str]:
        now = time.time()
        h = {"X-MBX-USED-WEIGHT-1M": str(self.weight.current(now))}
        if with_orders:
            h["X-MBX-ORDER-COUNT-10S"] = str(self.orders_10s.current(now))
            h["X-MBX-ORDER-COUNT-1M"] = str(self.orders_1m.current(now))
        return h

    def rate_limits(self) -> list[dict]:
        """The ``rateLimits`` array of WebSocket API answers (with current counts)."""
        now = time.time()
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": self.weight.limit, "count": self.weight.current(now)},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": self.orders_10s.limit, "count": self.orders_10s.current(now)},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
             "limit": self.orders_1m.limit, "count": self.orders_1m.current(now)},
        ]
