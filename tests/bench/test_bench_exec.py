"""``bench/exec.py`` end to end, short: the venues (paper, ccxt, binance) trade against
rtaid-sim, every figure is the daemon's own histogram (samples counted), the JSON names
its parameters.
Nothing here asserts a duration."""
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow       # three daemons trade for 12 s each


def test_short_run_measures_both_venues(tmp_path):
    out = tmp_path / "exec.json"
    run = subprocess.run([sys.executable, "bench/exec.py", "--seconds", "12", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    assert {"cpu", "cores", "python"} <= set(res["machine"])
    assert {"seconds", "rate", "seed", "strategy"} <= set(res["params"])
    for venue in ("paper", "ccxt"):
        r = res["results"][venue]
        sent = r["orders"]["sent"]
        assert 0 < r["tick_to_order"]["count"] <= sent, r
        assert r["tick_to_order"]["p50"] <= r["tick_to_order"]["p99"]
    ccxt = res["results"]["ccxt"]
    assert ccxt["order_round_trip"]["count"] >= ccxt["tick_to_order"]["count"]
    # every order sent arrived at the sim (a retry would arrive twice)
    assert ccxt["sim_wire_to_wire"]["count"] >= ccxt["orders"]["sent"]
    # exact wire-to-wire: every order sent is matched to its cause frame or counted
    wire = ccxt["wire_to_wire"]
    assert wire["count"] > 0 and wire["count"] + wire["unmatched"] == ccxt["orders"]["sent"], wire
    assert wire["p50"] <= wire["p99"] <= wire["max"]
    assert "| ccxt | tick_to_order |" in run.stdout
    # the binance venue: the same figures, its orders over the WebSocket API
    binance = res["results"]["binance"]
    assert set(ccxt) <= set(binance), set(ccxt) - set(binance)
    ws = binance["ws_api"]
    assert ws["ws_orders"] == binance["orders"]["sent"] > 0 and ws["rest_orders"] == 0, ws
    assert 0 < binance["tick_to_order_ws"]["count"] <= binance["orders"]["sent"]
    assert binance["sim_wire_to_wire"]["count"] >= binance["orders"]["sent"]
    wire = binance["wire_to_wire"]
    assert wire["count"] + wire["unmatched"] == binance["orders"]["sent"], wire
    assert "| binance | tick_to_order_ws |" in run.stdout
