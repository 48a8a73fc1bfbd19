"""rtaid-sim's send stamps matched with the daemon's receive stamps: how long each frame
waited between the sim writing it and rtaid's frame callback receiving it.

The sim stamps each frame when it has written it (``GET /sim/latency``,
CLOCK_REALTIME ns); the daemon records its receipt time (``recv_ns``) in its bbo,
trades and depth rows (bench/wire/rtaid_proc.py ``RtaidProcess.received``); frames are
matched by update or trade id. Unlike the daemon's own stage histograms (timed from
the frame callback), this includes the time a frame waited in the socket while the
event loop was busy with something else (a scrape, the model).
"""
from __future__ import annotations

import json
import urllib.request

import numpy as np

# the sim's stream suffix -> the daemon's row kind (RtaidProcess.received)
STREAM_KINDS = {"@depth@0ms": "depth", "@bookTicker": "bbo", "@trade": "trade"}
QUANTILES = (50, 99, 99.9)
# the share of frames slower than these (seconds; bucket edges of the daemon's histograms)
SLOW_EDGES = (1e-4, 1e-3)


def sim_sent(sim_port: int, symbols, limit: int) -> dict:
    """{(symbol, kind): (ids, wall_ns)} of the last ``limit`` frames the sim wrote, per
    symbol (its /sim/latency stamps: after each frame's write)."""
    out = {}
    for sym in symbols:
        url = f"http://127.0.0.1:{sim_port}/sim/latency?symbol={sym}&limit={limit}"
        with urllib.request.urlopen(url, timeout=60) as r:
            frames = json.loads(r.read())[sym]["frames"]
        for suffix, kind in STREAM_KINDS.items():
            rows = [(f["seq"], f["wall_ns"]) for f in frames if f["stream"].endswith(suffix)]
            arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
            out[(sym, kind)] = (arr[:, 0], arr[:, 1])
    return out


def in_window(sent: dict, w0: int, w1: int) -> dict:
    """The frames sent within [w0, w1) ns; fails if the sim's ring no longer reaches w0."""
    out = {}
    for key, (ids, wall) in sent.items():
        if len(wall) and wall[0] > w0:
            raise SystemExit(f"the sim's latency ring ({key}) starts after the window: "
                             "shorter --window-s or a lower --rate")
        keep = (wall >= w0) & (wall < w1)
        out[key] = (ids[keep], wall[keep])
    return out


def delays_ns(sent: dict, received: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """(send times, receive minus send times) of every frame of ``sent`` the daemon
    recorded, and how many it did not record (a full ring drops rows: counted, never
    guessed)."""
    sends, delays, missing = [], [], 0
    for key, (ids, wall) in sent.items():
        rids, rrecv = received.get(key, (np.empty(0, np.int64), np.empty(0, np.int64)))
        idx = np.searchsorted(rids, ids).clip(0, max(len(rids) - 1, 0))
        hit = (rids[idx] == ids) if len(rids) else np.zeros(len(ids), bool)
        sends.append(wall[hit])
        delays.append(rrecv[idx][hit] - wall[hit])
        missing += int((~hit).sum())
    empty = np.empty(0, np.int64)
    return (np.concatenate(sends) if sends else empty,
            np.concatenate(delays) if delays else empty, missing)


def during(sends: np.ndarray, spans: list) -> np.ndarray:
    """Which frames were written within one of ``spans`` ([(start_ns, end_ns)], sorted,
    not overlapping)."""
    if not spans:
        return np.zeros(len(sends), bool)
    starts = np.array([a for a, _ in spans], np.int64)
    ends = np.array([b for _, b in spans], np.int64)
    i = np.searchsorted(starts, sends, side="right") - 1
    return (i >= 0) & (sends < ends[i.clip(0)])


def exact_us(values_ns: np.ndarray) -> dict:
    """Exact quantiles (QUANTILES), max and the share above SLOW_EDGES, in us."""
    if len(values_ns) == 0:
        return {}
    out = {"p" + f"{q:g}".replace(".", ""): float(np.percentile(values_ns, q, method="higher")) / 1e3
           for q in QUANTILES}
    out["max"] = float(values_ns.max()) / 1e3
    out["slower_per_million"] = {f"{e:g}": round(float((values_ns > e * 1e9).mean()) * 1e6, 1)
                                 for e in SLOW_EDGES}
    return out
