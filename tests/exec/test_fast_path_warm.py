"""The binance venue's C order path between frames: the listener wakes it through its
vtable after a frame that queued a target change, and between frames (at most every
200 us) has it run its checks and build its requests without sending them, so that an
order, seconds apart, does not find its code and templates cold. Against rtaid-sim with
HMAC-signed requests (the warm-up signs too): the warm-ups run, and what reaches the
exchange is exactly the orders the venue sent, each signed right, none twice."""
from tests.exec.helpers import (
    binance_config, daemon_at, rtaid_position, run, sim_orders, sim_position, until, with_sim,
)
from tests.helpers import QUICK_TRADING_CONFIG


def test_warm_ups_build_requests_between_frames_and_send_none(tmp_path):
    config_file = tmp_path / "rtaid.toml"
    config_file.write_text(QUICK_TRADING_CONFIG)

    async def scenario(sim):
        config = binance_config(sim, tmp_path / "data", "strategy.name=mean_reversion",
                                "execution.order_type=market",
                                "symbols.ETHUSDT.strategy.order_qty=0.005", path=config_file)
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            fast = svc.venue.fast
            assert await until(lambda: fast.fired >= 3, 60), (fast.fired, fast.passed_by)
            warmed = fast.warmed
            # armed plans are built again and again while no order goes out
            assert await until(lambda: fast.warmed >= warmed + 20, 10), (warmed, fast.warmed)
            # flatten (halts: no new entries), every answer in, then the count
            result = await svc.flatten(None)
            assert result["ok"], result
            for symbol in ("BTCUSDT", "ETHUSDT"):
                assert await until(lambda: rtaid_position(daemon, symbol)
                                   == sim_position(sim, symbol), 10), symbol
            await svc.venue.settle(10)
            return svc.status(), [o.client_order_id for o in sim_orders(sim)]

    st, ids = run(with_sim(scenario, rate=300))
    ws = st["ws_api"]
    assert ws["auth"] == "hmac" and not ws["logged_on"], ws
    # the warm-ups outnumber the orders (they run between frames, orders seconds apart)
    assert ws["fast_warmed"] > 10 * ws["fast_fired"] > 0, ws
    # nothing a warm-up built reached the exchange: the sim has exactly the orders the
    # venue sent, each once, none rejected (a bad signature would be)
    assert ws["fast_mismatch"] == 0 and st["orders"]["rejected"] == {}, (ws, st["orders"])
    assert len(ids) == len(set(ids)) == st["orders"]["sent"], (st["orders"], ids)
