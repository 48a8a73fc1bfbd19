"""``rtaid dashboard``: the command line, its start-up checks, and the server it runs."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from rtaid import cli
from tests.helpers import ROOT


def test_help_lists_the_flags(capsys):
    assert cli.main(["dashboard", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--data-dir", "--socket", "--port", "--address", "--refresh", "--config", "--set"):
        assert flag in out, flag


def test_missing_extra_says_how_to_install():
    code = ("import sys; sys.modules['streamlit'] = None; from rtaid.cli import main; "
            "raise SystemExit(main(['dashboard', '--data-dir', '/nonexistent']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert "needs the optional 'dashboard' extra (streamlit not installed)" in done.stderr
    assert "pip install 'rtaid[dashboard]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_arguments_and_config_are_usage_errors(capsys):
    assert cli.main(["dashboard", "--port", "70000"]) == 2
    assert "port must be 1..65535" in capsys.readouterr().err
    assert cli.main(["dashboard", "--refresh", "0"]) == 2
    assert cli.main(["dashboard", "--set", "strategy.entry_low=200"]) == 2
    assert "strategy.entry_low" in capsys.readouterr().err


def test_port_in_use_fails_at_start(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli.main(["dashboard", "--data-dir", str(tmp_path), "--port", str(port)])
    assert code == 1
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


def test_serves_the_app_and_stops_on_sigterm(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtaid", "dashboard", "--data-dir", str(tmp_path / "none"),
         "--port", str(port), "--socket", str(tmp_path / "rtaid.sock")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "RTAID_CONFIG": ""})
    try:
        health = None
        deadline = time.monotonic() + 60
        while health != b"ok" and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    health = r.read().strip()
            except OSError:
                time.sleep(0.2)
        assert health == b"ok", proc.poll()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert f"rtaid dashboard: http://127.0.0.1:{port}/" in out
    assert "does not exist (yet)" in out  # the missing data dir is reported, not fatal
