"""rtaid's one-minute bars as freqtrade frames: read from the dataset, resampled.

A frame row is one ``bars_1m`` row of the dataset with freqtrade's names in front:
``date`` (the bar's minute, epoch ms), ``open high low close volume``, then every other
``bars_1m`` column in the dataset's order (``buy_volume``, ..., ``vwap``, ``spread_mean``,
``mid_last``, each indicator's ``<x>_last``, ``<x>_z_last``, ``<x>_osc_last``), then
``target``: the strategy's target position (-1, 0, +1) at the bar's close, i.e. the
``target`` of the last ``signals`` row before the minute ended (0 before any; the
daemon starts flat, and a restart's return to flat has no signals row).

Minutes without a trade have NaN open/high/low/close (indicators.md section 10, B3), and
minutes without any event have no bar (B2): frames show the dataset as it is.

This module needs numpy and pyarrow only (no kernels, no pandas), so freqtrade's
environment can import it for :func:`rtaid.freqtrade.load_bars`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

MINUTE_MS = 60_000
OHLCV = ("open", "high", "low", "close", "volume")
BAR_TIME = "minute_ms"
TARGET = "target"
# how a longer bar is made from minutes; every other column: its value in the last minute
# (the bars' own rule: "<x>_last" is the value at the bar's close)
FIRST_VALID = ("open",)
LAST_VALID = ("close",)
MAXIMUM = ("high",)
MINIMUM = ("low",)
SUMS = ("volume", "buy_volume", "sell_volume", "trade_count")
_PART = re.compile(r"^part-(\d+)-(\d+)\.parquet$")
_TIMEFRAME = re.compile(r"^(\d+)([mhd])$")
_UNIT_MS = {"m": MINUTE_MS, "h": 60 * MINUTE_MS, "d": 1440 * MINUTE_MS}


def timeframe_ms(timeframe: str) -> int:
    """``"5m"`` -> 300000. Whole minutes, hours or days (freqtrade's spelling).

    Raises
    ------
    ValueError
        For anything else.
    """
    m = _TIMEFRAME.match(timeframe or "")
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"timeframe {timeframe!r} is not supported: use minutes, hours or "
                         f"days, e.g. 1m, 5m, 1h, 1d")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def frame_columns(bar_columns: Iterable[str]) -> list[str]:
    """The frame's columns for the dataset's ``bars_1m`` columns (see module doc)."""
    rest = [c for c in bar_columns if c not in OHLCV and c not in (BAR_TIME, "symbol", "date")]
    return ["date", *OHLCV, *rest, TARGET]


def day_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def partitions(data_dir: str, table: str, symbol: str) -> list[tuple[str, str]]:
    """``[(YYYY-MM-DD, directory)]`` of a symbol's partitions of ``table``, oldest first."""
    root = os.path.join(data_dir, table, f"symbol={symbol}")
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((n[5:], os.path.join(root, n)) for n in names if n.startswith("date="))


def part_files(directory: str) -> list[str]:
    """Complete part files of one partition in write order (dot files are unfinished)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        m = _PART.match(name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), os.path.join(directory, name)))
    return [path for _, _, path in sorted(found)]


def _read(files: Sequence[str], columns: Sequence[str] | None = None,
          flt=None) -> pa.Table | None:
    if not files:
        return None
    # one schema for every file: the newest (a column added later is null in older ones)
    schema = ds.dataset(files[-1], format="parquet").schema
    table = ds.dataset(list(files), schema=schema, format="parquet").to_table(
        columns=list(columns) if columns else None, filter=flt)
    return table


def _files_between(data_dir: str, table: str, symbol: str, start_ms: int | None,
                   end_ms: int | None) -> list[str]:
    lo = day_of(start_ms) if start_ms is not None else ""
    hi = day_of(end_ms) if end_ms is not None else "9999"
    files: list[str] = []
    for day, directory in partitions(data_dir, table, symbol):
        if lo <= day <= hi:
            files.extend(part_files(directory))
    return files


@dataclass
class BarFrame:
    """Frame columns of one symbol's bars, oldest first, one array per column."""

    columns: list[str]
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["date"])

    @property
    def dates(self) -> np.ndarray:
        return self.arrays["date"]

    def rows(self) -> list[tuple]:
        """Row tuples of Python values in column order."""
        cols = [self.arrays[c].tolist() for c in self.columns]
        return list(zip(*cols))

    def to_arrow(self) -> pa.Table:
        arrays = []
        for c in self.columns:
            values = self.arrays[c]
            if c == "date":
                arrays.append(pa.array(values, type=pa.timestamp("ms", tz="UTC")))
            else:
                arrays.append(pa.array(values))
        return pa.Table.from_arrays(arrays, names=self.columns)


def read_bars(data_dir: str, symbol: str, start_ms: int | None = None,
              end_ms: int | None = None) -> BarFrame | None:
    """A symbol's bars with ``start_ms <= minute < end_ms`` (either open), with targets.

    Returns None when the dataset has no ``bars_1m`` file for the symbol. A minute
    written twice (two runs over the same data dir) keeps the row written last.
    """
    files = _files_between(data_dir, "bars_1m", symbol, start_ms, end_ms)
    flt = None
    if start_ms is not None:
        flt = ds.field(BAR_TIME) >= start_ms
    if end_ms is not None:
        upper = ds.field(BAR_TIME) < end_ms
        flt = upper if flt is None else flt & upper
    table = _read(files, flt=flt)
    if table is None:
        return None
    if "symbol" in table.column_names:
        table = table.drop_columns(["symbol"])
    minutes = table.column(BAR_TIME).to_numpy()
    keep = _last_of_each(minutes)
    columns = frame_columns(table.column_names)
    arrays = {"date": minutes[keep]}
    for name in table.column_names:
        if name != BAR_TIME:
            arrays[name] = table.column(name).to_numpy(zero_copy_only=False)[keep]
    arrays[TARGET] = read_targets(data_dir, symbol, arrays["date"])
    return BarFrame(columns, arrays)


def _last_of_each(minutes: np.ndarray) -> np.ndarray:
    """Indices that sort ``minutes`` keeping the last occurrence of each value."""
    order = np.argsort(minutes, kind="stable")
    ordered = minutes[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = ordered[1:] != ordered[:-1]
    return order[last]


def read_targets(data_dir: str, symbol: str, minutes: np.ndarray) -> np.ndarray:
    """The strategy's target at the close of each bar (see module doc)."""
    out = np.zeros(len(minutes), dtype=np.int32)
    if not len(minutes):
        return out
    first, last = int(minutes[0]), int(minutes[-1]) + MINUTE_MS
    days = partitions(data_dir, "signals", symbol)
    lo, hi = day_of(first), day_of(last)
    files = [f for day, d in days if lo <= day <= hi for f in part_files(d)]
    table = _read(files, columns=["ts_ms", "seq", "target"],
                  flt=ds.field("ts_ms") < last)
    ts = np.empty(0, dtype=np.int64)
    targets = np.empty(0, dtype=np.int32)
    if table is not None and table.num_rows:
        order = np.lexsort((table.column("seq").to_numpy(), table.column("ts_ms").to_numpy()))
        ts = table.column("ts_ms").to_numpy()[order]
        targets = table.column("target").to_numpy().astype(np.int32)[order]
    carry = _target_before(days, lo, first, ts, targets)
    idx = np.searchsorted(ts, minutes + MINUTE_MS, side="left") - 1
    out[:] = np.where(idx >= 0, targets[np.maximum(idx, 0)] if len(targets) else 0, carry)
    return out


def _target_before(days, lo: str, first: int, ts, targets) -> int:
    """The target in force before the first signal read (older partitions, newest first)."""
    if len(ts) and ts[0] < first:
        return 0  # the window's own rows carry it (idx >= 0 for every bar)
    for day, directory in reversed(days):
        if day >= lo:
            continue
        table = _read(part_files(directory), columns=["ts_ms", "seq", "target"])
        if table is not None and table.num_rows:
            order = np.lexsort((table.column("seq").to_numpy(), table.column("ts_ms").to_numpy()))
            return int(table.column("target").to_numpy()[order[-1]])
    return 0


def newest_bar(data_dir: str, symbol: str, cache: dict | None = None) -> dict | None:
    """The last ``bars_1m`` row of the symbol's newest part file (None: none yet).

    ``cache`` (a dict kept by the caller) remembers the file read last, so a poll that
    finds no new file reads nothing.
    """
    days = partitions(data_dir, "bars_1m", symbol)
    for _, directory in reversed(days):
        files = part_files(directory)
        if not files:
            continue
        newest = files[-1]
        if cache is not None and cache.get(symbol, (None,))[0] == newest:
            return cache[symbol][1]
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(newest)
        if pf.metadata.num_rows == 0:
            return None
        group = pf.read_row_group(pf.metadata.num_row_groups - 1)
        row = group.slice(group.num_rows - 1).to_pylist()[0]
        if cache is not None:
            cache[symbol] = (newest, row)
        return row
    return None


# ---------------------------------------------------------------------- resampling


def resample(frame: BarFrame, tf_ms: int) -> BarFrame:
    """Bars of ``tf_ms`` (a whole number of minutes) from one-minute bars.

    open: the first minute's open that is not NaN; close: the last such close; high/low:
    max/min; volume, buy_volume, sell_volume, trade_count: sums; vwap: volume-weighted;
    spread_mean: mean of the minutes' means; every other column (mid_last, ``*_last``,
    target): the value of the last minute in the bar. ``date`` is the bar's start.
    """
    if tf_ms == MINUTE_MS or not len(frame):
        return frame
    if tf_ms % MINUTE_MS:
        raise ValueError("timeframes are whole minutes")
    dates = frame.dates
    buckets = dates - dates % tf_ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(dates)]
    out = {"date": buckets[starts]}
    for col in frame.columns[1:]:
        values = frame.arrays[col]
        if col in FIRST_VALID or col in LAST_VALID:
            out[col] = _first_or_last_valid(values, starts, ends, col in LAST_VALID)
        elif col in MAXIMUM:        # fmax/fmin skip NaN unless every value is NaN
            out[col] = np.fmax.reduceat(values, starts)
        elif col in MINIMUM:
            out[col] = np.fmin.reduceat(values, starts)
        elif col in SUMS:
            out[col] = np.add.reduceat(values, starts)
        elif col == "vwap":
            vol = frame.arrays["volume"]
            notional = np.add.reduceat(np.where(vol > 0, values * vol, 0.0), starts)
            total = np.add.reduceat(vol, starts)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[col] = np.where(total > 0, notional / total, np.nan)
        elif col == "spread_mean":
            valid = ~np.isnan(values)
            n = np.add.reduceat(valid.astype(np.int64), starts)
            s = np.add.reduceat(np.where(valid, values, 0.0), starts)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[col] = np.where(n > 0, s / n, np.nan)
        else:
            out[col] = values[ends - 1]
    return BarFrame(frame.columns, out)


def _first_or_last_valid(values, starts, ends, last: bool) -> np.ndarray:
    out = np.full(len(starts), np.nan)
    valid = ~np.isnan(values)
    for i, (a, b) in enumerate(zip(starts, ends)):
        hits = np.flatnonzero(valid[a:b])
        if len(hits):
            out[i] = values[a + (hits[-1] if last else hits[0])]
    return out
