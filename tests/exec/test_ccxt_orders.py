"""The ccxt venue against rtaid-sim: strategy targets become the right orders at the
exchange, rtaid's positions are the exchange's, and the tables say what happened."""
import asyncio

from tests.exec.helpers import (
    daemon_at, exec_config, rtaid_position, run, sim_open, sim_orders, sim_position, table,
    target, until, with_sim,
)


def test_targets_become_orders_and_positions_match_the_exchange(tmp_path):
    """Limit orders at the touch (the default), then a target beyond max_order_qty worked
    in pieces, then back to flat; the sim's orders and position are rtaid's."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = exec_config(sim, data, "risk.max_order_qty=0.002", "risk.max_position=0.01")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            svc.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001)
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == 0.001)
            (first,) = sim_orders(sim, "BTCUSDT")
            assert (first.side, first.type, first.time_in_force) == ("BUY", "LIMIT", "GTC")
            assert first.client_order_id.startswith("rt-") and not first.reduce_only

            svc.on_events([target("BTCUSDT", -0.004)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == -0.004, 15)
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == -0.004)
            sells = [o for o in sim_orders(sim, "BTCUSDT") if o.side == "SELL"]
            # 0.005 sold, in orders of at most 0.002 (risk.max_order_qty): three when each
            # fills at once (an order that rests past its timeout is replaced)
            assert sum(o.executed_lots for o in sells) == 5
            assert max(o.orig_lots for o in sells) == 2 and len(sells) >= 3
            assert all(o.status in ("FILLED", "CANCELED") for o in sells)

            svc.on_events([target("BTCUSDT", 0.0, 0)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.0, 15)
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == 0.0)
            last = sim_orders(sim, "BTCUSDT")[-1]
            assert last.side == "BUY" and last.reduce_only
            assert not sim_open(sim)
            st = svc.status()
            assert st["state"] == "active" and st["orders"]["rejected"] == {}
            assert st["orders"]["sent"] == len(sim_orders(sim))
            assert st["orders"]["filled"] + st["orders"]["canceled"] == st["orders"]["sent"]
            # PnL is the exchange's: realised of every fill, fees of every fill
            pos = sim.account.positions["BTCUSDT"]
            assert abs(st["symbols"]["BTCUSDT"]["pnl"]["realized"] - pos.realized_pnl) < 1e-9
            assert abs(st["balance"] - sim.account.wallet) < 1e-6
            # one sample per target change (its first order)
            assert st["latency_us"]["tick_to_order"]["count"] == 3
            return {o.client_order_id: o for o in sim_orders(sim)}

    orders = run(with_sim(scenario))
    rows = table(data, "orders")
    fills = table(data, "fills")
    # every order: sent, then the exchange's states; every fill of the exchange booked
    by_cid = {}
    for r in rows:
        by_cid.setdefault(r["client_id"], []).append(r["status"])
    assert set(by_cid) == set(orders)
    assert all(s[0] == "sent" and s[-1] in ("filled", "canceled") for s in by_cid.values())
    assert sum(r["qty"] for r in fills if r["side"] == "sell") == 0.005
    assert round(sum(r["qty"] for r in fills if r["side"] == "buy"), 9) == 0.005
    assert all(r["venue"] == "ccxt" and r["trade_id"] > 0 for r in fills)


def test_post_only_orders_rest_and_time_out(tmp_path):
    """GTX joins the bid and rests; order_timeout_ms cancels it and a fresh one replaces
    it (one working order at a time, never two)."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = exec_config(sim, data, "execution.time_in_force=GTX",
                             "execution.order_timeout_ms=700")
        async with daemon_at(sim, config) as daemon:
            sim.drivers["BTCUSDT"].paused = True      # nothing trades: the order rests
            await asyncio.sleep(0.2)
            bid = sim.markets["BTCUSDT"].book.bids.best()
            daemon.execution.on_events([target("BTCUSDT", 0.002)])
            assert await until(lambda: len(sim_open(sim)) == 1)
            (resting,) = sim_open(sim)
            assert resting.time_in_force == "GTX" and resting.price == bid
            assert await until(lambda: len(sim_orders(sim, "BTCUSDT")) >= 3, 5)
            canceled = [o for o in sim_orders(sim, "BTCUSDT") if o.status == "CANCELED"]
            assert len(canceled) >= 2
            assert len(sim_open(sim)) <= 1
            assert sim_position(sim, "BTCUSDT") == 0.0
            daemon.execution.on_events([target("BTCUSDT", 0.0, 0)])
            assert await until(lambda: not sim_open(sim))

    run(with_sim(scenario))
    statuses = [r["status"] for r in table(data, "orders")]
    assert "canceled" in statuses and "accepted" in statuses
