"""`rtaid run --set execution.venue=ccxt` as an operator runs it: keys from the
environment only, never in the logs, argv or `rtaid config show`; no keys is a clear
start-up error; `rtaidctl flatten --yes` from another shell flattens at the exchange."""
import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

import aiohttp
import pytest
from tests.exec.helpers import outside_order, venue_args
from tests.helpers import ROOT, NotifySocket, daemon_env, stop_process
from tests.sim.helpers import signed

SECRET_VALUES = ("sim-key", "sim-secret")


def test_a_live_venue_without_keys_does_not_start(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    done = subprocess.run(venue_args(sim_port, tmp_path), cwd=ROOT, env=daemon_env(tmp_path, notify),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr
    assert "execution.venue = 'ccxt' needs API keys" in done.stderr
    assert "RTAID_API_KEY" in done.stderr and "Traceback" not in done.stderr + done.stdout


def test_wrong_keys_are_a_start_up_error_that_names_the_cause(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    env = {**daemon_env(tmp_path, notify), "RTAID_API_KEY": "wrong-key",
           "RTAID_API_SECRET": "wrong-secret"}
    done = subprocess.run(venue_args(sim_port, tmp_path), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr
    assert "user data stream" in done.stderr and "-2015" in done.stderr
    assert "wrong-secret" not in done.stdout + done.stderr


def test_secrets_stay_out_of_logs_argv_and_config_show(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    env = {**daemon_env(tmp_path, notify), "RTAID_API_KEY": SECRET_VALUES[0],
           "RTAID_API_SECRET": SECRET_VALUES[1]}
    # DEBUG: the level at which ccxt logs its requests' headers (the API key)
    proc = subprocess.Popen(venue_args(sim_port, tmp_path, "log.level=DEBUG"), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        argv = pathlib.Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        # an order at the exchange while the daemon watches: its stream events are logged
        asyncio.run(outside_order(sim_port))
        time.sleep(2)
    finally:
        out = stop_process(proc)
    assert proc.returncode == 0, out[-3000:]
    assert '"execution_started"' in out
    for value in SECRET_VALUES:
        assert value not in out and value not in argv
    shown = subprocess.run([sys.executable, "-m", "rtaid", "config", "show", "--json"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    exchange = json.loads(shown.stdout)["exchange"]
    assert exchange["api_key"] == exchange["api_secret"] == "***"
    assert not any(v in shown.stdout for v in SECRET_VALUES)


async def _resting_order(port):
    async with aiohttp.ClientSession() as session:
        _, book, _ = await signed(session, "GET", f"http://127.0.0.1:{port}/fapi/v1/openOrders", {})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/fapi/v1/depth?symbol=ETHUSDT&limit=5") as r:
            bid = float(json.loads(r.read())["bids"][0][0])
        status, body, _ = await signed(session, "POST", f"http://127.0.0.1:{port}/fapi/v1/order",
                                       {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT",
                                        "timeInForce": "GTC", "quantity": "0.01",
                                        "price": f"{bid * 0.9:.2f}"})
        assert status == 200, body


async def _account(port):
    async with aiohttp.ClientSession() as session:
        _, positions, _ = await signed(session, "GET",
                                       f"http://127.0.0.1:{port}/fapi/v3/positionRisk", {})
        _, orders, _ = await signed(session, "GET", f"http://127.0.0.1:{port}/fapi/v1/openOrders", {})
        return positions, orders


@pytest.mark.parametrize("venue", ["ccxt", "binance"])
def test_rtaidctl_flatten_from_another_shell(sim_port, tmp_path, venue):
    """The issue's scenario: rtaid run with the ccxt venue (and the binance venue:
    orders over the WebSocket API) against rtaid-sim, then `rtaidctl flatten --yes`:
    the sim reports no position and no open order, and `rtaidctl status --json` says
    halted."""
    notify = NotifySocket(tmp_path / "notify")
    env = {**daemon_env(tmp_path, notify), "RTAID_API_KEY": SECRET_VALUES[0],
           "RTAID_API_SECRET": SECRET_VALUES[1]}
    sock = tmp_path / "rtaid.sock"
    proc = subprocess.Popen(venue_args(sim_port, tmp_path, venue=venue), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        asyncio.run(outside_order(sim_port, "SELL", "0.003"))
        asyncio.run(_resting_order(sim_port))
        positions, orders = asyncio.run(_account(sim_port))
        assert positions and orders
        ctl = [sys.executable, "-m", "rtaid.ctl", "--socket", str(sock), "--timeout", "60"]
        ctl_env = {k: v for k, v in os.environ.items() if not k.startswith("RTAID_")}
        flat = subprocess.run(ctl + ["flatten", "--yes"], cwd=ROOT, env=ctl_env,
                              capture_output=True, text=True, timeout=90)
        assert flat.returncode == 0, flat.stdout + flat.stderr
        positions, orders = asyncio.run(_account(sim_port))
        assert all(float(p["positionAmt"]) == 0 for p in positions) and orders == []
        status = subprocess.run(ctl + ["status", "--json"], cwd=ROOT, env=ctl_env,
                                capture_output=True, text=True, timeout=60)
        # rtaidctl status exits 1 for a degraded daemon: a halted one is
        assert status.returncode == 1 and "trading halted" in status.stderr, status.stderr
        shown = json.loads(status.stdout)
        assert shown["state"] == "halted" and shown["execution"] == venue
        if venue == "binance":
            # the closing order went over the WebSocket API
            ws = shown["ws_api"]
            assert ws["connected"] and ws["ws_orders"] == 1 and ws["rest_orders"] == 0, ws
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
