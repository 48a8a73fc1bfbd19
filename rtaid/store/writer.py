"""The store's writer thread: drains the record rings and writes the Parquet dataset.

Layout: ``<data_dir>/<table>/symbol=<SYMBOL>/date=<YYYY-MM-DD>/part-<start>-<seq>.parquet``
with ``date`` the exchange-time day and ``start`` the exchange time (ms) of the file's first
row. Files rotate on size, age and the date boundary and appear only when complete
(:mod:`rtaid.store.partfile`).

The hot path never waits for this thread: it copies records into the rings and
moves on; a full ring drops and counts (``stats()["rows_dropped_ring"]``). Here, each
``flush`` copies every ring out (C memcpy, GIL released), groups rows by
partition with numpy, and hands whole columns to pyarrow, which encodes and
compresses with the GIL released. I/O errors (disk full, unwritable directory) are
logged, rate-limited, the affected rows counted as dropped, and writing is retried
after ``retry_s``.
"""
from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from typing import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa

from rtaid.infra.log import RateLimitedLog, get_logger
from rtaid.store.partfile import PartFile
from rtaid.store.retention import prune
from rtaid.store.tables import Table

MS_PER_DAY = 86_400_000


def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day number since the epoch."""
    return str(np.datetime64(int(day), "D"))


class StoreWriter:
    """Drain record rings into a Hive-partitioned Parquet dataset.

    Parameters
    ----------
    rings : rtaid._kernels.ring.RecordRings
        The rings the engine fills; one per table in ``tables``.
    tables : mapping of str to Table
        The tables to write (each must have a ring of the same name).
    symbols : sequence of str
        Symbol names by index (``Engine.symbols``).
    scales : callable
        ``scales(sym) -> (px_dec, qty_dec)`` (``engine.decoder.scales``).
    data_dir : str
        Root of the dataset.
    compression : str
        "zstd" or "snappy".
    rotate_mb : float
        Close a part file once it holds this many MB.
    rotate_s : float or None
        Close a part file this many seconds after it was opened (None: never; replay).
    flush_interval_ms : int
        How often the thread drains the rings.
    retention_days : int
        Delete partitions older than this many days (0: keep forever); checked at start
        and every ``retention_interval_s`` by the thread.
    row_group_rows : int
        Rows buffered per partition before they are written as one row group.
    row_group_bytes : int
        Record bytes buffered per partition before they are written (bounds the memory
        of wide tables: an indicators row is 328 bytes, a trade 56).
    row_group_s : float or None
        Write buffered rows that are this old even if fewer (None: only by count).
    batch_records : int
        Records taken from a ring at a time (bounds each step's GIL hold).
    journal : RawJournal, optional
        Raw frame journal flushed by the same thread.
    retry_s : float
        After an I/O error, drop rows for this long before trying again.
    clock : callable
        Monotonic seconds (injectable for tests).
    """

    def __init__(self, rings, tables: Mapping[str, Table], symbols: Sequence[str],
                 scales: Callable[[int], tuple[int, int]], data_dir: str, *,
                 compression: str = "zstd", rotate_mb: float = 256, rotate_s: float | None = 3600,
                 flush_interval_ms: int = 1000, retention_days: int = 0,
                 retention_interval_s: float = 3600.0, row_group_rows: int = 1 << 17,
                 row_group_bytes: int = 16 << 20,
                 row_group_s: float | None = 60.0, batch_records: int = 1 << 16,
                 journal=None, retry_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, logger=None) -> None:
        missing = [name for name in tables if name not in rings.names]
        if missing:
            raise ValueError(f"no ring for tables {missing}")
        self.rings = rings
        self.tables = dict(tables)
        self.symbols = list(symbols)
        self.scales = scales
        self.data_dir = str(data_dir)
        self.compression = compression
        self.rotate_bytes = int(rotate_mb * 1024 * 1024)
        self.rotate_s = rotate_s
        self.flush_interval_s = flush_interval_ms / 1000.0
        self.retention_days = retention_days
        self.retention_interval_s = retention_interval_s
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.row_group_s = row_group_s
        self.journal = journal
        self.retry_s = retry_s
        self.clock = clock
        self.log = logger or get_logger("rtaid.store")
        self.rate_log = RateLimitedLog(self.log, 10.0, clock)
        self.batch_records = batch_records
        # (table, sym, day) -> [record arrays], row count, clock of the oldest
        self._pending: dict[tuple, list] = defaultdict(list)
        self._pending_rows: dict[tuple, int] = defaultdict(int)
        self._pending_since: dict[tuple, float] = {}
        self._parts: dict[tuple, PartFile] = {}
        self._seq: dict[tuple, int] = defaultdict(int)
        self._newest_day: dict[tuple, int] = {}
        self._scale_cache: dict[int, tuple[int, int]] = {}
        self._failed_until: float | None = None
        self._ring_dropped_seen = {name: 0 for name in self.tables}
        self.rows_written = {name: 0 for name in self.tables}
        self.rows_dropped_io = {name: 0 for name in self.tables}
        self.files_written = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()   # flush() from the thread vs stop()/tests
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_retention = -float("inf")

    # ------------------------------------------------------------------ thread
    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="rtaid-store", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread, write every buffered record and close all files.

        Call after the producer has stopped, so that nothing is left in the rings.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush(final=True)

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.flush_interval_s)
            if stopping:
                return
            try:
                self.flush()
                self._maybe_prune()
            except Exception as exc:  # the thread must outlive any bug in one flush
                self.log.exception("store_flush_failed", error=repr(exc))

    def _maybe_prune(self) -> None:
        now = self.clock()
        if self.retention_days <= 0 or now - self._last_retention < self.retention_interval_s:
            return
        self._last_retention = now
        try:
            removed = prune(self.data_dir, self.retention_days)
        except OSError as exc:
            self.rate_log.error("retention", "store_retention_failed", error=str(exc))
            return
        if removed:
            self.log.info("store_retention_pruned", partitions=len(removed))

    # ------------------------------------------------------------------ flushing
    def flush(self, final: bool = False) -> None:
        """Drain every ring and write what is due (everything and close files if final)."""
        with self._lock:
            for name, table in self.tables.items():
                self._drain(name, table)
                self._check_ring_drops(name)
            now = self.clock()
            self._write_due(now, final)
            self._close_due(now, final)
            if self.journal is not None:
                self.journal.flush(final)

    def _drain(self, name: str, table: Table) -> None:
        # what is there now, no more: a producer faster than us must not keep us here
        budget = self.rings.pending(name)
        while budget > 0:
            records = np.empty(min(budget, self.batch_records), dtype=table.dtype)
            n = self.rings.drain(name, records.view(np.uint8))  # memcpy without the GIL
            if n == 0:
                return
            self._accept(name, records[:n])
            budget -= n

    def _check_ring_drops(self, name: str) -> None:
        dropped = self.rings.dropped(name)
        if dropped > self._ring_dropped_seen[name]:
            self.rate_log.warning(("ring_full", name), "store_ring_full", table=name,
                                  dropped=dropped - self._ring_dropped_seen[name],
                                  dropped_total=dropped)
            self._ring_dropped_seen[name] = dropped

    def _accept(self, name: str, records: np.ndarray) -> None:
        now = self.clock()
        if self._failed_until is not None and now < self._failed_until:
            self.rows_dropped_io[name] += len(records)
            return
        key = (records["sym"].astype(np.int64) * 1_000_000
               + records[self.tables[name].time] // MS_PER_DAY)
        if key[0] == key[-1] and (key == key[0]).all():
            groups = [(int(key[0]), records)]
        else:
            order = np.argsort(key, kind="stable")
            keys, starts = np.unique(key[order], return_index=True)
            bounds = list(starts[1:]) + [len(order)]
            groups = [(int(k), records[order[s:e]]) for k, s, e in zip(keys, starts, bounds)]
        for k, recs in groups:
            sym, day = divmod(k, 1_000_000)
            part_key = (name, sym, day)
            self._pending[part_key].append(recs)
            self._pending_rows[part_key] += len(recs)
            self._pending_since.setdefault(part_key, now)
            newest = self._newest_day.get((name, sym))
            if newest is None or day > newest:
                self._newest_day[(name, sym)] = day

    def _write_due(self, now: float, final: bool) -> None:
        for key in list(self._pending):
            rows = self._pending_rows[key]
            old = (self.row_group_s is not None
                   and now - self._pending_since[key] >= self.row_group_s)
            wide = rows * self.tables[key[0]].dtype.itemsize >= self.row_group_bytes
            if final or rows >= self.row_group_rows or wide or old:
                self._write(key, now)

    def _write(self, key: tuple, now: float) -> None:
        name, sym, day = key
        chunks = self._pending.pop(key)
        rows = self._pending_rows.pop(key)
        self._pending_since.pop(key)
        if self._failed_until is not None and now < self._failed_until:
            self.rows_dropped_io[name] += rows
            return
        table = self.tables[name]
        px_dec, qty_dec = self._scales(sym)
        # chunk by chunk (each at most batch_records), joined without a copy
        arrow = pa.concat_tables([table.to_arrow(c, px_dec, qty_dec) for c in chunks])
        part = self._parts.get(key)
        try:
            if part is None:
                part = self._open(key, int(chunks[0][table.time][0]), now)
            part.write(arrow)
        except OSError as exc:
            self._fail(key, exc, rows, now)
            return
        self.rows_written[name] += rows
        if self._failed_until is not None:
            self._failed_until = None
            self.log.info("store_write_recovered", table=name)
        if part.size >= self.rotate_bytes:
            self._close(key)

    def _open(self, key: tuple, start_ms: int, now: float) -> PartFile:
        name, sym, day = key
        directory = os.path.join(self.data_dir, name, f"symbol={self.symbols[sym]}",
                                 f"date={day_text(day)}")
        os.makedirs(directory, exist_ok=True)
        while True:
            path = os.path.join(directory, f"part-{start_ms}-{self._seq[key]:04d}.parquet")
            self._seq[key] += 1
            if not os.path.exists(path):
                break
        part = PartFile(path, self.tables[name].schema, self.compression, now)
        self._parts[key] = part
        return part

    def _close(self, key: tuple) -> None:
        part = self._parts.pop(key)
        try:
            part.close()
        except OSError as exc:
            part.abort()
            self._fail(key, exc, part.rows, self.clock(), written=True)
            return
        self.files_written += 1

    def _close_due(self, now: float, final: bool) -> None:
        for key in list(self._parts):
            name, sym, day = key
            part = self._parts[key]
            too_old = self.rotate_s is not None and now - part.opened_at >= self.rotate_s
            past_day = day < self._newest_day.get((name, sym), day)
            if final or too_old or past_day:
                if key in self._pending:   # its buffered rows belong in it
                    self._write(key, now)
                if key in self._parts:     # (the write may have rotated or failed it)
                    self._close(key)

    def _fail(self, key: tuple, exc: OSError, rows: int, now: float,
              written: bool = False) -> None:
        """Count the rows lost to an I/O error, give up the part file, retry later."""
        name = key[0]
        part = self._parts.pop(key, None)
        lost = rows + (part.rows if part is not None else 0)
        if part is not None:
            part.abort()
            self.rows_written[name] -= part.rows
        if written:
            self.rows_written[name] -= rows
        self.rows_dropped_io[name] += lost
        self.write_errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._failed_until = now + self.retry_s
        self.rate_log.error(("io", name), "store_write_failed", table=name,
                            error=self.last_error, rows_dropped=lost,
                            retry_in_s=self.retry_s)

    def _scales(self, sym: int) -> tuple[int, int]:
        cached = self._scale_cache.get(sym)
        if cached is not None:
            return cached
        scales = tuple(self.scales(sym))
        if scales[0] >= 0 and scales[1] >= 0:
            self._scale_cache[sym] = scales
        return scales

    # ------------------------------------------------------------------ metrics
    def stats(self) -> dict:
        """Counters for metrics and the replay summary."""
        return {
            "rows_written": dict(self.rows_written),
            "rows_dropped_io": dict(self.rows_dropped_io),
            "rows_dropped_ring": {name: self.rings.dropped(name) for name in self.tables},
            "files_written": self.files_written,
            "files_open": len(self._parts),
            "write_errors": self.write_errors,
            "writing": self._failed_until is None,
            "last_error": self.last_error,
        }
