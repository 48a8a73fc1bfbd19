"""sd_notify over a real datagram socket, as systemd receives it."""
import socket

from rtaid.infra.sdnotify import Notifier


def receiver(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(1.0)
    return sock, path


def test_messages_arrive_as_key_value_lines(tmp_path):
    sock, path = receiver(tmp_path)
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "3000000"})
    assert n.enabled and n.watchdog_interval_s == 1.0
    assert n.ready("synced 2 symbols")
    assert sock.recv(4096) == b"READY=1\nSTATUS=synced 2 symbols"
    assert n.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"


def test_a_listener_that_stops_reading_never_blocks_the_sender(tmp_path):
    """The datagram queue fills up: notifications are dropped and counted (a blocking
    send would stall the daemon's event loop until someone reads)."""
    sock, path = receiver(tmp_path)
    n = Notifier({"NOTIFY_SOCKET": path})
    results = [n.status("x" * 200) for _ in range(5000)]
    assert results[0] is True
    assert results.count(False) == n.dropped > 0
    sock.recv(4096)
    assert n.status("again") is True


def test_without_notify_socket_nothing_is_sent():
    n = Notifier({})
    assert not n.enabled and n.watchdog_interval_s is None
    assert n.ready() is False and n.dropped == 0
