"""The model's features, from ``bars_1m`` rows: one function for training and for live use.

:func:`feature_matrix` computes the features of every bar of ONE symbol (bars in time
order); :class:`BarHistory` keeps the last bars of a symbol as they close and gives the
features of the newest one, by running the same function on the trailing
``LOOKBACK_MINUTES`` of bars. Every feature of a bar depends only on that bar and the
bars of the ``LOOKBACK_MINUTES`` minutes before it, and is computed element by element
in a fixed order, so the two give the same numbers bit for bit (tested on replays).

Features (:data:`FEATURE_NAMES`, in this order):

- every raw indicator, z-score and oscillator of the bar: the ``*_last`` columns of
  ``bars_1m`` (indicators.md sections 1-9), except ``mid_last`` (a price level);
- recent mid returns over 1, 5 and 15 minutes (bps, NaN when a bar is missing);
- volatility: the standard deviation of the 1-minute mid returns of the last 15 minutes
  (bps, NaN with fewer than 5 of them) and the bar's high-low range (bps of the mid);
- the bar's own flow: trade imbalance (buy - sell) / volume, trade count,
  mean spread and vwap - mid (bps). (Trees do not care for monotone transforms: no logs,
  and only correctly rounded arithmetic, so every platform gives the same bits.)

Bars are matched to their predecessors by ``minute_ms``, never by position: a return
whose starting minute has no bar (no event at all in it) is NaN. LightGBM takes NaN
as missing.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

MINUTE_MS = 60_000
RETURN_MINUTES = (1, 5, 15)
VOL_MINUTES = 15
VOL_MIN_RETURNS = 5
LOOKBACK_MINUTES = max(max(RETURN_MINUTES), VOL_MINUTES)

# The indicator columns of bars_1m (kernel order, indicators.md section 12) whose last
# value in the minute is a feature.
RAW_COLUMNS = ("obi", "di", "ti", "mpd_ticks", "mpd_bps", "ofi", "ofi_norm", "mlofi_sum",
               "vpin", "kyle_lambda", "lpi", "wall_bid", "wall_ask", "wall_net",
               "wall_dist_bid", "wall_dist_ask", "dev_bps")
NORM_COLUMNS = ("obi", "di", "mpd_bps", "ofi_norm", "mlofi_sum", "vpin", "kyle_lambda",
                "lpi", "wall_net", "dev_bps")
INDICATOR_FEATURES = (tuple(f"{c}_last" for c in RAW_COLUMNS)
                      + tuple(f"{x}_{kind}_last" for x in NORM_COLUMNS for kind in ("z", "osc")))
BAR_FEATURES = (tuple(f"ret_{k}m_bps" for k in RETURN_MINUTES)
                + (f"vol_{VOL_MINUTES}m_bps", "range_bps", "trade_imbalance",
                   "trade_count", "spread_bps", "vwap_dev_bps"))
FEATURE_NAMES: tuple[str, ...] = INDICATOR_FEATURES + BAR_FEATURES

# The bars_1m columns the features read.
BAR_COLUMNS = (("minute_ms", "mid_last", "high", "low", "volume", "buy_volume", "sell_volume",
                "trade_count", "spread_mean", "vwap") + INDICATOR_FEATURES)


def _column(bars: Mapping[str, Any], name: str) -> np.ndarray:
    try:
        values = bars[name]
    except KeyError:
        raise ValueError(f"bars_1m has no column {name!r} (a dataset of another rtaid version?)") from None
    return np.asarray(values, dtype=np.int64 if name == "minute_ms" else np.float64)


def _lagged(values: np.ndarray, minutes: np.ndarray, lag: int) -> np.ndarray:
    """``values`` of the bar ``lag`` minutes before each bar (NaN where there is none)."""
    want = minutes - lag * MINUTE_MS
    pos = np.searchsorted(minutes, want)
    pos_c = np.minimum(pos, len(minutes) - 1)
    found = (pos < len(minutes)) & (minutes[pos_c] == want)
    out = np.full(len(minutes), np.nan)
    out[found] = values[pos_c[found]]
    return out


def _bps(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1e4 * (num / den - 1.0)


def feature_matrix(bars: Mapping[str, Any]) -> np.ndarray:
    """Features of every bar of one symbol: an ``(n, len(FEATURE_NAMES))`` float64 array.

    Parameters
    ----------
    bars : mapping of column name to array-like
        ``bars_1m`` columns (at least :data:`BAR_COLUMNS`) of ONE symbol, sorted by
        ``minute_ms`` with no minute twice (a pyarrow table, a dict of arrays or of lists).
    """
    minutes = _column(bars, "minute_ms")
    n = len(minutes)
    if n > 1 and not np.all(np.diff(minutes) > 0):
        raise ValueError("bars must be one symbol's, sorted by minute_ms, each minute once")
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    col = 0
    for name in INDICATOR_FEATURES:
        out[:, col] = _column(bars, name)
        col += 1
    mid = _column(bars, "mid_last")
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in RETURN_MINUTES:
            out[:, col] = _bps(mid, _lagged(mid, minutes, k))
            col += 1
        # 1-minute returns ending at each of the last VOL_MINUTES minutes, summed lag by
        # lag in a fixed order (the same arithmetic whatever the number of rows)
        ret1 = _bps(mid, _lagged(mid, minutes, 1))
        count = np.zeros(n)
        total = np.zeros(n)
        lagged = []
        for lag in range(VOL_MINUTES):
            r = ret1 if lag == 0 else _lagged(ret1, minutes, lag)
            ok = np.isfinite(r)
            count += ok
            total += np.where(ok, r, 0.0)
            lagged.append((r, ok))
        mean = total / count
        sq = np.zeros(n)
        for r, ok in lagged:
            sq += np.where(ok, (r - mean) ** 2, 0.0)
        vol = np.sqrt(sq / (count - 1))
        out[:, col] = np.where(count >= VOL_MIN_RETURNS, vol, np.nan)
        col += 1
        high, low = _column(bars, "high"), _column(bars, "low")
        out[:, col] = 1e4 * (high - low) / mid
        col += 1
        volume = _column(bars, "volume")
        buy, sell = _column(bars, "buy_volume"), _column(bars, "sell_volume")
        out[:, col] = np.where(volume > 0, (buy - sell) / volume, np.nan)
        col += 1
        out[:, col] = _column(bars, "trade_count")
        col += 1
        out[:, col] = 1e4 * _column(bars, "spread_mean") / mid
        col += 1
        out[:, col] = _bps(_column(bars, "vwap"), mid)
        col += 1
    assert col == len(FEATURE_NAMES)
    return out


def _rows_to_columns(rows: Sequence[Any]) -> dict[str, list]:
    return {name: [row[name] for row in rows] for name in BAR_COLUMNS}


def features_from_bars(rows: Sequence[Any]) -> np.ndarray:
    """Features of the LAST of ``rows``: a 1-D float64 vector in :data:`FEATURE_NAMES` order.

    ``rows`` are one symbol's ``bars_1m`` rows, oldest first, each a mapping (or numpy
    record) with the ``bars_1m`` column names; only the ones within
    ``LOOKBACK_MINUTES`` of the last are used.
    """
    if not rows:
        raise ValueError("features_from_bars needs at least one bar")
    last = int(rows[-1]["minute_ms"])
    start = len(rows)
    while start > 0 and int(rows[start - 1]["minute_ms"]) >= last - LOOKBACK_MINUTES * MINUTE_MS:
        start -= 1
    return feature_matrix(_rows_to_columns(rows[start:]))[-1]


class BarHistory:
    """One symbol's recent bars, as they close; :meth:`features` of the newest one.

    The live daemon keeps one per symbol: ``append`` each closed bar (a ``bars_1m`` row
    as a mapping or numpy record), then ``features()`` is the model's input for it.
    """

    def __init__(self) -> None:
        self.rows: deque = deque()

    def append(self, bar: Any) -> None:
        minute = int(bar["minute_ms"])
        if self.rows and minute <= int(self.rows[-1]["minute_ms"]):
            raise ValueError(f"bar of minute {minute} is not after the last one "
                             f"({int(self.rows[-1]['minute_ms'])})")
        # copy the values: a ring record's memory is reused
        self.rows.append({name: bar[name] for name in BAR_COLUMNS})
        while int(self.rows[0]["minute_ms"]) < minute - LOOKBACK_MINUTES * MINUTE_MS:
            self.rows.popleft()

    def extend(self, bars: Iterable[Any]) -> None:
        for bar in bars:
            self.append(bar)

    def features(self) -> np.ndarray:
        """Feature vector of the newest bar (ValueError when there is none)."""
        return features_from_bars(list(self.rows))
