"""What every page shares: the settings and config, the dataset check, the symbol and
day pickers (in the sidebar), and cached reads of the dataset.

The entry script (app.py) calls :func:`build_context` on every run, before the page;
pages get it back with :func:`context`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd
import pyarrow as pa
import streamlit as st

from rtaid.dashboard import dataset, settings as settings_mod
from rtaid.dashboard.schema import BARS, INDICATORS, SIGNALS
from rtaid.infra.config import Config, ConfigError

CONTEXT_KEY = "rtaid_context"
MAX_POINTS = 2000  # oscillator buckets per figure: enough for a 1,400 px wide chart
# From this window up, the oscillator rows come from bars_1m (the engine's last value per
# minute: >= 240 points, instant) instead of a scan of the per-event indicators table
# (~0.25 s per million rows on 2 cores; 4 h of BTCUSDT is ~4 M rows).
MINUTE_RESOLUTION_MS = 4 * 3_600_000
MINUTE_MS = 60_000
# Query parameters that preselect the pickers (links, the screenshot script).
QP_SYMBOL, QP_FROM, QP_TO = "symbol", "from", "to"


@dataclass
class Context:
    """Settings, config and the current selection."""

    settings: settings_mod.Settings
    config: Config | None
    config_error: str | None
    dataset_problem: str | None
    symbol: str | None = None
    days: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return self.settings.data_dir

    def strategy(self):
        """The symbol's effective ``[strategy]`` (the global one for a symbol the
        config does not list); None without a valid config."""
        if self.config is None:
            return None
        if self.symbol and self.symbol in self.config.feed.symbols:
            return self.config.for_symbol(self.symbol).strategy
        return self.config.strategy

    def selection_label(self) -> str:
        if not self.days:
            return self.symbol or ""
        span = self.days[0] if len(self.days) == 1 else f"{self.days[0]} to {self.days[-1]}"
        return f"{self.symbol} · {span} (UTC)"


def build_context() -> Context:
    """Read the settings and config, check the dataset, draw the sidebar pickers."""
    try:
        current = settings_mod.from_env()
    except (ValueError, ConfigError) as exc:
        st.error(f"rtaid dashboard cannot start: {_problems(exc)}")
        st.stop()
    config, config_error = None, None
    try:
        config = current.load_config()
    except ConfigError as exc:
        config_error = _problems(exc)
    ctx = Context(current, config, config_error, dataset.state(current.data_dir))
    with st.sidebar:
        st.caption(f"data: `{current.data_dir}`  \nsocket: `{current.socket}`")
        if config_error:
            st.error(f"invalid configuration: {config_error}")
        if ctx.dataset_problem is None:
            _pickers(ctx)
    st.session_state[CONTEXT_KEY] = ctx
    return ctx


def context() -> Context:
    """The context :func:`build_context` made for this run."""
    return st.session_state[CONTEXT_KEY]


def _problems(exc: Exception) -> str:
    if isinstance(exc, ConfigError):
        return "; ".join(exc.problems)
    return str(exc)


def _pickers(ctx: Context) -> None:
    params = st.query_params
    symbols = dataset.symbols(ctx.root)
    wanted = (params.get(QP_SYMBOL) or "").upper()
    index = symbols.index(wanted) if wanted in symbols else 0
    ctx.symbol = st.selectbox("Symbol", symbols, index=index, key="symbol")
    available = dataset.days(ctx.root, ctx.symbol, _day_tables(ctx.root)) or \
        dataset.days(ctx.root, ctx.symbol)
    if not available:
        return
    if len(available) == 1:
        st.caption(f"Day: {available[0]} (UTC)")
        ctx.days = available
        return
    lo = params.get(QP_FROM) if params.get(QP_FROM) in available else available[-1]
    hi = params.get(QP_TO) if params.get(QP_TO) in available else lo
    lo, hi = min(lo, hi), max(lo, hi)
    first, last = st.select_slider("Days (UTC)", options=available, value=(lo, hi),
                                   key=f"days_{ctx.symbol}")
    ctx.days = [d for d in available if first <= d <= last]


def _day_tables(root: str) -> list[str]:
    return [t for t in (BARS, INDICATORS, SIGNALS) if dataset.has_table(root, t)]


def require_dataset(ctx: Context) -> bool:
    """Show why there is nothing to show (missing or empty data dir, no selection);
    True when the page can read the dataset."""
    if ctx.dataset_problem is not None:
        st.warning(ctx.dataset_problem)
        return False
    if not ctx.symbol or not ctx.days:
        st.info(f"No days with data for {ctx.symbol} in {ctx.root}.")
        return False
    return True


def show_dataset_error(exc: dataset.DatasetError) -> None:
    st.error(f"The dataset could not be read: {exc}")


# --------------------------------------------------------------------------- cached reads
# Keyed on the file refs (path, size, mtime): a new or rotated part file is a new key.


@st.cache_data(max_entries=64, show_spinner=False)
def read_table(refs: tuple, columns: tuple[str, ...], time_column: str,
               start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
    return dataset.read(refs, columns, time_column, start_ms, end_ms)


@st.cache_data(max_entries=64, show_spinner=False)
def downsample(refs: tuple, time_column: str, columns: tuple[str, ...], width_ms: int,
               start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
    return dataset.downsample(refs, time_column, columns, width_ms, start_ms, end_ms)


def time_window(ctx: Context, first_ms: int, last_ms: int) -> tuple[int, int]:
    """A slider over the selected days' data (whole minutes, UTC): ``[start, end)`` ms."""
    lo = first_ms // MINUTE_MS * MINUTE_MS
    hi = -(-(last_ms + 1) // MINUTE_MS) * MINUTE_MS
    if hi - lo <= MINUTE_MS:
        return lo, hi
    start, end = st.slider(
        "Window (UTC)", min_value=_utc(lo), max_value=_utc(hi), value=(_utc(lo), _utc(hi)),
        step=dt.timedelta(minutes=1), format="MM-DD HH:mm",
        key=f"window_{ctx.symbol}_{ctx.days[0]}_{ctx.days[-1]}")
    return _epoch_ms(start), max(_epoch_ms(end), _epoch_ms(start) + MINUTE_MS)


def _utc(ms: int) -> dt.datetime:
    """Epoch ms as a naive UTC datetime (what the slider shows)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).replace(tzinfo=None)


def _epoch_ms(value: dt.datetime) -> int:
    return int(value.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def table_refs(ctx: Context, table: str) -> tuple:
    return dataset.files(ctx.root, table, ctx.symbol, ctx.days)


def fmt_ms(ms: int | None) -> str:
    """Epoch ms as ``YYYY-MM-DD HH:MM:SS.mmm`` UTC ("" for None)."""
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def fmt_width(ms: int) -> str:
    """A bucket width for people: ``250 ms``, ``5 s``, ``15 min``, ``1 h``."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms // 1000} s"
    if ms < 3_600_000:
        return f"{ms // 60_000} min"
    return f"{ms // 3_600_000} h"


def arrow_to_display(table: pa.Table, time_columns: Sequence[str] = ()) -> pd.DataFrame:
    """A table for ``st.dataframe``: epoch-ms ``time_columns`` and ``recv_ns`` as UTC
    datetimes, dictionary (enum) columns as plain text."""
    columns = {}
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        columns[name] = column
    df = pa.table(columns).to_pandas()
    for c in time_columns:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], unit="ms", utc=True)
    if "recv_ns" in df.columns:
        df["recv_ns"] = pd.to_datetime(df["recv_ns"], unit="ns", utc=True)
    return df
