"""`rtaid run --set execution.venue=binance` as an operator runs it, with an Ed25519
key: the private key only from a 0600 file (or RTAID_ED25519_KEY), the API key from the
environment; neither in the logs (DEBUG), argv or `rtaid config show`; a key file
others can read, or a key the exchange does not know, is a clear start-up error."""
import asyncio
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
from tests.exec.helpers import ED25519_API_KEY, ed25519_keys, outside_order, venue_args
from tests.helpers import ROOT, NotifySocket, daemon_env, free_port, start_sim, stop_process


@pytest.fixture
def ed25519_sim(tmp_path):
    """An rtaid-sim process that knows a fresh Ed25519 key: ``(port, private key path)``."""
    private, public = ed25519_keys(tmp_path)
    sim_toml = tmp_path / "sim.toml"
    sim_toml.write_text(f'[sim]\ned25519_public_key_file = "{public}"\n')
    port = free_port()
    proc = start_sim(port, "--rate", "200", "--config", str(sim_toml))
    try:
        yield port, private
    finally:
        proc.kill()
        proc.wait()


def binance_args(port, tmp_path, key_file, *extra):
    return venue_args(port, tmp_path, f"exchange.ed25519_key_file={key_file}", *extra,
                     venue="binance")


def pem_body(path) -> str:
    """The private key's base64 line (what must never show)."""
    return [line for line in pathlib.Path(path).read_text().splitlines()
            if line and not line.startswith("-----")][0]


def test_ed25519_key_stays_out_of_logs_argv_and_config_show(ed25519_sim, tmp_path):
    port, private = ed25519_sim
    notify = NotifySocket(tmp_path / "notify")
    env = {**daemon_env(tmp_path, notify), "RTAID_API_KEY": ED25519_API_KEY}
    sock = tmp_path / "rtaid.sock"
    proc = subprocess.Popen(binance_args(port, tmp_path, private, "log.level=DEBUG"), cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        argv = pathlib.Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()
        asyncio.run(outside_order(port))          # stream events are logged
        time.sleep(1)
        ctl = [sys.executable, "-m", "rtaid.ctl", "--socket", str(sock), "--timeout", "60"]
        ctl_env = {k: v for k, v in os.environ.items() if not k.startswith("RTAID_")}
        status = subprocess.run(ctl + ["status", "--json"], cwd=ROOT, env=ctl_env,
                                capture_output=True, text=True, timeout=60)
        ws = json.loads(status.stdout)["ws_api"]
        assert ws["connected"] and ws["logged_on"] and ws["auth"] == "ed25519", ws
    finally:
        out = stop_process(proc)
    assert proc.returncode == 0, out[-3000:]
    assert '"ws_api_connected"' in out and "session.logon" in out
    secrets = (ED25519_API_KEY, pem_body(private))
    for value in secrets:
        assert value not in out and value not in argv and value not in status.stdout
    shown = subprocess.run([sys.executable, "-m", "rtaid", "config", "show", "--json", "--set",
                            f"exchange.ed25519_key_file={private}"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    exchange = json.loads(shown.stdout)["exchange"]
    assert exchange["api_key"] == exchange["ed25519_key"] == "***"
    assert not any(v in shown.stdout for v in secrets)


@pytest.mark.parametrize("problem", ["readable_by_others", "unknown_to_the_exchange"])
def test_key_problems_are_start_up_errors_that_name_the_cause(ed25519_sim, tmp_path, problem):
    port, private = ed25519_sim
    if problem == "readable_by_others":
        os.chmod(private, 0o644)
        expected = "exchange.ed25519_key_file"
    else:
        other = tmp_path / "other"
        other.mkdir()
        private, _ = ed25519_keys(other)           # a key the sim has never seen
        expected = "refuses our keys"
    notify = NotifySocket(tmp_path / "notify")
    env = {**daemon_env(tmp_path, notify), "RTAID_API_KEY": ED25519_API_KEY}
    done = subprocess.run(binance_args(port, tmp_path, private), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr
    assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert pem_body(private) not in done.stdout + done.stderr
