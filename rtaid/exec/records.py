"""The ``orders`` (every state change) and ``fills`` tables, pushed from the engine's
thread through :class:`rtaid.store.push.RecordPusher`; the last rows are also kept in
memory for the status and the demo's screen."""
from __future__ import annotations

import collections

from rtaid._kernels.records import order_reason_code
from rtaid.store.push import RecordPusher

RECENT = 50


class ExecRecorder:
    """Push order and fill rows (none when the store does not keep those tables).

    Parameters
    ----------
    rings : rtaid._kernels.ring.RecordRings or None
        The store's rings.
    symbols : sequence of str
        Symbol names by engine index.
    venue : str
        ``paper``, ``ccxt`` or ``binance`` (the tables' venue column).
    """

    def __init__(self, rings, symbols, venue: str) -> None:
        names = getattr(rings, "names", ()) if rings is not None else ()
        self.orders = RecordPusher(rings, "orders", symbols) if "orders" in names else None
        self.fills = RecordPusher(rings, "fills", symbols) if "fills" in names else None
        self.venue = venue
        self.dropped = 0
        self.recent_orders: collections.deque = collections.deque(maxlen=RECENT)
        self.recent_fills: collections.deque = collections.deque(maxlen=RECENT)

    def order(self, o, ts_ms: int, recv_ns: int, reason: str = "") -> None:
        """One state change of order ``o`` (its current status)."""
        row = dict(ts_ms=ts_ms, recv_ns=recv_ns, client_id=o.client_id, order_id=o.venue_id,
                   side="buy" if o.side > 0 else "sell", type=o.type, tif=o.tif, px=o.px,
                   qty=o.qty, filled_qty=o.filled, status=o.status, reason=reason,
                   reduce_only=int(o.reduce_only), venue=self.venue)
        self.recent_orders.append({"symbol": o.symbol, **row})
        if self.orders is not None:
            order_reason_code(reason)      # registers a new reason text before its row
            if not self.orders.push(o.symbol, **row):
                self.dropped += 1

    def fill(self, symbol: str, client_id: str, trade_id: int, side: int, px: int, qty: int,
             fee: float, maker: bool, realized: float, ts_ms: int, recv_ns: int) -> None:
        row = dict(ts_ms=ts_ms, recv_ns=recv_ns, client_id=client_id, trade_id=trade_id,
                   side="buy" if side > 0 else "sell", px=px, qty=qty, fee=fee,
                   liquidity="maker" if maker else "taker", realized_pnl=realized,
                   venue=self.venue)
        self.recent_fills.append({"symbol": symbol, **row})
        if self.fills is not None and not self.fills.push(symbol, **row):
            self.dropped += 1
