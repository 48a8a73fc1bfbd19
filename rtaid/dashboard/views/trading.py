"""Trading: orders, fills, realised/unrealised PnL, fees and risk rejections from the
execution issue's tables; until they exist, the strategy's signals and the PnL their
target changes would have made at the mid."""
import streamlit as st

from rtaid.dashboard import dataset, execution, figures, pnl, ui
from rtaid.dashboard.schema import (BAR_TIME, BARS, FILLS, FILLS_TABLE, ORDERS, ORDERS_TABLE,
                                    SIGNAL_COLUMNS, SIGNAL_TIME, SIGNALS)

MINUTE_MS = 60_000


def main() -> None:
    ctx = ui.context()
    st.header("Trading")
    if not ui.require_dataset(ctx):
        return
    st.caption(ctx.selection_label())
    try:
        order_refs, fill_refs = ui.table_refs(ctx, ORDERS_TABLE), ui.table_refs(ctx, FILLS_TABLE)
        orders = execution.orders(ui.read_table(order_refs, tuple(ORDERS.values()), ORDERS["time"]))
        fills = execution.fills(ui.read_table(fill_refs, tuple(FILLS.values()), FILLS["time"]))
        bars = ui.read_table(ui.table_refs(ctx, BARS), (BAR_TIME, "close"), BAR_TIME)
        signals = ui.read_table(ui.table_refs(ctx, SIGNALS), SIGNAL_COLUMNS, SIGNAL_TIME)
    except dataset.DatasetError as exc:
        ui.show_dataset_error(exc)
        return
    marks = _bar_closes(bars)
    if order_refs or fill_refs:
        _execution(orders, fills, marks, bool(order_refs), bool(fill_refs))
    else:
        _signals_only(ctx, signals, marks)


def _bar_closes(bars):
    """Bar closes as marks, at the end of their minute."""
    if not bars.num_rows:
        return []
    return [(t + MINUTE_MS, c) for t, c in zip(bars[BAR_TIME].to_pylist(), bars["close"].to_pylist())
            if c is not None]


def _execution(orders, fills, marks, have_orders: bool, have_fills: bool) -> None:
    fills = fills.sort_by("time") if fills.num_rows else fills  # as executions() orders them
    realised = fills["realised_pnl"].to_pylist() if "realised_pnl" in fills.column_names else None
    curve = pnl.pnl_curve(execution.executions(fills), marks, realised_pnl=realised)
    _pnl_metrics(curve)
    st.plotly_chart(figures.pnl_figure(curve, "PnL (realised net of fees, unrealised at the bar close)"),
                    key="pnl_figure", config={"displaylogo": False})
    st.subheader("Risk rejections")
    rejected = execution.rejections(orders)
    if rejected:
        st.dataframe({"reason": [r for r, _ in rejected], "orders": [n for _, n in rejected]})
    else:
        st.caption("No rejected orders." if have_orders else "No orders table for this selection.")
    st.subheader("Fills")
    if have_fills:
        st.dataframe(ui.arrow_to_display(fills, ("time",)))
    else:
        st.caption("No fills table for this selection.")
    st.subheader("Orders")
    if have_orders:
        st.dataframe(ui.arrow_to_display(orders, ("time",)))
    else:
        st.caption("No orders table for this selection.")


def _signals_only(ctx, signals, marks) -> None:
    st.info("The dataset has no orders or fills tables yet (they come with execution): "
            "below, the strategy's signals, and the PnL their target changes would have made "
            "at the mid, without fees.")
    strategy = ctx.strategy()
    unit = execution.position_unit(signals, strategy.order_qty if strategy else None)
    executions, start = execution.signal_executions(signals, unit)
    first_mid = signals["mid"][0].as_py() if signals.num_rows else float("nan")
    curve = pnl.pnl_curve(executions, marks, start_position=start, start_price=first_mid)
    _pnl_metrics(curve)
    st.plotly_chart(figures.pnl_figure(curve, "Signal PnL (at the mid, no fees; theoretical)"),
                    key="pnl_figure", config={"displaylogo": False})
    st.subheader("Signals")
    if signals.num_rows:
        st.dataframe(ui.arrow_to_display(signals, ("ts_ms",)))
    else:
        st.caption(f"No signals for {ctx.selection_label()}.")


def _pnl_metrics(curve: pnl.PnlCurve) -> None:
    final = curve.final
    cols = st.columns(5)
    cols[0].metric("Position", f"{final['position']:g}")
    cols[1].metric("Realised PnL", f"{final['realised']:,.4f}")
    cols[2].metric("Unrealised PnL", f"{final['unrealised']:,.4f}")
    cols[3].metric("Total PnL", f"{final['total']:,.4f}")
    cols[4].metric("Fees", f"{final['fees']:,.4f}")


main()
