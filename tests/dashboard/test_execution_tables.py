"""The Trading and Market pages once the execution issue's ``orders`` and ``fills``
tables exist.

Those tables are not written by rtaid yet: this test writes them, partitioned like the
others, with the column names the dashboard expects (rtaid/dashboard/schema.py, the one
place to align when the execution issue lands). The fills are the strategy's own target
changes from the replayed dataset, at the mid, with a taker fee; the expected PnL is
computed here by round trips, independently of the dashboard's accounting.
"""
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtaid.dashboard.schema import FILLS, FILLS_TABLE, ORDERS, ORDERS_TABLE
from tests.dashboard.helpers import DAYS, SYMBOL, dataframe, figure, ms, read, trace, values

FEE_RATE = 0.0004  # 4 bps taker
REJECTED = [("max_position", 1723161400000), ("max_position", 1723161410000),
            ("price_band", 1723161420000)]


@pytest.fixture
def with_execution(dataset_dir, tmp_path):
    """The replayed dataset (tables linked) plus ``fills`` and ``orders`` tables."""
    root = tmp_path / "data"
    root.mkdir()
    for table in os.listdir(dataset_dir):
        (root / table).symlink_to(dataset_dir / table)
    signals = read(dataset_dir, "signals").sort_by("ts_ms")
    position, fills = 0.0, []
    for i, (ts, qty, mid) in enumerate(zip(signals["ts_ms"].to_pylist(),
                                           signals["target_qty"].to_pylist(),
                                           signals["mid"].to_pylist())):
        delta = qty - position
        position = qty
        fills.append({"ts": ts + 5, "id": f"rt-{i}", "side": "buy" if delta > 0 else "sell",
                      "px": mid, "qty": abs(delta), "fee": abs(delta) * mid * FEE_RATE})
    write(root, FILLS_TABLE, {
        FILLS["time"]: [f["ts"] for f in fills], FILLS["client_id"]: [f["id"] for f in fills],
        FILLS["side"]: [f["side"] for f in fills], FILLS["px"]: [f["px"] for f in fills],
        FILLS["qty"]: [f["qty"] for f in fills], FILLS["fee"]: [f["fee"] for f in fills],
        FILLS["liquidity"]: ["taker"] * len(fills)})
    orders = [{"ts": f["ts"] - 5, "id": f["id"], "side": f["side"], "status": "filled",
               "reason": "", "px": f["px"], "qty": f["qty"]} for f in fills]
    orders += [{"ts": ts, "id": f"rej-{n}", "side": "buy", "status": "rejected", "reason": reason,
                "px": 61700.0, "qty": 0.001} for n, (reason, ts) in enumerate(REJECTED)]
    write(root, ORDERS_TABLE, {
        ORDERS["time"]: [o["ts"] for o in orders], ORDERS["client_id"]: [o["id"] for o in orders],
        ORDERS["side"]: [o["side"] for o in orders], ORDERS["type"]: ["market"] * len(orders),
        ORDERS["px"]: [o["px"] for o in orders], ORDERS["qty"]: [o["qty"] for o in orders],
        ORDERS["status"]: [o["status"] for o in orders],
        ORDERS["reason"]: [o["reason"] for o in orders]})
    return root, signals, fills


def write(root, table, columns):
    directory = root / table / f"symbol={SYMBOL}" / f"date={DAYS[0]}"
    directory.mkdir(parents=True)
    pq.write_table(pa.table(columns), directory / "part-1723161256000-0000.parquet")


def round_trip_pnl(signals) -> float:
    pnl, position, entry = 0.0, 0.0, None
    for qty, mid in zip(signals["target_qty"].to_pylist(), signals["mid"].to_pylist()):
        if position and entry is not None:
            pnl += position * (mid - entry)
        position, entry = qty, (mid if qty else None)
    return pnl


def test_trading_shows_fills_orders_pnl_and_rejections(with_execution, open_app):
    root, signals, fills = with_execution
    at = open_app(root, "trading")
    assert not at.exception, at.exception
    assert not any("no orders or fills" in i.value for i in at.info)
    fees = sum(f["fee"] for f in fills)
    realised = round_trip_pnl(signals) - fees
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Realised PnL"] == f"{realised:,.4f}"
    assert metrics["Fees"] == f"{fees:,.4f}"
    assert metrics["Position"] == "0" and metrics["Unrealised PnL"] == "0.0000"
    shown = dataframe(at, "liquidity")
    assert list(shown["px"]) == [f["px"] for f in fills]
    assert list(shown["qty"]) == [f["qty"] if f["side"] == "buy" else -f["qty"] for f in fills]
    orders = dataframe(at, "status")
    assert len(orders) == len(fills) + len(REJECTED)
    rejections = dataframe(at, "reason")
    assert list(zip(rejections["reason"], rejections["orders"])) == [("max_position", 2),
                                                                    ("price_band", 1)]
    fig = figure(at)
    assert values(trace(fig, "fees")["y"])[-1] == pytest.approx(fees)
    assert values(trace(fig, "realised")["y"])[-1] == pytest.approx(realised)


def test_market_marks_the_fills_and_the_actual_position(with_execution, open_app):
    root, signals, fills = with_execution
    at = open_app(root, "market")
    assert not at.exception, at.exception
    fig = figure(at)
    for name, side in (("fill buy", "buy"), ("fill sell", "sell")):
        mine = [f for f in fills if f["side"] == side]
        marker = trace(fig, name)
        assert (values(marker["x"]) == ms([f["ts"] for f in mine])).all()
        np.testing.assert_array_equal(values(marker["y"]), [f["px"] for f in mine])
    actual = trace(fig, "actual position")
    x, y = list(values(actual["x"])), values(actual["y"])
    position = 0.0
    for f in fills:
        position += f["qty"] if f["side"] == "buy" else -f["qty"]
        assert y[x.index(ms([f["ts"]])[0])] == pytest.approx(position)
    assert {m.label: m.value for m in at.metric}["Fills"] == str(len(fills))
