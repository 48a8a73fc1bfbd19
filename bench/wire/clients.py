"""The receivers of bench/latency.py that are not rtaid or the baseline bot.

- ``floor``: picows with the Cython listener of floor.pyx (receive, discard), on uvloop,
  subscribed exactly as rtaid subscribes (rtaid.feed.streams.stream_sets):

      python -m bench.wire.clients floor --ws WS_URL --symbols A,B [--ring N] --out FILE

  runs until SIGTERM/SIGINT, then writes FILE (JSON: frames per connection) and
  FILE.<name>.npz (frame numbers and receive times of the last N frames).
- ``null``: the do-nothing client that measures the generator's own rate: plain
  sockets, the WebSocket handshake, then ``recv_into`` and forget (no frame parsing):

      python -m bench.wire.clients null --ws WS_URL --symbols A,B      (until SIGTERM)
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import selectors
import signal
import socket
import sys
import threading
from urllib.parse import urlsplit


def rtaid_urls(ws_url: str, symbols) -> list[tuple[str, str]]:
    """(name, url) of the connections rtaid opens for these symbols."""
    from rtaid.feed.streams import stream_sets

    return [(s.name, s.url) for s in stream_sets(ws_url, list(symbols))]


async def _floor(urls, ring: int, out: str) -> None:
    from picows import ws_connect

    from bench.wire.build import load

    FloorListener = load("floor").FloorListener
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    conns = []
    for name, url in urls:
        transport, listener = await ws_connect(lambda: FloorListener(ring), url,
                                               enable_auto_pong=True, max_frame_size=64 << 20)
        conns.append((name, url, transport, listener))
    print("connected", flush=True)
    await stop.wait()
    import numpy as np

    report = {}
    for name, url, transport, listener in conns:
        frame, recv = listener.recv_stamps()
        np.savez(f"{out}.{name}.npz", frame=frame, recv_ns=recv)
        report[name] = {"url": url, "frames": listener.frames, "payload_bytes": listener.payload_bytes}
        transport.disconnect()
    with open(out, "w") as fh:
        json.dump({"connections": report}, fh, indent=2)


class NullReader:
    """Read and discard everything a set of WebSocket URLs sends (a thread)."""

    def __init__(self, urls):
        self.socks = [self._connect(u) for u in urls]
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _connect(url: str) -> socket.socket:
        parts = urlsplit(url)
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + ("?" + parts.query if parts.query else "")
        sock.sendall((f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"{url}: closed during the handshake")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"{url}: {head.splitlines()[0].decode(errors='replace')}")
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while not self._stop.is_set():
            for key, _ in sel.select(0.1):
                try:
                    n = key.fileobj.recv_into(view)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    n = 0
                if not n:
                    sel.unregister(key.fileobj)
                self.bytes += n

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()


def _null(urls) -> None:
    reader = NullReader(urls)
    print("connected", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    reader.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="bench receivers")
    sub = parser.add_subparsers(dest="what", required=True)
    null = sub.add_parser("null", help="read and discard bytes (the generator's own rate)")
    null.add_argument("--ws", required=True)
    null.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    floor = sub.add_parser("floor", help="picows + a Cython listener that discards frames")
    floor.add_argument("--ws", required=True)
    floor.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    floor.add_argument("--ring", type=int, default=0, help="keep the receive times of the last N frames")
    floor.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    if args.what == "null":
        _null([u for _, u in rtaid_urls(args.ws, symbols)])
        return 0
    import uvloop

    uvloop.run(_floor(rtaid_urls(args.ws, symbols), args.ring, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
