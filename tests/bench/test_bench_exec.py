"""``bench/exec.py`` end to end, short, on the paper venue: the command, its JSON and its
table (every figure the daemon's own histogram, samples counted; the JSON names its
parameters). The ccxt venue's run (tick_to_order, order_round_trip, wire_to_wire) is
the same ``run_venue``, exercised by bench/latency.py's orders phase in
test_latency_smoke.py. Nothing here asserts a duration."""
import json
import os
import subprocess
import sys

import pytest

from rtaid.infra.cpu_latency import DEVICE
from tests.helpers import ROOT

pytestmark = pytest.mark.slow       # a daemon trades for 10 s


def test_short_run_measures_the_paper_venue(tmp_path):
    out = tmp_path / "exec.json"
    # the daemon holds the CPU latency limit where it may (root: CI)
    latency = ["--cpu-dma-latency", "0"] if os.access(DEVICE, os.W_OK) else []
    run = subprocess.run([sys.executable, "bench/exec.py", "--seconds", "10", "--venues", "paper",
                          "--sim-cpus", "0", "--daemon-cpus", "0", *latency, "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    assert {"cpu", "cores", "python"} <= set(res["machine"])
    assert {"seconds", "rate", "seed", "strategy"} <= set(res["params"])
    # the pinning is part of the figures' label
    assert (res["params"]["sim_cpus"], res["params"]["daemon_cpus"]) == ([0], [0])
    assert "rtaid-sim on CPU 0, the daemon on CPU 0" in run.stdout
    assert res["params"]["cpu_dma_latency_us"] == (0 if latency else None)
    assert ("daemon.cpu_dma_latency_us = 0 (idle CPUs poll" in run.stdout) == bool(latency)
    r = res["results"]["paper"]
    sent = r["orders"]["sent"]
    assert 0 < r["tick_to_order"]["count"] <= sent, r
    assert r["tick_to_order"]["p50"] <= r["tick_to_order"]["p99"]
    # every frame's own processing at this rate, beside the orders' figures
    assert r["frames"]["frame_to_signal"]["count"] > r["tick_to_order"]["count"], r["frames"]
    assert "| paper | tick_to_order |" in run.stdout


def test_a_limit_the_machine_refuses_is_a_usage_error(tmp_path):
    """Checked before any daemon starts: exit 2 naming the flag, no traceback."""
    run = subprocess.run([sys.executable, "bench/exec.py", "--cpu-dma-latency", "-1",
                          "--json", str(tmp_path / "exec.json")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "--cpu-dma-latency -1: -1 us is outside 0..2000000000" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "exec.json").exists()
