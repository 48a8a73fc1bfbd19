"""rtaid over the wire: the floor, rtaid and a plain-Python baseline against one generator.

    python bench/latency.py [--quick] [--rate 20000] [--cpu-dma-latency US] [--json PATH]
                            [--png PATH] [--update-readme]

``--cpu-dma-latency 0`` holds /dev/cpu_dma_latency at 0 for the whole run (idle CPUs poll
instead of halting, for every receiver and the orders phase alike: what
``daemon.cpu_dma_latency_us = 0`` does); the README block says so.

One run, on this machine, all on 127.0.0.1:

1. A generator process (bench/wire/generator.py) streams the shared BTCUSDT and ETHUSDT
   recordings, looped with consistent update ids, trade ids and exchange times, over
   real WebSockets, written in large chunks from pre-encoded buffers; it serves the
   REST snapshots clients sync from. Its own rate is measured with a client that reads
   and discards bytes.
2. Three receivers of the same stream, one at a time, each subscribed as rtaid is
   (depth@0ms + bookTicker on /public, trade on /market, both symbols):
   - floor: picows with a Cython listener that discards every frame (bench/wire/floor.pyx);
   - rtaid: the real daemon, ``rtaid run`` (decode, book, signal kernels, every record
     into the rings, the Parquet writer thread on, uvloop);
   - baseline: bench/baselines/bot.py (asyncio + websockets + orjson + dict books, the
     same indicators and strategy, equal to rtaid's within 1e-9 on the recordings).
   rtaid and the baseline run with the same indicator settings (SIGNAL_SETTINGS).
3. Per receiver: throughput at saturation (timeline frames/s taken by the receiver;
   the generator waits whenever a client's socket is full), latency at a fixed rate
   (``--rate``) and at half of the receiver's own saturation rate. Between phases the
   generator pauses until the receiver has read everything sent. rtaid runs the fixed
   rate first (its writer has no backlog yet) and, after saturation, waits for its
   writer to work off the backlog before the half-saturation window.
4. rtaid only: RSS after every book synced and at the end; reconnect time from a
   generator-side drop (TCP abort) to every book synced again (the daemon's log).
5. Writer on vs off: pairs of fixed-rate windows by fresh daemons, one recording every
   table, one recording nothing (``storage.tables = []``), alternating (on, off | off,
   on | ...) so that the shared host's drift falls on both; the pooled histograms'
   p99.9 (run_writer_effect).
6. Orders: bench/exec.py's run of each execution venue (paper, ccxt, binance) against rtaid-sim
   (the generator replays recordings and takes no orders): ``rtaid run`` trades for
   ``orders_s`` with a strategy tuned to change its target every few seconds.

Latency stages
- ``send_to_recv`` (every receiver): generator's CLOCK_REALTIME just before the write
  of a frame to the receiver's callback receiving it (rtaid: the ``recv_ns`` it stores
  with every bbo, trade and depth row; floor, baseline: stamped in their callbacks).
  The generator writes every 1 ms, so a frame can wait up to 1 ms of earlier frames.
- ``frame_to_signal`` (baseline): receive to indicators and strategy done, in Python.
- rtaid's ``decode``, ``book``, ``signals``, ``frame``, ``frame_to_signal``: from its
  Prometheus histograms (``rtaid_<stage>_seconds``), quantiles interpolated inside the
  buckets as ``histogram_quantile`` does.
- Orders phase (ORDER_STAGES): ``tick_to_order`` (ccxt) and ``tick_to_order_paper``:
  the cause frame's receipt to the order handed to the transport, the daemon's own
  histograms (bucket upper edges); ``order_round_trip`` (ccxt); ``wire_to_wire``
  (ccxt): rtaid-sim's arrival stamp of an order minus its write stamp of the frame
  that caused it (exact, bench/exec.py ``wire_to_wire``); ``tick_to_order_ws`` and
  ``wire_to_wire_ws``: the same through the binance venue (orders over the WebSocket
  API). The tick-to-order figures time the orders placed in the turn of their frame;
  those a pending answer held back are under ``orders.<venue>.tick_to_deferred_order``
  (the wait included).

Writes bench/results/latency.json (or --json PATH), a PNG of the latency CDFs
(bench/results/latency_cdf.png or --png PATH; needs the ``bench`` extra, matplotlib)
and, with --update-readme, the README block ``<!-- bench:latency -->``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench._machine import machine_info  # noqa: E402
from bench.baselines.indicators import DEFAULTS, settings_from_params  # noqa: E402
from bench.wire import metrics, report  # noqa: E402
from bench.wire.clients import rtaid_urls  # noqa: E402
from bench.wire.rtaid_proc import RtaidProcess  # noqa: E402
from tests.helpers import active_params  # noqa: E402

ACTIVE = active_params()

SYMBOLS = ("BTCUSDT", "ETHUSDT")
# indicator settings of rtaid and the baseline (tests/helpers.py ACTIVE_SETTINGS: VPIN
# calibrated after 10 s, normalisers warm after 20 updates...), so every indicator,
# z-score and the strategy work early: the keys that differ from the defaults
SIGNAL_SETTINGS = {k: v for k, v in settings_from_params(ACTIVE).items() if v != DEFAULTS[k]}
# rtaid's store sized for the bench's rates: rings that hold 200 ms of every record at
# the latency rates (the defaults, 65,536 records drained every second, drop depth
# levels above ~1,000 diffs/s: 20,000 frames/s of these recordings is 1,400 diffs/s)
RTAID_SETTINGS = {"storage.ring_records": 1 << 18, "storage.flush_interval_ms": 200}
KIND_OF_SUFFIX = {"depth@0ms": "depth", "bookTicker": "bbo", "trade": "trade"}
STAGES = ("decode", "book", "signals", "frame", "frame_to_signal")
PENDING = {stage: "rtaid's Prometheus histograms (metrics.port)" for stage in STAGES}
# latency_us key -> (venue, figure of bench/exec.py's result for that venue)
ORDER_STAGES = {
    "tick_to_order": ("ccxt", "tick_to_order"),
    "tick_to_order_paper": ("paper", "tick_to_order"),
    "order_round_trip": ("ccxt", "order_round_trip"),
    "wire_to_wire": ("ccxt", "wire_to_wire"),
    "tick_to_order_ws": ("binance", "tick_to_order_ws"),
    "wire_to_wire_ws": ("binance", "wire_to_wire"),
}
ORDER_VENUES = tuple(dict.fromkeys(venue for venue, _ in ORDER_STAGES.values()))
ORDERS_SIM_RATE = 300.0     # rtaid-sim book events/s per symbol (bench/exec.py's default)
ORDERS_SEED = 7
# the writer's effect: these stages' p99.9, writer on vs off
WRITER_STAGES = ("frame", "frame_to_signal")
MAX_WINDOW_FRAMES = 1_500_000     # a latency window ends after this many frames (memory)
MODES = {
    # seconds: saturation window, latency window, warm-up before each window
    # writer_rounds: pairs of writer-on and writer-off windows (run_writer_effect)
    "full": {"sat_s": 10.0, "lat_s": 10.0, "warm_s": 1.0, "max_lines": None, "orders_s": 150.0,
             "writer_rounds": 3},
    "quick": {"sat_s": 1.0, "lat_s": 1.0, "warm_s": 0.3, "max_lines": 30_000, "orders_s": 9.0,
              "writer_rounds": 1},
}


# ---------------------------------------------------------------------------- generator
class Generator:
    """The generator subprocess and its control endpoints."""

    def __init__(self, max_lines):
        cmd = [sys.executable, "-m", "bench.wire.generator"]
        if max_lines:
            cmd += ["--max-lines", str(max_lines)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("generator listening:"):
            self.proc.kill()
            raise RuntimeError(f"the generator did not start (exit {self.proc.wait()})")
        self.url = line.split()[2]
        self.ws_url = self.url.replace("http://", "ws://")
        self.frames_per_loop = int(line.split()[-1])

    def call(self, path: str, method: str = "GET") -> bytes:
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()

    def stats(self) -> dict:
        return json.loads(self.call("/bench/stats"))

    def mode(self, rate) -> None:
        self.call(f"/bench/mode?rate={rate}", "POST")

    def record(self, on: bool) -> None:
        self.call(f"/bench/record?on={int(on)}", "POST")

    def sent(self) -> dict:
        import io

        with np.load(io.BytesIO(self.call("/bench/sent"))) as z:
            return {k: z[k] for k in z.files}

    def drop(self) -> int:
        return json.loads(self.call("/bench/drop", "POST"))["drop_ns"]

    def wait_clients(self, n: int, timeout: float = 60.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            clients = self.stats()["clients"]
            if len(clients) == n:
                return clients
            time.sleep(0.05)
        raise TimeoutError(f"generator: {n} client connections expected")

    def settle(self, timeout: float = 120.0) -> None:
        """Pause, then wait until every client has read everything sent to it: nothing
        left in the generator's buffers, nor in the client socket's receive queue."""
        self.mode(0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            clients = self.stats()["clients"]
            queued = receive_queues()
            if all(c["unsent"] == 0 and queued.get(c["peer_port"], 0) == 0 for c in clients):
                time.sleep(0.1)
                return
            time.sleep(0.05)
        raise TimeoutError(f"a client did not read its backlog within {timeout:.0f} s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def receive_queues() -> dict:
    """{local port: bytes waiting in its receive queue} of this host's TCP sockets."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as fh:
                next(fh)
                for line in fh:
                    f = line.split()
                    port = int(f[1].rsplit(":", 1)[1], 16)
                    out[port] = out.get(port, 0) + int(f[4].split(":")[1], 16)
        except OSError:
            continue
    return out


# ---------------------------------------------------------------------------- phases
def taken(gen: Generator) -> tuple[float, int]:
    """(frames the clients have read, monotonic ns): frames written minus those still in
    flight (the generator's buffer, its socket's send queue, the client socket's receive
    queue), converted at each connection's mean frame size."""
    stats = gen.stats()
    queued = receive_queues()
    frames = 0.0
    for c in stats["clients"]:
        in_flight = c["unsent"] + queued.get(c["peer_port"], 0)
        frames += c["frames"] - (in_flight * c["frames"] / c["bytes"] if c["bytes"] else 0)
    return frames, stats["mono_ns"]


def saturation(gen: Generator, cfg: dict) -> float:
    """Frames/s the connected clients read with the generator writing flat out (what a
    slow client has not read yet is still in flight, not counted)."""
    gen.mode("max")
    time.sleep(cfg["warm_s"])
    f0, t0 = taken(gen)
    time.sleep(cfg["sat_s"])
    f1, t1 = taken(gen)
    gen.settle()
    return (f1 - f0) / ((t1 - t0) / 1e9)


def paced(gen: Generator, rate: float, cfg: dict, scrape=None) -> dict:
    """A window at ``rate`` frames/s (at most MAX_WINDOW_FRAMES frames long): the
    generator's send log (+ metrics deltas)."""
    gen.mode(rate)
    time.sleep(cfg["warm_s"])
    before = scrape() if scrape else None
    gen.record(True)
    clients = gen.stats()["clients"]
    time.sleep(min(cfg["lat_s"], MAX_WINDOW_FRAMES / rate))
    gen.mode(0)
    gen.record(False)
    after = scrape() if scrape else None
    sent = gen.sent()
    gen.settle()
    return {"rate": rate, "sent": sent, "clients": clients,
            "metrics": metrics.delta(before, after) if scrape else {}}


def percentiles_us(values_ns) -> dict | None:
    v = np.asarray(values_ns, dtype=np.float64)
    if not len(v):
        return None
    q = np.percentile(v, [50, 90, 99, 99.9]) / 1e3
    return {"p50": q[0], "p90": q[1], "p99": q[2], "p999": q[3], "max": v.max() / 1e3, "count": int(len(v))}


def by_connection(window: dict, stamps: dict, urls: dict) -> tuple:
    """send_to_recv (ns) of a window's frames, matched by connection and frame number,
    and {connection: [matched, sent]}.

    ``stamps`` {name: {"frame", "recv_ns"}}: the receiver's own stamps per connection;
    ``urls`` {name: url}: the generator knows each connection by its streams."""
    sent = window["sent"]
    out, counts = [], {}
    for name, st in stamps.items():
        streams = urllib.parse.parse_qs(urllib.parse.urlsplit(urls[name]).query)["streams"][0].split("/")
        cid = next(c["id"] for c in window["clients"] if c["streams"] == streams)
        m = sent["client"] == cid
        at = sent["frame"][m] - (st["frame"][0] if len(st["frame"]) else 0)
        ok = (at >= 0) & (at < len(st["frame"]))
        out.append(st["recv_ns"][at[ok]] - sent["send_ns"][m][ok])
        counts[name] = [int(ok.sum()), int(m.sum())]
    return (np.concatenate(out) if out else np.zeros(0, np.int64)), counts


def took_in_window(window: dict, stamps: dict, urls: dict) -> np.ndarray:
    """The baseline's processing time of a window's frames."""
    sent = window["sent"]
    out = []
    for name, st in stamps.items():
        streams = urllib.parse.parse_qs(urllib.parse.urlsplit(urls[name]).query)["streams"][0].split("/")
        cid = next(c["id"] for c in window["clients"] if c["streams"] == streams)
        frames = sent["frame"][sent["client"] == cid]
        at = frames - st["frame"][0] if len(st["frame"]) else frames[:0]
        at = at[(at >= 0) & (at < len(st["frame"]))]
        out.append(st["took_ns"][at])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


# ---------------------------------------------------------------------------- receivers
def run_generator_alone(gen: Generator, cfg: dict) -> float:
    proc = subprocess.Popen([sys.executable, "-m", "bench.wire.clients", "null", "--ws", gen.ws_url,
                             "--symbols", ",".join(SYMBOLS)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "connected":
            raise RuntimeError("the null client did not connect")
        gen.wait_clients(2)
        return saturation(gen, cfg)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        gen.wait_clients(0)


def ring_size(gen_rate: float, fixed: float, cfg: dict) -> int:
    """Frames a receiver must keep stamps of: from the first frame of the fixed-rate
    window to the end of the half-saturation one (half of any receiver's saturation is
    at most half the generator's rate)."""
    fixed_window = min(fixed * cfg["lat_s"], MAX_WINDOW_FRAMES)
    return int(1.5 * (fixed_window + gen_rate * cfg["warm_s"] + MAX_WINDOW_FRAMES)) + 100_000


def run_floor(gen: Generator, cfg: dict, fixed: float, ring: int, work: pathlib.Path) -> dict:
    out = work / "floor.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench.wire.clients", "floor", "--ws", gen.ws_url,
                             "--symbols", ",".join(SYMBOLS), "--ring", str(ring), "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "connected":
            raise RuntimeError("the floor client did not connect")
        gen.wait_clients(2)
        sat = saturation(gen, cfg)
        windows = [paced(gen, fixed, cfg), paced(gen, sat / 2, cfg)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    gen.wait_clients(0)
    urls = dict(rtaid_urls(gen.ws_url, SYMBOLS))
    stamps = {name: dict(np.load(f"{out}.{name}.npz")) for name in urls}
    lat = []
    for w in windows:
        s2r, matched = by_connection(w, stamps, urls)
        lat.append({"rate": w["rate"], "send_to_recv": percentiles_us(s2r), "_cdf": {"send_to_recv": s2r},
                    "matched_frames": matched})
    return {"saturation": sat, "latency": lat}


def run_baseline(gen: Generator, cfg: dict, fixed: float, ring: int, work: pathlib.Path) -> dict:
    from bench.baselines.bot import stream_urls

    out = work / "baseline.json"
    cmd = [sys.executable, "-m", "bench.baselines.bot", "--rest", gen.url, "--ws", gen.ws_url,
           "--symbols", ",".join(SYMBOLS), "--stamps", str(ring), "--out", str(out)]
    for k, v in SIGNAL_SETTINGS.items():
        cmd += ["--set", f"{k}={json.dumps(v)}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        gen.wait_clients(2)
        gen.mode(2000)              # the books sync from snapshots while data flows
        synced = set()
        while synced != set(SYMBOLS):
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the baseline bot exited ({proc.wait()}) before its books synced")
            if line.startswith("synced "):
                synced.add(line.split()[1])
        gen.settle()
        sat = saturation(gen, cfg)
        windows = [paced(gen, fixed, cfg), paced(gen, sat / 2, cfg)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    gen.wait_clients(0)
    result = json.loads(out.read_text())
    urls = {name: url for name, url, _ in stream_urls(gen.ws_url, SYMBOLS)}
    stamps = {name: dict(np.load(f"{out}.{name}.npz")) for name in urls}
    lat = []
    for w in windows:
        s2r, matched = by_connection(w, stamps, urls)
        took = took_in_window(w, stamps, urls)
        lat.append({"rate": w["rate"], "send_to_recv": percentiles_us(s2r),
                    "frame_to_signal": percentiles_us(took), "matched_frames": matched,
                    "_cdf": {"send_to_recv": s2r, "frame_to_signal": took}})
    return {"saturation": sat, "latency": lat, "rows": result["rows"], "signals": result["signals"],
            "snapshots": result["snapshots"]}


def rtaid_send_to_recv(window: dict, received: dict, stream_names: list) -> tuple:
    """send_to_recv (ns) of the window's frames that the daemon recorded, matched by
    (symbol, kind, id); and {kind: [matched, sent]}."""
    sent = window["sent"]
    out, counts = [], {}
    for code, name in enumerate(stream_names):
        sym, _, suffix = name.partition("@")
        kind = KIND_OF_SUFFIX[suffix]
        m = sent["stream"] == code
        if not m.any():
            continue
        ids, recv = received.get((sym.upper(), kind), (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        want = sent["id"][m]
        ok = np.zeros(len(want), bool)
        at = np.zeros(len(want), np.int64)
        if len(ids):
            at = np.clip(np.searchsorted(ids, want), 0, len(ids) - 1)
            ok = ids[at] == want
        out.append(recv[at[ok]] - sent["send_ns"][m][ok])
        c = counts.setdefault(kind, [0, 0])
        c[0] += int(ok.sum())
        c[1] += int(len(want))
    return (np.concatenate(out) if out else np.zeros(0, np.int64)), counts


def start_rtaid(gen: Generator, workdir: pathlib.Path, overrides: dict) -> RtaidProcess:
    """``rtaid run`` on the generator's stream: both connections up, every book synced
    (fed at 2,000 frames/s), everything sent so far read."""
    workdir.mkdir()
    daemon = RtaidProcess(workdir, gen.url, SYMBOLS, overrides)
    try:
        gen.wait_clients(2, timeout=120)
        gen.mode(2000)
        daemon.wait_ready(timeout=120)
        gen.settle()
    except BaseException:
        daemon.stop()
        raise
    return daemon


def run_rtaid(gen: Generator, cfg: dict, fixed: float, work: pathlib.Path) -> dict:
    daemon = start_rtaid(gen, work / "rtaid", {**SIGNAL_SETTINGS, **RTAID_SETTINGS})
    try:
        rss_start = daemon.rss_mb()
        has_metrics = metrics.scrape(daemon.metrics_url) is not None

        def scrape():
            return metrics.scrape(daemon.metrics_url)

        # the fixed rate first, while the writer has no backlog; after the saturation
        # phase (where full rings drop records) the writer catches up before the next
        windows = [paced(gen, fixed, cfg, scrape if has_metrics else None)]
        sat = saturation(gen, cfg)
        writer_catch_up_s = daemon.wait_writer_idle(quiet_s=min(1.0, cfg["sat_s"] / 2))
        windows.append(paced(gen, sat / 2, cfg, scrape if has_metrics else None))
        # reconnect: a drop on the generator's side while data flows at the fixed rate
        gen.mode(fixed)
        time.sleep(cfg["warm_s"])
        t_drop = gen.drop()
        t_synced = daemon.resynced_after(t_drop)
        gen.wait_clients(2)
        time.sleep(cfg["warm_s"])
        gen.settle()
        rss_end = daemon.rss_mb()
    finally:
        stop = daemon.stop()
    gen.wait_clients(0)
    names = gen.stats()["stream_names"]
    lat = []
    for w in windows:
        wanted = {}
        for code, name in enumerate(names):
            m = w["sent"]["stream"] == code
            if m.any():
                sym, _, suffix = name.partition("@")
                wanted[(sym.upper(), KIND_OF_SUFFIX[suffix])] = (int(w["sent"]["id"][m].min()), int(w["sent"]["id"][m].max()))
        s2r, matched = rtaid_send_to_recv(w, daemon.received(wanted), names)
        entry = {"rate": w["rate"], "send_to_recv": percentiles_us(s2r), "_cdf": {"send_to_recv": s2r},
                 "matched_frames": matched}
        for stage, h in w["metrics"].items():
            entry[stage] = metrics.quantiles_us(h)
            entry["_cdf"][stage] = h
        lat.append(entry)
    stopped = stop["stopped"]
    return {"saturation": sat, "latency": lat, "rss_mb": {"start": rss_start, "end": rss_end},
            "reconnect_ms": (t_synced - t_drop) / 1e6, "metrics_served": has_metrics,
            "writer_catch_up_s": writer_catch_up_s,
            "exit_code": stop["exit_code"], "target_changes": stop["target_changes"],
            "store": stopped.get("store", {}), "feed_counters": stopped.get("counters", {}),
            "log_warnings": stop["warnings"]}


def run_writer_effect(gen: Generator, cfg: dict, fixed: float, work: pathlib.Path) -> dict:
    """Writer on vs off: ``writer_rounds`` pairs of fixed-rate windows, each by a fresh
    daemon started and warmed up as run_rtaid's, one recording every table and one
    recording nothing (``storage.tables = []``: no rings, no writer thread's work),
    in the order on, off | off, on | on, off ... so that a drift of the shared host falls
    on both sides alike; each side's histograms are pooled over its windows. The
    p99.9 of WRITER_STAGES on vs off, and each window's own."""
    pooled = {"on": None, "off": None}
    windows, exit_codes = [], []
    for i in range(cfg["writer_rounds"]):
        for label in (("on", "off") if i % 2 == 0 else ("off", "on")):
            extra = {"storage.tables": []} if label == "off" else {}
            daemon = start_rtaid(gen, work / f"writer-{label}-{i}",
                                 {**SIGNAL_SETTINGS, **RTAID_SETTINGS, **extra})
            try:
                window = paced(gen, fixed, cfg, lambda: metrics.scrape(daemon.metrics_url))
            finally:
                stop = daemon.stop()
            gen.wait_clients(0)
            exit_codes.append(stop["exit_code"])
            pooled[label] = metrics.add(pooled[label], window["metrics"])
            windows.append({"writer": label, "round": i, "p999_us": {
                stage: (metrics.quantiles_us(window["metrics"][stage]) or {}).get("p999")
                for stage in WRITER_STAGES if stage in window["metrics"]}})
    out = {"rate_msgs_per_s": fixed, "rounds": cfg["writer_rounds"],
           "window_s": min(cfg["lat_s"], MAX_WINDOW_FRAMES / fixed), "stages": {},
           "windows": windows, "exit_codes": exit_codes}
    for stage in WRITER_STAGES:
        on = metrics.quantiles_us(pooled["on"][stage]) if pooled["on"] and stage in pooled["on"] else None
        off = metrics.quantiles_us(pooled["off"][stage]) if pooled["off"] and stage in pooled["off"] else None
        if on and off:
            out["stages"][stage] = {"on_p999": on["p999"], "off_p999": off["p999"],
                                    "change_pct": 100.0 * (on["p999"] / off["p999"] - 1.0),
                                    "on_count": on["count"], "off_count": off["count"]}
    return out


def run_orders(cfg: dict) -> dict:
    """bench/exec.py's run of each ORDER_VENUES venue against rtaid-sim: {venue: result}."""
    from bench.exec import run_venue

    return {venue: run_venue(venue, cfg["orders_s"], ORDERS_SIM_RATE, ORDERS_SEED)
            for venue in ORDER_VENUES}


# ---------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows: the whole run in under a minute")
    parser.add_argument("--rate", type=float, default=20_000.0, help="the fixed rate, frames/s (default 20000)")
    parser.add_argument("--json", metavar="PATH", help="results (default bench/results/latency.json)")
    parser.add_argument("--png", metavar="PATH", help="CDF plot (default bench/results/latency_cdf.png)")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, rtaid's dataset)")
    parser.add_argument("--cpu-dma-latency", type=int, default=None, metavar="US",
                        help="hold /dev/cpu_dma_latency at US for the whole run (0: idle CPUs "
                             "poll; every receiver alike; what daemon.cpu_dma_latency_us does)")
    args = parser.parse_args(argv)
    latency_fd = None
    if args.cpu_dma_latency is not None:
        from rtaid.infra.cpu_latency import CpuLatencyError, hold_cpu_latency

        try:
            latency_fd = hold_cpu_latency(args.cpu_dma_latency)   # dropped at exit
        except CpuLatencyError as exc:
            parser.error(f"--cpu-dma-latency {args.cpu_dma_latency}: {exc}")
    mode = "quick" if args.quick else "full"
    cfg = MODES[mode]
    json_path = pathlib.Path(args.json) if args.json else ROOT / "bench" / "results" / "latency.json"
    png_path = pathlib.Path(args.png) if args.png else ROOT / "bench" / "results" / "latency_cdf.png"

    from bench.wire.build import load

    load("floor"), load("patch")     # compiled (once) before anything is timed
    work = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-wirebench-"))
    t_start = time.monotonic()
    load_before = os.getloadavg()[0]
    gen = Generator(cfg["max_lines"])
    try:
        try:
            gen_rate = run_generator_alone(gen, cfg)
            print(f"generator: {gen_rate:,.0f} frames/s", flush=True)
            ring = ring_size(gen_rate, args.rate, cfg)
            floor = run_floor(gen, cfg, args.rate, ring, work)
            print(f"floor: {floor['saturation']:,.0f} frames/s", flush=True)
            rtaid = run_rtaid(gen, cfg, args.rate, work)
            print(f"rtaid: {rtaid['saturation']:,.0f} frames/s", flush=True)
            writer = run_writer_effect(gen, cfg, args.rate, work)
            print("writer on vs off, p99.9: " + ", ".join(
                f"{k} {v['change_pct']:+.1f}%" for k, v in writer["stages"].items()), flush=True)
            baseline = run_baseline(gen, cfg, args.rate, ring, work)
            print(f"baseline: {baseline['saturation']:,.0f} frames/s", flush=True)
        finally:
            gen.close()
        orders = run_orders(cfg)
        print("orders: " + ", ".join(f"{v} {r['orders'].get('sent', 0)} sent"
                                     for v, r in orders.items()), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    results = report.results(machine_info(), mode, cfg, args.rate, gen.frames_per_loop, SIGNAL_SETTINGS,
                             gen_rate, floor, rtaid, baseline, STAGES, PENDING,
                             time.monotonic() - t_start, MAX_WINDOW_FRAMES, RTAID_SETTINGS,
                             orders=orders, order_stages=ORDER_STAGES, writer=writer,
                             load_average_1m=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                             orders_params={"seconds": cfg["orders_s"], "sim_rate": ORDERS_SIM_RATE,
                                            "seed": ORDERS_SEED})
    results["parameters"]["cpu_dma_latency_us"] = args.cpu_dma_latency
    if latency_fd is not None:
        os.close(latency_fd)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    plotted = report.plot_cdfs(png_path, floor, rtaid, baseline, args.rate, results["machine"])
    from bench._readme import publish

    ok = publish("latency", report.markdown(results, png_path if plotted else None),
                 args.update_readme)
    print(f"results: {json_path}" + (f", plot: {png_path}" if plotted else
                                     " (no plot: pip install -e '.[bench]' for matplotlib)"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
