"""Read the Hive-partitioned dataset for the dashboard: only the partitions and columns
a page shows, aggregated in the query (DuckDB) where a page needs less than every row.

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
import threading
from dataclasses import dataclass
from typing import Iterable, Sequence

import duckdb
import pyarrow as pa
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
# DuckDB reads the part files: on the daemon's layout (hourly files, a row group per
# minute: a day of bars_1m is 1,440 row groups of one row) it was 2.5 to 6 times faster
# than pyarrow.dataset and its Acero engine (docs/dashboard.md). One in-memory database
# per process, one thread: the dashboard often shares the machine with the
# latency-sensitive daemon.
#
# Every scan says ``can_have_nan = true``: pyarrow writes float min/max statistics that
# leave NaN out (as the Parquet spec says), and DuckDB's optimizer otherwise takes them
# to mean "no NaN here" and folds isnan() away (duckdb issue #25521; DuckDB 2.0.1 did so
# with union_by_name, which is why the columns read are those every file has instead).
_SCAN = "read_parquet($files, can_have_nan = true{extra})"

_DATABASE = None
_DATABASE_LOCK = threading.Lock()


def _cursor():
    """A cursor of the process's DuckDB database (Streamlit runs sessions in threads;
    each query gets its own cursor)."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = duckdb.connect(":memory:", config={"threads": 1})
        return _DATABASE.cursor()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _present(refs: Sequence[FileRef], columns: Sequence[str]) -> list[str]:
    """``columns`` that every one of the files has (from the cached footers)."""
    have = None
    for ref in refs:
        names = set(file_summary(ref, None).columns)
        have = names if have is None else have & names
    return [c for c in columns if c in (have or ())]


def _query(refs: Sequence[FileRef], sql: str, params: dict) -> pa.Table:
    try:
        return _cursor().sql(sql, params={"files": [r[0] for r in refs], **params}).to_arrow_table()
    except duckdb.Error as exc:
        raise DatasetError(f"cannot read {_where(refs)}: {_short(exc)}") from None


def _time_where(column: str, start_ms: int | None, end_ms: int | None) -> tuple[str, dict]:
    clauses, params = [], {}
    if start_ms is not None:
        clauses.append(f"{_ident(column)} >= $start")
        params["start"] = int(start_ms)
    if end_ms is not None:
        clauses.append(f"{_ident(column)} < $end")
        params["end"] = int(end_ms)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def read(refs: Sequence[FileRef], columns: Sequence[str], time_column: str,
         start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
    """Read ``columns`` of the files, rows with ``start_ms <= time < end_ms``, in time
    order (rows of the same time in the files' order).

    Columns not in every file (a table written by an older or newer version) are left
    out of the result rather than failing. No files: an empty table with no columns.

    Raises
    ------
    DatasetError
        A file is unreadable (corrupt, permission denied).
    """
    if not refs:
        return pa.table({})
    _check_footers(refs)
    present = _present(refs, columns)
    if time_column not in present and _present(refs, [time_column]):
        present.insert(0, time_column)
    if not present:
        return pa.table({})
    where, params = _time_where(time_column, start_ms, end_ms)
    order = f" ORDER BY {_ident(time_column)}, filename, file_row_number" \
        if time_column in present else ""
    scan = _SCAN.format(extra=", filename = true, file_row_number = true")
    sql = f"SELECT {', '.join(map(_ident, present))} FROM {scan}{where}{order}"
    return _query(refs, sql, params)


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
    """Mean, min and max of each column per ``width_ms`` bucket, computed in the query.

    One GROUP BY over the files: DuckDB streams the row groups (those outside
    ``[start_ms, end_ms)`` are skipped by their statistics) and keeps one accumulator
    per bucket, so memory follows the number of buckets, not of rows. NaN (an
    indicator still warming up) counts as missing: a bucket's mean is over its valid
    values, and a bucket with none is null.

    Returns
    -------
    pyarrow.Table
        ``bucket_ms`` (start of the bucket), ``rows``, and ``<column>_mean``,
        ``<column>_min``, ``<column>_max`` per column, ordered by ``bucket_ms``.
        Columns not in every file are left out.
    """
    if not refs:
        return pa.table({"bucket_ms": pa.array([], pa.int64()), "rows": pa.array([], pa.int64())})
    _check_footers(refs)
    present = _present(refs, columns)
    width = int(width_ms)
    values = ", ".join(f"CASE WHEN isnan({_ident(c)}) THEN NULL ELSE {_ident(c)} END AS v{i}"
                       for i, c in enumerate(present))
    aggregates = "".join(
        f", avg(v{i}) AS {_ident(c + '_mean')}, min(v{i}) AS {_ident(c + '_min')}, "
        f"max(v{i}) AS {_ident(c + '_max')}" for i, c in enumerate(present))
    where, params = _time_where(time_column, start_ms, end_ms)
    t = _ident(time_column)
    # times are positive: integer division truncates = floors
    sql = (f"SELECT ({t} // {width}) * {width} AS bucket_ms, count(*) AS rows{aggregates} "
           f"FROM (SELECT {t}{', ' + values if values else ''} FROM {_SCAN.format(extra='')}"
           f"{where}) GROUP BY 1 ORDER BY 1")
    return _query(refs, sql, params)


def _check_footers(refs: Sequence[FileRef]) -> None:
    """Name an unreadable file before DuckDB's message would (it may not)."""
    for ref in refs:
        error = file_summary(ref, None).error
        if error:
            raise DatasetError(f"cannot read {ref[0]}: {error}")


def _where(refs: Sequence[FileRef]) -> str:
    return refs[0][0] if len(refs) == 1 else f"{len(refs)} files under {os.path.dirname(refs[0][0])}"


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------- footers


@dataclass(frozen=True)
class FileSummary:
    """What a part file's footer says: rows, the time column's first and last value
    (None when the file has no rows or no statistics), the columns; ``error`` if it is
    unreadable."""

    rows: int
    first: int | None
    last: int | None
    error: str | None = None
    columns: tuple[str, ...] = ()


@functools.lru_cache(maxsize=65536)
def file_summary(ref: FileRef, time_column: str | None) -> FileSummary:
    """Summarise one part file from its footer (cached per path, size and mtime)."""
    try:
        meta = pq.read_metadata(ref[0])
    except (pa.ArrowException, OSError) as exc:
        return FileSummary(0, None, None, _short(exc) or "unreadable")
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
    return FileSummary(meta.num_rows, first, last, columns=tuple(names))


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

