"""Read the Hive-partitioned dataset for the dashboard: only the partitions and columns
a page shows, aggregated by Arrow's engine (Acero) where a page needs less than every row.

Layout (rtaid/store): ``<root>/<table>/symbol=<SYMBOL>/date=<YYYY-MM-DD>/part-*.parquet``.
Partitions are picked by directory (symbol and days), never by scanning the dataset;
the per-event ``indicators`` table is reduced to at most a few thousand time buckets
(mean, min, max per bucket) inside the scan, so a day of it never reaches pandas.

Nothing here imports Streamlit: the pages cache these functions, keyed on the
:data:`FileRef` tuples (path, size, mtime), so a new or rotated file invalidates them.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import pyarrow as pa
import pyarrow.acero as acero
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from rtaid.store.retention import DATE_DIR

PART_FILE = re.compile(r"^part-.*\.parquet$")  # the writer's; dot files are in progress
RAW_TABLE = "raw"  # the journal: gzip frames, no Parquet
TIME_COLUMNS = ("ts_ms", "E", "minute_ms")
# Bucket widths offered to the downsampler (ms): "nice" steps for a time axis.
BUCKET_WIDTHS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1_000, 2_000, 5_000, 10_000,
                    15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
                    3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000)

FileRef = tuple  # (path: str, size: int, mtime_ns: int); hashable, so a cache key


class DatasetError(Exception):
    """A file of the dataset could not be read (the message names it)."""


# --------------------------------------------------------------------------- partitions


def state(root: str) -> str | None:
    """Why the dataset at ``root`` cannot be shown, or None when it has tables.

    Returns
    -------
    str or None
        A sentence for the user: the directory is missing, not a directory, not
        readable, or has no Parquet partitions yet.
    """
    if not os.path.exists(root):
        return (f"The data directory {root} does not exist. Start the daemon (`rtaid run`) "
                f"or make a dataset with `rtaid replay FILE... --out {root}`, or point the "
                f"dashboard at one with `--data-dir`.")
    if not os.path.isdir(root):
        return f"The data directory {root} is not a directory."
    if not os.access(root, os.R_OK | os.X_OK):
        return f"The data directory {root} is not readable by this user."
    if not symbols(root):
        return (f"The data directory {root} holds no data yet (no "
                f"<table>/symbol=*/date=*/part-*.parquet files). The daemon's files appear "
                f"when they are complete (storage.rotate_s); `rtaid replay FILE... --out "
                f"{root}` makes a dataset from recordings.")
    return None


def tables(root: str) -> list[str]:
    """Tables (directories holding ``symbol=`` partitions), sorted; the raw journal excluded."""
    return [t for t in _listdir(root)
            if t != RAW_TABLE and any(s.startswith("symbol=") for s in _listdir(os.path.join(root, t)))]


def symbols(root: str) -> list[str]:
    """Symbols with at least one Parquet part file, in any table."""
    found = set()
    for table in tables(root):
        for entry in _listdir(os.path.join(root, table)):
            if entry.startswith("symbol=") and entry[7:] not in found:
                if any(_part_files(os.path.join(root, table, entry, d))
                       for d in _listdir(os.path.join(root, table, entry)) if DATE_DIR.match(d)):
                    found.add(entry[7:])
    return sorted(found)


def days(root: str, symbol: str, among: Iterable[str] | None = None) -> list[str]:
    """Days (``YYYY-MM-DD``) with part files for ``symbol`` in the tables ``among``
    (default: every table), sorted."""
    found = set()
    for table in (among if among is not None else tables(root)):
        sym_dir = os.path.join(root, table, f"symbol={symbol}")
        for entry in _listdir(sym_dir):
            match = DATE_DIR.match(entry)
            if match and _part_files(os.path.join(sym_dir, entry)):
                found.add(match.group(1))
    return sorted(found)


def has_table(root: str, table: str) -> bool:
    """Whether ``table`` has any partition directory in the dataset."""
    return table in tables(root)


def files(root: str, table: str, symbol: str, day_list: Sequence[str]) -> tuple[FileRef, ...]:
    """The part files of ``table`` for ``symbol`` on each day of ``day_list``, with their
    size and mtime (so that a cache keyed on them sees new and rotated files)."""
    out = []
    for day in day_list:
        directory = os.path.join(root, table, f"symbol={symbol}", f"date={day}")
        for name in _part_files(directory):
            path = os.path.join(directory, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue  # removed by retention meanwhile
            out.append((path, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _part_files(directory: str) -> list[str]:
    return [n for n in _listdir(directory) if PART_FILE.match(n)]


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


# --------------------------------------------------------------------------- reading


def _dataset(refs: Sequence[FileRef]) -> ds.Dataset:
    try:
        return ds.dataset([r[0] for r in refs], format="parquet")
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"cannot read the dataset's files ({_short(exc)})") from None


def read(refs: Sequence[FileRef], columns: Sequence[str], time_column: str,
         start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
    """Read ``columns`` of the files, rows with ``start_ms <= time < end_ms``, in time order.

    Columns a file does not have (a table written by an older version) are left out of
    the result rather than failing. No files: an empty table with no columns.

    Raises
    ------
    DatasetError
        A file is unreadable (corrupt, permission denied).
    """
    if not refs:
        return pa.table({})
    dataset = _dataset(refs)
    present = [c for c in columns if c in dataset.schema.names]
    if time_column not in present and time_column in dataset.schema.names:
        present.insert(0, time_column)
    condition = _time_filter(time_column, start_ms, end_ms)
    try:
        table = dataset.to_table(columns=present, filter=condition)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"cannot read {_where(refs)}: {_short(exc)}") from None
    if time_column in table.column_names:
        table = table.sort_by(time_column)
    return table


def time_span(refs: Sequence[FileRef], time_column: str) -> tuple[int, int] | None:
    """First and last ``time_column`` value over the files, from the Parquet footers'
    statistics (no data page is read). None when there are no rows."""
    lo = hi = None
    for ref in refs:
        summary = file_summary(ref, time_column)
        if summary.rows and summary.first is not None:
            lo = summary.first if lo is None else min(lo, summary.first)
            hi = summary.last if hi is None else max(hi, summary.last)
    return None if lo is None else (lo, hi)


def bucket_width(span_ms: int, max_points: int) -> int:
    """The smallest "nice" bucket width giving at most ``max_points`` buckets over
    ``span_ms`` (a width of 1 ms keeps every distinct time)."""
    for width in BUCKET_WIDTHS_MS:
        if span_ms // width + 1 <= max_points:
            return width
    return BUCKET_WIDTHS_MS[-1]


def downsample(refs: Sequence[FileRef], time_column: str, columns: Sequence[str],
               width_ms: int, start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
    """Mean, min and max of each column per ``width_ms`` bucket, computed in the scan.

    One Acero plan (scan, filter, project, hash aggregate, order by) over the files:
    the engine streams the row groups (those outside ``[start_ms, end_ms)`` are skipped
    by their statistics) and keeps one accumulator per bucket, so memory follows the
    number of buckets, not of rows. NaN (an indicator still warming up) counts as
    missing: a bucket's mean is over its valid values, and a bucket with none is null.
    The plan runs on the calling thread: the dashboard often shares the machine with
    the latency-sensitive daemon (and on 2 cores it was no slower).

    Returns
    -------
    pyarrow.Table
        ``bucket_ms`` (start of the bucket), ``rows``, and ``<column>_mean``,
        ``<column>_min``, ``<column>_max`` per column, ordered by ``bucket_ms``.
        Columns the files lack are left out.
    """
    if not refs:
        return pa.table({"bucket_ms": pa.array([], pa.int64()), "rows": pa.array([], pa.int64())})
    dataset = _dataset(refs)
    present = [c for c in columns if c in dataset.schema.names]
    width = pa.scalar(int(width_ms), pa.int64())
    # times are positive: integer division truncates = floors
    bucket = pc.multiply(pc.divide(pc.field(time_column), width), width)
    null = pa.scalar(None, pa.float64())
    values = [pc.if_else(pc.is_nan(pc.field(c)), null, pc.field(c).cast(pa.float64()))
              for c in present]
    aggregates = [(time_column, "hash_count", pc.CountOptions(mode="all"), "rows")]
    flat, names = [pc.field("bucket_ms"), pc.field("rows")], ["bucket_ms", "rows"]
    for c in present:
        aggregates += [(c, "hash_mean", None, f"{c}_mean"), (c, "hash_min_max", None, f"{c}_mm")]
        flat += [pc.field(f"{c}_mean"), pc.field(f"{c}_mm", "min"), pc.field(f"{c}_mm", "max")]
        names += [f"{c}_mean", f"{c}_min", f"{c}_max"]
    condition = _time_filter(time_column, start_ms, end_ms)
    scan_filter = condition if condition is not None else pc.scalar(True)
    plan = acero.Declaration.from_sequence([
        acero.Declaration("scan", acero.ScanNodeOptions(
            dataset, columns=[time_column, *present], filter=scan_filter)),
        acero.Declaration("filter", acero.FilterNodeOptions(scan_filter)),
        acero.Declaration("project", acero.ProjectNodeOptions(
            [bucket, pc.field(time_column), *values], ["bucket_ms", time_column, *present])),
        acero.Declaration("aggregate", acero.AggregateNodeOptions(aggregates, keys=["bucket_ms"])),
        acero.Declaration("project", acero.ProjectNodeOptions(flat, names)),
        acero.Declaration("order_by", acero.OrderByNodeOptions([("bucket_ms", "ascending")])),
    ])
    try:
        return plan.to_table(use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"cannot read {_where(refs)}: {_short(exc)}") from None


def _time_filter(column: str, start_ms: int | None, end_ms: int | None):
    condition = None
    if start_ms is not None:
        condition = pc.field(column) >= start_ms
    if end_ms is not None:
        upper = pc.field(column) < end_ms
        condition = upper if condition is None else condition & upper
    return condition


def _where(refs: Sequence[FileRef]) -> str:
    return refs[0][0] if len(refs) == 1 else f"{len(refs)} files under {os.path.dirname(refs[0][0])}"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------- footers


@dataclass(frozen=True)
class FileSummary:
    """What a part file's footer says: rows and the time column's first and last value
    (None when the file has no rows or no statistics); ``error`` if it is unreadable."""

    rows: int
    first: int | None
    last: int | None
    error: str | None = None


@functools.lru_cache(maxsize=65536)
def file_summary(ref: FileRef, time_column: str | None) -> FileSummary:
    """Summarise one part file from its footer (cached per path, size and mtime)."""
    try:
        meta = pq.read_metadata(ref[0])
    except (pa.ArrowException, OSError) as exc:
        return FileSummary(0, None, None, _short(exc))
    names = meta.schema.names
    column = time_column if time_column in names else next(
        (c for c in TIME_COLUMNS if c in names), None)
    first = last = None
    if column is not None:
        index = names.index(column)
        for i in range(meta.num_row_groups):
            stats = meta.row_group(i).column(index).statistics
            if stats is None or not stats.has_min_max:
                first = last = None
                break
            first = stats.min if first is None else min(first, stats.min)
            last = stats.max if last is None else max(last, stats.max)
    return FileSummary(meta.num_rows, first, last)


# --------------------------------------------------------------------------- inventory


@dataclass(frozen=True)
class Partition:
    """One ``<table>/symbol=S/date=D`` directory of the dataset."""

    table: str
    symbol: str
    day: str
    files: int
    rows: int | None      # None for the raw journal (gzip lines are not counted)
    bytes: int
    first_ms: int | None
    last_ms: int | None
    unreadable: int


def inventory(root: str, time_columns: dict[str, str] | None = None) -> list[Partition]:
    """Every partition of the dataset with its files, rows, bytes and time range.

    Rows and times come from the footers (cached per file), bytes from ``stat``: no
    data is read. ``time_columns`` maps a table to the column that dates its rows
    (default: the first of ``ts_ms``, ``E``, ``minute_ms`` a file has).
    """
    time_columns = time_columns or {}
    out = []
    for table in [*tables(root), *([RAW_TABLE] if os.path.isdir(os.path.join(root, RAW_TABLE)) else [])]:
        for sym_entry in _listdir(os.path.join(root, table)):
            if not sym_entry.startswith("symbol="):
                continue
            for day_entry in _listdir(os.path.join(root, table, sym_entry)):
                match = DATE_DIR.match(day_entry)
                if not match:
                    continue
                out.append(_partition(root, table, sym_entry[7:], match.group(1),
                                      time_columns.get(table)))
    return out


def _partition(root: str, table: str, symbol: str, day: str, time_column: str | None) -> Partition:
    directory = os.path.join(root, table, f"symbol={symbol}", f"date={day}")
    if table == RAW_TABLE:
        names = [n for n in _listdir(directory) if n.endswith(".gz") and not n.startswith(".")]
        size = 0
        for n in names:
            try:
                size += os.stat(os.path.join(directory, n)).st_size
            except FileNotFoundError:
                pass
        return Partition(table, symbol, day, len(names), None, size, None, None, 0)
    refs = files(root, table, symbol, [day])
    rows, first, last, unreadable = 0, None, None, 0
    for ref in refs:
        summary = file_summary(ref, time_column)
        if summary.error:
            unreadable += 1
            continue
        rows += summary.rows
        if summary.first is not None:
            first = summary.first if first is None else min(first, summary.first)
            last = summary.last if last is None else max(last, summary.last)
    return Partition(table, symbol, day, len(refs), rows, sum(r[1] for r in refs), first, last,
                     unreadable)


def retention_cutoff(retention_days: int, today: dt.date | None = None) -> dt.date | None:
    """The first day retention keeps (rtaid.store.retention.prune removes days before
    it); None when retention is off (0 keeps everything)."""
    if retention_days <= 0:
        return None
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return today - dt.timedelta(days=retention_days)


def day_bounds_ms(day_list: Sequence[str]) -> tuple[int, int]:
    """Start of the first day and end of the last (UTC, ms) of ``day_list``."""
    first = dt.datetime.fromisoformat(min(day_list)).replace(tzinfo=dt.timezone.utc)
    last = dt.datetime.fromisoformat(max(day_list)).replace(tzinfo=dt.timezone.utc)
    return int(first.timestamp() * 1000), int((last + dt.timedelta(days=1)).timestamp() * 1000)
