"""``bench/scrape.py --quick`` end to end (the CI smoke test of the scrape benchmark): a
daemon on rtaid-sim, windows with and without a scraper, every figure measured from the
daemon's histograms, the sim's stamps and the daemon's rows, and the daemon exited
cleanly. Performance claims come from the benchmark itself: nothing here asserts a
duration."""
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow       # ~30 s: a sim and a daemon for real

ARMS = ("no scraper", "scraper")
STAGES = ("frame", "frame_to_signal", "send_to_recv")


def test_quick_run_measures_both_arms(tmp_path):
    out = tmp_path / "scrape.json"
    run = subprocess.run([sys.executable, "bench/scrape.py", "--quick", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    res = json.loads(out.read_text())
    assert {"cpu", "cores", "python"} <= set(res["machine"])
    assert res["parameters"]["interval_s"] == 1.0 and res["exit_code"] == 0
    assert [w["arm"] for w in res["windows"]] == ["no scraper", "scraper", "scraper", "no scraper"]
    for arm in ARMS:
        a = res["arms"][arm]
        assert a["windows"] == 2 and a["frames_per_s"] > 0
        for stage in STAGES:
            s = a["stages"][stage]
            assert s["count"] > 1000, (arm, stage)
            assert 0 < s["p50"] <= s["p99"] <= s["p999"], (arm, stage)
            assert len(s["p999_by_window"]) == 2
        # every frame the sim wrote was found in the daemon's rows (no ring overflow)
        assert a["stages"]["send_to_recv"]["unmatched"] == 0
    assert all(w["scrapes"] == 0 for w in res["windows"] if w["arm"] == "no scraper")
    assert all(w["scrapes"] >= 3 for w in res["windows"] if w["arm"] == "scraper")
    frames = res["scraper_frames"]
    assert frames["during a scrape"]["count"] > 0 and frames["other frames"]["count"] > 1000
    assert res["scrape"]["get_wall"]["n"] >= 6 and res["scrape"]["daemon_cpu"]["p50_ms"] > 0
    assert "| scraper | " in run.stdout and "rtaid_metrics_scrape_cpu_seconds" in run.stdout
    # the README's tables again from the saved result: the same text
    again = subprocess.run([sys.executable, "bench/scrape.py", "--from-json", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() and again.stdout.strip() in run.stdout
