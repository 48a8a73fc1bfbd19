"""Tables in memory: an Engine's rings drained into numpy record arrays.

What ``rtaid replay`` does with Parquet, without files: the tests and the benchmarks
run the real Engine and read its tables from here (``rtaid.replay.replay_tables``).
The arrays have the registry's record dtype (rtaid/store/tables.py), field for field
the C structs; buffers grow between drains only, and ``clear`` keeps them, so a second
pass over the same input allocates nothing.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from rtaid._kernels.ring import RecordRings
from rtaid.store.tables import TABLES


class MemoryTables:
    """Attach rings for ``tables`` to an engine and collect what they receive.

    Parameters
    ----------
    engine : rtaid._kernels.engine.Engine
        The engine to record (its rings are attached here).
    tables : iterable of str
        Table names of the registry.
    ring_records : int
        Records per ring.
    expected_rows : int
        Initial capacity of each table's buffer (it doubles when needed).
    """

    def __init__(self, engine, tables: Iterable[str], ring_records: int = 1 << 16,
                 expected_rows: int = 1 << 16) -> None:
        self.names = list(tables)
        self.rings = RecordRings(self.names, ring_records)
        self._buf = {n: np.empty(expected_rows, dtype=TABLES[n].dtype) for n in self.names}
        self._n = {n: 0 for n in self.names}
        engine.attach(self.rings)

    def drain(self) -> None:
        """Move everything the rings hold into the buffers (the engine's thread, between
        runs of frames)."""
        for name in self.names:
            pending = self.rings.pending(name)
            if not pending:
                continue
            n = self._n[name]
            buf = self._buf[name]
            if n + pending > len(buf):
                grown = np.empty(max(2 * len(buf), n + pending), dtype=buf.dtype)
                grown[:n] = buf[:n]
                self._buf[name] = buf = grown
            got = self.rings.drain(name, buf[n:].view(np.uint8))
            self._n[name] = n + got

    def dropped(self) -> dict[str, int]:
        """Records each ring had to drop (full when the engine pushed)."""
        return {n: self.rings.dropped(n) for n in self.names}

    def arrays(self) -> dict[str, np.ndarray]:
        """``{table: records}``: views of the buffers (valid until the next drain)."""
        return {n: self._buf[n][:self._n[n]] for n in self.names}

    def clear(self) -> None:
        """Forget the collected rows, keep the buffers."""
        for n in self.names:
            self._n[n] = 0
