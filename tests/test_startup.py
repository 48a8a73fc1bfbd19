"""What `rtaid run` finds at start, or while running, and says clearly: symbols the
exchange does not list, a data directory it cannot write, a symbol delisted while it
runs, rows it had to drop, and its periodic status line."""
import json
import signal
import subprocess
import time
import urllib.request

from tests.helpers import ROOT, NotifySocket, daemon_args, daemon_env


def run_daemon(args, env, timeout=60):
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def start_daemon(args, env):
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop(proc, timeout=30):
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            out, _ = proc.communicate()
    return proc.returncode, out


def events(out, name):
    found = []
    for line in out.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == name:
            found.append(record)
    return found


def sim_fault(port, spec):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/sim/fault",
                                 data=json.dumps(spec).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def test_a_symbol_the_exchange_does_not_list_stops_the_start(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    args = daemon_args(sim_port, tmp_path) + ["--set", 'feed.symbols=["FOOUSDT","BTCUSDT"]']
    out = run_daemon(args, daemon_env(tmp_path, notify))
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "feed.symbols: not listed by the exchange: FOOUSDT" in out.stderr
    assert "BTCUSDT" not in out.stderr.split("FOOUSDT", 1)[1]
    assert "Traceback" not in out.stderr + out.stdout
    assert events(out.stdout, "startup_failed")


def test_a_data_dir_that_cannot_be_written_stops_the_start(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    args = daemon_args(sim_port, tmp_path) + ["--set", f"storage.data_dir={blocker / 'data'}"]
    out = run_daemon(args, daemon_env(tmp_path, notify))
    assert out.returncode == 2
    assert f"storage.data_dir {blocker / 'data'}: cannot write there" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not notify.wait_for("READY=1", timeout=0.5)


def test_a_symbol_delisted_while_running_is_dropped_and_the_others_go_on(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    args = daemon_args(sim_port, tmp_path) + ["--set", "feed.stale_after_s=1.5",
                                              "--set", "daemon.status_interval_s=1"]
    proc = start_daemon(args, daemon_env(tmp_path, notify))
    try:
        assert notify.wait_for("READY=1"), notify.messages
        sim_fault(sim_port, {"fault": "delist", "symbol": "ETHUSDT"})
        # the feed goes stale for ETHUSDT, reconnects, its snapshot answers -1121
        time.sleep(6)
        assert proc.poll() is None
        code, out = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 0, out[-3000:]
    dropped = events(out, "symbol_dropped")
    assert [d["symbol"] for d in dropped] == ["ETHUSDT"], out[-3000:]
    # BTCUSDT went on: its book synced again after the reconnect, and frames kept coming
    statuses = events(out, "status")
    assert len(statuses) >= 3
    last = statuses[-1]
    assert last["books_synced"] == "1/2" and last["frames"] > statuses[0]["frames"]
    assert set(last) >= {"frames", "frames_per_s", "books_synced", "lag_ms", "latency_p99_ns",
                         "targets", "rows_written", "rows_dropped"}
    assert "BTCUSDT" in last["lag_ms"]


def test_a_daemon_that_dropped_rows_says_how_many_and_exits_1(tmp_path):
    """Rings far too small for the rate and a writer that drains once a minute: rows are
    dropped; the daemon reports them at exit and does not exit 0."""
    from tests.helpers import free_port, start_sim

    port = free_port()
    sim = start_sim(port, "--rate", "3000")
    notify = NotifySocket(tmp_path / "notify")
    args = daemon_args(port, tmp_path) + ["--set", "storage.ring_records=1024",
                                          "--set", "storage.flush_interval_ms=60000",
                                          "--set", "storage.max_loss_s=130"]
    proc = start_daemon(args, daemon_env(tmp_path, notify))
    try:
        assert notify.wait_for("READY=1"), (notify.messages, proc.poll())
        time.sleep(3)
        code, out = stop(proc)
    finally:
        sim.kill()
        sim.wait()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert code == 1, out[-3000:]
    (report,) = events(out, "rows_dropped")
    assert report["total"] > 0 and report["tables"]
    assert events(out, "stopped")[-1]["exit_code"] == 1


def test_a_cpu_the_machine_does_not_have_stops_the_start(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    args = daemon_args(sim_port, tmp_path) + ["--set", "daemon.cpu_affinity=[4095]"]
    out = run_daemon(args, daemon_env(tmp_path, notify))
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "daemon.cpu_affinity [4095]" in out.stderr and "Traceback" not in out.stderr
