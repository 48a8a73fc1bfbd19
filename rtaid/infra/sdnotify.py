"""systemd's sd_notify protocol in plain Python (no libsystemd binding needed).

A datagram to the socket named by $NOTIFY_SOCKET; an abstract socket when the name
starts with '@'. Without $NOTIFY_SOCKET (not under systemd, tests) it does nothing.
The socket is non-blocking: a listener that stops reading (a full queue) costs a
dropped, counted notification, never a stalled event loop.
"""
from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, env=os.environ):
        path = env.get("NOTIFY_SOCKET", "")
        self.address = ("\0" + path[1:]) if path.startswith("@") else path
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                       | socket.SOCK_NONBLOCK)
        self.dropped = 0
        watchdog_usec = env.get("WATCHDOG_USEC", "")
        # systemd asks for a ping at least every WATCHDOG_USEC; we ping at a third of it.
        self.watchdog_interval_s = int(watchdog_usec) / 3e6 if watchdog_usec.isdigit() else None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` lines; False if systemd is not listening (never raises)."""
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError:
            self.dropped += 1
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
