"""The bench's market-data generator: the shared recordings, looped (recorded.py), over
real WebSockets on 127.0.0.1, with the REST endpoints a client needs to sync.

    python -m bench.wire.generator [--port N] [--max-lines N] [RECORDING ...]

prints ``generator listening: http://127.0.0.1:PORT`` once ready. One port serves:

- WebSocket combined streams: ``/stream``, ``/public/stream``, ``/market/stream``
  with ``?streams=a/b/...`` (the recorded streams: ``<sym>@depth@0ms``,
  ``<sym>@bookTicker``, ``<sym>@trade``; any other is refused with 400, naming it);
- REST: ``GET /fapi/v1/depth?symbol=&limit=`` (the book at the current point of the
  stream, ``lastUpdateId`` = U of the symbol's next diff), ``/fapi/v1/exchangeInfo``
  (rtaid-sim's instrument specs), ``/fapi/v1/ping``, ``/fapi/v1/time``;
- control (the bench driver): ``POST /bench/mode?rate=R`` (R frames/s of the
  timeline, paced in 1 ms ticks; ``rate=max``: as fast as the clients take them;
  ``rate=0``: pause), ``POST /bench/record?on=1|0`` (log the send time of every
  frame), ``GET /bench/sent`` (the log, .npz), ``POST /bench/drop`` (abort every
  WebSocket connection), ``GET /bench/stats``.

Every connection gets the same timeline in lockstep (a frame goes to each connection
subscribed to its stream); a new connection joins at the current point. Frames are
written in large chunks, straight from pre-encoded buffers: the generator's own rate is
measured with a client that reads and discards bytes (bench/latency.py).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import fcntl
import hashlib
import io
import os
import signal
import struct
import sys
import termios
import time
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson

from bench.wire.recorded import LoopedRecordings

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK_FRAMES = 2048            # timeline frames per write at full speed
HIGH_WATER = 4 << 20           # a transport holding more than this waits for its client
TICK_S = 0.001                 # paced mode: frames due are written every tick
MAX_LOG = 4_000_000            # frames of send-time log kept (POST /bench/record)


class WsClient:
    """One WebSocket connection: its stream set and counters."""

    def __init__(self, cid: int, proto: "Conn", path: str, streams: list, enc):
        self.cid = cid
        self.proto = proto
        self.path = path
        self.streams = streams
        self.enc = enc
        self.frames = 0
        self.bytes = 0
        self.loop_bytes = 0          # written from the current loop's buffer
        self.connected_ns = time.time_ns()


class Generator:
    def __init__(self, rec: LoopedRecordings):
        self.rec = rec
        self.sets: dict = {}
        self.clients: dict[int, WsClient] = {}
        self.next_cid = 0
        self.loop_k = 0              # current loop of the timeline
        self.pos = 0                 # frames of the current loop already written
        self.rate = 0.0              # 0: paused, inf: as fast as possible
        self.written = 0             # timeline frames written since start (any client)
        self.wake = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.recording = False
        self.log: list = []          # (time_ns, client, its frame number, loop, set, f0, f1) per write
        self.logged = 0
        self.drops = []

    # ------------------------------------------------------------------ clients
    def encoded(self, codes):
        key = tuple(codes)
        if key not in self.sets:
            self.sets[key] = self.rec.encode_set(codes)
        enc = self.sets[key]
        enc.set_loop(self.loop_k)
        return enc

    def add_client(self, proto, path: str, streams: list) -> WsClient:
        codes = self.rec.codes_of(streams)
        self.next_cid += 1
        client = WsClient(self.next_cid, proto, path, streams, self.encoded(codes))
        self.clients[client.cid] = client
        self.wake.set()
        return client

    def remove_client(self, client: WsClient) -> None:
        self.clients.pop(client.cid, None)
        self.update_writable()

    def update_writable(self) -> None:
        if any(c.proto.paused for c in self.clients.values()):
            self.writable.clear()
        else:
            self.writable.set()

    # ------------------------------------------------------------------ the timeline
    def write(self, n: int) -> int:
        """Write the next n timeline frames (not past the loop's end) to every client."""
        p0 = self.pos
        p1 = min(p0 + n, self.rec.n)
        log = self.recording and self.logged < MAX_LOG
        for c in list(self.clients.values()):
            f0, f1, b0, b1 = c.enc.byte_range(p0, p1)
            if b1 > b0:
                if log:
                    self.log.append((time.time_ns(), c.cid, c.frames, self.loop_k, c.enc, f0, f1))
                    self.logged += f1 - f0
                # no copy: the loop's buffer is not rewritten while a transport may hold it
                c.proto.transport.write(memoryview(c.enc.buf)[b0:b1])
                c.frames += f1 - f0
                c.bytes += b1 - b0
                c.loop_bytes += b1 - b0
        self.written += p1 - p0
        self.pos = p1
        if p1 == self.rec.n:
            self.loop_k += 1
            self.pos = 0
            for enc in self.sets.values():
                # the buffer of loop k - 2 is free once no transport holds more than this loop's bytes
                users = [c for c in self.clients.values() if c.enc is enc]
                enc.set_loop(self.loop_k, reuse=all(c.proto.transport.get_write_buffer_size() <= c.loop_bytes
                                                    for c in users))
            for c in self.clients.values():
                c.loop_bytes = 0
        return p1 - p0

    async def pump(self) -> None:
        while True:
            if self.rate <= 0 or not self.clients:
                self.wake.clear()
                await self.wake.wait()
                continue
            if self.rate == float("inf"):
                self.write(CHUNK_FRAMES)
                if not self.writable.is_set():
                    await self.writable.wait()
                else:
                    await asyncio.sleep(0)
                continue
            rate = self.rate
            t0 = time.monotonic()
            sent = 0
            while self.rate == rate and self.clients:
                due = int((time.monotonic() - t0) * rate) - sent
                while due > 0:
                    k = self.write(due)
                    sent += k
                    due -= k
                await asyncio.sleep(TICK_S)

    def set_rate(self, rate: float) -> None:
        self.rate = rate
        self.wake.set()

    def drop(self) -> int:
        """Abort every WebSocket connection (no close frame); the time of the drop."""
        t = time.time_ns()
        for c in list(self.clients.values()):
            c.proto.transport.abort()
        self.drops.append(t)
        return t

    def sent_log(self) -> bytes:
        """The frames written while recording (and forgets them): an .npz with, per
        frame, ``client`` (its id in /bench/stats), ``frame`` (its number on that
        connection, from 0), ``stream`` (code: index in the stream names), ``id`` (u or
        trade id, as sent) and ``send_ns`` (CLOCK_REALTIME just before its write)."""
        log, self.log, self.logged = self.log, [], 0
        cols = {k: [] for k in ("client", "frame", "stream", "id", "send_ns")}
        for t, cid, first, k, enc, f0, f1 in log:
            n = f1 - f0
            cols["client"].append(np.full(n, cid, np.int64))
            cols["frame"].append(np.arange(first, first + n, dtype=np.int64))
            cols["stream"].append(enc.stream[f0:f1].astype(np.int64))
            cols["id"].append(enc.ids[f0:f1] + k * enc.id_steps[f0:f1])
            cols["send_ns"].append(np.full(n, t, np.int64))
        buf = io.BytesIO()
        np.savez(buf, **{name: np.concatenate(v) if v else np.zeros(0, np.int64) for name, v in cols.items()})
        return buf.getvalue()

    def stats(self) -> dict:
        return {"written": self.written, "loop": self.loop_k, "pos": self.pos, "frames_per_loop": self.rec.n,
                "loop_ms": self.rec.time_step,
                "stream_names": self.rec.stream_names,
                "rate": None if self.rate == float("inf") else self.rate,
                "time_ns": time.time_ns(), "mono_ns": time.monotonic_ns(),
                "clients": [{"id": c.cid, "path": c.path, "streams": c.streams, "frames": c.frames,
                             "bytes": c.bytes, "unsent": c.proto.unsent(), "peer_port": c.proto.peer_port,
                             "connected_ns": c.connected_ns} for c in self.clients.values()],
                "drops": self.drops}

    def exchange_info(self) -> dict:
        from rtaid.sim.config import spec_for
        from rtaid.sim.instruments import exchange_symbol_entry

        return {"timezone": "UTC", "serverTime": int(time.time() * 1000), "futuresType": "U_MARGINED",
                "rateLimits": [], "exchangeFilters": [],
                "symbols": [exchange_symbol_entry(spec_for(s)) for s in self.rec.symbols]}


class Conn(asyncio.Protocol):
    """HTTP/1.1 (REST, control, the WebSocket upgrade), then WebSocket frames."""

    def __init__(self, gen: Generator):
        self.gen = gen
        self.transport = None
        self.buf = b""
        self.client: WsClient | None = None
        self.paused = False
        self.peer_port = None

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer_port = peer[1] if peer else None
        transport.set_write_buffer_limits(high=HIGH_WATER)

    def connection_lost(self, exc):
        if self.client is not None:
            self.gen.remove_client(self.client)

    def pause_writing(self):
        self.paused = True
        self.gen.update_writable()

    def resume_writing(self):
        self.paused = False
        self.gen.update_writable()

    def unsent(self) -> int:
        """Bytes not yet taken by the client: our buffer + the kernel's send queue."""
        n = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                n += struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            except OSError:
                pass
        return n

    # ------------------------------------------------------------------ HTTP
    def data_received(self, data: bytes) -> None:
        if self.client is not None:
            self.ws_received(data)
            return
        self.buf += data
        while self.client is None and b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, _ = lines[0].split(" ", 2)
            except ValueError:
                self.respond(400, {"msg": "bad request line"})
                self.transport.close()
                return
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0") or 0)
            self.buf = self.buf[length:]            # control requests carry no body we use
            self.request(method, target, headers)
        if self.client is not None and self.buf:
            data, self.buf = self.buf, b""
            self.ws_received(data)

    def respond(self, status: int, body, content_type="application/json") -> None:
        if not isinstance(body, (bytes, bytearray)):
            body = orjson.dumps(body)
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(status, "")
        self.transport.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                             f"Content-Length: {len(body)}\r\nX-MBX-USED-WEIGHT-1M: 0\r\n\r\n".encode() + body)

    def request(self, method: str, target: str, headers: dict) -> None:
        url = urlsplit(target)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        gen = self.gen
        if headers.get("upgrade", "").lower() == "websocket":
            self.upgrade(path, q, headers)
            return
        if path == "/fapi/v1/depth":
            sym = q.get("symbol", "").upper()
            if sym not in gen.rec.symbols:
                self.respond(400, {"code": -1121, "msg": f"Invalid symbol {sym!r}"})
                return
            self.respond(200, gen.rec.snapshot(sym, gen.pos, gen.loop_k, int(q.get("limit", 1000))))
        elif path == "/fapi/v1/exchangeInfo":
            self.respond(200, gen.exchange_info())
        elif path == "/fapi/v1/ping":
            self.respond(200, {})
        elif path == "/fapi/v1/time":
            self.respond(200, {"serverTime": int(time.time() * 1000)})
        elif path == "/bench/stats":
            self.respond(200, gen.stats())
        elif path == "/bench/mode" and method == "POST":
            rate = q.get("rate", "0")
            gen.set_rate(float("inf") if rate == "max" else float(rate))
            self.respond(200, gen.stats())
        elif path == "/bench/record" and method == "POST":
            gen.recording = q.get("on", "1") == "1"
            if gen.recording:
                gen.log, gen.logged = [], 0
            self.respond(200, {"recording": gen.recording})
        elif path == "/bench/sent":
            self.respond(200, gen.sent_log(), "application/octet-stream")
        elif path == "/bench/drop" and method == "POST":
            self.respond(200, {"drop_ns": gen.drop()})
        else:
            self.respond(404, {"msg": f"no {method} {path}"})

    def upgrade(self, path: str, q: dict, headers: dict) -> None:
        key = headers.get("sec-websocket-key")
        if path not in ("/stream", "/public/stream", "/market/stream") or not key:
            self.respond(404, {"msg": f"no WebSocket endpoint {path} (combined streams only)"})
            return
        streams = [s for s in q.get("streams", "").split("/") if s]
        try:
            self.gen.rec.codes_of(streams)
        except ValueError as exc:
            self.respond(400, {"msg": str(exc)})
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        self.transport.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        self.client = self.gen.add_client(self, path, streams)

    # ------------------------------------------------------------------ WebSocket in
    def ws_received(self, data: bytes) -> None:
        """Client frames: answer pings, echo a close; other messages are ignored."""
        self.buf += data
        buf = self.buf
        while len(buf) >= 2:
            op = buf[0] & 0x0F
            n = buf[1] & 0x7F
            at = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, at = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, at = int.from_bytes(buf[2:10], "big"), 10
            masked = buf[1] & 0x80
            mask = buf[at:at + 4] if masked else b"\0\0\0\0"
            at += 4 if masked else 0
            if len(buf) < at + n:
                break
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[at:at + n]))
            buf = buf[at + n:]
            if op == 0x8:
                self.transport.write(bytes((0x88, len(payload[:2]))) + payload[:2])
                self.transport.close()
                break
            if op == 0x9:
                self.transport.write(bytes((0x8A, len(payload))) + payload)
        self.buf = buf


async def serve(paths, host: str, port: int, max_lines: int | None) -> None:
    rec = LoopedRecordings(paths, max_lines=max_lines)
    gen = Generator(rec)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(gen), host, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"generator listening: http://{host}:{bound} frames/loop {rec.n}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pump = asyncio.create_task(gen.pump())
    await stop.wait()
    pump.cancel()
    server.close()


def main(argv=None) -> int:
    from tests.helpers import BTC_RECORDING, ETH_RECORDING

    parser = argparse.ArgumentParser(description="stream the shared recordings, looped, over WebSockets")
    parser.add_argument("recordings", nargs="*", help="collector recordings (default: BTCUSDT and ETHUSDT)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-lines", type=int, default=None, help="loop only the first N lines of each file")
    args = parser.parse_args(argv)
    paths = args.recordings or [BTC_RECORDING, ETH_RECORDING]
    for p in paths:
        if not os.path.exists(p):
            print(f"generator: recording not found: {p}", file=sys.stderr)
            return 2
    import uvloop

    uvloop.run(serve(paths, args.host, args.port, args.max_lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
