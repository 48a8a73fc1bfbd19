"""rtaidctl and Prometheus against a real `rtaid run` on rtaid-sim: every status field
present and true to the sim, the book, reload, garbage and stuck clients on the socket,
exit codes 3 when the daemon cannot be reached (missing socket, permission denied as a
non-root user), /metrics parsed with prometheus_client's parser, histogram counts equal
to the frames processed."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ROOT, NotifySocket, daemon_args, daemon_env, free_port


def rtaidctl(*argv, timeout=30, python=sys.executable, env=None, preexec=()):
    return subprocess.run([*preexec, python, "-m", "rtaid.ctl", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


def sim_book(port, symbol):
    url = f"http://127.0.0.1:{port}/sim/book?symbol={symbol}&limit=1000"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def family(families, name):
    """A family by its exposed name (the parser names counters without ``_total``)."""
    return families.get(name) or families.get(name.removesuffix("_total"))


def samples(families, name, suffix=""):
    """{labels tuple: value} of a family's samples named ``name + suffix``."""
    return {tuple(sorted(s.labels.items())): s.value for s in family(families, name).samples
            if s.name == name + suffix}


@pytest.fixture
def running(sim_port):
    """A daemon on the sim with its control socket and metrics; (proc, socket, metrics port)."""
    workdir = tempfile.mkdtemp(prefix="rtaid-ctl-", dir="/tmp")   # short socket path
    os.chmod(workdir, 0o755)
    from pathlib import Path
    tmp = Path(workdir)
    notify = NotifySocket(tmp / "notify")
    metrics_port = free_port()
    args = daemon_args(sim_port, tmp) + ["--set", f"metrics.port={metrics_port}",
                                         "--set", "control.socket_mode=0o660"]
    proc = subprocess.Popen(args, cwd=ROOT, env=daemon_env(tmp, notify),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        yield proc, str(tmp / "rtaid.sock"), metrics_port, sim_port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        shutil.rmtree(workdir, ignore_errors=True)


def test_status_is_complete_and_true_to_the_sim(running):
    proc, sock, _, sim_port = running
    out = rtaidctl("--socket", sock, "status", "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    for key in ("state", "uptime_s", "version", "symbols", "feed", "latency_us", "storage",
                "orders"):
        assert key in status, key
    assert status["state"] == "active" and status["uptime_s"] > 0
    assert set(status["feed"]) >= {"connections", "reconnects", "resyncs", "gaps", "handovers"}
    assert set(status["storage"]) >= {"rows_written", "rows_dropped", "bytes_written",
                                      "write_errors"}
    assert set(status["orders"]) >= {"sent", "rejected", "filled"}
    for stage in ("decode", "book", "signals", "frame", "frame_to_signal"):
        assert set(status["latency_us"][stage]) == {"p50", "p90", "p99", "p999", "max", "count"}
        lat = status["latency_us"][stage]
        assert lat["count"] > 0, stage
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"], lat
    assert set(status["symbols"]) == {"BTCUSDT", "ETHUSDT"}
    for sym, s in status["symbols"].items():
        assert set(s) >= {"synced", "last_event_age_ms", "lag_ms", "bid", "ask", "position",
                          "target", "pnl", "indicators", "oscillators"}
        assert s["synced"] is True and 0 <= s["last_event_age_ms"] < 5_000
        assert s["lag_ms"] is not None and abs(s["lag_ms"]) < 5_000
        assert s["target"] in (-1, 0, 1)
        assert set(s["indicators"]) >= {"obi", "ofi_norm", "mpd_bps", "dev_bps"}
        assert all(v is None or 0 <= v <= 100 for v in s["oscillators"].values())
        # the daemon's touch lies within the sim's book (the market moved in between)
        book = sim_book(sim_port, sym)
        bids = [float(p) for p, _ in book["bids"]]
        asks = [float(p) for p, _ in book["asks"]]
        assert s["bid"] < s["ask"]
        assert min(bids) <= s["bid"] <= min(asks) and max(bids) <= s["ask"] <= max(asks), \
            (sym, s["bid"], s["ask"], bids[:3], asks[:3])
    human = rtaidctl("--socket", sock, "status")
    assert human.returncode == 0, human.stderr
    assert "state active" in human.stdout and "BTCUSDT" in human.stdout
    assert "latency (us)" in human.stdout and "frame_to_signal" in human.stdout


def test_book_reload_and_commands_without_a_venue(running):
    _, sock, _, _ = running
    book = rtaidctl("--socket", sock, "--json", "book", "btcusdt", "--depth", "5")
    assert book.returncode == 0, book.stderr
    body = json.loads(book.stdout)
    assert body["synced"] and len(body["bids"]) == 5 and len(body["asks"]) == 5
    assert float(body["bids"][0][0]) < float(body["asks"][0][0])
    assert rtaidctl("--socket", sock, "book", "NOPEUSDT").returncode == 1
    reload = rtaidctl("--socket", sock, "reload")
    assert reload.returncode == 0 and "reloaded" in reload.stdout
    pause = rtaidctl("--socket", sock, "pause")
    assert pause.returncode == 1 and "no execution venue" in pause.stderr


def test_garbage_oversize_and_stuck_clients_do_not_hurt_the_daemon(running):
    _, sock, _, _ = running

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(sock)
        return s

    with connect() as s:
        for junk, error in ((b"garbage\n", "not a JSON object"),
                            (b'{"cmd": "nope"}\n', "unknown cmd"),
                            (b'{"cmd": "status", "x": 1}\n', "unknown field"),
                            (b"[1, 2]\n", "not a JSON object")):
            s.sendall(junk)
            answer = json.loads(s.makefile("rb").readline())
            assert answer["ok"] is False and error in answer["error"], (junk, answer)
    with connect() as s:                     # 2 MiB without a newline: refused, closed
        try:
            s.sendall(b"x" * (2 << 20))
        except OSError:
            pass
        reply = s.makefile("rb").readline()
        assert b"longer than" in reply
    stuck = connect()                        # asks and asks and never reads the answers
    stuck.setblocking(False)
    sent = 0
    try:
        while sent < 20_000:
            stuck.send(b'{"cmd":"status"}\n')
            sent += 1
    except (BlockingIOError, OSError):
        pass
    t0 = time.monotonic()
    out = rtaidctl("--socket", sock, "status", "--json")
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - t0 < 20
    stuck.close()
    # the daemon is healthy: its books stayed synced through all of that
    assert all(s["synced"] for s in json.loads(out.stdout)["symbols"].values())


def test_metrics_names_and_histogram_counts(running):
    _, sock, metrics_port, _ = running
    time.sleep(2)                            # a few hundred frames after READY
    families = scrape(metrics_port)
    for name in ("rtaid_decode_seconds", "rtaid_book_seconds", "rtaid_signals_seconds",
                 "rtaid_frame_seconds", "rtaid_frame_to_signal_seconds",
                 "rtaid_exchange_lag_seconds", "rtaid_frames_total", "rtaid_book_synced",
                 "rtaid_last_event_age_seconds", "rtaid_rows_written_total",
                 "rtaid_rows_dropped_total", "rtaid_write_errors_total",
                 "rtaid_reconnects_total", "rtaid_handovers_total", "rtaid_oscillator",
                 "rtaid_trading_state", "rtaid_book_gaps_total", "rtaid_target",
                 "rtaid_decode_errors_total", "rtaid_connection_up", "rtaid_build_info"):
        assert family(families, name) is not None, name
    assert families["rtaid_decode_seconds"].type == "histogram"
    frames = sum(samples(families, "rtaid_frames_total").values())
    errors = sum(samples(families, "rtaid_decode_errors_total").values())
    snapshots = sum(v for k, v in samples(families, "rtaid_frames_total").items()
                    if ("kind", "snapshot") in k)
    decode_count = samples(families, "rtaid_decode_seconds", "_count")[()]
    frame_count = samples(families, "rtaid_frame_seconds", "_count")[()]
    # one scrape is read between two frames: every frame taken is in the histograms
    assert decode_count == frames + errors > 100
    assert frame_count == decode_count - snapshots      # REST snapshots skip the listener
    buckets = samples(families, "rtaid_frame_seconds", "_bucket")
    assert buckets[(("le", "+Inf"),)] == frame_count
    values = [v for k, v in sorted(buckets.items(), key=lambda kv: float(kv[0][0][1]))]
    assert values == sorted(values)                     # cumulative
    synced = samples(families, "rtaid_book_synced")
    assert synced == {(("symbol", "BTCUSDT"),): 1.0, (("symbol", "ETHUSDT"),): 1.0}


def test_rtaidctl_exits_3_when_no_daemon_answers(tmp_path):
    missing = tmp_path / "nope.sock"
    out = rtaidctl("--socket", str(missing), "status")
    assert out.returncode == 3
    assert str(missing) in out.stderr and "is rtaid running?" in out.stderr
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    out = rtaidctl("--socket", str(stale), "status")
    assert out.returncode == 3 and "stale socket" in out.stderr


def unprivileged_python():
    """A Python that the user nobody may run (the venv's may live under /root)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        path = os.path.realpath(candidate)
        parts = path.split(os.sep)
        ok = all(os.stat(os.sep.join(parts[:i]) or "/").st_mode & 0o001
                 for i in range(2, len(parts)))
        if ok and os.access(path, os.X_OK) and f"{sys.version_info.major}.{sys.version_info.minor}" in \
                subprocess.run([path, "-c", "import sys; print(sys.version)"], capture_output=True,
                               text=True).stdout:
            return path
    return None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to run rtaidctl as another user (CI runs as root)")
def test_rtaidctl_exits_3_on_permission_denied_as_another_user(running):
    _, sock, _, _ = running
    python = unprivileged_python()
    assert python, "no Python the user nobody can run"
    parts = str(ROOT).split(os.sep)
    if not all(os.stat(os.sep.join(parts[:i]) or "/").st_mode & 0o001 for i in range(2, len(parts) + 1)):
        pytest.skip(f"the user nobody cannot reach the checkout {ROOT} (a 0700 directory above it)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = rtaidctl("--socket", sock, "status", python=python, env=env,
                   preexec=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    assert out.returncode == 3, out.stdout + out.stderr
    assert "permission denied" in out.stderr and sock in out.stderr
