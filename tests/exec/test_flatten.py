"""Flatten at rtaid-sim: resting orders, a partly filled order, an order in flight and a
position opened outside rtaid all end at zero; trading stays halted until resume; a
second flatten is a no-op; pause only lets positions shrink."""
import asyncio

from tests.exec.helpers import (
    daemon_at, exec_config, rtaid_position, run, sim_open, sim_orders, sim_position, target,
    until, with_sim,
)


def test_flatten_reaches_zero_with_orders_resting_partly_filled_and_in_flight(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        # post-only orders join the bid and rest (no timeout): a big one to be partly filled
        config = exec_config(sim, data, "execution.time_in_force=GTX",
                             "execution.order_timeout_ms=0")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            for driver in sim.drivers.values():      # quiet markets: orders rest where placed
                driver.paused = True
            await asyncio.sleep(0.1)
            svc.on_events([target("BTCUSDT", 0.5)])
            assert await until(lambda: len(sim_open(sim)) == 1)
            (big,) = sim_open(sim)
            # someone else sells at the market: the trades at the bid fill part of our
            # resting buy
            sim.markets["BTCUSDT"].take("SELL", 20, own=False)
            assert big.status == "PARTIALLY_FILLED" and 0 < big.executed_lots < big.orig_lots
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") > 0)
            # a position opened on the account outside rtaid
            sim.account.place({"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET",
                               "quantity": "0.03"})
            # and an order on its way, held up for 0.5 s: it lands (and rests) mid-flatten
            sim.faults.fail_rest("delay", seconds=0.5, count=1, path="/fapi/v1/order")
            svc.on_events([target("ETHUSDT", 0.2)])
            await asyncio.sleep(0.05)
            assert svc.status()["symbols"]["ETHUSDT"]["working_orders"] == 1
            assert not any(o.type == "LIMIT" for o in sim_orders(sim, "ETHUSDT"))
            result = await svc.flatten()
            assert result["ok"] and result["flat"], result
            assert result["state"] == "halted"
            for sym in ("BTCUSDT", "ETHUSDT"):
                assert sim_position(sim, sym) == 0.0 == rtaid_position(daemon, sym)
            assert not sim_open(sim)
            landed = [o for o in sim_orders(sim, "ETHUSDT") if o.type == "LIMIT"]
            assert len(landed) == 1 and landed[0].status == "CANCELED"
            closing = [o for o in sim_orders(sim) if o.reduce_only and o.type == "MARKET"]
            assert closing and all(o.status == "FILLED" for o in closing)
            # idempotent: nothing left to do, nothing sent
            n = len(sim_orders(sim))
            again = await svc.flatten()
            assert again["ok"] and len(sim_orders(sim)) == n
            # halted: the strategy's next target sends nothing
            for driver in sim.drivers.values():
                driver.paused = False
            svc.on_events([target("BTCUSDT", 0.001)])
            await asyncio.sleep(0.5)
            assert len(sim_orders(sim)) == n and svc.status()["state"] == "halted"
            assert svc.resume()["ok"]
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001)

    run(with_sim(scenario))


def test_flatten_one_symbol_and_a_position_opened_outside(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, data)) as daemon:
            svc = daemon.execution
            # positions rtaid never traded: it learns them from the account stream
            sim.account.place({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET",
                               "quantity": "0.05"})
            sim.account.place({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET",
                               "quantity": "0.002"})
            assert await until(lambda: rtaid_position(daemon, "ETHUSDT") == 0.05
                               and rtaid_position(daemon, "BTCUSDT") == -0.002)
            unknown = await svc.flatten("DOGEUSDT")
            assert not unknown["ok"] and "unknown symbol" in unknown["error"]
            result = await svc.flatten("ethusdt")
            assert result["ok"] and result["positions"] == {"ETHUSDT": 0.0}
            assert sim_position(sim, "ETHUSDT") == 0.0
            assert sim_position(sim, "BTCUSDT") == -0.002      # not this one's business
            assert svc.status()["state"] == "halted"

    run(with_sim(scenario))


def test_pause_only_reduces(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, data)) as daemon:
            svc = daemon.execution
            svc.on_events([target("BTCUSDT", 0.003)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.003)
            assert svc.pause()["ok"] and svc.status()["paused"]
            svc.on_events([target("BTCUSDT", 0.006)])       # would grow: not sent
            await asyncio.sleep(0.4)
            assert sim_position(sim, "BTCUSDT") == 0.003
            svc.on_events([target("BTCUSDT", -0.004)])      # shrinks to 0, does not flip
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.0)
            await asyncio.sleep(0.4)
            assert sim_position(sim, "BTCUSDT") == 0.0
            assert svc.resume()["ok"]
            assert await until(lambda: sim_position(sim, "BTCUSDT") == -0.004)

    run(with_sim(scenario))
