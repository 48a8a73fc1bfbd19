"""The paper venue: the strategy's targets become orders priced at the book's touch and
filled by the engine's fill model on exchange time; a replay gives the same orders and
fills every time (and, in test_paper_live_vs_replay.py, those of the live run)."""
import subprocess
import sys

import numpy as np

from rtaid.infra.config import load_config
from rtaid.replay import replay
from tests.exec.helpers import daemon_at, exec_config, run, table, target, until, with_sim
from tests.helpers import ACTIVE_SETTINGS, BTC_RECORDING, ETH_RECORDING, ROOT

PAPER = ("execution.venue=paper", *ACTIVE_SETTINGS)


def rows_by(rows, key=("symbol",)):
    out = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in key), []).append(r)
    return out


def test_replay_trades_the_same_every_time_at_the_books_prices(shared_data, tmp_path):
    config = load_config(None, PAPER, env={})
    runs = []
    for name in ("a", "b"):
        summary = replay([BTC_RECORDING, ETH_RECORDING], tmp_path / name, config=config)
        assert summary.complete and summary.execution["orders"]["sent"] > 0
        runs.append({t: table(tmp_path / name, t) for t in ("signals", "orders", "fills", "book_top")})
    a, b = runs
    assert a["orders"] == b["orders"] and a["fills"] == b["fills"]
    assert a["fills"], "the strategy never traded"

    signals, orders, fills, tops = a["signals"], a["orders"], a["fills"], a["book_top"]
    taker_bps, maker_bps = config.execution.taker_fee_bps, config.execution.maker_fee_bps
    for (sym,), sym_orders in rows_by(orders).items():
        sent = [o for o in sym_orders if o["status"] == "sent"]
        sym_signals = [s for s in signals if s["symbol"] == sym]
        sym_fills = [f for f in fills if f["symbol"] == sym]
        timeouts = {o["ts_ms"] for o in sym_orders if o["reason"] == "order_timeout"}
        decided = {s["ts_ms"] for s in sym_signals} | {f["ts_ms"] for f in sym_fills} | timeouts
        top_recv = np.array([t["recv_ns"] for t in tops if t["symbol"] == sym])
        top_rows = [t for t in tops if t["symbol"] == sym]
        for o in sent:
            # decisions are taken at events: a target change, a fill of ours, or the
            # event at which a resting order's timeout took it off
            assert o["ts_ms"] in decided, o
            # towards the target from the position the fills had made
            want = [s["target_qty"] for s in sym_signals if s["ts_ms"] <= o["ts_ms"]][-1]
            held = sum(f["qty"] if f["side"] == "buy" else -f["qty"] for f in sym_fills
                       if f["recv_ns"] <= o["recv_ns"])
            assert o["side"] == ("buy" if want > held else "sell"), (o, want, held)
            assert o["reduce_only"] == (held != 0 and (want - held) * held < 0)
            # a GTC limit at the touch the order takes: the engine's book after that frame
            book = top_rows[np.searchsorted(top_recv, o["recv_ns"], side="right") - 1]
            assert o["px"] == (book["ask_px"] if o["side"] == "buy" else book["bid_px"]), o
            assert o["type"] == "limit" and o["tif"] == "GTC"
        # every order ends: filled, canceled (a target that changed back) or still working
        last = {}
        for o in sym_orders:
            last[o["client_id"]] = o["status"]
        assert set(last.values()) <= {"filled", "canceled", "accepted", "partially_filled"}
    # fills: after the paper latency, fees by liquidity, PnL by average cost
    sent_at = {o["client_id"]: o for o in orders if o["status"] == "sent"}
    for (sym,), sym_fills in rows_by(fills).items():
        position = entry = 0.0
        for f in sym_fills:
            o = sent_at[f["client_id"]]
            assert f["ts_ms"] >= o["ts_ms"] + config.execution.paper_latency_ms
            assert f["px"] <= o["px"] if f["side"] == "buy" else f["px"] >= o["px"]
            bps = maker_bps if f["liquidity"] == "maker" else taker_bps
            assert abs(f["fee"] - f["px"] * f["qty"] * bps / 1e4) < 1e-9
            signed = f["qty"] if f["side"] == "buy" else -f["qty"]
            realized = 0.0
            if position and (position > 0) != (signed > 0):
                realized = (f["px"] - entry) * min(abs(signed), abs(position)) * (1 if position > 0 else -1)
            else:
                entry = (entry * abs(position) + f["px"] * abs(signed)) / abs(position + signed)
            position = round(position + signed, 9)
            assert abs(f["realized_pnl"] - realized) < 1e-6
    assert {o["status"] for o in orders} >= {"sent", "accepted", "filled"}


def test_replay_command_trades_on_paper_only(shared_data, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "rtaid", "replay", str(BTC_RECORDING), "--out", str(out),
           *[a for s in PAPER for a in ("--set", s)]]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "paper trading:" in done.stdout and table(out, "orders")
    refused = subprocess.run(cmd[:-len(PAPER) * 2] + ["--set", "execution.venue=ccxt"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "paper venue only" in refused.stderr


def test_live_paper_fills_in_the_engine_and_flattens(tmp_path):
    data = tmp_path / "data"

    async def scenario(sim):
        config = exec_config(sim, data, venue="paper", env={})
        async with daemon_at(sim, config) as daemon:
            svc = daemon.execution
            assert svc.status()["balance"] == config.execution.paper_balance_usd
            svc.on_events([target("BTCUSDT", 0.003), target("ETHUSDT", -0.02)])
            assert await until(lambda: svc.status()["symbols"]["BTCUSDT"]["position"] == 0.003
                               and svc.status()["symbols"]["ETHUSDT"]["position"] == -0.02)
            st = svc.status()
            assert st["orders"]["filled"] == 2 and st["symbols"]["BTCUSDT"]["pnl"]["fees"] > 0
            assert st["latency_us"]["tick_to_order"]["count"] == 2
            assert st["balance"] < config.execution.paper_balance_usd   # fees paid
            assert not daemon.engine.paper_orders()
            result = await svc.flatten()
            assert result["ok"] and result["positions"] == {"BTCUSDT": 0.0, "ETHUSDT": 0.0}
            assert svc.status()["state"] == "halted"
        return sim.account.fills

    assert run(with_sim(scenario)) == 0          # paper: nothing reached the exchange
    fills = table(data, "fills")
    assert len(fills) >= 4 and {f["venue"] for f in fills} == {"paper"}


def test_replay_of_a_daily_loss_halt_is_the_same_every_time(shared_data, tmp_path):
    """The halt and its flatten happen on exchange time too: two replays, one table."""
    config = load_config(None, (*PAPER, "risk.max_daily_loss_usd=0.05"), env={})
    runs = []
    for name in ("a", "b"):
        summary = replay([BTC_RECORDING], tmp_path / name, config=config)
        assert summary.execution["state"] == "halted"
        assert summary.execution["state_reason"] == "max_daily_loss_usd"
        runs.append((table(tmp_path / name, "orders"), table(tmp_path / name, "fills")))
    assert runs[0] == runs[1]
    orders, fills = runs[0]
    closes = [o for o in orders if o["type"] == "market" and o["reduce_only"]]
    assert closes and closes[-1]["status"] == "filled"
    position = sum(f["qty"] if f["side"] == "buy" else -f["qty"] for f in fills)
    assert abs(position) < 1e-12


def test_a_resting_paper_order_times_out_on_exchange_time(shared_data, tmp_path):
    """GTX orders rest at their own side; execution.order_timeout_ms takes what is left of
    each off at the first event of its symbol at or after the deadline (the engine's
    clock, not the next decision), reason order_timeout, and a replacement follows."""
    timeout = 400
    config = load_config(None, (*PAPER, "execution.time_in_force=GTX",
                                f"execution.order_timeout_ms={timeout}"), env={})
    replay([BTC_RECORDING], tmp_path / "out", config=config)
    orders, fills = table(tmp_path / "out", "orders"), table(tmp_path / "out", "fills")
    trades = np.array(sorted(t["T"] for t in table(tmp_path / "out", "trades")))
    sent = {o["client_id"]: o for o in orders if o["status"] == "sent"}
    timed_out = [o for o in orders if o["reason"] == "order_timeout"]
    assert len(timed_out) >= 3, "no resting order reached its timeout"
    replaced = 0
    for o in timed_out:
        assert o["status"] == "canceled" and o["tif"] == "GTX"
        deadline = sent[o["client_id"]]["ts_ms"] + timeout
        assert o["ts_ms"] >= deadline, o
        # taken off by the first event at or after the deadline: no trade of the symbol
        # (a trade is an event too) printed between the deadline and the cancel
        first_trade = trades[np.searchsorted(trades, deadline)]
        assert o["ts_ms"] <= first_trade, (o, deadline, first_trade)
        # what it had filled stays filled
        filled = sum(f["qty"] for f in fills if f["client_id"] == o["client_id"])
        assert abs(o["filled_qty"] - filled) < 1e-12
        # the target is worked on again from that instant (when it still wants the rest)
        replaced += any(s["ts_ms"] == o["ts_ms"] for s in sent.values())
    assert replaced, "no timed-out order was replaced"
