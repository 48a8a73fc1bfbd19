"""bench/model.py runs end to end (--quick): both daemons, the model's inferences seen,
every table of the result filled; the numbers of a smoke run are noise and not judged."""
import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.slow
def test_bench_model_quick(trained, tmp_path):
    out = tmp_path / "model.json"
    proc = subprocess.run([sys.executable, "bench/model.py", "--quick", "--model", str(trained),
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["inferences"] >= 1, "no bar closed during the run: nothing was measured"
    off, on = res["arms"]["model off"], res["arms"]["model on"]
    for arm in (off, on):
        assert arm["exit_code"] == 0
        for stage in ("frame", "frame_to_signal", "send_to_recv"):
            assert arm["stages"][stage]["count"] > 1000, stage
    assert on["stages"]["model_inference"]["count"] == res["inferences"]
    assert "model_inference" not in off["stages"]
    assert set(res["ratios_on_off"]["frame_to_signal"]) == {"p50", "p99", "p999"}
    assert "model on vs off" in proc.stdout.lower()
