"""Prometheus exposition of a running daemon (``metrics.host:metrics.port``; port 0: off).

Nothing is observed per message in Python: the latency histograms live in C (the
engine's stage histograms, the execution service's tick-to-order and order round
trip), and every counter and gauge is the daemon's own state. A custom collector reads
them when Prometheus scrapes (on prometheus_client's HTTP thread, with the GIL held,
so between two frames). Names follow Prometheus' conventions: ``rtaid_`` prefix, base
units (seconds), ``_total`` counters, no per-order labels.

The metric names are the contract of monitoring/ (the Grafana dashboard and the alert
rules): tests/test_metrics.py scrapes a live daemon and checks every name those use.
"""
from __future__ import annotations

import time

from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
)
from prometheus_client.registry import CollectorRegistry

from rtaid import __version__
from rtaid.infra.log import get_logger
from rtaid.status import latency_histograms

log = get_logger("rtaid.metrics")

# Histogram buckets, seconds: 1-2.5-5 per decade from 100 ns to 10 s. The C histograms
# are finer (6.25%); a bucket's count is exact where its bound is an edge of theirs and
# at most one C bucket low elsewhere (see hist.pyx cumulative).
BUCKETS_S = tuple(m * 10.0 ** e for e in range(-7, 1) for m in (1.0, 2.5, 5.0)) + (10.0,)
# stage histogram -> metric name (rtaid_<name>_seconds)
HISTOGRAMS = {
    "decode": "decode", "book": "book", "signals": "signals", "frame": "frame",
    "frame_to_signal": "frame_to_signal", "lag": "exchange_lag",
    "tick_to_order": "tick_to_order", "order_round_trip": "order_round_trip",
}
HELP = {
    "decode": "Decoding one frame (every decoded frame)",
    "book": "Applying a depth event or snapshot to the book",
    "signals": "The signal kernels and their records for one event",
    "frame": "Receipt of a frame to the engine done (every frame)",
    "frame_to_signal": "Receipt of a frame to its signals computed",
    "exchange_lag": "Exchange event time E to local receipt (clock skew included)",
    "tick_to_order": "Receipt of the frame that changed a target to its order handed to the transport",
    "order_round_trip": "An order request sent to the venue's acknowledgement",
}


def histogram_family(name: str, hist, help_text: str) -> HistogramMetricFamily:
    bounds_ns = [b * 1e9 for b in BUCKETS_S]
    cumulative = hist.cumulative(bounds_ns)
    buckets = [(repr(b), count) for b, (_, count) in zip(BUCKETS_S, cumulative)]
    buckets.append(("+Inf", hist.count))
    family = HistogramMetricFamily(f"rtaid_{name}_seconds", help_text)
    family.add_metric([], buckets, hist.sum_ns / 1e9)
    return family


class DaemonCollector:
    """Reads a Daemon at scrape time."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon
        self.scrapes = 0
        self.last_scrape_s = 0.0

    def collect(self):
        t0 = time.perf_counter()
        self.scrapes += 1
        try:
            yield from self._collect()
        finally:
            self.last_scrape_s = time.perf_counter() - t0

    def _collect(self):
        d = self.daemon
        engine, feed, store = d.engine, d.feed, d.store
        info = GaugeMetricFamily("rtaid_build_info", "rtaid's version (value 1)",
                                 labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily("rtaid_uptime_seconds", "Seconds since the daemon started",
                                value=time.monotonic() - d.started_mono)
        for stage, hist in latency_histograms(d).items():
            name = HISTOGRAMS.get(stage)
            if name is not None:
                yield histogram_family(name, hist, HELP[name])

        frames = CounterMetricFamily("rtaid_frames_total", "Decoded frames taken by the engine",
                                     labels=["symbol", "kind"])
        for sym, kinds in engine.frame_counts().items():
            for kind, n in kinds.items():
                frames.add_metric([sym, kind], n)
        yield frames
        errors = CounterMetricFamily("rtaid_decode_errors_total",
                                     "Frames the decoder rejected or skipped, by result",
                                     labels=["result"])
        for result, n in engine.decoder.counts().items():
            if result != "ok":
                errors.add_metric([result], n)
        yield errors

        synced = GaugeMetricFamily("rtaid_book_synced", "1 when the symbol's book is synced",
                                   labels=["symbol"])
        age = GaugeMetricFamily("rtaid_last_event_age_seconds",
                                "Seconds since the exchange time of the symbol's last event",
                                labels=["symbol"])
        gaps = CounterMetricFamily("rtaid_book_gaps_total", "Depth chain breaks (pu gaps)",
                                   labels=["symbol"])
        crossed = CounterMetricFamily("rtaid_book_crossed_total", "Books found crossed",
                                      labels=["symbol"])
        resyncs = CounterMetricFamily("rtaid_book_resyncs_total",
                                      "Times a book had to sync again (gap, crossed, reconnect)",
                                      labels=["symbol"])
        target = GaugeMetricFamily("rtaid_target", "The strategy's target (-1, 0, +1)",
                                   labels=["symbol"])
        osc = GaugeMetricFamily("rtaid_oscillator", "Each indicator's oscillator, 0..100",
                                labels=["symbol", "indicator"])
        now_ms = time.time() * 1000.0
        for i, sym in enumerate(engine.symbols):
            synced.add_metric([sym], 1.0 if feed.states.get(sym) == "synced" else 0.0)
            last = engine.last_event_ms(i)
            if last:
                age.add_metric([sym], max(now_ms - last, 0.0) / 1000.0)
            stats = engine.book_stats(i)
            gaps.add_metric([sym], stats["gap"])
            crossed.add_metric([sym], stats["crossed"])
            resyncs.add_metric([sym], stats["resyncs_needed"])
            target.add_metric([sym], d.targets.get(sym, 0))
            state = engine.signal_state(i)
            for key, value in (state or {}).items():
                if key.endswith("_osc") and value == value:
                    osc.add_metric([sym, key[:-4]], value)
        yield from (synced, age, gaps, crossed, resyncs, target, osc)

        conns = GaugeMetricFamily("rtaid_connection_up", "1 while the connection is open",
                                  labels=["connection"])
        reconnects = CounterMetricFamily("rtaid_reconnects_total",
                                         "Connections opened again after the first",
                                         labels=["connection"])
        handovers = CounterMetricFamily("rtaid_handovers_total",
                                        "Make-before-break handovers before the 24 h limit",
                                        labels=["connection"])
        for c in feed.connections:
            conns.add_metric([c.name], 1.0 if c.connected else 0.0)
            reconnects.add_metric([c.name], max(c.connects - 1 - c.handovers, 0))
            handovers.add_metric([c.name], c.handovers)
        yield from (conns, reconnects, handovers)
        yield CounterMetricFamily("rtaid_bad_frames_total", "Frames the decoder rejected",
                                  value=feed.bad_frames)

        stats = store.stats()
        written = CounterMetricFamily("rtaid_rows_written_total", "Rows written to Parquet",
                                      labels=["table"])
        dropped = CounterMetricFamily("rtaid_rows_dropped_total",
                                      "Rows lost: a full ring (ring) or a failed write (io)",
                                      labels=["table", "cause"])
        for table, n in stats["rows_written"].items():
            written.add_metric([table], n)
            dropped.add_metric([table, "ring"], stats["rows_dropped_ring"].get(table, 0))
            dropped.add_metric([table, "io"], stats["rows_dropped_io"].get(table, 0))
        yield from (written, dropped)
        yield CounterMetricFamily("rtaid_write_errors_total", "Parquet write failures",
                                  value=stats["write_errors"])
        yield CounterMetricFamily("rtaid_bytes_written_total", "Bytes of Parquet files written",
                                  value=stats.get("bytes_written", 0))
        yield CounterMetricFamily("rtaid_exec_events_lost_total",
                                  "Execution events the engine's ring could not hold",
                                  value=engine.exec_lost)

        execution = getattr(d, "execution", None)
        states = GaugeMetricFamily("rtaid_trading_state", "1 for the current trading state",
                                   labels=["state"])
        status = execution.status() if execution is not None else {"state": "active"}
        for name in ("active", "reducing", "halted"):
            states.add_metric([name], 1.0 if status.get("state") == name else 0.0)
        yield states
        if execution is None:
            return
        orders = status.get("orders", {})
        sent = CounterMetricFamily("rtaid_orders_sent_total", "Orders sent to the venue")
        sent.add_metric([], orders.get("sent", 0))
        filled = CounterMetricFamily("rtaid_orders_filled_total", "Orders filled completely")
        filled.add_metric([], orders.get("filled", 0))
        rejected = CounterMetricFamily("rtaid_orders_rejected_total",
                                       "Orders refused (risk checks or the venue), by reason",
                                       labels=["reason"])
        for reason, n in (orders.get("rejected") or {}).items():
            rejected.add_metric([reason], n)
        yield from (sent, filled, rejected)
        position = GaugeMetricFamily("rtaid_position", "Position, base units (signed)",
                                     labels=["symbol"])
        pnl = GaugeMetricFamily("rtaid_pnl_usd", "PnL in USD(T): realized, unrealized, fees",
                                labels=["symbol", "kind"])
        for sym, s in (status.get("symbols") or {}).items():
            if s.get("position") is not None:
                position.add_metric([sym], s["position"])
            for kind, value in (s.get("pnl") or {}).items():
                if isinstance(value, (int, float)):
                    pnl.add_metric([sym, kind], value)
        yield from (position, pnl)
        daily = status.get("daily_pnl_usd")
        if isinstance(daily, (int, float)):
            yield GaugeMetricFamily("rtaid_daily_pnl_usd", "Today's PnL (UTC day), USD(T)",
                                    value=daily)
        limit = status.get("max_daily_loss_usd")
        if isinstance(limit, (int, float)):
            yield GaugeMetricFamily("rtaid_max_daily_loss_usd", "risk.max_daily_loss_usd",
                                    value=limit)


class MetricsServer:
    """prometheus_client's HTTP server (a daemon thread) on the daemon's collector."""

    def __init__(self, daemon, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = DaemonCollector(daemon)
        self.registry.register(self.collector)
        self._server = None
        self._thread = None

    def start(self) -> None:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(self.port, addr=self.host,
                                                       registry=self.registry)
        self.port = self._server.server_port
        log.info("metrics_server", url=f"http://{self.host}:{self.port}/metrics")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
