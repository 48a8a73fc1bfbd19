"""End to end: ``rtaid run`` on rtaid-sim serves freqtrade's consumer (the pinned freqtrade).

A fresh data dir: the first frame is the exchange's klines (1500 rows, rtaid's columns
empty). The daemon records its first bars, is stopped and started again (the consumer
reconnects by itself), and the new first frame carries the dataset's bars, equal to
what the daemon wrote. A consumer with a wrong token gets nothing; the token never
appears in the daemon's output.
"""
import asyncio
import json
import signal
import subprocess
import time
import urllib.request

import pytest

from rtaid.freqtrade import bars as barlib
from rtaid.store.tables import TABLES
from tests.helpers import ROOT
from tests.freqtrade.helpers import assert_row_equal, start_consumer
from tests.helpers import NotifySocket, daemon_args, daemon_env, free_port

pytestmark = pytest.mark.slow

TOKEN = "e2e-token-7f3a"
MINUTE = 60_000


def start_daemon(sim_port, tmp_path, ft_port, notify):
    env = daemon_env(tmp_path, notify)
    env["RTAID_FREQTRADE_TOKEN"] = TOKEN
    args = daemon_args(sim_port, tmp_path) + ["--set", "freqtrade.enabled=true",
                                              "--set", f"freqtrade.port={ft_port}"]
    assert TOKEN not in " ".join(args)
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-3000:]
    return out


def test_rtaid_run_serves_freqtrade_across_a_restart(ft_python, sim_port, tmp_path):  # noqa: F811
    ft_port = free_port()
    columns = barlib.frame_columns([c for c, *_ in TABLES["bars_1m"].columns])
    logs = []

    async def main():
        notify = NotifySocket(tmp_path / "notify")
        daemon = start_daemon(sim_port, tmp_path, ft_port, notify)
        consumer = None
        try:
            assert notify.wait_for("READY=1"), notify.messages
            started = time.time()
            consumer = await start_consumer(ft_python, [
                {"name": "rtaid", "host": "127.0.0.1", "port": ft_port, "secure": False, "ws_token": TOKEN},
                {"name": "intruder", "host": "127.0.0.1", "port": ft_port, "secure": False, "ws_token": "nope"},
            ], tmp_path / "consumer.log")
            got = await consumer.ask(cmd="wait", producer="rtaid", pair="BTC/USDT:USDT", timeout=60)
            rows = got["rows"]
            assert got["columns"] == columns and len(rows) == 1500
            assert sorted(got["pairs"]) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
            first_la = got["la"]
            with urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/fapi/v1/klines?symbol=BTCUSDT"
                                        f"&interval=1m&limit=1500&startTime={rows[0][0]}", timeout=10) as r:
                klines = {k[0]: k for k in json.loads(r.read())}
            # a fresh data dir: the exchange's candles with rtaid's columns empty, up to
            # and including the minute the daemon joined mid-way (its partial bar is not
            # served: the exchange's candle is); after it (a slow consumer start), rtaid's
            own = [row for row in rows if row[6:] != [None] * (len(columns) - 6)]
            for row in rows:
                if row in own:
                    continue
                kline = dict(zip(columns, [row[0], *map(float, klines[row[0]][1:6])]))
                assert_row_equal(row[:6], kline, columns[:6])

            # let the daemon close the bar of the minute it started in and of the next
            # (its first full one), then restart it
            next_minute = (int(started * 1000) // MINUTE + 2) * MINUTE
            await asyncio.sleep(max(0.0, next_minute / 1000 + 2.5 - time.time()))
            logs.append(stop(daemon))
            written = barlib.read_bars(str(tmp_path / "data"), "BTCUSDT")
            assert written is not None and len(written) >= 2
            joined = int(written.dates[0])      # the dataset keeps what rtaid saw of it
            assert all(row[0] > joined for row in own), (joined, own[:1])
            notify = NotifySocket(tmp_path / "notify2")
            daemon = start_daemon(sim_port, tmp_path, ft_port, notify)
            assert notify.wait_for("READY=1"), notify.messages
            for _ in range(300):     # the consumer reconnects on its own (sleep_time 1 s)
                got = await consumer.ask(cmd="wait", producer="rtaid", pair="BTC/USDT:USDT", timeout=0)
                if got["la"] != first_la:
                    break
                await asyncio.sleep(0.1)
            assert got["la"] != first_la, "the consumer did not read the restarted daemon"
            by_date = {r[0]: r for r in got["rows"]}
            assert len(got["rows"]) == 1500
            # after the restart: the joined minute is the exchange's candle, every later
            # one the bar the daemon wrote
            with urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/fapi/v1/klines?symbol=BTCUSDT"
                                        f"&interval=1m&limit=1&startTime={joined}", timeout=10) as r:
                kline = json.loads(r.read())[0]
            assert kline[0] == joined
            assert_row_equal(by_date[joined][:6], dict(zip(columns, [joined, *map(float, kline[1:6])])),
                             columns[:6])
            assert by_date[joined][6:] == [None] * (len(columns) - 6)
            for values in written.rows()[1:]:
                assert_row_equal(by_date[values[0]], dict(zip(written.columns, values)), columns)
                assert by_date[values[0]][columns.index("obi_last")] is not None
            assert (await consumer.ask(cmd="pairs", producer="intruder"))["pairs"] == []
            logs.append(stop(daemon))
        finally:
            if consumer is not None:
                await consumer.close()
            if daemon.poll() is None:
                daemon.kill()
                daemon.communicate()

    asyncio.run(main())
    out = "\n".join(logs)
    assert TOKEN not in out
    assert '"event": "freqtrade_token_refused"' in out
    assert "freqtrade_poll_failed" not in out and "freqtrade_history_failed" not in out
    assert '"event": "freqtrade_history"' in out and '"from_dataset": 0' in out
    assert "HTTP 403" in (tmp_path / "consumer.log").read_text()


def test_a_busy_freqtrade_port_stops_the_daemon_at_start(tmp_path):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("RTAID_", "RTAI_"))}
        env["RTAID_FREQTRADE_TOKEN"] = TOKEN
        done = subprocess.run(daemon_args(free_port(), tmp_path) + [
            "--set", "freqtrade.enabled=true", "--set", f"freqtrade.port={port}",
            "--set", "exchange.request_timeout_s=1"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=60)
    finally:
        busy.close()
    assert done.returncode == 1, done.stdout[-2000:]
    assert '"event": "freqtrade_producer_failed"' in done.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in done.stdout
