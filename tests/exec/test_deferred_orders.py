"""A target change while the previous order's answer is pending (the manager's rule 1):
its frame's turn places nothing; the order placed when the answer arrives is timed from
that frame as ``tick_to_deferred_order`` (the wait included), apart from the
``tick_to_order`` figures, against rtaid-sim with the ccxt and the binance venue."""
import pytest

from tests.exec.helpers import (
    binance_config, daemon_at, exec_config, run, sim_orders, sim_position, target, until,
    with_sim,
)


@pytest.mark.parametrize("venue", ["ccxt", "binance"])
def test_an_order_held_back_by_a_pending_answer_is_timed_apart(tmp_path, venue):
    data = tmp_path / "data"
    config_of = binance_config if venue == "binance" else exec_config
    stage = "tick_to_order_ws" if venue == "binance" else "tick_to_order"

    async def scenario(sim):
        config = config_of(sim, data, "execution.order_type=market")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            svc.on_events([target("BTCUSDT", 0.001)])
            # the same turn: the first order is on its way, its answer pending
            svc.on_events([target("BTCUSDT", 0.003)])
            assert svc.status()["orders"]["sent"] == 1
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.003)
            assert await until(lambda: svc.status()["orders"]["filled"] == 2)
            # one order each, no quantity twice: 1 lot, then the 2 the first left to do
            assert [o.orig_lots for o in sim_orders(sim, "BTCUSDT")] == [1, 2]
            latency = svc.status()["latency_us"]
            assert latency[stage]["count"] == 1
            assert latency["tick_to_order"]["count"] == 1
            deferred = latency["tick_to_deferred_order"]
            assert deferred["count"] == 1
            # it waited for the first order's answer: a round trip to the sim and back
            assert deferred["p50"] >= latency[stage]["p50"]

    run(with_sim(scenario))
