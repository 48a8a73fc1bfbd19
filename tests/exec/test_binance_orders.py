"""The binance venue against rtaid-sim's WebSocket API (/ws-fapi/v1): targets become the
right orders over the WebSocket API (session.logon with an Ed25519 key, or HMAC-signed
requests), cancels and rejects are the exchange's, positions are the sim's."""
import asyncio

from tests.exec.helpers import (
    binance_config, daemon_at, ed25519_keys, rtaid_position, run, sim_open, sim_orders,
    sim_position, sim_transports, table, target, until, with_sim,
)


def test_ed25519_logon_orders_over_the_websocket_api(tmp_path):
    """session.logon with the Ed25519 key (again after a reconnect); limit orders at the
    touch, one worked in pieces, then flat; every order went over the WebSocket API; PnL,
    balance and position are the exchange's."""
    data = tmp_path / "data"
    private, public = ed25519_keys(tmp_path)

    async def scenario(sim):
        config = binance_config(sim, data, "risk.max_order_qty=0.002",
                                ed25519_key_file=private)
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            ws = svc.status()["ws_api"]
            assert ws["connected"] and ws["logged_on"] and ws["auth"] == "ed25519"
            svc.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001)
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == 0.001)
            (first,) = sim_orders(sim, "BTCUSDT")
            assert (first.side, first.type, first.time_in_force) == ("BUY", "LIMIT", "GTC")
            # the connection drops: a new one is logged on again (unsigned orders need it)
            sim.faults.drop_connections("api")
            assert await until(lambda: svc.status()["ws_api"]["connects"] == 2
                               and svc.status()["ws_api"]["logged_on"], 5)

            svc.on_events([target("BTCUSDT", -0.004)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == -0.004, 15)
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == -0.004)
            sells = [o for o in sim_orders(sim, "BTCUSDT") if o.side == "SELL"]
            assert sum(o.executed_lots for o in sells) == 5 and max(o.orig_lots for o in sells) == 2

            svc.on_events([target("BTCUSDT", 0.0, 0)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.0, 15)
            assert await until(lambda: rtaid_position(daemon, "BTCUSDT") == 0.0)
            assert sim_orders(sim, "BTCUSDT")[-1].reduce_only and not sim_open(sim)
            assert set(sim_transports(sim, "BTCUSDT")) == {"ws"}
            st = svc.status()
            assert st["venue"] == "binance" and st["orders"]["rejected"] == {}
            assert st["orders"]["sent"] == len(sim_orders(sim))
            pos = sim.account.positions["BTCUSDT"]
            assert abs(st["symbols"]["BTCUSDT"]["pnl"]["realized"] - pos.realized_pnl) < 1e-9
            assert abs(st["balance"] - sim.account.wallet) < 1e-6
            assert st["latency_us"]["tick_to_order_ws"]["count"] == 3
            assert st["ws_api"]["rest_orders"] == 0 and st["ws_api"]["fast_mismatch"] == 0
            return {o.client_order_id for o in sim_orders(sim)}

    cids = run(with_sim(scenario, ed25519_public_key_file=public))
    rows = table(data, "orders")
    assert {r["client_id"] for r in rows} == cids
    assert all(r["venue"] == "binance" for r in rows + table(data, "fills"))


def test_hmac_signed_requests_market_orders_cancels_and_rejects(tmp_path):
    """No Ed25519 key: every request HMAC-signed. Market orders; a venue rejection is
    recorded; a GTX order that rests is cancelled over the WebSocket API at its timeout."""
    data = tmp_path / "data"

    async def scenario(sim):
        config = binance_config(sim, data, "execution.order_type=market")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            assert svc.status()["ws_api"]["auth"] == "hmac"
            sim.faults.reject_orders(1, -2019, "Margin is insufficient.")
            svc.on_events([target("ETHUSDT", 0.01)])
            assert await until(lambda: svc.status()["orders"]["rejected"] == {"venue:-2019": 1})
            # after the cool-off the next decision sends it again (a new order)
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.01, 10)
            assert all(o.type == "MARKET" for o in sim_orders(sim, "ETHUSDT"))
            # an exchange filter the order breaks (the sim says so): rejected once, then
            # the next decision sends a new order
            sim.faults.reject_orders(1, -4164, "Order's notional must be no smaller than 5.0")
            svc.on_events([target("ETHUSDT", 0.0, 0)])
            assert await until(lambda: svc.status()["orders"]["rejected"] ==
                               {"venue:-2019": 1, "venue:-4164": 1})
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.0, 10)
            assert await until(lambda: rtaid_position(daemon, "ETHUSDT") == 0.0)
            assert set(sim_transports(sim, "ETHUSDT")) == {"ws"}
            # four sends, two refused: each client id reached the exchange once
            cids = [o["client_order_id"] for o in sim.latency.orders("ETHUSDT")]
            assert len(cids) == len(set(cids)) == svc.status()["orders"]["sent"] == 4, cids
            assert len(sim_orders(sim, "ETHUSDT")) == 2

    run(with_sim(scenario))


def market_moves_up_a_tick(market) -> int:
    """The best ask is taken off the book and bid at that price (no trade prints): the
    touch moves up one level. Returns the new best bid."""
    from rtaid.sim.book import ASK, BID

    ask = market.book.asks.best()
    lots = market.book.asks.qty[ask]
    first, last = market.allocate_ids(1)
    market.apply([(ASK, ask, 0), (BID, ask, lots)], first, last)
    return ask


def gtx_config(sim, data):
    return binance_config(sim, data, "execution.time_in_force=GTX", "execution.order_timeout_ms=300")


async def a_resting_gtx_order(sim, svc):
    """A GTX buy resting at BTCUSDT's bid, the market paused (nothing trades):
    ``(market, the sim's order, bid)``."""
    market = sim.markets["BTCUSDT"]
    sim.drivers["BTCUSDT"].paused = True
    await asyncio.sleep(0.2)
    bid = market.book.bids.best()
    svc.on_events([target("BTCUSDT", 0.002)])
    assert await until(lambda: len(sim_open(sim)) == 1)
    (resting,) = sim_open(sim)
    assert resting.time_in_force == "GTX" and resting.price == bid
    return market, resting, bid


def test_post_only_orders_past_their_timeout_are_moved_to_the_touch_with_order_modify(tmp_path):
    """A GTX order rests at the bid; past execution.order_timeout_ms it stays while the
    bid is where it is, and is moved (order.modify: same order, new price) when the bid
    moves; never cancelled and replaced. A target of 0 cancels it over the WebSocket API."""
    data = tmp_path / "data"

    async def scenario(sim):
        async with daemon_at(sim, gtx_config(sim, data)) as daemon:
            svc = daemon.execution
            market, resting, bid = await a_resting_gtx_order(sim, svc)
            await asyncio.sleep(0.8)                   # past its timeout, still at the touch
            assert sim_open(sim) == [resting] and resting.price == bid
            assert svc.status()["ws_api"]["modifies"] == 0
            new_bid = market_moves_up_a_tick(market)
            assert await until(lambda: resting.price == new_bid, 3)
            assert await until(lambda: svc.status()["ws_api"]["modified"] == 1)
            assert sim_orders(sim, "BTCUSDT") == [resting] and sim_open(sim) == [resting]
            st = svc.status()
            assert st["symbols"]["BTCUSDT"]["working_orders"] == 1
            svc.on_events([target("BTCUSDT", 0.0, 0)])
            assert await until(lambda: not sim_open(sim))
            assert resting.status == "CANCELED" and st["ws_api"]["rest_orders"] == 0
            assert await until(lambda: svc.status()["ws_api"]["ws_cancels"] == 1)
            return (resting.client_order_id, float(market.inst.fmt_price(bid)),
                    float(market.inst.fmt_price(new_bid)))

    cid, bid, new_bid = run(with_sim(scenario))
    rows = [r for r in table(data, "orders") if r["client_id"] == cid]
    assert [r["status"] for r in rows] == ["sent", "accepted", "accepted", "canceled"], rows
    assert rows[2]["reason"] == "modified"
    assert [r["px"] for r in rows] == [bid, bid, new_bid, new_bid], rows


def test_a_post_only_order_is_moved_over_rest_while_the_websocket_api_is_down(tmp_path):
    """The same move with the WebSocket API down: ``PUT /fapi/v1/order`` (same order, new
    price, signed REST), never cancelled and replaced."""
    data = tmp_path / "data"

    async def scenario(sim):
        async with daemon_at(sim, gtx_config(sim, data)) as daemon:
            svc = daemon.execution
            market, resting, _ = await a_resting_gtx_order(sim, svc)
            puts = sim.counters["rest_requests"]
            sim.faults.ws_api_down(10.0)
            assert await until(lambda: not svc.status()["ws_api"]["connected"])
            await asyncio.sleep(0.5)                   # past its timeout
            new_bid = market_moves_up_a_tick(market)
            assert await until(lambda: resting.price == new_bid, 3)
            assert await until(lambda: svc.status()["ws_api"]["modified"] == 1)
            assert sim_orders(sim, "BTCUSDT") == [resting] and sim_open(sim) == [resting]
            assert not svc.status()["ws_api"]["connected"]
            assert sim.counters["rest_requests"] > puts
            assert svc.status()["symbols"]["BTCUSDT"]["working_orders"] == 1
            return resting.client_order_id, float(market.inst.fmt_price(new_bid))

    cid, new_bid = run(with_sim(scenario))
    rows = [r for r in table(data, "orders") if r["client_id"] == cid]
    assert [r["status"] for r in rows] == ["sent", "accepted", "accepted"], rows
    assert rows[2]["reason"] == "modified" and rows[2]["px"] == new_bid
