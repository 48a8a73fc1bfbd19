"""Prometheus exposition of a running daemon (``metrics.host:metrics.port``; port 0: off).

Nothing is observed per message in Python: the latency histograms live in C (the
engine's stage histograms, the execution service's tick-to-order and order round
trip), and every counter and gauge is the daemon's own state. The collector reads them
when Prometheus scrapes (on the HTTP server's thread, with the GIL held, so between two
frames). Names follow Prometheus' conventions: ``rtaid_`` prefix, base units (seconds),
``_total`` counters, no per-order labels.

A scrape holds the GIL, so whatever it costs is time the event loop cannot take a
frame. It therefore writes the text format (0.0.4) directly. With Prometheus' request
headers (OpenMetrics, gzip), prometheus_client's families and encoders took 3.5-4 ms of
CPU per scrape, and the frames that arrived during a scrape waited 3.6 ms (median)
instead of 0.5 ms; written directly, a whole request takes about 1.3 ms of CPU (half of
it the HTTP server) and those frames 1.3-1.6 ms (bench/scrape.py on the shared 2-core box;
``rtaid_metrics_scrape_cpu_seconds`` reports each request's CPU time). The HTTP server
is the standard library's WSGI server with a thread per request, as prometheus_client's.

The execution service's state (orders, positions, PnL) is read on the event loop, where
it changes: iterating its dicts from the HTTP thread could fail halfway (a dict changed
size during iteration) when the GIL switched in the middle of it.

The metric names are the contract of monitoring/ (the Grafana dashboard and the alert
rules): tests/monitoring scrapes a live daemon and checks every name those use.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import math
import socket
import threading
import time
from functools import lru_cache
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from rtaid import __version__
from rtaid.infra.log import get_logger
from rtaid.status import latency_histograms

log = get_logger("rtaid.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOOP_READ_TIMEOUT_S = 2.0     # a scrape waits this long for the event loop's answer
# Histogram buckets, seconds: 1-2.5-5 per decade from 100 ns to 10 s. The C histograms
# are finer (6.25%); a bucket's count is exact where its bound is an edge of theirs and
# at most one C bucket low elsewhere (see hist.pyx cumulative).
BUCKETS_S = tuple(m * 10.0 ** e for e in range(-7, 1) for m in (1.0, 2.5, 5.0)) + (10.0,)
BUCKETS_NS = [b * 1e9 for b in BUCKETS_S]
# stage histogram -> metric name (rtaid_<name>_seconds)
HISTOGRAMS = {
    "decode": "decode", "book": "book", "signals": "signals", "frame": "frame",
    "frame_to_signal": "frame_to_signal", "lag": "exchange_lag",
    "tick_to_order": "tick_to_order", "tick_to_deferred_order": "tick_to_deferred_order",
    "order_round_trip": "order_round_trip",
    "tick_to_order_ws": "tick_to_order_ws", "ws_write": "ws_write",
    "model_inference": "model_inference",
}
HELP = {
    "decode": "Decoding one frame (every decoded frame)",
    "book": ("Applying a depth event or snapshot to the book (the live path: up to the levels "
             "the signals read; the rest comes after the frame's order, in frame)"),
    "signals": "The signal kernels and their records for one event",
    "frame": "Receipt of a frame to the engine done (every frame)",
    "frame_to_signal": "Receipt of a frame to its signals computed",
    "exchange_lag": "Exchange event time E to local receipt (clock skew included)",
    "tick_to_order": "Receipt of the frame that changed a target to its order handed to the transport",
    "tick_to_deferred_order": ("Tick to order of the orders a decision held back past their frame's turn "
                               "(the previous order's answer pending, a cancel first): the wait included"),
    "order_round_trip": "An order request sent to the venue's acknowledgement",
    "tick_to_order_ws": "tick_to_order of the orders sent over Binance's WebSocket API",
    "ws_write": "Writing a WebSocket API request to the socket (binance venue)",
    "model_inference": "The hybrid strategy's features and model for one closed bar (on the event loop)",
}


def number(value) -> str:
    """A sample value as the text format writes it (Go's float syntax)."""
    if type(value) is int:
        return str(value)
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    if value != value:
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def label_value(value) -> str:
    value = str(value)
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def labels(**pairs) -> str:
    return _labels(tuple(pairs.items()))


@lru_cache(maxsize=4096)
def _labels(pairs: tuple) -> str:
    # label sets repeat scrape after scrape (symbols, tables, connections): written once
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in pairs) + "}"


@lru_cache(maxsize=None)
def header(name: str, kind: str, help_text: str) -> str:
    help_text = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


@lru_cache(maxsize=None)
def bucket_prefixes(name: str) -> tuple[str, ...]:
    return tuple(f'{name}_bucket{{le="{b!r}"}} ' for b in BUCKETS_S) + (f'{name}_bucket{{le="+Inf"}} ',)


class Text:
    """The exposition being written: families in order, each header once."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.parts.append(header(name, kind, help_text))

    def sample(self, name: str, value, label_text: str = "") -> None:
        self.parts.append(f"{name}{label_text} {number(value)}\n")

    def one(self, name: str, kind: str, help_text: str, value) -> None:
        """A family of a single unlabelled sample."""
        self.family(name, kind, help_text)
        self.sample(name, value)

    def histogram(self, name: str, hist, help_text: str) -> None:
        full = f"rtaid_{name}_seconds"
        self.family(full, "histogram", help_text)
        count = hist.count
        counts = [n for _, n in hist.cumulative(BUCKETS_NS)] + [count]
        self.parts += [f"{p}{n}\n" for p, n in zip(bucket_prefixes(full), counts)]
        self.parts.append(f"{full}_count {count}\n{full}_sum {number(hist.sum_ns / 1e9)}\n")

    def render(self) -> bytes:
        return "".join(self.parts).encode()


class DaemonCollector:
    """Reads a Daemon at scrape time and writes its exposition."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon
        self.scrapes = 0
        self.last_scrape_s = 0.0          # wall time of the previous scrape's collect
        self.last_request_cpu_s = 0.0     # CPU time of the previous scrape's whole request
        self.loop: asyncio.AbstractEventLoop | None = None   # the daemon's (MetricsServer.start)
        self.loop_timeouts = 0

    def on_loop(self, fn):
        """``fn()`` run on the daemon's event loop, for this (HTTP) thread; None when the
        loop does not run it within LOOP_READ_TIMEOUT_S (counted, logged)."""
        loop = self.loop
        if loop is None:                   # no loop (a test's collector): this thread
            return fn()
        future: concurrent.futures.Future = concurrent.futures.Future()

        def call() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:   # noqa: BLE001 - handed to the scrape
                    future.set_exception(exc)
        try:
            loop.call_soon_threadsafe(call)
        except RuntimeError:               # the loop is closed: the daemon is stopping
            return None
        try:
            return future.result(LOOP_READ_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self.loop_timeouts += 1
            log.warning("metrics_loop_timeout", waited_s=LOOP_READ_TIMEOUT_S,
                        consequence="this scrape has no execution metrics")
            return None

    def exposition(self) -> bytes:
        t0 = time.perf_counter()
        self.scrapes += 1
        try:
            out = Text()
            self._collect(out)
            return out.render()
        finally:
            self.last_scrape_s = time.perf_counter() - t0

    def _collect(self, out: Text) -> None:
        d = self.daemon
        engine, feed, store = d.engine, d.feed, d.store
        out.family("rtaid_build_info", "gauge", "rtaid's version (value 1)")
        out.sample("rtaid_build_info", 1, labels(version=__version__))
        out.one("rtaid_uptime_seconds", "gauge", "Seconds since the daemon started",
                time.monotonic() - d.started_mono)
        out.one("rtaid_metrics_scrape_cpu_seconds", "gauge",
                "CPU seconds the previous scrape's HTTP request took in the daemon (with "
                "the GIL held, mostly: time the event loop could not run)",
                self.last_request_cpu_s)
        for stage, hist in latency_histograms(d).items():
            name = HISTOGRAMS.get(stage)
            if name is not None:
                out.histogram(name, hist, HELP[name])

        out.family("rtaid_frames_total", "counter", "Decoded frames taken by the engine")
        for sym, kinds in engine.frame_counts().items():
            for kind, n in kinds.items():
                out.sample("rtaid_frames_total", n, labels(symbol=sym, kind=kind))
        out.family("rtaid_decode_errors_total", "counter",
                   "Frames the decoder rejected or skipped, by result")
        for result, n in engine.decoder.counts().items():
            if result != "ok":
                out.sample("rtaid_decode_errors_total", n, labels(result=result))

        per_symbol = {"synced": [], "age": [], "gaps": [], "crossed": [], "resyncs": [],
                      "target": [], "osc": []}
        now_ms = time.time() * 1000.0
        for i, sym in enumerate(engine.symbols):
            lab = labels(symbol=sym)
            per_symbol["synced"].append((1 if feed.states.get(sym) == "synced" else 0, lab))
            last = engine.last_event_ms(i)
            if last:
                per_symbol["age"].append((max(now_ms - last, 0.0) / 1000.0, lab))
            stats = engine.book_stats(i)
            per_symbol["gaps"].append((stats["gap"], lab))
            per_symbol["crossed"].append((stats["crossed"], lab))
            per_symbol["resyncs"].append((stats["resyncs_needed"], lab))
            per_symbol["target"].append((d.targets.get(sym, 0), lab))
            for key, value in (engine.signal_state(i) or {}).items():
                if key.endswith("_osc") and value == value:
                    per_symbol["osc"].append((value, labels(symbol=sym, indicator=key[:-4])))
        for key, name, kind, help_text in (
                ("synced", "rtaid_book_synced", "gauge", "1 when the symbol's book is synced"),
                ("age", "rtaid_last_event_age_seconds", "gauge",
                 "Seconds since the exchange time of the symbol's last event"),
                ("gaps", "rtaid_book_gaps_total", "counter", "Depth chain breaks (pu gaps)"),
                ("crossed", "rtaid_book_crossed_total", "counter", "Books found crossed"),
                ("resyncs", "rtaid_book_resyncs_total", "counter",
                 "Times a book had to sync again (gap, crossed, reconnect)"),
                ("target", "rtaid_target", "gauge", "The strategy's target (-1, 0, +1)"),
                ("osc", "rtaid_oscillator", "gauge", "Each indicator's oscillator, 0..100")):
            out.family(name, kind, help_text)
            for value, lab in per_symbol[key]:
                out.sample(name, value, lab)

        conns = [(labels(connection=c.name), c) for c in feed.connections]
        out.family("rtaid_connection_up", "gauge", "1 while the connection is open")
        for lab, c in conns:
            out.sample("rtaid_connection_up", 1 if c.connected else 0, lab)
        out.family("rtaid_reconnects_total", "counter", "Connections opened again after the first")
        for lab, c in conns:
            out.sample("rtaid_reconnects_total", max(c.connects - 1 - c.handovers, 0), lab)
        out.family("rtaid_handovers_total", "counter",
                   "Make-before-break handovers before the 24 h limit")
        for lab, c in conns:
            out.sample("rtaid_handovers_total", c.handovers, lab)
        out.one("rtaid_bad_frames_total", "counter", "Frames the decoder rejected",
                feed.bad_frames)

        stats = store.stats()
        out.family("rtaid_rows_written_total", "counter", "Rows written to Parquet")
        for table, n in stats["rows_written"].items():
            out.sample("rtaid_rows_written_total", n, labels(table=table))
        out.family("rtaid_rows_dropped_total", "counter",
                   "Rows lost: a full ring (ring) or a failed write (io)")
        for table in stats["rows_written"]:
            out.sample("rtaid_rows_dropped_total", stats["rows_dropped_ring"].get(table, 0),
                       labels(table=table, cause="ring"))
            out.sample("rtaid_rows_dropped_total", stats["rows_dropped_io"].get(table, 0),
                       labels(table=table, cause="io"))
        out.one("rtaid_write_errors_total", "counter", "Parquet write failures",
                stats["write_errors"])
        out.one("rtaid_bytes_written_total", "counter", "Bytes of Parquet files written",
                stats.get("bytes_written", 0))
        out.one("rtaid_exec_events_lost_total", "counter",
                "Execution events the engine's ring could not hold", engine.exec_lost)

        out.one("rtaid_metrics_loop_timeouts_total", "counter",
                "Scrapes the event loop did not answer in time (no execution metrics)",
                self.loop_timeouts)
        execution = getattr(d, "execution", None)
        status = self.on_loop(execution.status) if execution is not None else {"state": "active"}
        if status is None:
            return
        out.family("rtaid_trading_state", "gauge", "1 for the current trading state")
        for name in ("active", "reducing", "halted"):
            out.sample("rtaid_trading_state", 1 if status.get("state") == name else 0,
                       labels(state=name))
        if execution is None:
            return
        orders = status.get("orders", {})
        out.one("rtaid_orders_sent_total", "counter", "Orders sent to the venue",
                orders.get("sent", 0))
        out.one("rtaid_orders_filled_total", "counter", "Orders filled completely",
                orders.get("filled", 0))
        out.family("rtaid_orders_rejected_total", "counter",
                   "Orders refused (risk checks or the venue), by reason")
        for reason, n in (orders.get("rejected") or {}).items():
            out.sample("rtaid_orders_rejected_total", n, labels(reason=reason))
        symbols = status.get("symbols") or {}
        out.family("rtaid_position", "gauge", "Position, base units (signed)")
        for sym, s in symbols.items():
            if s.get("position") is not None:
                out.sample("rtaid_position", s["position"], labels(symbol=sym))
        out.family("rtaid_pnl_usd", "gauge", "PnL in USD(T): realized, unrealized, fees")
        for sym, s in symbols.items():
            for kind, value in (s.get("pnl") or {}).items():
                if isinstance(value, (int, float)):
                    out.sample("rtaid_pnl_usd", value, labels(symbol=sym, kind=kind))
        daily = status.get("daily_pnl_usd")
        if isinstance(daily, (int, float)):
            out.one("rtaid_daily_pnl_usd", "gauge", "Today's PnL (UTC day), USD(T)", daily)
        limit = status.get("max_daily_loss_usd")
        if isinstance(limit, (int, float)):
            out.one("rtaid_max_daily_loss_usd", "gauge", "risk.max_daily_loss_usd", limit)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:   # no access log on stderr
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    collector: DaemonCollector

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            # the request's own thread: its CPU clock counts this request alone
            self.collector.last_request_cpu_s = time.thread_time()


class MetricsServer:
    """``GET /metrics`` on a daemon thread (a thread per request) over the collector."""

    def __init__(self, daemon, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.collector = DaemonCollector(daemon)
        self._server = None
        self._thread = None

    def app(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
            return [b""]
        if path != "/metrics":
            body = b"rtaid: the metrics are at /metrics\n"
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        body = self.collector.exposition()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE),
                                  ("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]

    def start(self) -> None:
        family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
        server_class = type("MetricsHTTPServer", (_ThreadingServer,),
                            {"address_family": family, "collector": self.collector})
        self._server = make_server(self.host, self.port, self.app, server_class,
                                   handler_class=_QuietHandler)
        self.port = self._server.server_port
        try:
            self.collector.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.collector.loop = None
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="metrics-http", daemon=True)
        self._thread.start()
        log.info("metrics_server", url=f"http://{self.host}:{self.port}/metrics")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
