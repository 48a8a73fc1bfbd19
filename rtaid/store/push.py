"""Rows pushed from Python into a table's ring: the execution layer's ``orders`` and
``fills`` (and any other table written from the engine's thread, not by the kernels).

A ``RecordPusher`` keeps one record of the table's dtype and fills it per row: enum
columns take their names (``side="buy"``), ``*px``/``*qty`` integers ticks and lots, char
columns text. The ring is the same single-producer ring the kernels write: push from
the engine's thread only (the event loop's). A full ring drops the row and counts it,
as for every table.
"""
from __future__ import annotations

import numpy as np

from rtaid.store.tables import TABLES


class RecordPusher:
    """Push rows of one table into its ring.

    Parameters
    ----------
    rings : rtaid._kernels.ring.RecordRings
        Rings holding ``table``.
    table : str
        A table of the registry.
    symbols : sequence of str
        Symbol names by index (the ``sym`` field).
    """

    def __init__(self, rings, table: str, symbols) -> None:
        self.rings = rings
        self.name = table
        self.table = TABLES[table]
        self.sym_index = {s.upper(): i for i, s in enumerate(symbols)}
        self._rec = np.zeros(1, dtype=self.table.dtype)
        self._bytes = self._rec.view(np.uint8)
        self._codes = {f: {n: i for i, n in enumerate(names)}
                       for f, names in self.table.enums.items()}

    def push(self, symbol: str, **fields) -> bool:
        """Push one row (fields by column name); False when the ring was full."""
        rec = self._rec
        rec.fill(0)
        rec["sym"] = self.sym_index[symbol.upper()]
        for name, value in fields.items():
            if name in self._codes:
                codes = self._codes[name]
                if value not in codes:          # a growing list (reasons): re-read it
                    self._codes[name] = codes = {n: i for i, n in
                                                 enumerate(self.table.enums[name])}
                value = codes[value]
            elif isinstance(value, str):
                value = value.encode("ascii")
            rec[name] = value
        return bool(self.rings.push(self.name, self._bytes))
