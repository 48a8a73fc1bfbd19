"""Every risk limit blocks what it must and lets the rest through, against rtaid-sim;
the kill switch and the daily loss limit halt and flatten. The checks themselves (each
branch of the gate) are exercised on a stand-in market first."""
import asyncio

from rtaid.exec.instruments import Instrument
from rtaid.exec.orders import Order
from rtaid.exec.risk import RiskGate, RiskLimits
from tests.exec.helpers import (
    daemon_at, exec_config, rtaid_position, run, sim_open, sim_orders, sim_position, table,
    target, until, with_sim,
)

BTC = Instrument("BTCUSDT", 0, 2, 3, tick=10, step=1, min_qty=1, max_qty=1_000_000,
                 market_max_qty=120_000, min_notional=5.0)
LIMITS = RiskLimits(max_position=0.01, max_order_qty=0.005, max_notional_usd=500.0,
                    max_orders_per_minute=3, max_daily_loss_usd=100.0, kill_switch=False,
                    price_band_bps=10.0, max_book_age_ms=1000)


class Book:
    """A book at 60000.00 / 60000.10 (units of 0.01), synced, last event at t=1000."""

    def __init__(self, synced=True, last_ms=1000, bid=6_000_000, ask=6_000_010):
        self.is_synced, self.last_ms, self.bid, self.ask = synced, last_ms, bid, ask

    def synced(self, sym):
        return self.is_synced

    def age_ms(self, sym, now_ms):
        return now_ms - self.last_ms

    def touch(self, sym, side):
        return self.ask if side > 0 else self.bid

    def mid(self, sym):
        return (self.bid + self.ask) / 2


def order(qty=1, side=1, px=6_000_010, otype="limit", reduce_only=False):
    return Order("rt-x-0-1", "BTCUSDT", 0, side, otype, "GTC", px, qty, reduce_only, "target", 0)


def test_each_check_of_the_gate_blocks_its_case_and_passes_the_rest():
    gate, book = RiskGate(), Book()
    ok = gate.check(BTC, order(), LIMITS, 0, 1100, book)
    assert ok is None
    cases = [
        (dict(limits=LIMITS.__class__(**{**LIMITS.__dict__, "kill_switch": True})), "kill_switch"),
        (dict(market=Book(synced=False)), "book_unsynced"),
        (dict(now=2500), "book_stale"),
        (dict(o=order(px=6_010_000)), "price_band"),               # 16.7 bps above the mid
        (dict(o=order(qty=6)), "max_order_qty"),
        (dict(exposure=8, o=order(qty=3)), "max_position"),
        (dict(o=order(qty=5, px=6_000_000, side=-1), exposure=0,
              limits=LIMITS.__class__(**{**LIMITS.__dict__, "max_notional_usd": 250.0})),
         "max_notional_usd"),
        (dict(market=Book(bid=400_000, ask=400_010), o=order(qty=1, px=400_010)), "min_notional"),
        (dict(o=order(px=6_000_015)), "tick_size"),
        (dict(o=order(otype="market", qty=120_001, px=0),
              limits=LIMITS.__class__(**{**LIMITS.__dict__, "max_order_qty": 1000.0,
                                         "max_position": 1000.0, "max_notional_usd": 1e12})),
         "max_qty"),
    ]
    for kw, reason in cases:
        got = gate.check(BTC, kw.get("o", order()), kw.get("limits", LIMITS), kw.get("exposure", 0),
                         kw.get("now", 1100), kw.get("market", book))
        assert got == reason, (kw, got)
    # what may pass: reducing past max_position, a reduce-only order under min notional
    assert gate.check(BTC, order(qty=5, side=-1, px=6_000_000), LIMITS, 12, 1100, book) is None
    assert gate.check(BTC, order(qty=1, px=400_010, reduce_only=True), LIMITS, -1, 1100,
                      Book(bid=400_000, ask=400_010)) is None
    # the order rate: three in the minute pass, the fourth waits for the window to move
    for t in (1000, 1010, 1020):
        gate.note_sent(t)
    assert gate.check(BTC, order(), LIMITS, 0, 1030, book) == "max_orders_per_minute"
    assert gate.check(BTC, order(), LIMITS, 0, 61_001, Book(last_ms=61_000)) is None


def test_limits_at_the_exchange(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        base = ("risk.max_order_qty=0.002", "risk.max_position=0.003")
        config = exec_config(sim, data, *base)
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution

            # max_position: 0.002 then 0.001 more pass, the rest of the way is refused
            svc.on_events([target("BTCUSDT", 0.005)])
            assert await until(lambda: svc.status()["orders"]["rejected"].get("max_position") == 1)
            await asyncio.sleep(0.6)      # decisions go on: the same refusal is counted once
            assert svc.status()["orders"]["rejected"] == {"max_position": 1}
            assert sim_position(sim, "BTCUSDT") == rtaid_position(daemon, "BTCUSDT") == 0.002

            # min_notional (exchangeInfo: 5 USDT): 0.001 ETH is ~2.6 USDT
            svc.on_events([target("ETHUSDT", 0.001)])
            assert await until(lambda: svc.status()["orders"]["rejected"].get("min_notional") == 1)
            assert sim_position(sim, "ETHUSDT") == 0.0

            # max_notional_usd: 0.002 ETH (~5.2 USDT) over a 5.1 limit is refused, 0.001
            # BTC over 100 USD too; raised live (SIGHUP), the orders go
            svc.reload(exec_config(sim, data, *base, "risk.max_notional_usd=5.1"))
            svc.on_events([target("ETHUSDT", 0.002)])
            assert await until(lambda: svc.status()["orders"]["rejected"].get("max_notional_usd") == 1)
            svc.reload(exec_config(sim, data, *base))
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.002)

            # price_band_bps: a limit at the touch is a few hundredths of a bp off the mid
            svc.reload(exec_config(sim, data, *base, "risk.price_band_bps=0.001"))
            svc.on_events([target("ETHUSDT", 0.0, 0)])
            assert await until(lambda: svc.status()["orders"]["rejected"].get("price_band") == 1)
            assert sim_position(sim, "ETHUSDT") == 0.002
            svc.reload(exec_config(sim, data, *base))
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.0)

            # max_book_age_ms: a market that went quiet is not traded
            sim.drivers["ETHUSDT"].paused = True
            svc.reload(exec_config(sim, data, *base, "risk.max_book_age_ms=300"))
            await asyncio.sleep(0.6)
            svc.on_events([target("ETHUSDT", 0.002)])
            assert await until(lambda: svc.status()["orders"]["rejected"].get("book_stale") == 1)
            sim.drivers["ETHUSDT"].paused = False
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.002)

            # max_orders_per_minute: every order so far counts
            sent = svc.status()["orders"]["sent"]
            svc.reload(exec_config(sim, data, *base, f"risk.max_orders_per_minute={sent}"))
            svc.on_events([target("ETHUSDT", 0.0, 0)])
            assert await until(lambda: svc.status()["orders"]["rejected"].get("max_orders_per_minute") == 1)
            assert sim_position(sim, "ETHUSDT") == 0.002
            assert len(sim_orders(sim)) == sent
            svc.reload(exec_config(sim, data, *base, f"risk.max_orders_per_minute={sent + 1}"))
            assert await until(lambda: sim_position(sim, "ETHUSDT") == 0.0)
            assert svc.status()["state"] == "active"

    run(with_sim(scenario))
    rejected = [r for r in table(data, "orders") if r["status"] == "rejected"]
    assert sorted(r["reason"] for r in rejected) == sorted(
        ["max_position", "min_notional", "max_notional_usd", "price_band", "book_stale",
         "max_orders_per_minute"])


def test_kill_switch_halts_and_flattens_until_resumed(tmp_path):
    data = tmp_path / "data"
    conf = tmp_path / "rtaid.toml"
    conf.write_text("[risk]\nkill_switch = false\n")

    async def scenario(sim):
        async with daemon_at(sim, exec_config(sim, data, path=conf)) as daemon:
            svc = daemon.execution
            svc.on_events([target("BTCUSDT", 0.003), target("ETHUSDT", -0.01)])
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.003
                               and sim_position(sim, "ETHUSDT") == -0.01)
            conf.write_text("[risk]\nkill_switch = true\n")
            daemon.reload()                                   # what SIGHUP runs
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.0
                               and sim_position(sim, "ETHUSDT") == 0.0)
            assert await until(lambda: svc.status().get("last_flatten", {}).get("ok"))
            st = svc.status()
            assert (st["state"], st["state_reason"]) == ("halted", "kill_switch")
            n = len(sim_orders(sim))
            svc.on_events([target("BTCUSDT", 0.001)])       # halted: nothing goes out
            await asyncio.sleep(0.5)
            assert len(sim_orders(sim)) == n and not sim_open(sim)
            refused = svc.resume()
            assert not refused["ok"] and "kill_switch" in refused["error"]
            conf.write_text("[risk]\nkill_switch = false\n")
            daemon.reload()
            assert svc.resume()["ok"] and svc.status()["state"] == "active"
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.001)

    run(with_sim(scenario))


def test_daily_loss_halts_and_flattens(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        # the fees of two market orders (0.05 % of ~26 and ~60 USD) exceed a 0.03 USD loss
        config = exec_config(sim, data, "risk.max_daily_loss_usd=0.03",
                             "execution.order_type=market")
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            svc.on_events([target("ETHUSDT", 0.01)])
            svc.on_events([target("BTCUSDT", 0.001)])
            assert await until(lambda: svc.status()["state"] == "halted", 10)
            assert svc.status()["state_reason"] == "max_daily_loss_usd"
            assert await until(lambda: sim_position(sim, "BTCUSDT") == 0.0
                               and sim_position(sim, "ETHUSDT") == 0.0 and not sim_open(sim))
            assert svc.status()["pnl"]["daily"] <= -0.03
            refused = svc.resume()
            assert not refused["ok"] and "max_daily_loss_usd" in refused["error"]

    run(with_sim(scenario))
    # the halt is kept in the state file for the next start
    import json
    state = json.loads((data / "execution" / "state.json").read_text())
    assert state["state"] == "halted" and state["reason"] == "max_daily_loss_usd"
    assert state["day_realized"] < 0
