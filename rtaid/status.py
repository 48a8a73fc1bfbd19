"""What a running daemon reports about itself, assembled in one place: the control
socket's ``status`` (``rtaidctl status``), the Prometheus gauges and counters, and the
health verdict behind rtaidctl's exit code all read it from here.

Everything is read on the event loop's thread (or with the GIL held between frames):
the engine's counters and C state are consistent there.
"""
from __future__ import annotations

import math
import time

from rtaid import __version__

def _finite(x):
    return x if isinstance(x, (int, float)) and not (isinstance(x, float) and not math.isfinite(x)) else None


def _price(engine, sym: int, side: str):
    top = engine.top(sym, side, 1)
    if not top:
        return None
    px_dec, _ = engine.decoder.scales(sym)
    return top[0][0] / 10 ** px_dec if px_dec >= 0 else None


def latency_histograms(daemon) -> dict:
    """``{stage: LatencyHistogram}`` of every stage the daemon measures."""
    out = dict(daemon.engine.stages)
    execution = getattr(daemon, "execution", None)
    for name, hist in (getattr(execution, "latency", None) or {}).items():
        out[name] = hist
    out.update(getattr(getattr(daemon, "model", None), "latency", None) or {})
    return out


def latency_summary(hist) -> dict:
    """p50 ... p99.9 (the upper edge of their 6.25 % bucket, never above the exact max),
    max and count, in us."""
    top = hist.max_ns

    def us(q):
        value = hist.percentile(q)
        return None if value is None else round(min(value, top) / 1000.0, 3)
    return {"p50": us(50), "p90": us(90), "p99": us(99), "p999": us(99.9),
            "max": round(top / 1000.0, 3) if hist.count else None, "count": hist.count}


def symbol_status(daemon, sym: int, now_ms: int) -> dict:
    engine, feed = daemon.engine, daemon.feed
    name = engine.symbols[sym]
    last_e = engine.last_event_ms(sym)
    state = engine.signal_state(sym)
    indicators, oscillators = {}, {}
    if state is not None:
        for key, value in state.items():
            if key.endswith("_osc"):
                oscillators[key[:-4]] = _finite(value)
            elif not key.endswith("_z") and isinstance(value, float):
                indicators[key] = _finite(value)
    execution = getattr(daemon, "execution", None)
    position = pnl = None
    if execution is not None:
        sym_exec = (execution.status().get("symbols") or {}).get(name, {})
        position, pnl = sym_exec.get("position"), sym_exec.get("pnl")
    return {
        "synced": feed.states.get(name) == "synced",
        "state": feed.states.get(name),
        "last_event_age_ms": (now_ms - last_e) if last_e else None,
        "lag_ms": engine.lag_ms(sym),
        "bid": _price(engine, sym, "bid"),
        "ask": _price(engine, sym, "ask"),
        "position": position,
        "target": daemon.targets.get(name, 0),
        "pnl": pnl,
        "indicators": indicators,
        "oscillators": oscillators,
    }


def build_status(daemon) -> dict:
    """The ``status`` answer of the control socket (the fields of issue 13, and more)."""
    now_ms = time.time_ns() // 1_000_000
    engine, feed, store = daemon.engine, daemon.feed, daemon.store
    stats = store.stats()
    books = {s: engine.book_stats(i) for i, s in enumerate(engine.symbols)}
    execution = getattr(daemon, "execution", None)
    exec_status = execution.status() if execution is not None else {}
    return {
        "state": exec_status.get("state", "active"),
        "execution": exec_status.get("venue", "off"),
        "uptime_s": round(time.monotonic() - daemon.started_mono, 3),
        "version": __version__,
        "pid": daemon.pid,
        "healthy": daemon.healthy()[0],
        # the CPU wake-up latency limit the daemon holds (None: none)
        "cpu_dma_latency_us": daemon.config.daemon.cpu_dma_latency_us,
        "symbols": {s: symbol_status(daemon, i, now_ms) for i, s in enumerate(engine.symbols)},
        "feed": {
            "connections": {c.name: c.connected for c in feed.connections},
            "frames": sum(c.frames for c in feed.connections),
            "reconnects": feed.counters["reconnects"],
            "resyncs": feed.counters["resyncs"],
            "gaps": sum(b["gap"] for b in books.values()),
            "handovers": feed.counters["handovers"],
            "bad_frames": feed.bad_frames,
        },
        "latency_us": {name: latency_summary(h) for name, h in latency_histograms(daemon).items()},
        "storage": {
            "rows_written": sum(stats["rows_written"].values()),
            "rows_dropped": sum(stats["rows_dropped_ring"].values())
            + sum(stats["rows_dropped_io"].values()),
            "bytes_written": stats.get("bytes_written", 0),
            "write_errors": stats["write_errors"],
            "files_written": stats["files_written"],
        },
        "orders": exec_status.get("orders", {"sent": 0, "rejected": {}, "filled": 0}),
        "targets": dict(daemon.targets),
        # the hybrid strategy's model (None: no symbol runs it)
        "model": daemon.model.status() if getattr(daemon, "model", None) is not None else None,
        # the venue's transports: the binance venue's WebSocket API connection and
        # order paths, the keep-alive REST connections of first sends, the ccxt venue's
        # C order path
        **{key: exec_status[key] for key in ("ws_api", "rest_keepalive", "fast_path")
           if key in exec_status},
    }
