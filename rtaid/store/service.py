"""The store as the daemon and replay use it: rings + engine + writer (+ journal)."""
from __future__ import annotations

from typing import Iterable

from rtaid._kernels.mem import allocation_counts, mapped_bytes, resident_bytes
from rtaid._kernels.ring import ByteRings, RecordRings
from rtaid.store import footprint
from rtaid.store.journal import RawJournal
from rtaid.store.rings import JOURNAL_RING_BYTES, ring_sizes
from rtaid.store.tables import TABLES, reason_code
from rtaid.store.writer import StoreWriter

# Tables the engine always records even if storage.tables does not list them: the
# config's table list predates them.
ALWAYS_RECORDED = ("book_top", "book_events")


def select_tables(names: Iterable[str] | None) -> list[str]:
    """Tables to record for a ``storage.tables`` list (None: every known table).

    Names not (yet) in :data:`rtaid.store.tables.TABLES` are ignored.
    """
    if names is None:
        return list(TABLES)
    wanted = set(names) | set(ALWAYS_RECORDED)
    return [name for name in TABLES if name in wanted]


class Store:
    """Record everything an Engine sees to the Parquet dataset (and the raw journal).

    Parameters
    ----------
    engine : rtaid._kernels.engine.Engine
        The engine to record; its rings are attached here.
    data_dir : str
        Root of the dataset.
    tables : iterable of str, optional
        ``storage.tables``; None records every engine table.
    ring_records : int
        Records per table ring; 0 sizes each ring from its table's expected rate and
        the number of symbols (:mod:`rtaid.store.rings`; the daemon's default).
    raw_journal : bool
        Also keep every received frame in hourly gzip files.
    journal_ring_bytes : int
        Bytes per symbol of the journal's rings.
    journal_now_ns : callable, optional
        Wall clock of the journal's hourly rotation (tests replaying old data).
    **writer_options
        Passed to :class:`StoreWriter` (compression, rotate_mb, rotate_s, max_loss_s,
        flush_interval_ms, retention_days, ...).
    """

    def __init__(self, engine, data_dir: str, *, tables: Iterable[str] | None = None,
                 ring_records: int = 1 << 16, raw_journal: bool = False,
                 journal_ring_bytes: int = JOURNAL_RING_BYTES, journal_now_ns=None,
                 **writer_options) -> None:
        names = select_tables(tables)
        footprint.arrow_without_pandas()
        footprint.tune_allocator()
        self.engine = engine
        symbols = engine.symbols
        drain_s = writer_options.get("flush_interval_ms", 1000) / 1000.0
        sizes = ring_sizes(names, len(symbols), ring_records, drain_s)
        self.rings = RecordRings({n: (TABLES[n].ring, TABLES[n].dtype.itemsize, sizes[n])
                                  for n in names}, max(sizes.values()))
        self.journal = None
        self.journal_ring_bytes = 0
        journal_rings = None
        if raw_journal:
            self.journal_ring_bytes = journal_ring_bytes
            journal_rings = ByteRings(len(symbols) + 1, journal_ring_bytes)
            clock = {"now_ns": journal_now_ns} if journal_now_ns is not None else {}
            self.journal = RawJournal(journal_rings, symbols, data_dir, journal_ring_bytes,
                                      **clock)
        writer_options.setdefault("report", self._report_memory)
        writer_options.setdefault("release", footprint.release)
        self.writer = StoreWriter(self.rings, {n: TABLES[n] for n in names}, symbols,
                                  engine.decoder.scales, data_dir, journal=self.journal,
                                  **writer_options)
        engine.attach(self.rings, journal_rings)

    @classmethod
    def from_config(cls, engine, storage, **overrides) -> "Store":
        """Build from a ``[storage]`` config section (``rtaid.infra.config.StorageConfig``)."""
        options = dict(
            tables=storage.tables, ring_records=storage.ring_records,
            raw_journal=storage.raw_journal, compression=storage.compression,
            rotate_mb=storage.rotate_mb, rotate_s=storage.rotate_s,
            max_loss_s=storage.max_loss_s, flush_interval_ms=storage.flush_interval_ms,
            retention_days=storage.retention_days,
        )
        options.update(overrides)
        data_dir = options.pop("data_dir", storage.data_dir)
        return cls(engine, data_dir, **options)

    def start(self) -> None:
        """Start the writer thread."""
        self.writer.start()

    def stop(self) -> None:
        """Write everything buffered and close all files (after the feed has stopped)."""
        self.writer.stop()

    def push_book_event(self, sym: int, event: str, reason: str = "", **fields) -> None:
        """Record a book_events row (event "reconnect" or "resync") with a reason text.

        Call from the engine's thread; ``fields``: E, T, u, recv_ns (see
        ``Engine.push_book_event``).
        """
        self.engine.push_book_event(sym, event, reason_code(reason), **fields)

    def stats(self) -> dict:
        stats = self.writer.stats()
        if self.journal is not None:
            stats["journal"] = self.journal.stats()
            # lines of frames the listener left unrecorded (Engine.record_tail missed)
            stats["journal"]["lines_lost_unrecorded"] = self.engine.tail_journal_lost
        return stats

    def rows_dropped(self) -> int:
        """Rows lost so far, every table (full rings, I/O errors); journal lines too.
        A daemon that lost rows says so at exit and exits non-zero."""
        total = sum(self.writer.rows_dropped().values())
        if self.journal is not None:
            journal = self.journal.stats()
            total += (journal["lines_dropped_io"] + journal["lines_dropped_ring"]
                      + self.engine.tail_journal_lost)
        return total

    def memory(self, python_heap: bool = True) -> dict[str, int]:
        """Where the process's memory is, in bytes (see :func:`rtaid.store.footprint.breakdown`)."""
        writer = self.writer.memory()
        rings = writer["rings"] + self.journal_ring_bytes * (len(self.engine.symbols) + 1)
        buffered = writer["buffered"]
        if self.journal is not None:
            buffered += self.journal.buffer_bytes
        return footprint.breakdown(rings=rings, buffered=buffered, arrow=writer["arrow"],
                                metadata=writer["part_metadata"],
                                kernels=allocation_counts()[2] - mapped_bytes(),
                                engine=max(resident_bytes() - rings, 0), python_heap=python_heap)

    def _report_memory(self) -> None:
        """The writer thread, once a minute: give back free memory, log the breakdown."""
        footprint.release()
        parts = {k: round(v / footprint.MIB, 2) for k, v in self.memory().items()}
        self.writer.log.info("store_memory", files_open=len(self.writer._parts), **parts)
