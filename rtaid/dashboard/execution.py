"""The execution issue's ``orders`` and ``fills`` tables, in the dashboard's terms.

Column names come from :data:`rtaid.dashboard.schema.ORDERS` / ``FILLS`` (logical name
-> column); the tables are renamed to the logical names here, so the rest of the
dashboard does not depend on the final column names. Until the tables exist, the
strategy's target changes stand in for fills (at the mid, no fees): see
:func:`signal_executions`.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rtaid.dashboard.schema import BUY_SIDES, FILLS, ORDERS, REJECTED_STATUS


def normalise(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    """``table`` with its columns renamed to the logical names of ``mapping`` (those it
    has), in the mapping's order."""
    names, columns = [], []
    for logical, column in mapping.items():
        if column in table.column_names:
            names.append(logical)
            columns.append(table[column])
    return pa.table(dict(zip(names, columns)))


def fills(table: pa.Table) -> pa.Table:
    """Normalised fills with a signed ``qty`` (buy > 0) and a ``fee`` (0 when absent)."""
    out = normalise(table, FILLS)
    if not out.num_rows or not {"time", "qty", "px"} <= set(out.column_names):
        return out.slice(0, 0)  # without quantities and prices there is nothing to plot
    qty = out["qty"].to_numpy(zero_copy_only=False).astype(float)
    if "side" in out.column_names:
        side = np.asarray(out["side"].to_pylist(), dtype=object)
        buy = np.isin(side, BUY_SIDES)
        qty = np.where(buy, np.abs(qty), -np.abs(qty))
    out = out.set_column(out.column_names.index("qty"), "qty", pa.array(qty))
    if "fee" not in out.column_names:
        out = out.append_column("fee", pa.array(np.zeros(out.num_rows)))
    return out


def orders(table: pa.Table) -> pa.Table:
    """Normalised orders."""
    return normalise(table, ORDERS)


def rejections(orders_table: pa.Table) -> list[tuple[str, int]]:
    """Rejected orders counted by reason, most frequent first."""
    if not orders_table.num_rows or "status" not in orders_table.column_names:
        return []
    status = pc.cast(orders_table["status"], pa.string())
    rejected = orders_table.filter(pc.equal(pc.utf8_lower(status), REJECTED_STATUS))
    if not rejected.num_rows:
        return []
    if "reason" not in rejected.column_names:
        return [("(no reason recorded)", rejected.num_rows)]
    counts = pc.value_counts(pc.cast(rejected["reason"], pa.string()))
    pairs = [(str(c["values"]), int(c["counts"])) for c in counts.to_pylist()]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))


def executions(fills_table: pa.Table) -> list[tuple[int, float, float, float]]:
    """``(time ms, signed qty, px, fee)`` per normalised fill, in time order."""
    if not fills_table.num_rows:
        return []
    t = fills_table.sort_by("time")
    return list(zip(t["time"].to_pylist(), t["qty"].to_pylist(), t["px"].to_pylist(),
                    t["fee"].to_pylist()))


def signal_executions(signals: pa.Table, unit: float) -> tuple[list[tuple[int, float, float, float]], float]:
    """The strategy's target changes as executions at the mid, no fees.

    Returns ``(executions, starting position)``: the position before the first
    signal is its ``prev_target`` times ``unit`` (the symbol's order quantity).
    """
    if not signals.num_rows:
        return [], 0.0
    t = signals.sort_by("ts_ms")
    start = float(t["prev_target"][0].as_py()) * unit
    position, out = start, []
    for ts, qty, mid in zip(t["ts_ms"].to_pylist(), t["target_qty"].to_pylist(), t["mid"].to_pylist()):
        out.append((ts, qty - position, mid, 0.0))
        position = qty
    return out, start


def position_unit(signals: pa.Table, order_qty: float | None) -> float:
    """The symbol's order quantity: from the signals when a non-zero target shows it,
    else the config's ``strategy.order_qty``, else 1."""
    if signals.num_rows:
        qty = pc.max(pc.abs(signals["target_qty"])).as_py()
        if qty:
            return float(qty)
    return float(order_qty) if order_qty else 1.0
