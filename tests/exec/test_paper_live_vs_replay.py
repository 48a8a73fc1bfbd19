"""`rtaid run` on the paper venue against rtaid-sim, then `rtaid replay` of its journal:
the same orders and fills, row for row, per symbol."""
import subprocess
import sys
import time

import pytest

from tests.exec.helpers import table
from tests.helpers import (QUICK_TRADING_CONFIG, ROOT, NotifySocket, daemon_args, daemon_env,
                           stop_process)

# fast warm-ups and wide entry bands, so the strategy trades within seconds; limit
# orders at the touch that may rest, a timeout that may cancel them
CONFIG = """
[feed]
symbols = ["BTCUSDT", "ETHUSDT"]
[storage]
raw_journal = true
[execution]
venue = "paper"
order_timeout_ms = 1500
paper_latency_ms = 25
[symbols.ETHUSDT.strategy]
order_qty = 0.005
""" + QUICK_TRADING_CONFIG


def by_symbol(rows):
    out = {}
    for r in rows:
        r = dict(r)
        out.setdefault(r.pop("symbol"), []).append(r)
    return out


@pytest.mark.slow
def test_replay_of_a_paper_run_gives_its_orders_and_fills(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    config = tmp_path / "rtaid.toml"
    config.write_text(CONFIG)
    proc = subprocess.Popen(daemon_args(sim_port, tmp_path, config), cwd=ROOT,
                            env=daemon_env(tmp_path, notify), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        time.sleep(25)
    finally:
        out = stop_process(proc)
    assert proc.returncode == 0, out[-3000:]
    data = tmp_path / "data"
    journals = sorted((data / "raw").rglob("*.gz"))
    again = tmp_path / "replayed"
    rep = subprocess.run([sys.executable, "-m", "rtaid", "replay", "--config", str(config),
                          "--out", str(again), *map(str, journals)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stdout + rep.stderr

    for name in ("orders", "fills"):
        live, replayed = by_symbol(table(data, name)), by_symbol(table(again, name))
        assert live == replayed, name
    live_fills = table(data, "fills")
    assert len(live_fills) >= 2, "the strategy never traded"
