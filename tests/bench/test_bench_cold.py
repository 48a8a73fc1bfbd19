"""``bench/cold.py`` end to end, short: the command, its JSON and its table. What it
asserts is the effect the bench exists to show, far above any noise: the frame after a
cache sweep costs several times the same kind of frame back to back. Nothing here
asserts a duration."""
import json
import os
import subprocess
import sys

from rtaid.infra.cpu_latency import DEVICE
from tests.helpers import ROOT


def test_short_run_times_first_frames_after_waits_and_a_sweep(tmp_path, shared_data):
    out = tmp_path / "cold.json"
    run = subprocess.run([sys.executable, "bench/cold.py", "--every", "200", "--waits-us", "0,100",
                          "--sweep-mb", "64", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["params"] == {"every": 200, "waits_us": [0.0, 100.0], "sweep_mb": 64.0,
                             "device": DEVICE, "recording": doc["params"]["recording"]}
    rows = doc["results"]["as the machine is"]
    assert [r["condition"] for r in rows] == [
        "back to back", "after a 100 us idle wait", "after a 64 MB cache sweep"]
    for r in rows:
        for kind in ("bbo", "trade", "depth"):
            s = r["kinds"][kind]["first"]
            assert s["count"] > 0 and 0 < s["p50"] <= s["p90"] <= s["p99"], (r["condition"], kind, s)
    back, swept = rows[0]["kinds"]["bbo"]["first"], rows[2]["kinds"]["bbo"]["first"]
    assert swept["p50"] > 3 * back["p50"], (back, swept)
    held = "cpu_dma_latency 0" in doc["results"]
    assert held == os.access(DEVICE, os.W_OK)
    assert (doc["not_run"] is None) == held
    assert "| as the machine is | after a 64 MB cache sweep |" in run.stdout
