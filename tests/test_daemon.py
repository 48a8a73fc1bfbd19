"""`rtaid run` as a real process against a real rtaid-sim process."""
import json
import signal
import subprocess
import sys
import time
import urllib.request


from tests.helpers import ROOT, NotifySocket, daemon_args, daemon_env


def test_daemon_syncs_notifies_reloads_and_stops_cleanly(sim_port, tmp_path):
    notify = NotifySocket(tmp_path / "notify")
    config = tmp_path / "rtaid.toml"
    config.write_text('[log]\nlevel = "INFO"\n')
    # the shortest loss window: the first rows are on disk within 5 s, while it runs
    args = [*daemon_args(sim_port, tmp_path, config), "--set", "storage.max_loss_s=5"]
    proc = subprocess.Popen(args, cwd=ROOT, env=daemon_env(tmp_path, notify),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert notify.wait_for("READY=1"), notify.messages
        ready = time.monotonic()
        assert notify.wait_for("WATCHDOG=1", timeout=10), notify.messages
        while not list((tmp_path / "data" / "bbo").rglob("part-*.parquet")):
            assert time.monotonic() - ready < 5 + 5, "no bbo file published within max_loss_s"
            time.sleep(0.2)
        # the exchange drops the connections and skips a depth event: the daemon
        # reconnects and resyncs, and records both
        for fault in ({"fault": "drop", "target": "stream"}, {"fault": "skip", "symbol": "BTCUSDT"}):
            req = urllib.request.Request(f"http://127.0.0.1:{sim_port}/sim/fault",
                                         data=json.dumps(fault).encode(), method="POST")
            urllib.request.urlopen(req, timeout=5).read()
            time.sleep(1.0)
        # SIGHUP with a broken file: rejected, the daemon keeps running
        config.write_text('[log]\nlevel = "LOUD"\n')
        proc.send_signal(signal.SIGHUP)
        assert notify.wait_for("STATUS=reload rejected", timeout=10), notify.messages
        # SIGHUP with a valid change: applied live
        config.write_text('[log]\nlevel = "INFO"\n[strategy]\ncooldown_ms = 1000\n')
        proc.send_signal(signal.SIGHUP)
        assert notify.wait_for("STATUS=reloaded", timeout=10), notify.messages
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert notify.wait_for("STOPPING=1", timeout=2), notify.messages
    # SIGTERM flushed everything: every market-data table has complete files
    import pyarrow.dataset as ds
    data = tmp_path / "data"
    counts = {}
    for table in ("trades", "bbo", "depth", "book_top", "book_events"):
        t = ds.dataset(data / table, partitioning="hive").to_table()
        counts[table] = t.num_rows
        assert t.num_rows > 0, table
        assert set(t.column("symbol").to_pylist()) == {"BTCUSDT", "ETHUSDT"}, table
    events = ds.dataset(data / "book_events", partitioning="hive").to_table().to_pylist()
    kinds = {(e["symbol"], e["event"]) for e in events}
    for expected in (("BTCUSDT", "synced"), ("ETHUSDT", "reconnect"), ("BTCUSDT", "gap"),
                     ("BTCUSDT", "resync")):
        assert expected in kinds, kinds
    assert not list(data.rglob(".*.parquet*")), "no temporary part files may remain"
    logs = out.splitlines()
    (stopped,) = [json.loads(line) for line in logs if '"event": "stopped"' in line]
    store = stopped["store"]
    assert store["files_open"] == 0 and not store["write_failing"], store
    published = [p for p in data.rglob("part-*.parquet") if "raw" not in p.parts]
    assert store["files_written"] == len(published)
    assert store["bytes_written"] == sum(p.stat().st_size for p in published)
    assert any('"event": "ready"' in line for line in logs), out[-2000:]
    # decimals came from the exchange's /fapi/v1/exchangeInfo, not from inference
    assert any('"event": "exchange_info"' in line and '"BTCUSDT": [2, 3]' in line for line in logs), out[-3000:]
    assert any('"event": "reload_rejected"' in line and "log.level" in line for line in logs), out[-3000:]
    assert all(line.isascii() for line in logs)
    # every line is one JSON object with a stable event name; libraries' messages (picows:
    # "WS connection established: ...") are a field under a fixed event
    records = [json.loads(line) for line in logs]
    assert all(isinstance(r.get("event"), str) and " " not in r["event"] for r in records)
    picows = [r for r in records if r["event"] == "picows"]
    assert picows and any("WS connection established" in r["message"] for r in picows)


def test_daemon_with_a_bad_config_exits_2_with_a_clear_message(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[feed]\nsymbol = ["BTCUSDT"]\n')
    out = subprocess.run([sys.executable, "-m", "rtaid", "run", "--config", str(config)], cwd=ROOT,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "feed.symbol" in out.stderr and "did you mean 'feed.symbols'" in out.stderr
    assert "Traceback" not in out.stderr
