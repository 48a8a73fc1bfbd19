"""Plotly figures of the dashboard, built from Arrow tables (no pandas on the way).

Times are exchange times (UTC) as numpy ``datetime64[ms]``; Plotly writes them as ISO
strings. Trace names are stable: tests and users find traces by them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rtaid.dashboard.pnl import PnlCurve
from rtaid.dashboard.schema import BAR_LAST_SUFFIX, BAR_TIME, ENTRY_REASONS, Oscillator

CANDLES = "1m bars"
ENTRY_LONG, ENTRY_SHORT, EXIT = "entry long", "entry short", "exit"
FILLS_BUY, FILLS_SELL = "fill buy", "fill sell"
TARGET, ACTUAL = "target position", "actual position"
MINUTE_MS = 60_000
GREEN, RED, GREY, BLUE = "#26a69a", "#ef5350", "#607d8b", "#1f77b4"


def ms_to_datetime(values) -> np.ndarray:
    """Epoch milliseconds (Arrow or numpy) to ``datetime64[ms]`` (UTC, naive)."""
    return np.asarray(_numpy(values), dtype="int64").astype("datetime64[ms]")


def _numpy(column) -> np.ndarray:
    if isinstance(column, (pa.ChunkedArray, pa.Array)):
        return column.to_numpy(zero_copy_only=False)
    return np.asarray(column)


def _col(table: pa.Table, name: str) -> np.ndarray:
    return _numpy(table[name])


@dataclass(frozen=True)
class OscillatorSeries:
    """One oscillator row: a line (``value``) and optionally a band (``low``..``high``)."""

    time_ms: np.ndarray
    value: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None


def series_from_buckets(buckets: pa.Table, column: str) -> OscillatorSeries | None:
    """Bucket means with their min-max band (:func:`rtaid.dashboard.dataset.downsample`)."""
    if f"{column}_mean" not in buckets.column_names:
        return None
    return OscillatorSeries(_col(buckets, "bucket_ms"), _col(buckets, f"{column}_mean"),
                            _col(buckets, f"{column}_min"), _col(buckets, f"{column}_max"))


def series_from_bars(bars: pa.Table, column: str) -> OscillatorSeries | None:
    """The engine's last value of each minute (``bars_1m``'s ``<column>_last``)."""
    name = column + BAR_LAST_SUFFIX
    if name not in bars.column_names:
        return None
    return OscillatorSeries(_col(bars, BAR_TIME), _col(bars, name))


def osc_band_names(o: Oscillator) -> tuple[str, str]:
    return f"{o.label} max", f"{o.label} min"


def market_figure(bars: pa.Table, signals: pa.Table, fills: pa.Table | None,
                  oscillators: Sequence[Oscillator], series: dict[str, OscillatorSeries],
                  thresholds: dict[str, list[tuple[str, float]]],
                  target: tuple[np.ndarray, np.ndarray] | None,
                  actual: tuple[np.ndarray, np.ndarray] | None,
                  bucket_ms: int | None = None) -> go.Figure:
    """Candles with the strategy's entries/exits and the fills, one row per oscillator
    (its line, a min-max band when it has one, the strategy's thresholds), then the
    position.

    Parameters
    ----------
    bars : pyarrow.Table
        ``bars_1m`` rows: minute_ms, open, high, low, close (and volume).
    signals : pyarrow.Table
        ``signals`` rows: ts_ms, prev_target, target, reason, mid.
    fills : pyarrow.Table or None
        Fills: ``time``, ``qty`` (signed), ``px`` columns (see :func:`fill_markers`).
    oscillators : sequence of Oscillator
        Rows to draw, in order.
    series : dict
        ``{column: OscillatorSeries}`` of the oscillators (absent: an empty row).
    thresholds : dict
        ``{column: [(label, value)]}`` lines drawn on the oscillator rows.
    target, actual : (times ms, quantity) or None
        Step curves of the target and the actual position.
    bucket_ms : int, optional
        Bucket width of the oscillators (recorded in the layout's ``meta``).
    """
    rows = 2 + len(oscillators)
    heights = [3.0] + [1.0] * len(oscillators) + [0.8]
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.015,
                        row_heights=heights)
    if bars.num_rows:
        fig.add_trace(go.Candlestick(
            x=ms_to_datetime(bars["minute_ms"]), open=_col(bars, "open"), high=_col(bars, "high"),
            low=_col(bars, "low"), close=_col(bars, "close"), name=CANDLES,
            # x is the minute's start; the box spans its minute, where its trades were
            xperiod=MINUTE_MS, xperiodalignment="start",
            increasing_line_color=GREEN, decreasing_line_color=RED), row=1, col=1)
    for name, mask, symbol, color in _signal_markers(signals):
        fig.add_trace(go.Scatter(
            x=ms_to_datetime(_col(signals, "ts_ms")[mask]), y=_col(signals, "mid")[mask],
            mode="markers", name=name, marker=dict(symbol=symbol, size=12, color=color,
                                                   line=dict(width=1, color="#263238")),
            customdata=np.asarray(_col(signals, "reason"), dtype=object)[mask],
            hovertemplate="%{x}<br>%{customdata} at mid %{y}<extra></extra>"), row=1, col=1)
    if fills is not None and fills.num_rows:
        qty = _col(fills, "qty")
        for name, mask, symbol, color in ((FILLS_BUY, qty > 0, "circle", GREEN),
                                          (FILLS_SELL, qty < 0, "circle", RED)):
            if mask.any():
                fig.add_trace(go.Scatter(
                    x=ms_to_datetime(_col(fills, "time")[mask]), y=_col(fills, "px")[mask],
                    mode="markers", name=name,
                    marker=dict(symbol=symbol, size=8, color=color, opacity=0.8,
                                line=dict(width=1, color="#263238"))), row=1, col=1)
    fig.update_yaxes(title_text="price", row=1, col=1)
    shapes, notes = [], []
    for i, osc in enumerate(oscillators, start=2):
        _oscillator_row(fig, i, osc, series.get(osc.column))
        for label, value in thresholds.get(osc.column, ()):
            shape, note = _threshold(i, osc, label, value)
            shapes.append(shape)
            notes.append(note)
    last = rows
    if target is not None and len(target[0]):
        fig.add_trace(go.Scatter(x=ms_to_datetime(target[0]), y=np.asarray(target[1], dtype=float),
                                 mode="lines", line_shape="hv", name=TARGET,
                                 line=dict(color=BLUE, width=2)), row=last, col=1)
    if actual is not None and len(actual[0]):
        fig.add_trace(go.Scatter(x=ms_to_datetime(actual[0]), y=np.asarray(actual[1], dtype=float),
                                 mode="lines", line_shape="hv", name=ACTUAL,
                                 line=dict(color="#ff9800", width=2, dash="dot")), row=last, col=1)
    fig.update_yaxes(title_text="position", row=last, col=1)
    fig.update_xaxes(rangeslider_visible=False)
    fig.update_xaxes(title_text="exchange time (UTC)", row=last, col=1)
    fig.update_layout(
        height=380 + 150 * len(oscillators) + 130, margin=dict(l=60, r=20, t=40, b=40),
        template="plotly_white", hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.005, xanchor="left", x=0),
        meta={"bucket_ms": bucket_ms},
        # all at once: Plotly's add_hline re-validates the layout per line
        shapes=shapes, annotations=notes,
    )
    return fig


def _signal_markers(signals: pa.Table):
    """(trace name, row mask, marker symbol, colour) of the entries and exits."""
    if not signals.num_rows:
        return []
    reason = np.asarray(_col(signals, "reason"), dtype=object)
    long_entry = reason == ENTRY_REASONS[0]
    short_entry = reason == ENTRY_REASONS[1]
    exits = ~(long_entry | short_entry)
    return [(n, m, s, c) for n, m, s, c in (
        (ENTRY_LONG, long_entry, "triangle-up", GREEN),
        (ENTRY_SHORT, short_entry, "triangle-down", RED),
        (EXIT, exits, "x", GREY)) if m.any()]


def _oscillator_row(fig: go.Figure, row: int, osc: Oscillator,
                    series: OscillatorSeries | None) -> None:
    if series is not None and len(series.time_ms):
        x = ms_to_datetime(series.time_ms)
        if series.low is not None and series.high is not None:
            upper, lower = osc_band_names(osc)
            edge = dict(width=0, color="rgba(31,119,180,0.0)")
            fig.add_trace(go.Scatter(x=x, y=series.high, mode="lines", name=upper, line=edge,
                                     showlegend=False, hoverinfo="skip"), row=row, col=1)
            fig.add_trace(go.Scatter(x=x, y=series.low, mode="lines", name=lower, line=edge,
                                     fill="tonexty", fillcolor="rgba(31,119,180,0.18)",
                                     showlegend=False, hoverinfo="skip"), row=row, col=1)
        fig.add_trace(go.Scatter(x=x, y=series.value, mode="lines", name=osc.label,
                                 line=dict(color=BLUE, width=1.2), showlegend=False),
                      row=row, col=1)
    fig.update_yaxes(title_text=_short_label(osc.label), range=[-3, 103], row=row, col=1)


def _threshold(row: int, osc: Oscillator, label: str, value: float) -> tuple[dict, dict]:
    """A dashed line across the row at ``value`` and its label (layout shape, annotation)."""
    axis = f"y{row}"
    color = RED if "entry" in label or "toxic" in label else GREY
    shape = dict(type="line", xref="x domain", x0=0, x1=1, yref=axis, y0=value, y1=value,
                 line=dict(color=color, width=1, dash="dash"), name=f"{osc.column} {label}")
    note = dict(xref="x domain", x=0, yref=axis, y=value, text=f"{label} {value:g}",
                showarrow=False, xanchor="left", yanchor="bottom", font=dict(size=10))
    return shape, note


def _short_label(label: str) -> str:
    return label.split(" (")[0]


def pnl_figure(curve: PnlCurve, title: str) -> go.Figure:
    """Realised (net of fees), unrealised and total PnL, and cumulative fees."""
    x = ms_to_datetime(curve.time_ms)
    fig = go.Figure()
    for name, values, color, shape in (("total", curve.total, BLUE, "linear"),
                                       ("realised", curve.realised, GREEN, "hv"),
                                       ("unrealised", curve.unrealised, "#ff9800", "linear"),
                                       ("fees", curve.fees, RED, "hv")):
        fig.add_trace(go.Scatter(x=x, y=np.asarray(values, dtype=float), mode="lines",
                                 name=name, line=dict(color=color, shape=shape)))
    fig.update_layout(title=title, height=380, template="plotly_white", hovermode="x unified",
                      margin=dict(l=60, r=20, t=50, b=40), yaxis_title="quote currency",
                      xaxis_title="exchange time (UTC)")
    return fig


def step_curve(times_ms: Sequence[int], values: Sequence[float], start_ms: int | None,
               end_ms: int | None, start_value: float) -> tuple[np.ndarray, np.ndarray]:
    """A step curve held from ``start_ms`` (at ``start_value``) to ``end_ms``."""
    t = list(np.asarray(times_ms, dtype="int64"))
    v = [float(x) for x in values]
    if start_ms is not None and (not t or start_ms < t[0]):
        t.insert(0, start_ms)
        v.insert(0, start_value)
    if end_ms is not None and t and end_ms > t[-1]:
        t.append(end_ms)
        v.append(v[-1])
    return np.asarray(t, dtype="int64"), np.asarray([x if not math.isnan(x) else 0.0 for x in v])
