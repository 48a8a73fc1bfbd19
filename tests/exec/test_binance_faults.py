"""The binance venue when the WebSocket API fails (rtaid-sim's ws_api faults): a request
lost with its connection or never answered leaves no duplicate (the order is looked up
by its client id, sent again with the same id only when the exchange lacks it); the
connection comes back (backoff); while the WebSocket API is down orders and cancels go
over REST, and back over the WebSocket API when it returns; rateLimits are respected."""
import asyncio
import collections
import time

from tests.exec.helpers import (
    binance_config, daemon_at, rtaid_position, run, sim_orders, sim_position, sim_transports,
    target, until, with_sim,
)


def no_duplicates(sim) -> None:
    counts = collections.Counter(o.client_order_id for o in sim_orders(sim))
    assert all(n == 1 for n in counts.values()), counts


def test_disconnect_mid_request_sends_no_duplicate_and_reconnects(tmp_path):
    """drop_before (never processed: sent again, same id), drop_after (processed, the
    answer lost: found by its id), silent (processed, never answered: timed out, found)."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = binance_config(sim, data, "execution.order_type=market")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            ws = lambda: svc.status()["ws_api"]                     # noqa: E731
            steps = [("drop_before", 0.002), ("drop_after", -0.001), ("silent", 0.003)]
            for n, (mode, qty) in enumerate(steps, 1):
                sim.faults.fail_ws_api(mode, "order.place")
                svc.on_events([target("BTCUSDT", qty)])
                assert await until(lambda: sim_position(sim, "BTCUSDT") == qty, 10), mode
                assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == qty, 10), mode
                assert await until(lambda: svc.status()["symbols"]["BTCUSDT"]["working_orders"] == 0)
                assert len(sim_orders(sim, "BTCUSDT")) == n, (mode, sim_orders(sim, "BTCUSDT"))
                no_duplicates(sim)
                assert await until(lambda: ws()["connected"], 5), mode
            # silent: the user stream already brought the fill; the request times out,
            # its lookup finds the order filled: nothing is sent again
            assert await until(lambda: ws()["timeouts"] == 1, 6)
            assert await until(lambda: not daemon.execution.venue._tasks, 5)
            assert len(sim_orders(sim, "BTCUSDT")) == 3
            no_duplicates(sim)
            st = ws()
            assert st["disconnects"] == 2 and st["connects"] == 3, st
            # each order went out over the WebSocket API (drop_before: twice, same id)
            assert set(sim_transports(sim, "BTCUSDT")) == {"ws"}
            assert svc.status()["orders"]["failed"] == 0

    run(with_sim(scenario))


def test_rest_while_the_websocket_api_is_down_and_back_when_it_returns(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        config = binance_config(sim, data, "execution.order_type=market")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            ws = lambda: svc.status()["ws_api"]                     # noqa: E731
            svc.on_events([target("ETHUSDT", 0.01)])
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.01)
            sim.faults.ws_api_down(2.0)
            assert await until(lambda: not ws()["connected"])
            svc.on_events([target("ETHUSDT", -0.02)])
            assert await until(lambda: sim_position(sim, "ETHUSDT") == -0.02)
            assert await until(lambda: rtaid_position(daemon, "ETHUSDT") == -0.02)
            assert sim_transports(sim, "ETHUSDT") == ["ws", "rest"]
            # ... written in the placing turn on a REST keep-alive connection, and its
            # answer taken through ccxt (not the WebSocket API's answer handling)
            assert svc.status()["rest_keepalive"]["sent"] == 1
            assert await until(lambda: not svc.venue._tasks)
            assert "task_failed" not in svc.status()["venue_errors"], svc.status()["venue_errors"]
            assert not ws()["connected"]
            # it comes back (reconnect attempts refused meanwhile, with backoff)
            assert await until(lambda: ws()["connected"], 10)
            assert ws()["connect_failures"] >= 1
            svc.on_events([target("ETHUSDT", 0.0, 0)])
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.0)
            assert await until(lambda: rtaid_position(daemon, "ETHUSDT") == 0.0)
            assert sim_transports(sim, "ETHUSDT") == ["ws", "rest", "ws"]
            st = ws()
            assert (st["ws_orders"], st["rest_orders"]) == (2, 1), st
            no_duplicates(sim)

    run(with_sim(scenario))


def test_rate_limits_the_api_reports_hold_orders_until_their_window_ends(tmp_path):
    """The sim allows 3 orders per 10 s: the answer to the third says the limit is
    reached; the fourth waits for the next window instead of being refused (429)."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = binance_config(sim, data, "execution.order_type=market",
                                "execution.max_backoff_s=15")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            # start early in a 10 s window so that the first three orders share it
            await asyncio.sleep((10.5 - time.time() % 10) % 10 if time.time() % 10 > 6 else 0)
            for qty in (0.001, -0.001, 0.002, -0.002):
                svc.on_events([target("BTCUSDT", qty)])
                await until(lambda: sim_position(sim, "BTCUSDT") == qty, 1.5)
            assert sim.limiter.rejected == 0
            assert len(sim_orders(sim, "BTCUSDT")) == 3
            assert svc.status()["ws_api"]["rate_limit_holds"] >= 1
            assert svc.status()["backoff_s"] > 0
            # the fourth goes out in the next window
            assert await until(lambda: sim_position(sim, "BTCUSDT") == -0.002, 12)
            arrivals = [o["wall_ns"] / 1e9 for o in sim.latency.orders("BTCUSDT")]
            assert len(arrivals) == 4 and int(arrivals[3] // 10) > int(arrivals[2] // 10)
            assert sim.limiter.rejected == 0 and svc.status()["orders"]["rejected"] == {}
            orders = [rl for rl in svc.status()["ws_api"]["rate_limits"]
                      if rl["rateLimitType"] == "ORDERS" and rl["intervalNum"] == 10]
            assert orders and orders[0]["limit"] == 3

    run(with_sim(scenario, order_limit_10s=3))


def test_a_request_weight_limit_reached_holds_orders_instead_of_a_429(tmp_path):
    """Someone else on the IP used the minute's request weight: the answer to our order
    says REQUEST_WEIGHT is at its limit, and the next order waits (at most
    execution.max_backoff_s) instead of being refused."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = binance_config(sim, data, "execution.order_type=market",
                                "execution.max_backoff_s=2")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            # early in a minute: the weight window must not roll over meanwhile
            await asyncio.sleep(61 - time.time() % 60 if time.time() % 60 > 45 else 0)
            window = sim.limiter.weight
            window.add(window.limit - window.add(0, time.time()), time.time())   # at the limit
            svc.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001)
            assert await until(lambda: svc.status()["ws_api"]["rate_limit_holds"] >= 1)
            held_at = time.monotonic()
            svc.on_events([target("BTCUSDT", -0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == -0.001, 5)
            assert time.monotonic() - held_at > 1.0       # held for the backoff
            weights = [rl for rl in svc.status()["ws_api"]["rate_limits"]
                       if rl["rateLimitType"] == "REQUEST_WEIGHT"]
            assert weights and weights[0]["count"] >= weights[0]["limit"]
            assert sim.limiter.rejected == 0 and svc.status()["orders"]["rejected"] == {}

    run(with_sim(scenario))


def test_the_c_order_path_stays_armed_while_a_slow_reconciliation_runs(tmp_path):
    """A reconciliation against a slow exchange takes seconds; the symbols it changes
    nothing of stay armed meanwhile (a target change then goes the C path, as before
    it), and after it. An order whose fate it corrects disarms its own symbol until the
    next decision re-arms it."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = binance_config(sim, data, "strategy.order_qty=0.001")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            fast = svc.venue.fast
            btc, eth = (svc.instruments[s].sym for s in ("BTCUSDT", "ETHUSDT"))
            assert await until(lambda: all(fast.armed(i, t) for i in (btc, eth) for t in (-1, 1)))
            sim.faults.fail_rest("delay", seconds=0.5, count=4, path="/fapi/v1/openOrders")
            reconciling = asyncio.create_task(svc.reconcile())
            await asyncio.sleep(0.3)
            assert not reconciling.done()
            assert all(fast.armed(i, t) for i in (btc, eth) for t in (-1, 1))
            await reconciling
            assert all(fast.armed(i, t) for i in (btc, eth) for t in (-1, 1))

            # an order we believe open and the exchange has filled (looked up by its
            # client id): its symbol is disarmed by the reconciliation, armed again by
            # the decision that follows; the other symbol stays armed
            svc.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001, 10)
            assert await until(lambda: fast.armed(btc, -1))
            disarmed = []
            real_disarm = svc._disarm
            svc._disarm = lambda symbol=None: (disarmed.append(symbol), real_disarm(symbol))[1]
            sim.faults.fail_rest("delay", seconds=0.3, count=1, path="/fapi/v1/openOrders")
            order = next(iter(svc.manager.by_id.values()))
            order.status, order.inflight = "accepted", False       # we believe it open
            svc.manager.open["BTCUSDT"][order.client_id] = order
            await svc.reconcile(["BTCUSDT"])
            assert "BTCUSDT" in disarmed and "ETHUSDT" not in disarmed
            assert fast.armed(eth, 1)
            assert await until(lambda: fast.armed(btc, -1))

    run(with_sim(scenario))


def test_an_answer_re_arms_its_symbol_before_the_decision_that_follows(tmp_path):
    """An order's answer disarms its symbol and the manager takes it in; the C path is
    armed again at once with the plans of the new state, not a callback later when the
    coalesced decision runs (a frame read in between would go the Python way)."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = binance_config(sim, data, "strategy.order_qty=0.001",
                                "execution.order_type=market")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            fast = svc.venue.fast
            btc = svc.instruments["BTCUSDT"].sym
            armed_at_answer = []
            real_update = svc.update

            def update(order, status, *args, **kw):
                real_update(order, status, *args, **kw)
                if status == "filled":      # still inside the answer's callback
                    armed_at_answer.append((fast.armed(btc, 0), fast.armed(btc, -1),
                                            fast.armed(btc, 1)))
            svc.update = update
            svc.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001, 10)
            assert await until(lambda: armed_at_answer)
            # long 1 lot: back to flat and to short have a plan; +1 is where it is
            assert armed_at_answer[0] == (True, True, False)

    run(with_sim(scenario))
