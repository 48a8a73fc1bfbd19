"""Market: 1-minute candles with the strategy's entries/exits and the fills, the
oscillators beneath with the strategy's thresholds, and the target/actual position, on
one shared time axis. Oscillators: per-event ``indicators`` downsampled in the scan for
windows under ui.MINUTE_RESOLUTION_MS, the engine's per-minute values (``bars_1m``)
above."""
import streamlit as st

from rtaid.dashboard import dataset, execution, figures, ui
from rtaid.dashboard.schema import (BAR_COLUMNS, BAR_LAST_SUFFIX, BAR_TIME, BARS,
                                    DEFAULT_OSCILLATORS, FILLS, FILLS_TABLE, INDICATOR_TIME,
                                    INDICATORS, OSCILLATOR_BY_LABEL, OSCILLATORS, SIGNAL_COLUMNS,
                                    SIGNAL_TIME, SIGNALS, strategy_thresholds)


def main() -> None:
    ctx = ui.context()
    st.header("Market")
    if not ui.require_dataset(ctx):
        return
    st.caption(ctx.selection_label())
    bar_refs, indicator_refs = ui.table_refs(ctx, BARS), ui.table_refs(ctx, INDICATORS)
    span = _span(bar_refs, indicator_refs)
    if span is None:
        st.info(f"No bars_1m or indicators rows for {ctx.selection_label()}.")
        return
    start_ms, end_ms = ui.time_window(ctx, *span)
    labels = st.multiselect("Oscillators", [o.label for o in OSCILLATORS],
                            default=list(DEFAULT_OSCILLATORS), key="oscillators")
    chosen = [OSCILLATOR_BY_LABEL[label] for label in labels]
    per_minute = end_ms - start_ms >= ui.MINUTE_RESOLUTION_MS
    bar_columns = BAR_COLUMNS + (tuple(o.column + BAR_LAST_SUFFIX for o in chosen)
                                 if per_minute else ())
    try:
        # a bar belongs to the window when its minute starts in it
        bars = ui.read_table(bar_refs, bar_columns, BAR_TIME, start_ms, end_ms)
        signals = ui.read_table(ui.table_refs(ctx, SIGNALS), SIGNAL_COLUMNS, SIGNAL_TIME,
                                start_ms, end_ms)
        fill_refs = ui.table_refs(ctx, FILLS_TABLE)
        fills = execution.fills(ui.read_table(fill_refs, tuple(FILLS.values()), FILLS["time"],
                                              start_ms, end_ms)) if fill_refs else None
        series, width, rows = {}, None, None
        if chosen and per_minute:
            series = {o.column: figures.series_from_bars(bars, o.column) for o in chosen}
        elif chosen:
            width = dataset.bucket_width(end_ms - start_ms, ui.MAX_POINTS)
            buckets = ui.downsample(indicator_refs, INDICATOR_TIME, tuple(o.column for o in chosen),
                                    width, start_ms, end_ms)
            series = {o.column: figures.series_from_buckets(buckets, o.column) for o in chosen}
            rows = sum(buckets["rows"].to_pylist())
    except dataset.DatasetError as exc:
        ui.show_dataset_error(exc)
        return

    strategy = ctx.strategy()
    target = actual = None
    if signals.num_rows:
        unit = execution.position_unit(signals, strategy.order_qty if strategy else None)
        start = float(signals["prev_target"][0].as_py()) * unit
        target = figures.step_curve(signals["ts_ms"].to_pylist(), signals["target_qty"].to_pylist(),
                                    start_ms, end_ms, start)
    if fills is not None and fills.num_rows:
        ordered = fills.sort_by("time")
        qty = ordered["qty"].to_numpy(zero_copy_only=False).cumsum()
        actual = figures.step_curve(ordered["time"].to_pylist(), qty, start_ms, end_ms, 0.0)

    _metrics(bars, signals, fills)
    fig = figures.market_figure(
        bars, signals, fills, chosen, {k: v for k, v in series.items() if v is not None},
        strategy_thresholds(strategy) if strategy else {}, target, actual, width)
    st.plotly_chart(fig, key="market_figure", config={"displaylogo": False})
    if chosen and per_minute:
        st.caption(f"Oscillators: the engine's last value of each minute (bars_1m), for "
                   f"windows of {ui.MINUTE_RESOLUTION_MS // 3_600_000} h or more; narrow the "
                   f"window for the per-event indicators.")
    elif chosen:
        st.caption(f"Oscillators: mean per {ui.fmt_width(width)} bucket (band: min to max) "
                   f"of {rows:,} indicator rows, aggregated in the query.")
    if fills is None:
        st.caption("No fills table in the dataset yet: the position row shows the strategy's "
                   "target only.")
    if strategy is None:
        st.caption("Thresholds not drawn: the configuration is invalid.")


def _span(bar_refs, indicator_refs):
    """First and last time of the selection's bars (to their minute's end) and
    indicators, from the files' footers."""
    spans = []
    bars = dataset.time_span(bar_refs, BAR_TIME)
    if bars is not None:
        spans.append((bars[0], bars[1] + ui.MINUTE_MS - 1))
    indicators = dataset.time_span(indicator_refs, INDICATOR_TIME)
    if indicators is not None:
        spans.append(indicators)
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


def _metrics(bars, signals, fills) -> None:
    closes = [c for c in (bars["close"].to_pylist() if bars.num_rows else []) if c == c]
    cols = st.columns(5)
    cols[0].metric("Bars", f"{bars.num_rows:,}")
    cols[1].metric("Last close", f"{closes[-1]:,.2f}" if closes else "-")
    cols[2].metric("Volume", f"{sum(bars['volume'].to_pylist()):,.3f}" if bars.num_rows else "-")
    cols[3].metric("Signals", f"{signals.num_rows:,}")
    cols[4].metric("Fills", f"{fills.num_rows:,}" if fills is not None else "no table")


main()
