"""Compaction: the short-lived part files of an hour become one file, atomically.

The writer publishes a part file at least every ``storage.max_loss_s`` (that bounds
what a kill -9 loses), so an hour of a busy table is ~60 files. Once the hour is over
(``grace_s`` after its end by the wall clock, and the writer holds nothing of it), its
files are merged into ``part-<first start>-hour.parquet`` in the same partition
directory, rows in the order of the files, row groups of up to ``row_group_rows`` rows.

The parts' pages are copied into the merged file as they are (:mod:`rtaid.store.pagecopy`:
no value is decoded, the bytes move inside the kernel), so a merge holds a few KiB per
row group written whatever the hour's size. Parts whose pages cannot be copied (written
with another schema, another codec) are decoded and encoded again instead (``decoded``
in :meth:`Compactor.stats`), in row groups of at most ``row_group_bytes`` Arrow bytes.

Crash safety (readers and a kill -9 see the parts or the compacted file, never both,
never neither):

1. the merged file is written as ``<data_dir>/.compact/<table>~<symbol>~<date>/
   .compacted.tmp`` (outside every table directory; dot names), fsynced, and renamed to
   its final name inside that staging directory;
2. every other entry of the partition directory (files that stay, the writer's open
   temporary) is hard-linked into the staging directory, which is fsynced;
3. ``renameat2(RENAME_EXCHANGE)`` swaps the staging directory and the partition
   directory in one step (:mod:`rtaid.store.dirswap`), and both parents are fsynced;
4. the staging name now holds the old directory: it is deleted.

A kill before step 3 leaves the partition untouched; after it, the partition is
complete. Either way the staging directory is garbage, removed by :meth:`recover` at
the next start, and an hour left with several files is found by :meth:`scan` and
compacted again. The work is done in steps of one row group, inside the writer's
thread between its flushes (``step(until)``), so it never delays a flush by more than
one row group and needs no lock: only that thread changes the partitions.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from typing import Callable, Collection, Iterable, Mapping, Sequence

import pyarrow as pa

from rtaid.infra.log import RateLimitedLog, get_logger
from rtaid.store.dirswap import PROBE_NAME, exchange, exchange_supported
from rtaid.store.pagecopy import Incompatible, PageCopyMerge, empty_file_footer
from rtaid.store.partfile import fsync_path, parquet_reader, parquet_writer
from rtaid.store.tables import Table

HOUR_MS = 3_600_000
# A single merge or publish call this long is logged (compaction_slow): the writer's
# thread drains no ring during it (the rings hold two flush intervals at peak rates).
SLOW_CALL_S = 1.0
STAGING_DIR = ".compact"
PART_NAME = re.compile(r"^part-(\d+)-([0-9A-Za-z]+)\.parquet$")
COMPACTED_TAG = "hour"
SEP = "~"   # in staging names: table~symbol~date (none of them contains it)
# A row group of a file merged by copying pages takes whole row groups of the parts
# within row_group_rows and this many uncompressed bytes: nothing of it is held in
# memory; the bound keeps what a reader decodes of one row group moderate.
COPY_ROW_GROUP_BYTES = 64 << 20
# ... and at most this many of the parts' row groups (the writer's are ~1,000 rows: an
# output row group of ~30,000 rows, as the decoding merge's 8 MiB made them): the merge
# holds their index (pagecopy.RowGroupIndex) while it writes the row group.
COPY_MAX_INPUT_ROW_GROUPS = 32


def part_start(name: str) -> int | None:
    """The start (exchange ms) in a part file's name, None if not a part file."""
    match = PART_NAME.match(name)
    return int(match.group(1)) if match else None


def hour_files(directory: str, hour: int) -> list[str]:
    """Names of the visible part files of ``hour`` in a partition directory, in order."""
    found = []
    for name in os.listdir(directory):
        match = PART_NAME.match(name)
        if match and int(match.group(1)) // HOUR_MS == hour:
            found.append((int(match.group(1)), match.group(2) != COMPACTED_TAG,
                          match.group(2), name))
    return [entry[-1] for entry in sorted(found)]


def partition_dirs(data_dir: str, tables: Iterable[str], symbols: Sequence[str]):
    """``(table, symbol index, partition directory)`` of every existing partition of
    these tables and symbols."""
    for name in tables:
        for sym, symbol in enumerate(symbols):
            sym_dir = os.path.join(data_dir, name, f"symbol={symbol}")
            try:
                dates = sorted(os.listdir(sym_dir))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for date in dates:
                if date.startswith("date="):
                    yield name, sym, os.path.join(sym_dir, date)


def _dead_probe(entry: str) -> bool:
    """A directory of :func:`exchange_supported` whose process is gone."""
    match = re.match(PROBE_NAME, entry)
    if match is None:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class _Job:
    """One hour being merged: its inputs, where the merged file goes, and the output."""

    def __init__(self, key: tuple, directory: str, inputs: list[str], staging: str) -> None:
        self.key = key
        self.directory = directory
        self.inputs = inputs
        self.staging = staging
        self.tmp_path = os.path.join(staging, ".compacted.tmp")
        start = min(part_start(name) for name in inputs)
        self.final_name = f"part-{start}-{COMPACTED_TAG}.parquet"
        self.rows = 0

    def advance(self) -> bool:
        """One step of the merge (a row group); True when every input is in."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the merged file (the footer), before it is fsynced and renamed."""
        raise NotImplementedError

    def _close_files(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        try:
            self._close_files()
        except Exception:
            pass
        shutil.rmtree(self.staging, ignore_errors=True)


class _CopyJob(_Job):
    """The merge by copying pages (:mod:`rtaid.store.pagecopy`): the parts of one
    schema, as the writer writes them."""

    def __init__(self, key: tuple, directory: str, inputs: list[str], staging: str,
                 reference: dict, row_group_rows: int, row_group_bytes: int) -> None:
        super().__init__(key, directory, inputs, staging)
        self.merge = PageCopyMerge(directory, inputs, self.tmp_path, reference,
                                   row_group_rows, row_group_bytes, COPY_MAX_INPUT_ROW_GROUPS)

    def advance(self) -> bool:
        return self.merge.step()

    def close(self) -> None:
        self.rows = self.merge.close()

    def _close_files(self) -> None:
        self.merge.discard()


class _DecodeJob(_Job):
    """The merge by decoding row groups and encoding them again: for parts the pages of
    which cannot be copied (another schema, cast to the table's; another codec)."""

    def __init__(self, key: tuple, directory: str, inputs: list[str], staging: str,
                 table: Table, compression: str, row_group_rows: int,
                 row_group_bytes: int) -> None:
        super().__init__(key, directory, inputs, staging)
        self.table = table
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.file_index = 0
        self.group_index = 0
        self.current = None   # the input being read (parquet_reader)
        self.buffer: list[pa.Table] = []
        self.buffered_rows = 0
        self.buffered_bytes = 0
        self.sink = pa.OSFile(self.tmp_path, "wb")
        try:
            self.writer = parquet_writer(self.sink, table.schema, compression)
        except BaseException:
            self.sink.close()
            raise

    def close_inputs(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def advance(self) -> bool:
        """Move one row group of the inputs into the output."""
        if self.current is None:
            if self.file_index == len(self.inputs):
                self._write_buffer()
                return True
            self.current = parquet_reader(os.path.join(self.directory,
                                                       self.inputs[self.file_index]))
            self.group_index = 0
        if self.group_index >= self.current.num_row_groups:
            self.close_inputs()
            self.file_index += 1
            return False
        part = self.current.read_row_group(self.group_index, use_threads=False)
        self.group_index += 1
        if part.schema != self.table.schema:
            part = part.cast(self.table.schema)   # ArrowInvalid if it cannot be: job fails
        self.buffer.append(part)
        self.buffered_rows += part.num_rows
        self.buffered_bytes += part.nbytes
        if self.buffered_rows >= self.row_group_rows or self.buffered_bytes >= self.row_group_bytes:
            self._write_buffer()
        return False

    def _write_buffer(self) -> None:
        if self.buffered_rows:
            table = pa.concat_tables(self.buffer)
            self.writer.write_table(table, row_group_size=self.buffered_rows)
            self.rows += self.buffered_rows
            os.fdatasync(self.sink.fileno())   # a row group at a time (see PageCopyMerge.step)
        self.buffer, self.buffered_rows, self.buffered_bytes = [], 0, 0

    def close(self) -> None:
        self.writer.close()
        self.sink.close()

    def _close_files(self) -> None:
        self.close_inputs()
        for closer in (self.writer.close, self.sink.close):
            try:
                closer()
            except Exception:
                pass


class Compactor:
    """Merge the closed hours of one writer's partitions (its tables and symbols).

    Parameters
    ----------
    data_dir : str
        Root of the dataset.
    tables : mapping of str to Table
    symbols : sequence of str
        This process's symbols: only their partitions are touched (shards may share
        ``data_dir``; each owns its symbols).
    compression : str
    row_group_rows : int
        A row group of the merged file holds at most this many rows (when pages are
        copied: whole row groups of the parts within it and ``COPY_ROW_GROUP_BYTES``).
    row_group_bytes : int
        When parts are decoded: a row group is written once this many Arrow bytes are
        buffered. That merge's memory is the buffer (about twice it while encoded) plus
        the metadata of every row group written so far, which the Parquet writer keeps
        until the file closes (~800 bytes per column chunk). Measured once, ad hoc (not
        a bench/ figure): decoding an hour of a soak's busiest symbol's indicators (4 M
        rows, 566 parts; release after each step) peaked 56 MB above the process's
        start with 2 MiB row groups, 37 MB with 8 MiB, 48 with 16, 72 with 32.
    grace_s : float
        An hour is merged this long after its end by the wall clock (late rows, such as
        the bar of the hour's last minute, arrive after the hour), and this long after
        its last part file was published (rows of an hour that is over by the wall
        clock, as with a skewed exchange clock, are not merged again with every part).
    wall_ms : callable
        Wall clock in ms.
    """

    def __init__(self, data_dir: str, tables: Mapping[str, Table], symbols: Sequence[str], *,
                 compression: str = "zstd", row_group_rows: int = 1 << 17,
                 row_group_bytes: int = 8 << 20, grace_s: float = 120.0,
                 wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
                 retry_s: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 logger=None) -> None:
        self.data_dir = str(data_dir)
        self.tables = dict(tables)
        self.symbols = list(symbols)
        self.compression = compression
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.grace_s = grace_s
        self.grace_ms = int(grace_s * 1000)
        self.wall_ms = wall_ms
        self.retry_s = retry_s
        self.clock = clock
        self.log = logger or get_logger("rtaid.store.compaction")
        self.rate_log = RateLimitedLog(self.log, 60.0, clock)
        self.staging_root = os.path.join(self.data_dir, STAGING_DIR)
        self.disabled: str | None = None
        # (table, symbol index, hour) -> partition directory, hours that may need a merge
        self.candidates: dict[tuple, str] = {}
        self._retry_at: dict[tuple, float] = {}   # also: not before grace_s after a part
        self.job: _Job | None = None
        self.compactions = 0
        self.decoded = 0          # hours merged by decoding (parts of another schema)
        self._references: dict[str, dict] = {}
        self.files_compacted = 0
        self.rows_compacted = 0
        self.errors = 0
        self.last_error: str | None = None
        self.slowest_call_s = 0.0   # the longest single merge or publish call

    # ------------------------------------------------------------------ start-up
    def recover(self) -> int:
        """Remove the staging directories a killed process left (of our partitions);
        returns how many. Then check that directories can be exchanged here."""
        removed = 0
        ours = {f"{name}{SEP}{symbol}{SEP}" for name in self.tables for symbol in self.symbols}
        try:
            entries = os.listdir(self.staging_root)
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if any(entry.startswith(prefix) for prefix in ours) or _dead_probe(entry):
                shutil.rmtree(os.path.join(self.staging_root, entry), ignore_errors=True)
                removed += 1
        os.makedirs(self.staging_root, exist_ok=True)
        reason = exchange_supported(self.staging_root)
        if reason is not None:
            self.disabled = reason
            self.log.warning("compaction_unavailable", reason=reason, data_dir=self.data_dir,
                             consequence="part files are kept as written (one per "
                                         "storage.max_loss_s); the data is complete")
        else:
            # the reference footers, now: built among the first merge's temporaries,
            # these long-lived objects kept a pymalloc arena and ~1 MiB of heap after it
            # (the ten-symbol soak's RSS stepped up by ~2 MiB at its first compaction)
            for name in self.tables:
                self._reference(name)
        return removed

    def scan(self) -> int:
        """Queue every hour with more than one file (what an earlier run left)."""
        queued = 0
        for name, sym, directory in partition_dirs(self.data_dir, self.tables, self.symbols):
            counts: dict[int, int] = {}
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for entry in names:
                start = part_start(entry)
                if start is not None:
                    counts[start // HOUR_MS] = counts.get(start // HOUR_MS, 0) + 1
            for hour, n in counts.items():
                if n > 1:
                    self.candidates[(name, sym, hour)] = directory
                    queued += 1
        return queued

    # ------------------------------------------------------------------ work
    def note(self, name: str, sym: int, hour: int, directory: str) -> None:
        """The writer published a part file of this hour."""
        key = (name, sym, hour)
        self.candidates[key] = directory
        self._retry_at[key] = max(self._retry_at.get(key, 0.0), self.clock() + self.grace_s)

    def due(self, busy: Collection[tuple]) -> tuple | None:
        """The oldest hour that can be merged now (over, grace passed, not being written)."""
        now_ms = self.wall_ms()
        now = self.clock()
        best = None
        for key in self.candidates:
            hour = key[2]
            if (hour + 1) * HOUR_MS + self.grace_ms > now_ms or key in busy:
                continue
            if self._retry_at.get(key, 0.0) > now:
                continue
            if best is None or hour < best[2]:
                best = key
        return best

    def step(self, busy: Collection[tuple], until: float) -> None:
        """Merge until the clock reaches ``until`` (at least one row group of work when
        there is any); ``busy``: the (table, symbol, hour) keys the writer holds."""
        if self.disabled is not None:
            return
        while True:
            if self.job is None:
                key = self.due(busy)
                if key is None:
                    return
                directory = self.candidates.pop(key)
                self.job = self._start(key, directory)
                if self.job is None:      # nothing to merge (one file): forget the hour
                    self._retry_at.pop(key, None)
                    continue
            try:
                started = self.clock()
                done = self.job.advance()
                self._timed("merge", started)
                if done:
                    started = self.clock()
                    self._finish(self.job)
                    self._timed("publish", started)
                    self.job = None
            except Incompatible as exc:
                # parts whose pages cannot be copied: merged by decoding them instead
                job, self.job = self.job, None
                job.discard()
                self.log.info("compaction_decoding", table=job.key[0],
                              symbol=self.symbols[job.key[1]], reason=str(exc))
                self.job = self._start(job.key, job.directory, decode=True)
            except OSError as exc:
                self._fail(exc)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                self._fail(exc, permanent=True)   # files it cannot read or convert
            if self.clock() >= until:
                return

    def _timed(self, phase: str, started: float) -> None:
        """Note how long one call kept the writer's thread (it drains no ring meanwhile);
        a call over SLOW_CALL_S is logged with its phase (merge: a row group of parts;
        publish: the merged file's fsync, the directory exchange, the old one removed)."""
        took = self.clock() - started
        if took > self.slowest_call_s:
            self.slowest_call_s = took
        if took >= SLOW_CALL_S:
            job = self.job
            self.rate_log.warning("slow", "compaction_slow", phase=phase, seconds=round(took, 3),
                                  table=job.key[0], symbol=self.symbols[job.key[1]])

    def abort(self) -> None:
        """Give up the merge in progress (stop): its hour is merged at the next start."""
        if self.job is not None:
            self.job.discard()
            self.job = None

    def _start(self, key: tuple, directory: str, decode: bool = False) -> _Job | None:
        name, sym, hour = key
        try:
            inputs = hour_files(directory, hour)
        except OSError:
            return None   # the partition went away (retention)
        if len(inputs) < 2:
            return None
        date = os.path.basename(directory)[len("date="):]
        staging = os.path.join(self.staging_root, SEP.join((name, self.symbols[sym], date)))
        try:
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(staging)
            if decode:
                self.decoded += 1
                return _DecodeJob(key, directory, inputs, staging, self.tables[name],
                                  self.compression, self.row_group_rows, self.row_group_bytes)
            return _CopyJob(key, directory, inputs, staging, self._reference(name),
                            self.row_group_rows, COPY_ROW_GROUP_BYTES)
        except (OSError, pa.ArrowException) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            self._fail(exc, key, directory)
            return None

    def _finish(self, job: _Job) -> None:
        job.close()
        fsync_path(job.tmp_path)
        os.rename(job.tmp_path, os.path.join(job.staging, job.final_name))
        entries = os.listdir(job.directory)
        missing = [name for name in job.inputs if name not in entries]
        if missing:   # someone removed inputs meanwhile: merge again from what is there
            raise FileNotFoundError(f"{job.directory}: {missing[0]} went away during compaction")
        for entry in entries:
            if entry in job.inputs:
                continue
            if entry == job.final_name:
                raise FileExistsError(f"{job.directory}/{entry} exists and is not an input")
            os.link(os.path.join(job.directory, entry), os.path.join(job.staging, entry))
        fsync_path(job.staging, directory=True)
        exchange(job.staging, job.directory)
        # done: the partition holds the merged file. What follows makes it durable and
        # removes the old directory; a failure there leaves garbage for recover().
        try:
            fsync_path(os.path.dirname(job.directory), directory=True)
            fsync_path(self.staging_root, directory=True)
            shutil.rmtree(job.staging)   # the old directory: the inputs and extra links
        except OSError as exc:
            self.rate_log.warning("compaction_cleanup", "compaction_cleanup_failed",
                                  error=f"{type(exc).__name__}: {exc}")
        self.compactions += 1
        self.files_compacted += len(job.inputs)
        self.rows_compacted += job.rows
        self._retry_at.pop(job.key, None)
        self.log.debug("compacted", table=job.key[0], symbol=self.symbols[job.key[1]],
                       files=len(job.inputs), rows=job.rows, file=job.final_name)

    def _fail(self, exc: Exception, key: tuple | None = None, directory: str | None = None,
              permanent: bool = False) -> None:
        """Give up a merge: its parts stay as they are (nothing was changed). An I/O
        error is retried after ``retry_s``; files that cannot be merged are left alone
        until the next start."""
        job, self.job = self.job, None
        if job is not None:
            key, directory = job.key, job.directory
            job.discard()
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if key is not None and not permanent:
            self.candidates.setdefault(key, directory)
            self._retry_at[key] = self.clock() + self.retry_s
        self.rate_log.error("compaction", "compaction_failed", error=self.last_error,
                            table=key[0] if key else None,
                            symbol=self.symbols[key[1]] if key else None,
                            retry_in_s=None if permanent else self.retry_s)

    def _reference(self, name: str) -> dict:
        """The footer the writer gives a file of table ``name`` (what copied parts'
        schemas must be)."""
        if name not in self._references:
            self._references[name] = empty_file_footer(
                self.tables[name].schema,
                lambda sink, schema: parquet_writer(sink, schema, self.compression))
        return self._references[name]

    def stats(self) -> dict:
        return {"compactions": self.compactions, "decoded": self.decoded,
                "files_compacted": self.files_compacted,
                "rows_compacted": self.rows_compacted, "errors": self.errors,
                "last_error": self.last_error, "queued": len(self.candidates),
                "disabled": self.disabled, "slowest_call_s": round(self.slowest_call_s, 3)}
