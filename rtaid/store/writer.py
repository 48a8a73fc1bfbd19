"""The store's writer thread: drains the record rings and writes the Parquet dataset.

Layout: ``<data_dir>/<table>/symbol=<SYMBOL>/date=<YYYY-MM-DD>/part-<start>-<seq>.parquet``
with ``date`` the exchange-time day and ``start`` the exchange time (ms) of the file's
first row. Every part file holds rows of one exchange-time hour. Files appear only when
complete (:mod:`rtaid.store.partfile`).

Loss bound: with ``max_loss_s`` set (the daemon: ``storage.max_loss_s``) a part file is
published before any of its rows has waited ``max_loss_s`` since it left its ring, so a
kill -9 loses at most that much of any table; the next :meth:`StoreWriter.start` removes
what the killed process left (temporaries, staging directories) and the closed hours'
parts are merged into one file per table, symbol and hour
(:mod:`rtaid.store.compaction`), in this thread, between flushes.

Memory bound: the rings (sized by :mod:`rtaid.store.rings`), at most ``buffer_bytes`` of
drained records waiting for their row group (the largest buffers are written first
when more are waiting), and whatever pyarrow needs to encode one row group.

The hot path never waits for this thread: it copies records into the rings and moves
on; a full ring drops and counts (``stats()["rows_dropped_ring"]``). Here, each
``flush`` copies every ring out (C memcpy, GIL released), groups rows by partition with
numpy, and hands whole columns to pyarrow, which encodes and compresses with the GIL
released. I/O errors (disk full, unwritable directory) are logged, rate-limited, the
affected rows counted as dropped (``rows_dropped_io``), and writing is retried after
``retry_s``.
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections import defaultdict
from typing import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa

from rtaid.infra.log import RateLimitedLog, get_logger
from rtaid.store.compaction import HOUR_MS, Compactor, partition_dirs
from rtaid.store.partfile import PartFile
from rtaid.store.retention import prune
from rtaid.store.tables import Table

MS_PER_DAY = 86_400_000
HOURS_PER_DAY = 24
KEY_SCALE = 10_000_000   # sym * KEY_SCALE + hour: hours since 1970 stay below it until 3110
# Of max_loss_s, what a row may spend before its part file is due: the rest covers the
# ring (one flush interval), the flush that notices it is due (another) and writing it.
PUBLISH_MARGIN_S = 2.0
# Share of each flush interval given to compaction (after the flush; ~7,500 parts an
# hour for ten busy symbols take a few minutes of it).
COMPACT_SHARE = 0.25
# A part's deadline falls at random in the last PUBLISH_SPREAD of the allowed time.
PUBLISH_SPREAD = 0.2
# The thread drains the rings at least this often, also between flushes and between the
# writes of one flush: rings are sized for two flush intervals at a busy symbol's peak
# (rtaid.store.rings), so draining several times per interval leaves them room for
# rates several times that peak and for a write that stalls.
DRAIN_PERIOD_S = 0.25
# The drain buffer's size (batches of a table are at most batch_records and this).
SCRATCH_BYTES = 256 << 10


class _Buffer:
    """Drained records of one partition waiting for their row group: one array that
    grows by half its size (few, large allocations rather than one per drain; by
    doubling, the buffers of two symbols held up to twice the records they had), in place:
    ``ndarray.resize`` is a ``realloc``, which extends the block where it can (or,
    above glibc's mmap threshold, moves its pages) instead of copying the rows to a new
    array at each step (a third of the writer's time in bench/store.py)."""

    __slots__ = ("records", "rows", "since")
    # small: ten symbols have ~100 partitions, most of them slow (bars_1m, mark_price,
    # signals: 256 rows was ~2 MB of buffers for rows that never came)
    MIN_ROWS = 16

    def __init__(self, dtype: np.dtype, rows: int, since: float) -> None:
        self.records = np.empty(max(self.MIN_ROWS, rows), dtype=dtype)
        self.rows = 0
        self.since = since

    @property
    def nbytes(self) -> int:
        return self.records.nbytes

    def reserve(self, more: int) -> int:
        """Room for ``more`` rows; returns the bytes the buffer grew by."""
        need = self.rows + more
        if need <= len(self.records):
            return 0
        before = self.records.nbytes
        # no view of the array outlives a call of this class's methods (refcheck off:
        # a debugger or a traceback holding a reference must not make it fail)
        self.records.resize(max(need, len(self.records) * 3 // 2), refcheck=False)
        return self.records.nbytes - before

    def append(self, records: np.ndarray, order, start: int, end: int) -> None:
        """Copy ``records[start:end]``, or ``records[order[start:end]]``, to the end."""
        # as opaque bytes: numpy copies a structured dtype (the C layout, with its
        # padding) field by field, 10x slower than a memcpy of the records
        raw = np.dtype((np.void, records.dtype.itemsize))
        dest = self.records[self.rows:self.rows + end - start].view(raw)
        if order is None:
            dest[:] = records[start:end].view(raw)
        else:
            np.take(records.view(raw), order[start:end], out=dest)
        self.rows += end - start


def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a day number since the epoch."""
    return str(np.datetime64(int(day), "D"))


def publish_after_s(max_loss_s: float, flush_interval_s: float) -> float:
    """Age (from its drain) at which a row's part file must be published so that no row
    waits longer than ``max_loss_s`` from its arrival to its publication."""
    return max(max_loss_s - 2 * flush_interval_s - PUBLISH_MARGIN_S, flush_interval_s)


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
        Close a part file this many seconds after it was opened (None: never).
    max_loss_s : float or None
        Publish every row within this many seconds of its arrival (see the module
        docstring); None: no bound (replay, whose input is on disk already).
    compact : bool or None
        Merge the closed hours' part files (default: when ``max_loss_s`` is set).
    compact_grace_s : float or None
        Merge an hour this long after its end (wall clock) and after its last part;
        default ``max(120, 2 * max_loss_s)``.
    flush_interval_ms : int
        How often the thread writes what is due; it drains the rings at least this
        often and at least every :data:`DRAIN_PERIOD_S`.
    retention_days : int
        Delete partitions older than this many days (0: keep forever); checked at start
        and every ``retention_interval_s`` by the thread.
    row_group_rows : int
        Rows buffered per partition before they are written as one row group.
    row_group_bytes : int
        Record bytes buffered per partition before they are written.
    buffer_bytes : int
        Record bytes buffered over all partitions: above it, the largest buffers are
        written (as row groups) until half of it is left. 2 MiB: with ten symbols the
        busiest partitions are written every few seconds as ~1 MiB row groups (the
        hourly compaction rewrites them as 2 MiB ones); what a row group needs while it
        is encoded (its columns, ~2x its records) scales with it.
    part_metadata_bytes : int
        Close a part file once the footer metadata it holds in memory reaches this
        (row groups x columns; compaction merges the parts anyway).
    row_group_s : float or None
        Write buffered rows that are this old even if fewer (None: only by size).
    batch_records : int
        Records taken from a ring at a time (bounds each step's GIL hold); fewer for
        a wide table: a batch is at most :data:`SCRATCH_BYTES`.
    journal : RawJournal, optional
        Raw frame journal flushed by the same thread.
    retry_s : float
        After an I/O error, drop rows for this long before trying again.
    report : callable, optional
        Called by the thread every ``report_s`` (the store: log where the memory is).
    release : callable, optional
        Called by the thread after it wrote, at most every ``release_s`` (the store:
        give the allocators' free memory back to the OS).
    clock : callable
        Monotonic seconds (injectable for tests).
    wall_ms : callable
        Wall clock in ms (when an hour is over for compaction).
    """

    def __init__(self, rings, tables: Mapping[str, Table], symbols: Sequence[str],
                 scales: Callable[[int], tuple[int, int]], data_dir: str, *,
                 compression: str = "zstd", rotate_mb: float = 256, rotate_s: float | None = 3600,
                 max_loss_s: float | None = None, compact: bool | None = None,
                 compact_grace_s: float | None = None,
                 flush_interval_ms: int = 1000, retention_days: int = 0,
                 retention_interval_s: float = 3600.0, row_group_rows: int = 1 << 17,
                 row_group_bytes: int = 16 << 20, buffer_bytes: int = 2 << 20,
                 part_metadata_bytes: int = 256 << 10,
                 row_group_s: float | None = 60.0, batch_records: int = 4096,
                 journal=None, retry_s: float = 5.0,
                 report: Callable[[], None] | None = None, report_s: float = 60.0,
                 release: Callable[[], None] | None = None, release_s: float = 0.25,
                 clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 logger=None) -> None:
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
        self.drain_period_s = min(DRAIN_PERIOD_S, self.flush_interval_s)
        self.max_loss_s = max_loss_s
        self.publish_s = (None if max_loss_s is None
                          else publish_after_s(max_loss_s, self.flush_interval_s))
        self.retention_days = retention_days
        self.retention_interval_s = retention_interval_s
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.buffer_bytes = buffer_bytes
        self.part_metadata_bytes = part_metadata_bytes
        self.row_group_s = row_group_s
        self.journal = journal
        self.retry_s = retry_s
        self.clock = clock
        self.log = logger or get_logger("rtaid.store")
        self.rate_log = RateLimitedLog(self.log, 10.0, clock)
        self.batch_records = batch_records
        self.report = report
        self.report_s = report_s
        self._last_report = clock()
        self.release = release
        self.release_s = release_s
        self._last_release = clock()
        self._wrote = False
        if compact is None:
            compact = max_loss_s is not None
        self.compactor = None
        if compact:
            grace = (compact_grace_s if compact_grace_s is not None
                     else max(120.0, 2 * (max_loss_s or 60.0)))
            self.compactor = Compactor(self.data_dir, self.tables, self.symbols,
                                       compression=compression, grace_s=grace,
                                       wall_ms=wall_ms, clock=clock, logger=self.log)
        # (table, sym, hour) -> drained records waiting for their row group
        self._pending: dict[tuple, _Buffer] = {}
        self._pending_bytes = 0      # records in them
        self._buffer_capacity = 0    # bytes allocated for them
        # one drain buffer for every table, reused: draining allocates nothing (each
        # batch is copied to the partitions' buffers before the next drain); at most
        # SCRATCH_BYTES, so a wide table's batches have fewer records (4,096 indicators
        # records were 1.3 MiB, resident after the first busy drain)
        widest = max(t.dtype.itemsize for t in self.tables.values())
        self._scratch = np.empty(min(batch_records * widest, max(SCRATCH_BYTES, widest)),
                                 dtype=np.uint8)
        # (table, sym, hour) -> clock at which its unpublished rows are due in a visible file
        self._publish_by: dict[tuple, float] = {}
        self._jitter = random.Random(0x5EED)
        self._parts: dict[tuple, PartFile] = {}
        self._seq: dict[tuple, int] = defaultdict(int)
        self._newest_hour: dict[tuple, int] = {}
        self._scale_cache: dict[int, tuple[int, int]] = {}
        self._failed_until: float | None = None
        self._ring_dropped_seen = {name: 0 for name in self.tables}
        self._last_drain = -float("inf")
        self.rows_written = {name: 0 for name in self.tables}
        self.rows_dropped_io = {name: 0 for name in self.tables}
        self.files_written = 0
        self.bytes_written = 0     # of published part files (compaction's rewrites not counted)
        self.write_errors = 0
        self.last_error: str | None = None
        self.recovered: dict[str, int] = {}
        self._lock = threading.Lock()   # flush() from the thread vs stop()/tests
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_retention = -float("inf")

    # ------------------------------------------------------------------ thread
    def start(self) -> None:
        """Clean up after a killed predecessor (:meth:`recover`), start the thread."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self.recover()
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
        # flushes on a fixed schedule (a slow flush does not push the next one back);
        # between them, drains every drain_period_s
        next_flush = self.clock() + self.flush_interval_s
        while True:
            now = self.clock()
            wait = min(next_flush, max(self._last_drain, now - self.drain_period_s)
                       + self.drain_period_s) - now
            if self._stop.wait(max(0.0, wait)):
                return
            try:
                now = self.clock()
                if now >= next_flush:
                    next_flush = max(next_flush + self.flush_interval_s, now)
                    self.flush()
                    self._maybe_prune()
                    self._maybe_report()
                else:
                    with self._lock:
                        self._drain_all()
            except Exception as exc:  # the thread must outlive any bug in one flush
                self.log.exception("store_flush_failed", error=repr(exc))

    def _maybe_report(self) -> None:
        now = self.clock()
        if (self.release is not None and self._wrote
                and now - self._last_release >= self.release_s):
            self._last_release = now
            self._wrote = False
            self.release()
        if self.report is not None and now - self._last_report >= self.report_s:
            self._last_report = now
            self.report()

    def recover(self) -> dict[str, int]:
        """Remove what a killed writer left in this writer's partitions: temporary part
        files (unreadable: no footer; their rows are the loss) and compaction staging
        directories; queue the hours left with several files for compaction."""
        removed_tmp = 0
        for _, _, directory in partition_dirs(self.data_dir, self.tables, self.symbols):
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                if name.startswith(".") and name.endswith(".tmp"):
                    try:
                        os.unlink(os.path.join(directory, name))
                        removed_tmp += 1
                    except OSError as exc:
                        self.log.warning("store_recover_failed", path=name, error=str(exc))
        staging = queued = 0
        if self.compactor is not None:
            try:
                staging = self.compactor.recover()
                queued = self.compactor.scan()
            except OSError as exc:
                self.log.error("store_recover_failed", error=f"{type(exc).__name__}: {exc}")
        self.recovered = {"temporaries": removed_tmp, "staging": staging,
                          "hours_to_compact": queued}
        if removed_tmp or staging:
            self.log.warning("store_recovered", data_dir=self.data_dir, **self.recovered)
        return self.recovered

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
            self._drain_all()
            now = self.clock()
            self._write_due(now, final)
            self._close_due(now, final)
            if self.journal is not None:
                self.journal.flush(final)
            if self.compactor is not None:
                if final:
                    self.compactor.abort()
                elif self._failed_until is None:
                    busy = set(self._parts) | set(self._pending)
                    rows = self.compactor.rows_compacted
                    # after the flush's own work: a merge must keep up with the hours
                    self.compactor.step(busy, self.clock() + COMPACT_SHARE * self.flush_interval_s)
                    if self.compactor.rows_compacted != rows or self.compactor.job is not None:
                        self._wrote = True   # memory to give back (see release)

    def _drain_all(self) -> None:
        for name, table in self.tables.items():
            self._drain(name, table)
            self._check_ring_drops(name)
        self._last_drain = self.clock()
        if self._pending_bytes > self.buffer_bytes:
            self._write_largest(self.clock())

    def _drain_if_late(self) -> None:
        """Between writes: drain again if a drain period has passed,
        so that a long flush does not let the rings fill."""
        if self.clock() - self._last_drain >= self.drain_period_s:
            self._drain_all()

    def _drain(self, name: str, table: Table) -> None:
        # what is there now, no more: a producer faster than us must not keep us here
        budget = self.rings.pending(name)
        size = table.dtype.itemsize
        while budget > 0:
            room = self._scratch[:min(budget, self.batch_records,
                                      len(self._scratch) // size) * size]
            n = self.rings.drain(name, room)  # memcpy without the GIL
            if n == 0:
                return
            self._accept(name, room[:n * size].view(table.dtype))
            budget -= n
            if self._pending_bytes > self.buffer_bytes:
                # batch by batch: a ring that filled during a stall is written as it is
                # drained, in bounded row groups, not buffered whole
                self._write_largest(self.clock())

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
        key = (records["sym"].astype(np.int64) * KEY_SCALE
               + records[self.tables[name].time] // HOUR_MS)
        if key[0] == key[-1] and (key == key[0]).all():
            groups = [(int(key[0]), None, 0, len(records))]
        else:
            order = np.argsort(key, kind="stable")
            keys, starts = np.unique(key[order], return_index=True)
            bounds = list(starts[1:]) + [len(order)]
            groups = [(int(k), order, int(s), int(e)) for k, s, e in zip(keys, starts, bounds)]
        itemsize = records.dtype.itemsize
        for k, order, start, end in groups:
            sym, hour = divmod(k, KEY_SCALE)
            part_key = (name, sym, hour)
            buffer = self._pending.get(part_key)
            if buffer is None:
                buffer = self._pending[part_key] = _Buffer(records.dtype, end - start, now)
                self._buffer_capacity += buffer.nbytes
            else:
                self._buffer_capacity += buffer.reserve(end - start)
            buffer.append(records, order, start, end)
            self._pending_bytes += (end - start) * itemsize
            if self.publish_s is not None and part_key not in self._publish_by:
                # spread over the last fifth of the window: parts opened together (at
                # start) would otherwise all close in the same flush, every time
                self._publish_by[part_key] = now + self.publish_s * (
                    1.0 - PUBLISH_SPREAD * self._jitter.random())
            newest = self._newest_hour.get((name, sym))
            if newest is None or hour > newest:
                self._newest_hour[(name, sym)] = hour

    def _write_due(self, now: float, final: bool) -> None:
        for key in list(self._pending):
            buffer = self._pending.get(key)
            if buffer is None:   # written meanwhile (a drain over buffer_bytes)
                continue
            rows = buffer.rows
            old = self.row_group_s is not None and now - buffer.since >= self.row_group_s
            wide = rows * self.tables[key[0]].dtype.itemsize >= self.row_group_bytes
            if final or rows >= self.row_group_rows or wide or old:
                self._write(key, now)
                self._drain_if_late()

    def _write_largest(self, now: float) -> None:
        """Over ``buffer_bytes``: write the largest buffers until half of it is left."""
        sizes = sorted(((b.rows * b.records.itemsize, k) for k, b in self._pending.items()),
                       reverse=True)
        for _, key in sizes:
            if self._pending_bytes <= self.buffer_bytes // 2:
                return
            self._write(key, now)

    def _write(self, key: tuple, now: float) -> None:
        name, sym, hour = key
        buffer = self._pending.pop(key)
        rows = buffer.rows
        self._pending_bytes -= rows * buffer.records.itemsize
        self._buffer_capacity -= buffer.nbytes
        if self._failed_until is not None and now < self._failed_until:
            self.rows_dropped_io[name] += rows
            if key not in self._parts:
                self._publish_by.pop(key, None)
            return
        table = self.tables[name]
        px_dec, qty_dec = self._scales(sym)
        records = buffer.records[:rows]
        start_ms = int(records[0][table.time])
        arrow = table.to_arrow(records, px_dec, qty_dec)
        del buffer, records
        part = self._parts.get(key)
        try:
            if part is None:
                part = self._open(key, start_ms, now)
            part.write(arrow)
        except OSError as exc:
            self._fail(key, exc, rows, now)
            return
        self.rows_written[name] += rows
        self._wrote = True
        if self._failed_until is not None:
            self._failed_until = None
            self.log.info("store_write_recovered", table=name)
        if part.size >= self.rotate_bytes or part.metadata_bytes >= self.part_metadata_bytes:
            self._close(key)

    def _open(self, key: tuple, start_ms: int, now: float) -> PartFile:
        name, sym, hour = key
        directory = self._directory(key)
        os.makedirs(directory, exist_ok=True)
        while True:
            path = os.path.join(directory, f"part-{start_ms}-{self._seq[key]:04d}.parquet")
            self._seq[key] += 1
            if not os.path.exists(path):
                break
        part = PartFile(path, self.tables[name].schema, self.compression, now)
        self._parts[key] = part
        return part

    def _directory(self, key: tuple) -> str:
        name, sym, hour = key
        return os.path.join(self.data_dir, name, f"symbol={self.symbols[sym]}",
                            f"date={day_text(hour // HOURS_PER_DAY)}")

    def _close(self, key: tuple) -> None:
        part = self._parts.pop(key)
        if key not in self._pending:
            self._publish_by.pop(key, None)
        try:
            part.close()
        except OSError as exc:
            part.abort()
            self._fail(key, exc, part.rows, self.clock(), written=True)
            return
        self.files_written += 1
        self.bytes_written += part.bytes
        if self.compactor is not None:
            self.compactor.note(key[0], key[1], key[2], os.path.dirname(part.final_path))

    def _close_due(self, now: float, final: bool) -> None:
        for key in list(self._parts) + [k for k in self._pending if k not in self._parts]:
            name, sym, hour = key
            part = self._parts.get(key)
            overdue = now >= self._publish_by.get(key, float("inf"))
            too_old = (part is not None and self.rotate_s is not None
                       and now - part.opened_at >= self.rotate_s)
            past_hour = hour < self._newest_hour.get((name, sym), hour)
            if final or overdue or too_old or (past_hour and part is not None):
                if key in self._pending:   # its buffered rows belong in it
                    self._write(key, now)
                if key in self._parts:     # (the write may have rotated or failed it)
                    self._close(key)
                self._drain_if_late()

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
        if key not in self._pending:
            self._publish_by.pop(key, None)
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
    def rows_dropped(self) -> dict[str, int]:
        """Rows lost per table so far: full rings plus I/O errors."""
        return {name: self.rings.dropped(name) + self.rows_dropped_io[name]
                for name in self.tables}

    def memory(self) -> dict[str, int]:
        """Bytes this writer holds: its rings, drained records waiting for their row
        group, and what pyarrow has allocated (encoding, compaction)."""
        return {
            "rings": sum(self.rings.capacity_of(name) * table.dtype.itemsize
                         for name, table in self.tables.items()),
            "part_metadata": sum(p.metadata_bytes for p in self._parts.values()),
            "buffered": self._buffer_capacity + self._scratch.nbytes,
            "arrow": pa.total_allocated_bytes(),
        }

    def stats(self) -> dict:
        """Counters for metrics and the replay summary."""
        dropped = self.rows_dropped()
        stats = {
            "rows_written": dict(self.rows_written),
            "rows_dropped_io": dict(self.rows_dropped_io),
            "rows_dropped_ring": {name: self.rings.dropped(name) for name in self.tables},
            "rows_dropped": dropped,
            "rows_dropped_total": sum(dropped.values()),
            "files_written": self.files_written,
            "bytes_written": self.bytes_written,
            "files_open": len(self._parts),
            "write_errors": self.write_errors,
            # in the back-off after an I/O error (rows meanwhile are counted as dropped)
            "write_failing": self._failed_until is not None,
            "last_error": self.last_error,
        }
        if self.compactor is not None:
            stats["compaction"] = self.compactor.stats()
        return stats
