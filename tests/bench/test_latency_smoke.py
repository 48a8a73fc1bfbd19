"""``bench/latency.py --quick`` end to end (the CI smoke test of the wire benchmark): the
generator, the floor client, the real daemon and the baseline bot in one run; the
results JSON has every field issue 14 names, every figure is measured or explicitly
pending (never a made-up number), the daemon exited cleanly, and the CDF plot is a PNG.
Performance claims come from the benchmark itself: nothing here asserts a duration."""
import json
import os
import subprocess
import sys
import tomllib

import pytest

from rtaid.infra.cpu_latency import DEVICE
from tests.helpers import ROOT

pytestmark = pytest.mark.slow       # ~1.5 min: every receiver, then two venues trade for real

QUANTILES = ("p50", "p90", "p99", "p999", "max")


def ensure_bench_extra() -> None:
    """The plot needs the ``bench`` extra (matplotlib): install it as CI does."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *deps], check=True)


def test_quick_run_measures_every_receiver(shared_data, tmp_path):
    ensure_bench_extra()
    # the bench's Cython modules compile once, before the timed run
    subprocess.run([sys.executable, "-m", "bench.wire.build"], cwd=ROOT, check=True, capture_output=True)
    out, png = tmp_path / "latency.json", tmp_path / "cdf.png"
    # the run holds the CPU latency limit where it may (root: CI)
    latency = ["--cpu-dma-latency", "0"] if os.access(DEVICE, os.W_OK) else []
    run = subprocess.run([sys.executable, "bench/latency.py", "--quick", *latency, "--json", str(out),
                          "--png", str(png)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["parameters"]["cpu_dma_latency_us"] == (0 if latency else None)

    assert {"cpu", "cores", "python"} <= set(res["machine"])
    assert set(res["throughput_msgs_per_s"]) == {"floor", "rtaid", "baseline", "generator"}
    assert all(v > 0 for v in res["throughput_msgs_per_s"].values())

    stages = res["latency_us"]
    assert {"decode", "book", "signals", "frame_to_signal", "tick_to_order", "tick_to_order_paper",
            "order_round_trip", "wire_to_wire"} <= set(stages)
    for stage, q in stages.items():
        if q is None:
            assert res["latency_pending"][stage]          # said why, no number made up
        else:
            values = [q[k] for k in QUANTILES]
            assert values == sorted(values) and q["count"] > 0, stage
    assert stages["send_to_recv"] is not None             # measured from outside the daemon
    for stage in ("frame_to_signal", "tick_to_order", "tick_to_order_paper", "wire_to_wire",
                  "tick_to_order_ws", "wire_to_wire_ws"):
        assert stages[stage] is not None, (stage, res["latency_pending"])
    # the order figures are of the orders the venues sent (the daemon's and the sim's counts)
    ccxt = res["orders"]["ccxt"]
    assert 0 < stages["tick_to_order"]["count"] <= ccxt["orders"]["sent"]
    assert stages["order_round_trip"]["count"] >= stages["tick_to_order"]["count"]
    # every order sent arrived at the sim (a retry with the same client id arrives again)
    # and each order the dataset holds is matched to the frame that caused it, or
    # counted (the status is read before the stop: the dataset may hold a few more)
    binance = res["orders"]["binance"]
    assert 0 < stages["tick_to_order_ws"]["count"] <= binance["orders"]["sent"]
    ws = binance["ws_api"]        # every binance order went over the WebSocket API
    assert ws["auth"] == "ed25519" and ws["logged_on"], ws
    assert ws["ws_orders"] == binance["orders"]["sent"] and ws["rest_orders"] == 0, ws
    # the C path's count, and why each target event it left to Python was
    assert sum(ws["fast_passed_by"].values()) == ws["fast_passed"], ws
    assert ws["fast_fired"] == ws["fast_claimed"] + ws["fast_unclaimed"], ws
    for venue, stage in (("ccxt", "wire_to_wire"), ("binance", "wire_to_wire_ws")):
        run_, wire = res["orders"][venue], stages[stage]
        assert run_["sim_wire_to_wire"]["count"] >= run_["orders"]["sent"], venue
        assert wire["orders"] >= run_["orders"]["sent"], venue
        assert wire["count"] > 0, (venue, wire)
    # writer on vs off: the same stages measured by daemons that record and that do not,
    # alternating, pooled
    writer = res["writer_on_vs_off"]
    assert writer["exit_codes"] == [0, 0] and set(writer["stages"]) == {"frame", "frame_to_signal"}
    assert [(w["writer"], w["round"]) for w in writer["windows"]] == [("on", 0), ("off", 0)]
    for v in writer["stages"].values():
        assert v["on_p999"] > 0 and v["off_p999"] > 0 and v["on_count"] > 0 and v["off_count"] > 0

    runs = {(r["receiver"], r["window"]): r for r in res["latency_runs"]}
    assert set(runs) == {(name, w) for name in ("floor", "rtaid", "baseline") for w in ("fixed", "half_saturation")}
    assert runs[("rtaid", "fixed")]["rate_msgs_per_s"] == 20_000
    assert runs[("baseline", "fixed")]["stages_us"]["frame_to_signal"]["count"] > 0
    matched = runs[("rtaid", "fixed")]["matched_frames"]
    assert {"bbo", "trade", "depth"} <= set(matched) and all(m[0] > 0 for m in matched.values())

    assert res["rss_mb"]["start"] > 0 and res["rss_mb"]["end"] > 0
    assert res["reconnect_ms"] > 0
    # rtaid exits 1 when it had to drop records (never 0 after losing data): at saturation
    # its rings overflow, counted; otherwise it exits 0
    dropped = sum(res["rtaid"]["store"].get("rows_dropped_ring", {}).values()) + \
        sum(res["rtaid"]["store"].get("rows_dropped_io", {}).values())
    assert res["rtaid"]["exit_code"] == (1 if dropped else 0), (dropped, res["rtaid"]["exit_code"])
    assert sum(res["rtaid"]["store"]["rows_written"].values()) > 0
    assert res["baseline"]["rows"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| throughput at saturation |" in run.stdout and "Machine:" in run.stdout
    assert "| tick_to_order | ccxt |" in run.stdout and "Writer on vs off" in run.stdout
