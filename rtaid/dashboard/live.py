"""The daemon's live state, read over its control socket with rtaidctl's client.

The status fields are those of the control issue (``rtaidctl status --json``):
``state``, ``uptime_s``, ``version``, ``symbols`` {synced, last_event_age_ms, lag_ms,
bid, ask, position, target, pnl, indicators, oscillators}, ``feed`` {connections,
reconnects, resyncs, gaps, handovers}, ``latency_us`` {stage: {p50, p99, p999, count}},
``storage`` {rows_written, rows_dropped, bytes_written, write_errors}, ``orders``.
Any of them may be missing (an older or newer daemon): the getters here return None
for what is absent or of the wrong type, and the page shows a dash.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from rtaid.ctl import ControlError, DaemonError, request

SYMBOL_FIELDS = ("synced", "last_event_age_ms", "lag_ms", "bid", "ask", "position", "target", "pnl")
FEED_FIELDS = ("connections", "reconnects", "resyncs", "gaps", "handovers")
STORAGE_FIELDS = ("rows_written", "rows_dropped", "bytes_written", "write_errors")
LATENCY_FIELDS = ("p50", "p99", "p999", "count")
# The stage whose count is the frames processed (the whole on_frame), else any stage's.
FRAME_STAGE = "frame"


@dataclass(frozen=True)
class LiveStatus:
    """One ``status`` answer (``data``), or why there is none (``error``; ``answered``
    when the daemon itself answered ``"ok": false``)."""

    socket: str
    fetched_at: float
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    answered: bool = False

    @property
    def running(self) -> bool:
        return self.error is None


def fetch(socket_path: str, timeout: float = 1.0) -> LiveStatus:
    """Ask the daemon for its status; never raises for an absent or broken daemon."""
    now = time.monotonic()
    try:
        data = request(socket_path, {"cmd": "status"}, timeout=timeout)
    except DaemonError as exc:
        return LiveStatus(socket_path, now, error=str(exc), answered=True)
    except ControlError as exc:
        return LiveStatus(socket_path, now, error=str(exc))
    return LiveStatus(socket_path, now, data=data)


def get(data: Any, *path: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """``data[path[0]][path[1]]...`` or None if any step is missing or not a mapping;
    with ``kind``, also None when the value is not of that type (bool is not a number)."""
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    if kind is not None:
        if isinstance(data, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            return None
        if not isinstance(data, kind):
            return None
    return data


def number(data: Any, *path: str) -> float | None:
    """A numeric field or None."""
    return get(data, *path, kind=(int, float))


def symbol_rows(status: LiveStatus) -> list[dict[str, Any]]:
    """One row per symbol: :data:`SYMBOL_FIELDS` (None when absent)."""
    symbols = get(status.data, "symbols", kind=Mapping) or {}
    rows = []
    for name, values in symbols.items():
        row = {"symbol": name}
        for f in SYMBOL_FIELDS:
            value = get(values, f)
            row[f] = value if isinstance(value, (int, float, str, bool)) else None
        rows.append(row)
    return rows


def symbol_values(status: LiveStatus, group: str) -> list[dict[str, Any]]:
    """Per symbol, the ``indicators`` or ``oscillators`` mapping as one row each."""
    symbols = get(status.data, "symbols", kind=Mapping) or {}
    rows = []
    for name, values in symbols.items():
        found = get(values, group, kind=Mapping)
        if found:
            rows.append({"symbol": name, **{k: v for k, v in found.items()
                                            if isinstance(v, (int, float)) and not isinstance(v, bool)}})
    return rows


def latency_rows(status: LiveStatus) -> list[dict[str, Any]]:
    """One row per stage of ``latency_us``: p50, p99, p999 (µs) and count."""
    stages = get(status.data, "latency_us", kind=Mapping) or {}
    return [{"stage": stage, **{f: number(values, f) for f in LATENCY_FIELDS}}
            for stage, values in stages.items() if isinstance(values, Mapping)]


def frames_processed(status: LiveStatus) -> float | None:
    """Frames processed so far: the ``frame`` stage's count (else the largest count)."""
    stages = get(status.data, "latency_us", kind=Mapping) or {}
    count = number(stages, FRAME_STAGE, "count")
    if count is not None:
        return count
    counts = [number(v, "count") for v in stages.values()]
    counts = [c for c in counts if c is not None]
    return max(counts) if counts else None


def frames_per_second(previous: LiveStatus | None, current: LiveStatus) -> float | None:
    """Frames per second between two answers of the same daemon (None when unknown:
    no earlier answer, a restart in between, or no frame counts)."""
    if previous is None or not previous.running or not current.running:
        return None
    before, now = frames_processed(previous), frames_processed(current)
    elapsed = current.fetched_at - previous.fetched_at
    if before is None or now is None or elapsed <= 0 or now < before:
        return None
    uptime_before, uptime_now = number(previous.data, "uptime_s"), number(current.data, "uptime_s")
    if uptime_before is not None and uptime_now is not None and uptime_now < uptime_before:
        return None  # the daemon restarted
    return (now - before) / elapsed


def orders_summary(status: LiveStatus) -> dict[str, Any]:
    """The ``orders`` block, flattened one level (``rejected`` by reason becomes
    ``rejected: reason``); empty when absent."""
    orders = get(status.data, "orders", kind=Mapping) or {}
    out = {}
    for key, value in orders.items():
        if isinstance(value, Mapping):
            for sub, v in value.items():
                out[f"{key}: {sub}"] = v
        else:
            out[key] = value
    return out
