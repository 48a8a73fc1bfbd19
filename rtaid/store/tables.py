"""The dataset's tables: record layout (numpy dtype = the C struct) and Arrow schema.

Adding a table = a record struct in a kernel's .pxd (with a ring index below
``ring.MAX_TABLES``), its dtype and a :class:`Table` here, in :data:`TABLES`; the
kernel's ``attach(rings)`` then takes its ring by name and checks the record size, as
``Engine.attach`` does. The store sizes the rings and the writer derives everything
else from the dtype by naming rule:

- ``sym`` (int32) is the symbol index: it becomes the ``symbol=`` partition, no column;
- ``E``/``T`` are exchange times in ms, ``recv_ns`` the local receive time in ns; the
  table's ``time`` field (``E``, or the signal tables' ``ts_ms``/``minute_ms``) decides
  the ``date=`` partition;
- an integer field named ``*px`` holds ticks: columns ``<name>`` (float64) and
  ``<name>_ticks`` (int64); ``*qty`` holds lots: ``<name>`` and ``<name>_lots``;
- fields in ``bools`` become bool columns, fields in ``enums`` dictionary strings;
- any other field is written as is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import numpy as np
import pyarrow as pa

from rtaid._kernels.columns import take_field
from rtaid._kernels.engine import BOOK_EVENT_NAMES
from rtaid._kernels.ring import ENGINE_LAYOUTS, ENGINE_TABLES
from rtaid._kernels.signals import EVENT_NAMES, REASON_NAMES, SIGNAL_LAYOUTS, SIGNAL_TABLES

SIDE_NAMES = ("bid", "ask")
# book_events.reason: the rows carry a code, the files the text (a dictionary column).
# Codes are per process: the list starts with the kernel's own reasons and grows with
# each new reason text Python pushes (the feed's reconnect and resync reasons).
REASONS: list[str] = [
    "",                  # 0: none (the kernel's own transitions say it all)
    "pu_gap",
    "crossed_book",
    "reconnect",
    "stale_feed",
    "snapshot_failed",
    "manual",
]
_REASON_CODES = {text: code for code, text in enumerate(REASONS)}
MAX_REASONS = 1 << 15
POW10 = 10.0 ** np.arange(19)


def reason_code(reason: str) -> int:
    """The ``book_events.reason`` code of a reason text, registering a new text.

    Call from the engine's thread (where rows are pushed). Beyond ``MAX_REASONS``
    distinct texts, new ones are recorded as "other".
    """
    code = _REASON_CODES.get(reason)
    if code is None:
        if len(REASONS) >= MAX_REASONS - 1:
            return reason_code("other")
        code = len(REASONS)
        # append before publishing the code: the writer converts codes with this list
        REASONS.append(reason)
        _REASON_CODES[reason] = code
    return code


@dataclass(frozen=True)
class Table:
    """One table of the dataset.

    Parameters
    ----------
    name : str
        Directory name of the table.
    dtype : numpy.dtype
        Record layout, field for field the C struct (``align=True``).
    bools : tuple of str
        int8 fields written as bool.
    enums : mapping
        Integer fields written as dictionary strings: ``{field: names by code}``
        (a sequence; it may grow, as REASONS does).
    ring : int
        Index of the table's ring in ``RecordRings`` (the kernel's TBL_* id).
    time : str
        Exchange-time field (ms) that dates a row: its ``date=`` partition and the
        ``start`` of its part file's name.
    """

    name: str
    dtype: np.dtype
    ring: int
    bools: tuple[str, ...] = ()
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    time: str = "E"

    @cached_property
    def columns(self) -> list[tuple[str, str, pa.DataType]]:
        """``(column, field, kind, arrow type)``; kind is value, float, bool or enum."""
        out = []
        for name in self.dtype.names:
            if name == "sym":
                continue
            base = self.dtype[name]
            if name in self.bools:
                out.append((name, name, "bool", pa.bool_()))
            elif name in self.enums:
                out.append((name, name, "enum", pa.dictionary(pa.int16(), pa.string())))
            elif name.endswith("px") and base.kind == "i":
                out.append((name, name, "float", pa.float64()))
                out.append((name + "_ticks", name, "value", pa.int64()))
            elif name.endswith("qty") and base.kind == "i":
                out.append((name, name, "float", pa.float64()))
                out.append((name + "_lots", name, "value", pa.int64()))
            else:
                out.append((name, name, "value", pa.from_numpy_dtype(base)))
        return out

    @cached_property
    def schema(self) -> pa.Schema:
        """Arrow schema of the table's files (partition columns excluded)."""
        return pa.schema([pa.field(col, typ, nullable=False) for col, _, _, typ in self.columns])

    def to_arrow(self, records: np.ndarray, px_dec: int, qty_dec: int) -> pa.Table:
        """Convert records of one symbol to an Arrow table, column by column.

        Fields are copied out of the records in C without the GIL, and the numpy
        operations on whole columns release it too: a large batch does not stall the
        event loop.

        Parameters
        ----------
        records : numpy.ndarray
            Records of ``dtype``.
        px_dec, qty_dec : int
            The symbol's decimals (-1 when unknown: float columns are NaN).
        """
        arrays = []
        raw = np.ascontiguousarray(records).view(np.uint8)
        fields = {}
        for col, fname, kind, typ in self.columns:
            values = fields.get(fname)
            if values is None:
                ftype, offset = self.dtype.fields[fname][:2]
                values = fields[fname] = np.empty(len(records), dtype=ftype)
                take_field(raw, self.dtype.itemsize, offset, ftype.itemsize,
                           values.view(np.uint8))
            if kind == "value":
                arrays.append(pa.array(values, type=typ))
            elif kind == "float":
                dec = px_dec if fname.endswith("px") else qty_dec
                # ticks / 10**dec is the float nearest the decimal: one correctly rounded
                # division of two exactly represented numbers
                scaled = values / POW10[dec] if dec >= 0 else np.full(len(values), np.nan)
                arrays.append(pa.array(scaled, type=typ))
            elif kind == "bool":
                arrays.append(pa.array(values != 0, type=typ))
            else:
                # a snapshot of the names (REASONS grows); codes above are never pushed
                names = pa.array(list(self.enums[fname]), type=pa.string())
                arrays.append(pa.DictionaryArray.from_arrays(
                    pa.array(values.astype(np.int16, copy=False)), names))
        return pa.Table.from_arrays(arrays, schema=self.schema)


def _dtype(*fields: tuple[str, str]) -> np.dtype:
    return np.dtype(list(fields), align=True)


_TIMES = (("E", "i8"), ("T", "i8"), ("recv_ns", "i8"))

TRADES = Table("trades", ring=ENGINE_TABLES["trades"][0], dtype=_dtype(
    *_TIMES, ("trade_id", "i8"), ("px", "i8"), ("qty", "i8"), ("sym", "i4"),
    ("buyer_maker", "i1"), ("aggregate", "i1")), bools=("buyer_maker", "aggregate"))
BBO = Table("bbo", ring=ENGINE_TABLES["bbo"][0], dtype=_dtype(
    *_TIMES, ("u", "i8"), ("bid_px", "i8"), ("bid_qty", "i8"), ("ask_px", "i8"),
    ("ask_qty", "i8"), ("sym", "i4")))
DEPTH = Table("depth", ring=ENGINE_TABLES["depth"][0], dtype=_dtype(
    *_TIMES, ("U", "i8"), ("u", "i8"), ("pu", "i8"), ("px", "i8"), ("qty", "i8"),
    ("sym", "i4"), ("side", "i1"), ("snapshot", "i1")),
    bools=("snapshot",), enums={"side": SIDE_NAMES})
BOOK_TOP = Table("book_top", ring=ENGINE_TABLES["book_top"][0], dtype=_dtype(
    *_TIMES, ("u", "i8"), ("bid_px", "i8"), ("bid_qty", "i8"), ("ask_px", "i8"),
    ("ask_qty", "i8"), ("sym", "i4"), ("bid_levels", "i4"), ("ask_levels", "i4")))
BOOK_EVENTS = Table("book_events", ring=ENGINE_TABLES["book_events"][0], dtype=_dtype(
    *_TIMES, ("u", "i8"), ("sym", "i4"), ("event", "i2"), ("reason", "i2")),
    enums={"event": BOOK_EVENT_NAMES, "reason": REASONS})
MARK_PRICE = Table("mark_price", ring=ENGINE_TABLES["mark_price"][0], dtype=_dtype(
    *_TIMES, ("px", "i8"), ("sym", "i4")))



def _signal_table(name: str, time: str, enums: Mapping[str, tuple[str, ...]]) -> Table:
    """A table of the signal kernels: its dtype is the C struct's layout, column for
    column (indicators.md section 12 names and order)."""
    ring, size = SIGNAL_TABLES[name]
    names, formats, offsets = zip(*[(c, t, o) for c, o, t in SIGNAL_LAYOUTS[name]])
    dtype = np.dtype({"names": list(names), "formats": list(formats),
                      "offsets": list(offsets), "itemsize": size})
    return Table(name, ring=ring, dtype=dtype, enums=enums, time=time)


INDICATORS = _signal_table("indicators", "ts_ms", {"event": EVENT_NAMES})
BARS_1M = _signal_table("bars_1m", "minute_ms", {})
SIGNALS = _signal_table("signals", "ts_ms", {"reason": REASON_NAMES})

# The tables the engine records, by name; later kernels register theirs the same way.
TABLES: dict[str, Table] = {t.name: t for t in (TRADES, BBO, DEPTH, BOOK_TOP, BOOK_EVENTS,
                                                  MARK_PRICE, INDICATORS, BARS_1M, SIGNALS)}


def layout_mismatches(table: Table, size: int, offsets: Mapping[str, int]) -> list[str]:
    """Differences between a table's dtype and its C record (size, field offsets)."""
    problems = []
    if table.dtype.itemsize != size:
        problems.append(f"{table.name}: dtype is {table.dtype.itemsize} bytes, C {size}")
    have = {name: table.dtype.fields[name][1] for name in table.dtype.names}
    if have != dict(offsets):
        problems.append(f"{table.name}: dtype offsets {have} != C offsets {dict(offsets)}")
    return problems


_problems = [p for name, (_, size) in ENGINE_TABLES.items()
             for p in layout_mismatches(TABLES[name], size, ENGINE_LAYOUTS[name])]
if _problems:  # pragma: no cover - a build/layout bug: never write garbage
    raise ImportError("; ".join(_problems))
