"""Reading the training data: ``bars_1m`` (and ``signals``) of a Hive-partitioned dataset,
and the labels.

``<data_dir>/<table>/symbol=X/date=YYYY-MM-DD/*.parquet``; the symbol and date filters
are applied to the partitions (pyarrow skips the directories that do not match).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import numpy as np

from rtaid.ai.features import BAR_COLUMNS, MINUTE_MS, feature_matrix

SIGNAL_COLUMNS = ("ts_ms", "target", "mid")


def parse_date(text: str, flag: str) -> str:
    """``YYYY-MM-DD`` as given (validated), for a partition filter."""
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None


def parse_horizon(text: str) -> int:
    """``5m``, ``1h`` or ``300s`` -> whole minutes (at least one)."""
    text = text.strip().lower()
    units = {"m": 1, "min": 1, "h": 60, "s": None}
    for suffix in ("min", "m", "h", "s"):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            break
    else:
        suffix, number = "m", text
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"--horizon {text!r}: use minutes like 5m (or 1h, 300s)") from None
    minutes = value / 60.0 if units[suffix] is None else value * units[suffix]
    if minutes < 1 or minutes != int(minutes):
        raise ValueError(f"--horizon {text!r}: a whole number of minutes, at least 1 (bars are 1 minute)")
    return int(minutes)


def _read_table(data_dir: str, table: str, symbols, date_from, date_to, columns):
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = os.path.join(data_dir, table)
    if not os.path.isdir(root):
        raise ValueError(f"{root}: no such directory (is --data-dir a dataset written by "
                         f"rtaid run or rtaid replay?)")
    partitioning = ds.partitioning(pa.schema([("symbol", pa.string()), ("date", pa.string())]),
                                   flavor="hive")
    dataset = ds.dataset(root, format="parquet", partitioning=partitioning)
    flt = ds.field("symbol").isin(list(symbols))
    if date_from:
        flt &= ds.field("date") >= date_from
    if date_to:
        flt &= ds.field("date") <= date_to
    return dataset.to_table(columns=list(columns) + ["symbol"], filter=flt)


@dataclass
class SymbolBars:
    """One symbol's bars in time order: columns, features and forward returns."""

    symbol: str
    minute_ms: np.ndarray
    mid: np.ndarray
    features: np.ndarray
    fwd_bps: np.ndarray           # forward mid return over the horizon (NaN at the end)


def load_bars(data_dir: str, symbols, date_from=None, date_to=None) -> dict[str, dict]:
    """``{symbol: {column: numpy array}}`` of ``bars_1m``, each sorted by minute.

    A minute present twice (two replays of the same data into one directory) keeps its
    last row; a symbol without bars is an error naming it.
    """
    table = _read_table(data_dir, "bars_1m", symbols, date_from, date_to, BAR_COLUMNS)
    sym_col = np.asarray(table.column("symbol").to_pylist(), dtype=object)
    cols = {name: table.column(name).to_numpy() for name in BAR_COLUMNS}
    out = {}
    missing = []
    for sym in symbols:
        idx = np.flatnonzero(sym_col == sym)
        if len(idx) == 0:
            missing.append(sym)
            continue
        order = idx[np.argsort(cols["minute_ms"][idx], kind="stable")]
        minutes = cols["minute_ms"][order]
        keep = np.ones(len(order), dtype=bool)
        keep[:-1] = minutes[1:] != minutes[:-1]
        order = order[keep]
        out[sym] = {name: values[order] for name, values in cols.items()}
    if missing:
        span = f" between {date_from or 'the start'} and {date_to or 'the end'}" if date_from or date_to else ""
        raise ValueError(f"no bars_1m rows for {', '.join(missing)} in {data_dir}{span}")
    return out


def load_signals(data_dir: str, symbols, date_from=None, date_to=None) -> dict[str, dict]:
    """``{symbol: {ts_ms, target, mid}}`` of the ``signals`` table (empty arrays if none)."""
    try:
        table = _read_table(data_dir, "signals", symbols, date_from, date_to, SIGNAL_COLUMNS)
    except ValueError:
        table = None
    out = {}
    for sym in symbols:
        if table is None or table.num_rows == 0:
            out[sym] = {"ts_ms": np.zeros(0, np.int64), "target": np.zeros(0, np.int32),
                        "mid": np.zeros(0)}
            continue
        sym_col = np.asarray(table.column("symbol").to_pylist(), dtype=object)
        idx = np.flatnonzero(sym_col == sym)
        cols = {name: table.column(name).to_numpy()[idx] for name in SIGNAL_COLUMNS}
        order = np.argsort(cols["ts_ms"], kind="stable")
        out[sym] = {name: values[order] for name, values in cols.items()}
    return out


def forward_returns(minute_ms: np.ndarray, mid: np.ndarray, horizon_min: int) -> np.ndarray:
    """Mid return (bps) from each bar's close to the close of the bar ``horizon_min``
    minutes later; NaN when that bar does not exist."""
    want = minute_ms + horizon_min * MINUTE_MS
    pos = np.searchsorted(minute_ms, want)
    pos_c = np.minimum(pos, len(minute_ms) - 1)
    found = (pos < len(minute_ms)) & (minute_ms[pos_c] == want)
    out = np.full(len(minute_ms), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[found] = 1e4 * (mid[pos_c[found]] / mid[found] - 1.0)
    return out


def build(bars: dict[str, dict], horizon_min: int) -> list[SymbolBars]:
    """Features and forward returns of every symbol's bars."""
    out = []
    for sym, cols in bars.items():
        minutes = np.asarray(cols["minute_ms"], dtype=np.int64)
        mid = np.asarray(cols["mid_last"], dtype=np.float64)
        out.append(SymbolBars(sym, minutes, mid, feature_matrix(cols),
                              forward_returns(minutes, mid, horizon_min)))
    return out


def labels(fwd_bps: np.ndarray, cost_bps: float) -> np.ndarray:
    """Classes of the forward return net of the cost: 1 up (> cost), -1 down (< -cost),
    0 flat (a move that does not pay the cost), NaN where the return is unknown."""
    out = np.where(fwd_bps > cost_bps, 1.0, np.where(fwd_bps < -cost_bps, -1.0, 0.0))
    out[~np.isfinite(fwd_bps)] = np.nan
    return out
