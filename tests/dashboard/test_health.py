"""The Health page: the daemon's live state over its control socket.

The daemon has no control server yet (the control issue adds it; a test against the
real daemon comes with it). "Daemon not running" is tested for real: no socket, and a
stale socket nobody listens on. To test the *display* of live values only, a small
stand-in server here speaks the protocol of rtaid/ctl.py (one JSON line in, one out)
with the status fields the control issue lists; the dashboard reads it with rtaidctl's
own client.
"""
import json
import socket
import socketserver
import threading

import pytest

from rtaid.dashboard import live
from tests.dashboard.helpers import dataframe

STATUS = {
    "ok": True, "state": "active", "uptime_s": 3725.4, "version": "0.1.0",
    "symbols": {
        "BTCUSDT": {"synced": True, "last_event_age_ms": 12, "lag_ms": 3.5, "bid": 61800.1,
                    "ask": 61800.2, "position": 0.001, "target": 1, "pnl": 0.25,
                    "indicators": {"vpin": 0.41, "obi": -0.2},
                    "oscillators": {"vpin_osc": 40.5, "obi_osc": 12.0}},
        "ETHUSDT": {"synced": False, "last_event_age_ms": 7000, "lag_ms": None, "bid": None,
                    "ask": None, "position": 0.0, "target": 0, "pnl": 0.0},
    },
    "feed": {"connections": 2, "reconnects": 3, "resyncs": 1, "gaps": 1, "handovers": 0},
    "latency_us": {"decode": {"p50": 0.2, "p99": 0.5, "p999": 1.1, "count": 5000},
                   "frame": {"p50": 0.4, "p99": 6.0, "p999": 30.5, "count": 5000}},
    "storage": {"rows_written": 123456, "rows_dropped": 0, "bytes_written": 9876543,
                "write_errors": 0},
    "orders": {"sent": 10, "rejected": {"max_position": 2}, "filled": 7},
}


class StandInDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers each request line with the next of ``answers`` (the last one repeats);
    the frame counts grow by 5,000 per status, as a running daemon's would."""

    daemon_threads = True

    def __init__(self, path, answers):
        self.answers = list(answers)
        self.requests = []
        super().__init__(str(path), Handler)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        server = self.server
        server.requests.append(json.loads(line))
        answer = server.answers.pop(0) if len(server.answers) > 1 else server.answers[0]
        self.wfile.write(json.dumps(answer).encode() + b"\n")


@pytest.fixture
def stand_in(tmp_path):
    servers = []

    def start(*answers):
        path = tmp_path / f"rtaid-{len(servers)}.sock"
        server = StandInDaemon(path, answers)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return path, server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def metrics(at):
    return {m.label: m.value for m in at.metric}


def test_no_socket_shows_daemon_not_running(dataset_dir, tmp_path, open_app):
    path = tmp_path / "nothing-here.sock"
    at = open_app(dataset_dir, "health", socket_path=path)
    assert not at.exception, at.exception
    assert metrics(at)["Daemon"] == "not running"
    assert any(f"no daemon at {path}" in e.value for e in at.error)
    # the dataset part still shows: the book's sync from the replay
    assert metrics(at)["book events: synced"] == "1"
    assert list(dataframe(at, "event")["event"]) == ["synced"]


def test_stale_socket_shows_daemon_not_running(dataset_dir, tmp_path, open_app):
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # bound, never listening: what a crashed daemon leaves
        at = open_app(dataset_dir, "health", socket_path=path)
    assert metrics(at)["Daemon"] == "not running"
    assert any("stale socket" in e.value for e in at.error)


def test_live_values_are_shown(dataset_dir, stand_in, open_app):
    later = json.loads(json.dumps(STATUS))
    later["uptime_s"] += 2
    for stage in later["latency_us"].values():
        stage["count"] += 5000
    path, server = stand_in(STATUS, later)
    at = open_app(dataset_dir, "health", socket_path=path)
    assert not at.exception, at.exception
    assert server.requests[0] == {"cmd": "status"}
    shown = metrics(at)
    assert shown["Daemon"] == "running" and shown["State"] == "active"
    assert shown["Uptime"] == "1 h 02 min" and shown["Version"] == "0.1.0"
    assert shown["Frames/s"] == "-"  # one answer so far
    assert any("Books synced: 1 of 2" in m.value for m in at.markdown)
    symbols = dataframe(at, "lag_ms")
    assert list(symbols["symbol"]) == ["BTCUSDT", "ETHUSDT"]
    assert list(symbols["synced"]) == [True, False]
    assert symbols.loc[0, "bid"] == 61800.1 and symbols.loc[0, "ask"] == 61800.2
    assert symbols.loc[0, "pnl"] == 0.25 and symbols.loc[1, "last_event_age_ms"] == 7000
    for name in live.FEED_FIELDS:
        assert shown[name.capitalize()] == str(STATUS["feed"][name]), name
    latency = dataframe(at, "p999")
    assert list(latency["stage"]) == ["decode", "frame"]
    assert list(latency["p99"]) == [0.5, 6.0] and list(latency["count"]) == [5000, 5000]
    assert shown["Rows written"] == "123,456" and shown["Rows dropped"] == "0"
    assert shown["Bytes written"] == "9,876,543" and shown["Write errors"] == "0"
    orders = dataframe(at, "counter")
    assert dict(zip(orders["counter"], orders["value"])) == {
        "sent": 10, "rejected: max_position": 2, "filled": 7}
    oscillators = dataframe(at, "vpin_osc")
    assert oscillators.loc[0, "vpin_osc"] == 40.5

    at.run()  # the next refresh: frames/s from the two answers' counts
    rate = metrics(at)["Frames/s"]
    assert rate != "-" and float(rate.replace(",", "")) > 0


def test_missing_fields_are_tolerated(dataset_dir, stand_in, open_app):
    path, _ = stand_in({"ok": True, "state": "halted", "symbols": {"BTCUSDT": {"synced": "?"}},
                        "feed": "not a mapping", "latency_us": {"frame": {"p50": "x"}}})
    at = open_app(dataset_dir, "health", socket_path=path)
    assert not at.exception, at.exception
    shown = metrics(at)
    assert shown["State"] == "halted" and shown["Uptime"] == "-" and shown["Version"] == "-"
    assert shown["Reconnects"] == "-" and shown["Rows written"] == "-"
    assert any("Books synced: 0 of 1" in m.value for m in at.markdown)


def test_daemon_error_answer_is_shown(dataset_dir, stand_in, open_app):
    path, _ = stand_in({"ok": False, "error": "status unavailable: shutting down"})
    at = open_app(dataset_dir, "health", socket_path=path)
    assert not at.exception
    assert metrics(at)["Daemon"] == "error"
    assert any("answered with an error: status unavailable: shutting down" in e.value
               for e in at.error)


def test_frames_per_second_from_two_answers():
    first = live.LiveStatus("s", 10.0, {"uptime_s": 5, "latency_us": {"frame": {"count": 1000}}})
    second = live.LiveStatus("s", 12.0, {"uptime_s": 7, "latency_us": {"frame": {"count": 5000}}})
    assert live.frames_per_second(first, second) == 2000.0
    assert live.frames_per_second(None, second) is None
    restarted = live.LiveStatus("s", 12.0, {"uptime_s": 1, "latency_us": {"frame": {"count": 10}}})
    assert live.frames_per_second(first, restarted) is None
    down = live.LiveStatus("s", 12.0, error="no daemon")
    assert live.frames_per_second(first, down) is None
