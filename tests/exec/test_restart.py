"""A restart mid-position resumes from the exchange's state; a halt survives a restart
until resume; execution.on_shutdown = "flatten" flattens on stop (SIGTERM's handler)."""
import asyncio
import json

from tests.exec.helpers import (
    daemon_at, exec_config, rtaid_position, run, sim_open, sim_orders, sim_position, target,
    until, with_sim,
)


def test_restart_mid_position_resumes_from_the_exchange(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        gtx = ("execution.time_in_force=GTX", "execution.order_timeout_ms=0")
        async with daemon_at(sim, exec_config(sim, data, *gtx)) as first:
            for driver in sim.drivers.values():      # quiet markets: orders rest where placed
                driver.paused = True
            await asyncio.sleep(0.1)
            first.execution.on_events([target("BTCUSDT", 0.003), target("ETHUSDT", 0.01)])
            # BTC: a post-only buy fills when someone sells through it; ETH's rests
            assert await until(lambda: len(sim_open(sim)) == 2)
            btc = next(o for o in sim_open(sim) if o.symbol == "BTCUSDT")
            sim.markets["BTCUSDT"].take("SELL", 100, own=False)
            assert btc.status == "FILLED"
            assert await until(lambda: rtaid_position(first, "BTCUSDT") == 0.003)
        assert first.exit_code_seen == 0
        sim.drivers["BTCUSDT"].paused = False   # ETH stays quiet: its order rests
        (left,) = sim_open(sim)              # the ETH order outlives the first run
        assert left.symbol == "ETHUSDT"
        n = len(sim_orders(sim))

        async with daemon_at(sim, exec_config(sim, data), synced=False) as second:
            svc = second.execution
            assert await until(lambda: svc.started and second.feed.states["BTCUSDT"] == "synced")
            # the position is taken from the exchange at start, the old order cancelled
            assert svc.status()["symbols"]["BTCUSDT"]["position"] == 0.003
            assert await until(lambda: not sim_open(sim))
            assert left.status == "CANCELED"
            # the strategy's target is what the exchange has: nothing to trade
            svc.on_events([target("BTCUSDT", 0.003)])
            await asyncio.sleep(0.5)
            assert len(sim_orders(sim)) == n
            svc.on_events([target("BTCUSDT", 0.004)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.004)
            assert len(sim_orders(sim)) == n + 1
            assert sim.markets["BTCUSDT"].inst.qty_float(sim_orders(sim)[-1].orig_lots) == 0.001
            # a client id of this run never repeats one of the first run's
            ids = [o.client_order_id for o in sim_orders(sim)]
            assert len(ids) == len(set(ids))

    run(with_sim(scenario))


def test_a_halt_survives_a_restart_until_resume(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, data)) as first:
            first.execution.on_events([target("BTCUSDT", 0.002)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.002)
            assert (await first.execution.flatten())["ok"]
        state = json.loads((data / "execution" / "state.json").read_text())
        assert state["state"] == "halted" and state["reason"] == "flatten"

        async with daemon_at(sim, exec_config(sim, data)) as second:
            svc = second.execution
            assert svc.status()["state"] == "halted"
            # positions opened behind its back while halted are flattened again
            sim.account.place({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                               "quantity": "0.001"})
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.0)
            n = len(sim_orders(sim))
            svc.on_events([target("BTCUSDT", 0.002)])
            await asyncio.sleep(0.5)
            assert len(sim_orders(sim)) == n
            assert svc.resume()["ok"]
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.002)
        assert json.loads((data / "execution" / "state.json").read_text())["state"] == "active"

    run(with_sim(scenario))


def test_on_shutdown_flatten(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        config = exec_config(sim, data, "execution.on_shutdown=flatten")
        async with daemon_at(sim, config) as daemon:
            daemon.execution.on_events([target("BTCUSDT", -0.002), target("ETHUSDT", 0.01)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == -0.002
                               and sim_position(sim, "ETHUSDT") == 0.01)
        # request_stop is what SIGTERM runs
        assert daemon.exit_code_seen == 0
        assert sim_position(sim, "BTCUSDT") == sim_position(sim, "ETHUSDT") == 0.0
        assert not sim_open(sim)

    run(with_sim(scenario))
    assert json.loads((data / "execution" / "state.json").read_text())["state"] == "halted"
