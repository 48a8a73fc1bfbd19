"""The dataset's tables as the writer sees them: numpy dtype and Arrow schema.

Every table is declared once, in the table registry (rtaid/_kernels/records.pyx: the
C record struct, its ring id, its time field and column kinds); this module derives,
for each, the numpy dtype of its records (the C layout, offset for offset) and the
columns of its files, by naming rule:

- ``sym`` (int32) is the symbol index: it becomes the ``symbol=`` partition, no column;
- ``E``/``T`` are exchange times in ms, ``recv_ns`` the local receive time in ns; the
  table's ``time`` field (``E``, or the signal tables' ``ts_ms``/``minute_ms``) decides
  the ``date=`` partition;
- an integer field named ``*px`` holds ticks: columns ``<name>`` (float64) and
  ``<name>_ticks`` (int64); ``*qty`` holds lots: ``<name>`` and ``<name>_lots``;
- fields in ``bools`` become bool columns, fields in ``enums`` dictionary strings;
- a char array (numpy ``S<n>``: ``client_id``) becomes a string column;
- any other field is written as is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import numpy as np
import pyarrow as pa

from rtaid._kernels import records
from rtaid._kernels.columns import take_field

# book_events.reason texts by code (grows at run time; records.reason_code registers)
REASONS = records.BOOK_EVENT_REASONS
reason_code = records.reason_code
PARTITION_COLUMNS = records.PARTITION_COLUMNS
POW10 = 10.0 ** np.arange(19)


def numeric_array(values: np.ndarray, typ: pa.DataType) -> pa.Array:
    """A fixed-width Arrow column over a numpy column's memory (cast first if its dtype
    is not ``typ``'s). Not ``pa.array(ndarray)``: that asks whether the array is a
    ``numpy.ma.MaskedArray``, and the attribute imports numpy.ma, ~0.5 MiB of the
    daemon's heap for a module it never uses."""
    values = np.ascontiguousarray(values, dtype=np.dtype(typ.to_pandas_dtype()))
    return pa.Array.from_buffers(typ, len(values), [None, pa.py_buffer(values)])


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
            elif base.kind == "S":
                out.append((name, name, "str", pa.string()))
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
                arrays.append(numeric_array(values, typ))
            elif kind == "float":
                dec = px_dec if fname.endswith("px") else qty_dec
                # ticks / 10**dec is the float nearest the decimal: one correctly rounded
                # division of two exactly represented numbers
                scaled = values / POW10[dec] if dec >= 0 else np.full(len(values), np.nan)
                arrays.append(numeric_array(scaled, typ))
            elif kind == "bool":
                bits = np.packbits(values != 0, bitorder="little")
                arrays.append(pa.Array.from_buffers(typ, len(values), [None, pa.py_buffer(bits)]))
            elif kind == "str":
                arrays.append(pa.array([v.decode("ascii") for v in values.tolist()], type=typ))
            else:
                # a snapshot of the names (REASONS grows); codes above are never pushed
                names = pa.array(list(self.enums[fname]), type=pa.string())
                arrays.append(pa.DictionaryArray.from_arrays(
                    numeric_array(values, pa.int16()), names))
        return pa.Table.from_arrays(arrays, schema=self.schema)


def _from_layout(layout) -> Table:
    """A registry entry as the writer's Table: its dtype is the C struct's layout."""
    names, offsets, formats = zip(*layout.fields)
    dtype = np.dtype({"names": list(names), "formats": list(formats),
                      "offsets": list(offsets), "itemsize": layout.size})
    return Table(layout.name, dtype=dtype, ring=layout.ring, bools=layout.bools,
                 enums=layout.enums, time=layout.time)


# Every table of the dataset, by name, in the registry's order.
TABLES: dict[str, Table] = {name: _from_layout(t) for name, t in records.TABLES.items()}
