"""The ccxt venue's C order path: a target change the manager had planned for leaves as
ccxt's own signed request (a template ccxt made, filled and signed in C) written on a
keep-alive connection from inside the listener's callback of the frame that caused it;
the Python decision then claims it. Against rtaid-sim (which checks the HMAC
signature), with the mean-reversion strategy trading on its market: every order sent is
at the exchange once and positions are the exchange's; a key ccxt signs otherwise keeps
the C path off and the orders flowing the Python way."""
import pytest

from tests.exec.helpers import (
    ED25519_API_KEY, daemon_at, ed25519_keys, exec_config, rtaid_position, run, sim_orders,
    sim_position, target, until, with_sim,
)
from tests.helpers import QUICK_TRADING_CONFIG


@pytest.mark.parametrize("order_type", ["market", "limit"])
def test_planned_orders_leave_from_the_frame_callback_through_ccxt(tmp_path, order_type):
    config_file = tmp_path / "rtaid.toml"
    config_file.write_text(QUICK_TRADING_CONFIG)
    seen = {}

    async def scenario(sim):
        config = exec_config(sim, tmp_path / "data", "strategy.name=mean_reversion",
                             f"execution.order_type={order_type}",
                             "symbols.ETHUSDT.strategy.order_qty=0.005", path=config_file)
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            fast = svc.venue.fast
            drain = fast.fallback
            sent_at_wake = []

            def observed():
                # the C path ran first: what it sent is at the keep-alive pool already,
                # before the Python decision (the daemon's drain) has run
                sent_at_wake.append((fast.fired, svc.venue.keepalive.sent))
                drain()

            fast.fallback = observed
            assert await until(lambda: fast.fired >= 3, 60), (fast.fired, fast.passed_by)
            # every answer in, then the status; flatten (halts: no new entries) and the
            # positions are compared at rest
            await svc.venue.settle(10)
            st = svc.status()
            seen.update(status=st, wakes=sent_at_wake)
            result = await svc.flatten(None)
            assert result["ok"], result
            for symbol in ("BTCUSDT", "ETHUSDT"):
                assert await until(lambda: rtaid_position(daemon, symbol)
                                   == sim_position(sim, symbol), 10), symbol
            # every client id once at the exchange: the claim did not send it again
            ids = [o.client_order_id for o in sim_orders(sim)]
            assert len(ids) == len(set(ids)), ids

    run(with_sim(scenario, rate=300))
    st = seen["status"]
    fp = st["fast_path"]
    assert fp["off"] is None and fp["fired"] >= 3, fp
    assert fp["fast_claimed"] + fp["fast_unclaimed"] == fp["fired"], fp
    assert fp["fast_mismatch"] == 0 and fp["fast_unclaimed"] == 0, fp
    # its requests were built (and signed) between frames too, none of them sent: the
    # exchange has each client id once (above)
    assert fp["warmed"] > fp["fired"], fp
    assert sum(fp["passed_by"].values()) == fp["passed"], fp
    # the C path's orders went over the keep-alive connections, signed in C (the sim
    # refuses a bad signature): none was refused or failed
    assert st["rest_keepalive"]["sent"] >= fp["fired"]
    assert st["orders"]["rejected"] == {} and st["orders"]["failed"] == 0, st["orders"]
    assert st["venue_errors"] == {}, st["venue_errors"]
    # one tick-to-order sample per first send from a frame (the C path's included)
    assert st["latency_us"]["tick_to_order"]["count"] >= fp["fired"]
    # a wake-up found the C path's request at the pool before the decision ran
    assert any(fired and sent >= fired for fired, sent in seen["wakes"]), seen["wakes"][:5]


def test_a_key_ccxt_signs_otherwise_keeps_the_c_path_off_and_orders_flowing(tmp_path):
    """With an Ed25519 key as the API secret ccxt signs REST requests with Ed25519, not
    HMAC: the start-up check finds the rendered template differs from ccxt's request,
    the C path stays off (said in the status), and orders go the Python way, signed by
    ccxt, accepted by the exchange."""
    private, public = ed25519_keys(tmp_path)
    env = {"RTAID_API_KEY": ED25519_API_KEY, "RTAID_API_SECRET": open(private).read()}

    async def scenario(sim):
        config = exec_config(sim, tmp_path / "data", "execution.order_type=market", env=env)
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            fp = svc.status()["fast_path"]
            assert fp["off"] and "differs from ccxt's" in fp["off"], fp
            assert not any(svc.venue.fast.armed(i, t) for i in (0, 1) for t in (-1, 0, 1))
            svc.on_events([target("ETHUSDT", 0.01)])
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.01)
            assert await until(lambda: rtaid_position(daemon, "ETHUSDT") == 0.01)
            st = svc.status()
            assert st["fast_path"]["fired"] == 0 and st["rest_keepalive"]["sent"] == 1

    run(with_sim(scenario, ed25519_public_key_file=public))


def test_the_start_check_refuses_a_ccxt_whose_timestamp_is_not_the_clock(tmp_path):
    """The C path stamps the wall clock; ccxt signs its nonce (the clock minus its
    timeDifference when it adjusts for the exchange's time): if they differ, the check
    says so and the C path would stay off."""
    async def scenario(sim):
        config = exec_config(sim, tmp_path / "data")
        async with daemon_at(sim, config) as daemon:
            venue = daemon.execution.venue
            assert venue.fast_off is None and venue._check_templates() is None
            venue.exchange.options["timeDifference"] = 1500
            try:
                assert "not the clock" in venue._check_templates()
            finally:
                venue.exchange.options["timeDifference"] = 0

    run(with_sim(scenario))
