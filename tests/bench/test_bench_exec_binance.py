"""``bench/exec.py --venues binance`` end to end, short: the binance venue's run gives the
ccxt venue's figures (tick_to_order, order_round_trip, wire_to_wire, sim_wire_to_wire)
plus its own (tick_to_order_ws, ws_write), every order over the WebSocket API, each
matched to its cause frame or counted. What bench/latency.py's orders phase takes its
``tick_to_order_ws`` and ``wire_to_wire_ws`` from. Nothing here asserts a duration."""
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow       # a daemon trades for 12 s


def test_short_run_measures_the_binance_venue(tmp_path):
    out = tmp_path / "exec.json"
    run = subprocess.run([sys.executable, "bench/exec.py", "--seconds", "12", "--venues",
                          "binance", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    r = json.loads(out.read_text())["results"]["binance"]
    sent = r["orders"]["sent"]
    assert {"tick_to_order", "order_round_trip", "wire_to_wire", "sim_wire_to_wire",
            "tick_to_order_ws", "ws_write"} <= set(r), set(r)
    ws = r["ws_api"]
    assert ws["auth"] == "ed25519" and ws["logged_on"], ws
    assert ws["ws_orders"] == sent > 0 and ws["rest_orders"] == 0, ws
    assert 0 < r["tick_to_order_ws"]["count"] <= sent, r
    assert r["tick_to_order_ws"]["p50"] <= r["tick_to_order_ws"]["p99"]
    assert r["order_round_trip"]["count"] >= r["tick_to_order_ws"]["count"]
    # every order sent arrived at the sim once (a retry would arrive twice)
    assert r["sim_wire_to_wire"]["count"] >= sent
    wire = r["wire_to_wire"]
    assert wire["count"] > 0 and wire["count"] + wire["unmatched"] >= sent, wire
    assert "| binance | tick_to_order_ws |" in run.stdout
