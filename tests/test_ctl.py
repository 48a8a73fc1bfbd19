"""rtaidctl's client side (request, formatting, exit codes, socket resolution) against a
small socket server that can also misbehave (hang up, time out, answer garbage): what a
real daemon never does on purpose. tests/test_control.py runs rtaidctl against the real
daemon."""
import json
import os
import shutil
import socket
import socketserver
import tempfile
import threading

import pytest

from rtaid import ctl


class FakeDaemon:
    """A tiny control-socket server: records requests, answers from ``reply(request)``."""

    def __init__(self, path, reply):
        self.path = path
        self.reply = reply
        self.requests = []
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                for line in self.rfile:
                    request = json.loads(line)
                    daemon.requests.append(request)
                    answer = daemon.reply(request)
                    if answer is None:
                        return  # hang up without answering
                    if isinstance(answer, dict):
                        answer = json.dumps(answer)
                    self.wfile.write(answer.encode() + b"\n")

        self.server = socketserver.ThreadingUnixStreamServer(path, Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def protocol(request):
    cmd = request.get("cmd")
    if cmd == "status":
        return {"ok": True, "state": "active", "uptime_s": 12.5, "version": "0.1.0",
                "healthy": True,
                "symbols": {"BTCUSDT": {"synced": True, "position": 0.001, "target": 1,
                                        "bid": 61800.2, "ask": 61800.3, "lag_ms": 3.5,
                                        "last_event_age_ms": 12,
                                        "pnl": {"realized": 1.5, "unrealized": 0.5,
                                                "fees": 0.25}}}}
    if cmd in ("pause", "resume", "reload"):
        return {"ok": True}
    if cmd == "flatten":
        return {"ok": True, "message": f"flattening {request['symbol'] or 'all'}"}
    if cmd == "book":
        if request["symbol"] != "BTCUSDT":
            return {"ok": False, "error": f"unknown symbol {request['symbol']}"}
        return {"ok": True, "symbol": "BTCUSDT", "synced": True, "u": 42,
                "bids": [["61800.20", "2.507"], ["61800.10", "0.100"]][: request["depth"]],
                "asks": [["61800.30", "2.510"]]}
    return {"ok": False, "error": f"unknown cmd {cmd!r}"}


@pytest.fixture
def sockdir():
    # Short directory: unix socket paths are limited to ~107 bytes.
    path = tempfile.mkdtemp(prefix="rtaid-ctl-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(sockdir):
    server = FakeDaemon(os.path.join(sockdir, "rtaid.sock"), protocol)
    yield server
    server.close()


def run(argv, env=None):
    return ctl.main(argv, env=env if env is not None else {})


def test_status_human_readable(daemon, capsys):
    assert run(["--socket", daemon.path, "status"]) == 0
    assert daemon.requests == [{"cmd": "status"}]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "rtaid 0.1.0  state active  up 12 s  healthy"
    assert lines[2].split() == ["BTCUSDT", "synced", "61800.2", "61800.3", "3.5", "12", "1",
                                "0.001", "1.75"]


def test_status_of_a_degraded_daemon_exits_1(sockdir, capsys):
    def halted(request):
        answer = protocol(request)
        answer.update(state="halted")
        answer["symbols"]["BTCUSDT"]["synced"] = False
        return answer
    server = FakeDaemon(os.path.join(sockdir, "halted.sock"), halted)
    try:
        assert run(["--socket", server.path, "status"]) == 1
    finally:
        server.close()
    err = capsys.readouterr().err
    assert "degraded: BTCUSDT book unsynced; trading halted" in err


def test_json_prints_the_raw_response(daemon, capsys):
    assert run(["--socket", daemon.path, "--json", "status"]) == 0
    assert json.loads(capsys.readouterr().out) == protocol({"cmd": "status"})


@pytest.mark.parametrize("argv, request_, out", [
    (["flatten", "--yes"], {"cmd": "flatten", "symbol": None}, "flatten: ok: flattening all\n"),
    (["flatten", "btcusdt", "--yes"], {"cmd": "flatten", "symbol": "BTCUSDT"},
     "flatten: ok: flattening BTCUSDT\n"),
    (["pause"], {"cmd": "pause"}, "pause: ok\n"),
    (["resume"], {"cmd": "resume"}, "resume: ok\n"),
    (["reload"], {"cmd": "reload"}, "ok\n"),
])
def test_commands_send_the_protocol_requests(daemon, capsys, argv, request_, out):
    assert run(["--socket", daemon.path] + argv) == 0
    assert daemon.requests == [request_]
    assert capsys.readouterr().out == out


def test_book(daemon, capsys):
    assert run(["--socket", daemon.path, "book", "btcusdt", "--depth", "1"]) == 0
    assert daemon.requests == [{"cmd": "book", "symbol": "BTCUSDT", "depth": 1}]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "symbol=BTCUSDT synced=yes u=42"
    assert lines[2].split() == ["2.507", "61800.20", "|", "61800.30", "2.510"]
    assert len(lines) == 3


def test_daemon_error_exits_1(daemon, capsys):
    assert run(["--socket", daemon.path, "book", "SOLUSDT"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == "rtaidctl: book failed: unknown symbol SOLUSDT\n"
    assert run(["--socket", daemon.path, "--json", "book", "SOLUSDT"]) == 1
    assert json.loads(capsys.readouterr().out) == {"ok": False, "error": "unknown symbol SOLUSDT"}


def test_request_api(daemon):
    assert ctl.request(daemon.path, {"cmd": "pause"}) == {"ok": True}
    with pytest.raises(ctl.DaemonError, match="unknown cmd 'nope'"):
        ctl.request(daemon.path, {"cmd": "nope"})


def test_flatten_without_yes_and_without_a_terminal_is_refused(daemon, capsys):
    assert run(["--socket", daemon.path, "flatten"]) == 2
    assert "confirm with --yes" in capsys.readouterr().err
    assert daemon.requests == []


def test_missing_socket(sockdir, capsys):
    path = os.path.join(sockdir, "absent.sock")
    assert run(["--socket", path, "status"]) == 3
    assert capsys.readouterr().err == f"rtaidctl: no daemon at {path} (is rtaid running?)\n"


def test_stale_socket_refuses(sockdir, capsys):
    path = os.path.join(sockdir, "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(path)  # bound, never listening: connect() is refused
        assert run(["--socket", path, "status"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"rtaidctl: no daemon listening at {path}") and err.count("\n") == 1


def test_timeout(sockdir, capsys):
    path = os.path.join(sockdir, "slow.sock")
    answered = threading.Event()
    server = FakeDaemon(path, lambda request: answered.wait(5) and None)
    try:
        assert run(["--socket", path, "--timeout", "0.2", "status"]) == 3
    finally:
        answered.set()
        server.close()
    assert capsys.readouterr().err == (
        f"rtaidctl: timed out after 0.2s waiting for the daemon at {path}\n")


@pytest.mark.parametrize("reply, message", [
    (lambda r: None, "closed the connection without a reply"),
    (lambda r: "not json", "invalid reply from daemon"),
    (lambda r: "[1, 2]", "invalid reply from daemon"),
])
def test_bad_replies_exit_1(sockdir, capsys, reply, message):
    server = FakeDaemon(os.path.join(sockdir, "bad.sock"), reply)
    try:
        assert run(["--socket", server.path, "status"]) == 1
    finally:
        server.close()
    assert message in capsys.readouterr().err


def test_socket_resolution_order(daemon, sockdir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ctl, "DEFAULT_CONFIG_PATH", str(tmp_path / "absent-default.toml"))
    cfg = tmp_path / "rtaid.toml"
    cfg.write_text(f'[control]\nsocket = "{daemon.path}"\n')
    elsewhere = os.path.join(sockdir, "elsewhere.sock")
    # --config beats the environment, --socket beats both.
    assert run(["--config", str(cfg), "status"], env={"RTAID_CONTROL_SOCKET": elsewhere}) == 0
    assert run(["status"], env={"RTAID_CONTROL_SOCKET": daemon.path}) == 0
    assert run(["status"], env={"RTAID_CONFIG": str(cfg)}) == 0
    assert run(["--socket", elsewhere, "--config", str(cfg), "status"]) == 3
    assert len(daemon.requests) == 3
    assert ctl.resolve_socket(None, None, {}) == ctl.DEFAULT_SOCKET == "/run/rtaid/rtaid.sock"
    unreadable = str(tmp_path / "missing.toml")
    assert ctl.resolve_socket(None, None, {"RTAID_CONFIG": unreadable}) == ctl.DEFAULT_SOCKET
    capsys.readouterr()
    assert run(["--config", unreadable, "status"]) == 2
    assert capsys.readouterr().err.startswith(f"rtaidctl: cannot read config {unreadable}")


@pytest.mark.parametrize("argv", [[], ["book"], ["book", "X", "--depth", "0"], ["bogus"],
                                  ["--timeout", "0", "status"]])
def test_usage_errors_exit_2(argv):
    assert run(argv) == 2
