"""Which streams go on which connection (binance.md: the 2026 traffic-class split)."""
from __future__ import annotations

from dataclasses import dataclass

MAX_STREAMS_PER_CONNECTION = 1024   # Binance's limit


@dataclass(frozen=True)
class StreamSet:
    """One WebSocket connection: its name, URL, and the symbols whose books it carries."""

    name: str
    url: str
    streams: tuple[str, ...]
    depth_symbols: tuple[str, ...]


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def stream_sets(ws_url: str, symbols, *, depth_speed: str = "0ms", trades: str = "trade",
                book_ticker: bool = True, mark_price: bool = False,
                max_streams: int = MAX_STREAMS_PER_CONNECTION) -> list[StreamSet]:
    """The connections for a symbol set: depth and bookTicker on /public, trades and
    mark price on /market (a stream asked for on the wrong path is never delivered).

    A symbol's depth and bookTicker streams always share a connection, so its book and
    its L1 come in one order.
    """
    base = ws_url.rstrip("/")
    public, market = [], []
    for sym in symbols:
        s = sym.lower()
        group = [f"{s}@depth@{depth_speed}"] + ([f"{s}@bookTicker"] if book_ticker else [])
        public.append((sym, group))
        market.append([f"{s}@{trades}"] + ([f"{s}@markPrice@1s"] if mark_price else []))
    per_symbol = max(len(g) for _, g in public)
    out = []
    for i, chunk in enumerate(_chunks(public, max(1, max_streams // per_symbol))):
        streams = tuple(s for _, g in chunk for s in g)
        out.append(StreamSet(f"public-{i}", f"{base}/public/stream?streams={'/'.join(streams)}",
                             streams, tuple(sym for sym, _ in chunk)))
    flat = [s for g in market for s in g]
    for i, chunk in enumerate(_chunks(flat, max_streams)):
        out.append(StreamSet(f"market-{i}", f"{base}/market/stream?streams={'/'.join(chunk)}",
                             tuple(chunk), ()))
    return out
