"""The ``orders`` (every state change) and ``fills`` tables, pushed from the engine's
thread into the store's rings; the last rows are also kept in memory for the status and
the demo's screen.

An order's "sent" row is pushed before the order goes out, so it is on the order path:
rows are packed with a ``struct`` laid out from the table registry's record dtype
(offsets, sizes, padding), one call instead of a numpy field assignment per column
(:class:`rtaid.store.push.RecordPusher`, the same bytes, about ten times slower).
"""
from __future__ import annotations

import collections
import struct

from rtaid._kernels.records import order_reason_code
from rtaid.store.tables import TABLES

RECENT = 50
_CODES = {"i8": "q", "i4": "i", "i2": "h", "i1": "b", "f8": "d"}


class RowPacker:
    """Push rows of one registry table (fields by column name: enum names, text, ints in
    ticks/lots) into its ring; the record layout is the table dtype's.

    Parameters
    ----------
    rings : RecordRings
    table : str
    symbols : sequence of str
        Symbol names by index (the ``sym`` field).
    """

    def __init__(self, rings, table: str, symbols) -> None:
        self.rings = rings
        self.name = table
        self.table = TABLES[table]
        dtype = self.table.dtype
        fmt, pos, self.fields = "<", 0, []
        for offset, name in sorted((dtype.fields[n][1], n) for n in dtype.names):
            kind = dtype.fields[name][0]
            if offset > pos:
                fmt += f"{offset - pos}x"
            fmt += f"{kind.itemsize}s" if kind.kind == "S" else _CODES[kind.str[1:]]
            pos = offset + kind.itemsize
            self.fields.append(name)
        if dtype.itemsize > pos:
            fmt += f"{dtype.itemsize - pos}x"
        self.struct = struct.Struct(fmt)
        if self.struct.size != dtype.itemsize:
            raise ValueError(f"{table}: packed size {self.struct.size} != record {dtype.itemsize}")
        self.buf = bytearray(self.struct.size)
        self.sym_index = {s.upper(): i for i, s in enumerate(symbols)}
        self.codes = {f: {n: i for i, n in enumerate(names)} for f, names in self.table.enums.items()}

    def push(self, symbol: str, **row) -> bool:
        """Push one row; False when the ring was full (counted by the ring)."""
        values = []
        append = values.append
        codes_of = self.codes
        for name in self.fields:
            if name == "sym":
                append(self.sym_index[symbol])
                continue
            value = row.get(name, 0)
            if name in codes_of:
                codes = codes_of[name]
                if value not in codes:        # a growing list (reasons): read it again
                    codes_of[name] = codes = {n: i for i, n in enumerate(self.table.enums[name])}
                value = codes[value]
            elif value.__class__ is str:
                value = value.encode("ascii")
            append(value)
        self.struct.pack_into(self.buf, 0, *values)
        return bool(self.rings.push(self.name, self.buf))


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
        self.orders = RowPacker(rings, "orders", symbols) if "orders" in names else None
        self.fills = RowPacker(rings, "fills", symbols) if "fills" in names else None
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
