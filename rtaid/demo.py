"""``rtaid demo``: show the kernels on real data.

Until the daemon and rtaid-sim are wired together (the daemon issue), the demo replays
the shared Binance recordings through the same decode and book kernels the daemon uses
and prints what it found: messages by kind, the book's sync history, the final top of
each book next to the last bookTicker, and throughput.
"""
from __future__ import annotations

import gzip
import json
import os
import pathlib
import sys
import time

from rtaid._kernels.engine import Engine

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-usdm"


def find_recordings(explicit) -> list[pathlib.Path]:
    if explicit:
        return [pathlib.Path(p) for p in explicit]
    data = pathlib.Path(os.environ.get("RTAID_SHARED_DATA", DEFAULT_DATA))
    return sorted(data.glob("*usdt_*.gz"))


def read_frames(path: pathlib.Path) -> list[tuple[int, bytes]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return [(int(stamp), payload.rstrip(b"\r\n"))
                for stamp, _, payload in (line.partition(b" ") for line in fh if line.strip())]


def stream_symbol(frames) -> str:
    """The symbol a recording is about (its snapshot line carries none)."""
    for _, payload in frames:
        msg = json.loads(payload)
        if "stream" in msg:
            return msg["stream"].split("@", 1)[0].upper()
    raise ValueError("no stream line in the recording")


def fmt(px: int, dec: int) -> str:
    return f"{px / 10 ** dec:.{dec}f}"


def replay_one(path: pathlib.Path) -> dict:
    frames = read_frames(path)
    symbol = stream_symbol(frames)
    engine = Engine([symbol])
    last_bbo = None
    t0 = time.perf_counter()
    for recv_ns, payload in frames:
        rc, kind, _ = engine.feed(payload, recv_ns, 0)
        if kind == "bbo":
            last_bbo = payload
    elapsed = time.perf_counter() - t0
    px_dec, qty_dec = engine.decoder.scales(0)
    return {
        "file": path.name, "symbol": symbol, "frames": len(frames), "seconds": elapsed,
        "kinds": engine.decoder.kind_counts(), "results": engine.decoder.counts(),
        "book": engine.book_stats(0), "state": engine.book_state(0),
        "bids": [(fmt(p, px_dec), fmt(q, qty_dec)) for p, q in engine.top(0, "bid", 5)],
        "asks": [(fmt(p, px_dec), fmt(q, qty_dec)) for p, q in engine.top(0, "ask", 5)],
        "last_bbo": json.loads(last_bbo)["data"] if last_bbo else None,
    }


def print_report(r: dict) -> None:
    b = r["book"]
    print(f"\n{r['symbol']}  ({r['file']}, {r['frames']:,} frames)")
    print("  messages: " + ", ".join(f"{k} {v:,}" for k, v in r["kinds"].items()))
    bad = {k: v for k, v in r["results"].items() if k != "ok"}
    print(f"  rejected or skipped: {bad or 'none'}")
    print(f"  book: {r['state']}; depth events applied {b['applied'] + b['synced']:,}, "
          f"buffered before the snapshot {b['buffered']}, stale {b['stale']}, "
          f"gaps {b['gap']}, crossed {b['crossed']}; levels now {b['bid_levels']:,} bids / "
          f"{b['ask_levels']:,} asks ({b['dropped_levels']} beyond capacity dropped)")
    print("  top of book (L2, price x size):")
    for (bp, bq), (ap, aq) in zip(r["bids"], r["asks"]):
        print(f"    {bq:>10} x {bp:>10}   |   {ap:<10} x {aq:<10}")
    if r["last_bbo"]:
        t = r["last_bbo"]
        print(f"  last bookTicker (u {t['u']}): {t['B']} x {t['b']}  |  {t['a']} x {t['A']}")
    rate = r["frames"] / r["seconds"] if r["seconds"] else float("inf")
    print(f"  {rate:,.0f} frames/s through decode + book, one Python call per frame")


def main(args) -> int:
    paths = find_recordings(getattr(args, "recording", None))
    if not paths:
        print("rtaid demo: no recordings found (set RTAID_SHARED_DATA or pass --recording)")
        return 1
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"rtaid demo: no such recording: {', '.join(missing)}", file=sys.stderr)
        return 1
    print("rtaid demo: replaying real Binance USD-M recordings through the rtaid kernels")
    for path in paths:
        print_report(replay_one(path))
    return 0
