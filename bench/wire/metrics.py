"""rtaid's per-stage latency histograms, read from its Prometheus endpoint.

The daemon exports (metrics issue 13) ``rtaid_<stage>_seconds`` histograms
(``_bucket{le=...}``, ``_count``, ``_sum``; any other labels, e.g. per symbol, are summed)
for the stages in STAGES. A phase's distribution is the difference of two scrapes, its
quantiles interpolated linearly inside the bucket that holds them (as PromQL's
``histogram_quantile``); ``max`` is the upper bound of the highest non-empty bucket
(a histogram keeps no maximum per phase).
"""
from __future__ import annotations

import math
import re
import urllib.error
import urllib.request

STAGES = ("decode", "book", "signals", "frame", "frame_to_signal", "tick_to_order")
_LINE = re.compile(r'^rtaid_([a-z_]+)_seconds_(bucket|count|sum)(\{[^}]*\})?\s+(\S+)')
_LE = re.compile(r'le="([^"]+)"')


def scrape(url: str, timeout: float = 5.0, stages=STAGES) -> dict | None:
    """{stage: {"buckets": {le: count}, "count": n, "sum": s}} of ``stages``; None when
    the daemon serves no metrics (nothing listening, or none of those histograms)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    return parse(text, stages) or None


def parse(text: str, stages=STAGES) -> dict:
    """The ``rtaid_<stage>_seconds`` histograms of ``stages`` in an exposition (text
    format or OpenMetrics), other labels summed."""
    out: dict = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        stage, part, labels, value = m.groups()
        if stage not in stages:
            continue
        h = out.setdefault(stage, {"buckets": {}, "count": 0.0, "sum": 0.0})
        v = float(value)
        if part == "bucket":
            le = _LE.search(labels or "")
            if le:
                bound = math.inf if le.group(1) == "+Inf" else float(le.group(1))
                h["buckets"][bound] = h["buckets"].get(bound, 0.0) + v
        else:
            h[part] += v
    return out


def delta(before: dict | None, after: dict | None) -> dict:
    """Per stage, the histogram of what happened between two scrapes."""
    if not after:
        return {}
    out = {}
    for stage, h in after.items():
        b = (before or {}).get(stage, {"buckets": {}, "count": 0.0, "sum": 0.0})
        out[stage] = {"buckets": {le: c - b["buckets"].get(le, 0.0) for le, c in h["buckets"].items()},
                      "count": h["count"] - b["count"], "sum": h["sum"] - b["sum"]}
    return out


def add(total: dict | None, more: dict) -> dict:
    """Per stage, the sum of two histograms (windows pooled)."""
    out = {stage: {"buckets": dict(h["buckets"]), "count": h["count"], "sum": h["sum"]}
           for stage, h in (total or {}).items()}
    for stage, h in more.items():
        o = out.setdefault(stage, {"buckets": {}, "count": 0.0, "sum": 0.0})
        for le, c in h["buckets"].items():
            o["buckets"][le] = o["buckets"].get(le, 0.0) + c
        o["count"] += h["count"]
        o["sum"] += h["sum"]
    return out


def quantiles_us(h: dict, qs=(50, 90, 99, 99.9)) -> dict | None:
    """{p50, p90, p99, p999, max, count} in microseconds of a cumulative histogram."""
    bounds = sorted(h["buckets"])
    total = h["buckets"][bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    out = {}
    for q in qs:
        rank = total * q / 100.0
        lower_bound, lower_count = 0.0, 0.0
        value = None
        for le in bounds:
            c = h["buckets"][le]
            if c >= rank:
                if math.isinf(le):
                    value = lower_bound
                else:
                    frac = (rank - lower_count) / (c - lower_count) if c > lower_count else 1.0
                    value = lower_bound + (le - lower_bound) * frac
                break
            lower_bound, lower_count = le, c
        out["p" + f"{q:g}".replace(".", "")] = value * 1e6 if value is not None else None
    top, previous = None, 0.0
    for le in bounds:
        if h["buckets"][le] > previous:
            top = le
        previous = h["buckets"][le]
    out["max"] = None if top is None or math.isinf(top) else top * 1e6
    out["count"] = int(total)
    return out
