"""rtaid-sim's faults against the ccxt venue: rejections, 5xx, timeouts, 429 and 418,
a dropped user stream. No order is ever doubled, no fill is lost: the exchange's orders
(by client id), its position and rtaid's agree after each."""
import asyncio
import collections

import pytest

from tests.exec.helpers import (
    daemon_at, exec_config, rtaid_position, run, sim_open, sim_orders, sim_position, table,
    target, until, with_sim,
)


def client_ids(sim) -> collections.Counter:
    return collections.Counter(o.client_order_id for o in sim_orders(sim))


@pytest.mark.slow      # ~15 s: lookups wait out the recvWindow, timeouts run out, a backoff
def test_rejections_errors_and_timeouts_never_double_an_order(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, data)) as daemon:
            svc = daemon.execution
            want = 0.0

            async def step(qty, fault):
                nonlocal want
                fault()
                want = round(want + qty, 6)
                svc.on_events([target("BTCUSDT", want)])
                assert await until(lambda: sim_position(sim, "BTCUSDT") == want
                                   and rtaid_position(daemon, "BTCUSDT") == want, 15), \
                    (sim_position(sim, "BTCUSDT"), svc.status())
                await asyncio.sleep(0.3)        # nothing more goes out afterwards
                assert sim_position(sim, "BTCUSDT") == want
                assert max(client_ids(sim).values()) == 1, client_ids(sim)

            # the exchange refuses an order: recorded; the next attempt (a new order) goes
            await step(0.001, lambda: sim.faults.reject_orders(1, -2019, "Margin is insufficient."))
            assert svc.status()["orders"]["rejected"] == {"venue:-2019": 1}
            # 503 before the order was processed: looked up once its recvWindow passed,
            # not found, sent again with the same client id
            before = svc.status()["orders"]["sent"]
            await step(0.001, lambda: sim.faults.fail_rest("status", status=503, count=1,
                                                           path="/fapi/v1/order"))
            assert svc.status()["orders"]["sent"] == before + 1     # one order, sent twice
            # the exchange's backend times out (hangs past our timeout, then 503 -1007)
            await step(0.001, lambda: sim.faults.fail_rest("timeout", seconds=3.5, count=1,
                                                           path="/fapi/v1/order"))
            # served so late that our request timed out first
            await step(0.001, lambda: sim.faults.fail_rest("delay", seconds=3.2, count=1,
                                                           path="/fapi/v1/order"))
            # 429: that order is given up, nothing goes to the exchange for Retry-After (at
            # most execution.max_backoff_s = 1 s), then the target is reached
            await step(0.001, lambda: sim.faults.fail_rest("status", status=429, count=1,
                                                           path="/fapi/v1/order"))
            st = svc.status()
            assert st["orders"]["rejected"] == {"venue:-2019": 1, "venue_rate_limited": 1}
            assert st["venue_errors"]["venue:-1001"] == 1 and st["venue_errors"]["timeout"] == 2
            assert st["state"] == "active"
            # 418: the IP is banned: trading halts (and keeps the position)
            sim.faults.fail_rest("status", status=418, count=1, path="/fapi/v1/order")
            n = len(sim_orders(sim))
            svc.on_events([target("BTCUSDT", 0.0, 0)])
            assert await until(lambda: svc.status()["state"] == "halted")
            assert "venue_banned" in svc.status()["state_reason"]
            await asyncio.sleep(0.3)
            assert len(sim_orders(sim)) == n and sim_position(sim, "BTCUSDT") == want

    run(with_sim(scenario), timeout=120)
    rows = table(data, "orders")
    by_cid = collections.defaultdict(list)
    for r in rows:
        by_cid[r["client_id"]].append(r["status"])
    # a retried order is one order: sent once, filled once
    assert all(s.count("sent") == 1 and s.count("filled") <= 1 for s in by_cid.values())


def test_a_dropped_user_stream_loses_no_fill(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        config = exec_config(sim, data, "execution.time_in_force=GTX",
                             "execution.order_timeout_ms=0")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            sim.drivers["BTCUSDT"].paused = True
            await asyncio.sleep(0.1)
            svc.on_events([target("BTCUSDT", 0.002)])
            assert await until(lambda: len(sim_open(sim)) == 1)
            (resting,) = sim_open(sim)
            # the stream drops (no close frame) and, before rtaid is back, the order fills:
            # its ORDER_TRADE_UPDATE and ACCOUNT_UPDATE reach no one
            sim.faults.drop_connections("user", clean=False)
            sim.markets["BTCUSDT"].take("SELL", 50, own=False)
            assert resting.status == "FILLED"
            assert await until(lambda: svc.status()["user_stream"]["connects"] >= 2)
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == 0.002
                               and svc.status()["symbols"]["BTCUSDT"]["pnl"]["fees"] > 0, 10)
            await asyncio.sleep(0.5)
            # one order: the fill was found, not traded again
            assert len(sim_orders(sim)) == 1 and sim_position(sim, "BTCUSDT") == 0.002
            assert svc.status()["user_stream"]["disconnects"] >= 1

    run(with_sim(scenario))
    (fill,) = table(data, "fills")
    assert fill["qty"] == 0.002 and fill["side"] == "buy" and fill["trade_id"] == 0
