"""`rtaid demo` replays the real recordings and reports what the kernels found."""
import subprocess
import sys

from tests.conftest import BTC_RECORDING, ROOT


def test_demo_reports_both_recordings(shared_data):
    out = subprocess.run([sys.executable, "-m", "rtaid", "demo"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={"RTAID_SHARED_DATA": str(shared_data),
                                                      "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "BTCUSDT  (btcusdt_20240808.gz, 93,954 frames)" in text
    assert "ETHUSDT  (ethusdt_20240808.gz, 74,655 frames)" in text
    assert text.count("gaps 0, crossed 0") == 2
    # the L2 book's touch equals the last bookTicker of the recording
    assert "1.486 x   61659.70   |   61659.80   x 0.981" in text
    assert "last bookTicker (u 5123135221461): 1.486 x 61659.70  |  61659.80 x 0.981" in text


def test_demo_with_a_missing_recording_fails_cleanly(tmp_path):
    out = subprocess.run([sys.executable, "-m", "rtaid", "demo", "--recording",
                          str(tmp_path / "nope.gz")], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 1
    assert f"no such recording: {tmp_path / 'nope.gz'}" in out.stderr
    assert "Traceback" not in out.stderr
