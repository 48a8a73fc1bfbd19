"""The plain-Python baseline: Binance USD-M market data -> rtaid's indicators and
strategy, the way a competent Python developer writes a trading bot.

- ``websockets`` (the asyncio client most Python bots use; ``async for`` over messages,
  its reconnecting ``connect`` iterator), on uvloop as rtaid runs;
- ``orjson.loads`` for every frame (the fastest JSON parser for Python: a bot that cares
  about speed uses it; the standard ``json`` module is slower);
- dict books (bench/baselines/book.py) synced from REST snapshots (``aiohttp``);
- the indicators of indicators.md (bench/baselines/indicators.py), computed on every
  event, each row built and dropped (rtaid also records every row into its rings and
  writes Parquet: the baseline does less work than rtaid, not more).

Offline (``run_recording``) the same code runs over a collector recording and returns
the rows as tables, for the equality test against rtaid's kernels.

    python -m bench.baselines.bot --rest http://127.0.0.1:PORT --ws ws://127.0.0.1:PORT \\
        --symbols BTCUSDT,ETHUSDT [--set vpin.calibration_ms=10000] [--stamps N] --out FILE

runs until SIGTERM/SIGINT, then writes FILE (JSON: counters per connection) and, with
``--stamps N``, FILE.<connection>.npz: the receive time (CLOCK_REALTIME ns) and the
processing time (ns, receive to indicators and strategy done) of each connection's last
N frames, with their frame numbers.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import signal
import sys
import time
from array import array

import orjson

from bench.baselines.book import CROSSED, FIRST, GAP, DictBook
from bench.baselines.indicators import (
    BAR_COLUMNS, COLUMNS, SIGNAL_COLUMNS, SymbolSignals, settings,
)


def scaler(decimals: int):
    """An exact decimal-string -> int parser for a fixed number of decimals."""
    unit = 10**decimals
    width = decimals + 1

    def scaled(s: str) -> int:
        dot = s.find(".")
        if dot >= 0 and len(s) - dot == width:     # Binance's fixed-decimals strings
            return int(s.replace(".", ""))
        if dot < 0:
            return int(s) * unit
        n = len(s) - dot - 1
        if n < decimals:
            return int(s[:dot] + s[dot + 1:]) * 10 ** (decimals - n)
        if s[dot + 1 + decimals:].strip("0"):
            raise ValueError(f"{s!r} has more than {decimals} decimals")
        return int(s[:dot] + s[dot + 1:dot + 1 + decimals])

    return scaled


class Market:
    """One symbol: its parsers, book and signal state (``signals=False``: decode and
    book only, for bench/kernels.py)."""

    __slots__ = ("symbol", "px", "qty", "book", "sig")

    def __init__(self, symbol, px_dec, qty_dec, cfg, tick, l1_from_book, signals: bool = True):
        self.symbol = symbol
        self.px = scaler(px_dec)
        self.qty = scaler(qty_dec)
        self.book = DictBook()
        self.sig = SymbolSignals(symbol, cfg, px_dec, qty_dec, tick, l1_from_book) if signals else None

    def levels(self, pairs):
        px, qty = self.px, self.qty
        return [(px(p), qty(q)) for p, q in pairs]


class Bot:
    """Routes decoded messages to each symbol's book and signals.

    ``collect=True`` keeps every row, bar and signal (offline comparison); otherwise the
    rows are dropped once built and only counted.
    """

    def __init__(self, markets: dict, collect: bool = False):
        self.markets = markets
        self.collect = collect
        self.rows: list = []
        self.bars: list = []
        self.signals: list = []
        self.n_rows = 0
        self.n_signals = 0
        self.targets = {s: 0 for s in markets}
        self.want_snapshot: set = set()     # books that need a (new) REST snapshot
        self.on_synced = None               # callable(symbol): a book just synced

    def _out(self, m: Market, row) -> None:
        sig = m.sig
        if row is not None:
            self.n_rows += 1
            if self.collect:
                self.rows.append(row)
        if sig.bars_out:
            if self.collect:
                self.bars.extend(sig.bars_out)
            sig.bars_out.clear()
        if sig.signals_out:
            self.n_signals += len(sig.signals_out)
            self.targets[m.symbol] = sig.signals_out[-1][4]
            if self.collect:
                self.signals.extend(sig.signals_out)
            sig.signals_out.clear()

    def _depth(self, m: Market, ev, replay: bool = False) -> None:
        status = m.book.replay(ev) if replay else m.book.on_depth(ev)
        self._out(m, m.sig.on_depth(ev[0], ev[2], status, m.book))
        if status == GAP or status == CROSSED:
            self.want_snapshot.add(m.symbol)
        elif status == FIRST and self.on_synced is not None:
            self.on_synced(m.symbol)

    def on_message(self, payload) -> None:
        """One combined-stream frame (``{"stream": ..., "data": {...}}``)."""
        data = orjson.loads(payload)["data"]
        kind = data["e"]
        m = self.markets.get(data["s"])
        if m is None:
            return
        if m.sig is None:
            self._book_only(m, kind, data)
        elif kind == "bookTicker":
            px, qty = m.px, m.qty
            row = m.sig.on_bbo(data["T"], data["u"], px(data["b"]), qty(data["B"]),
                               px(data["a"]), qty(data["A"]))
            self._out(m, row)
        elif kind == "depthUpdate":
            self._depth(m, (data["T"], data["U"], data["u"], data["pu"],
                            m.levels(data["b"]), m.levels(data["a"])))
        elif kind == "trade" or kind == "aggTrade":
            row = m.sig.on_trade(data["T"], data["t"] if kind == "trade" else data["a"],
                                 m.px(data["p"]), m.qty(data["q"]), data["m"])
            self._out(m, row)

    @staticmethod
    def _book_only(m: Market, kind: str, data: dict) -> None:
        px, qty = m.px, m.qty
        if kind == "bookTicker":
            px(data["b"]), qty(data["B"]), px(data["a"]), qty(data["A"])
        elif kind == "depthUpdate":
            m.book.on_depth((data["T"], data["U"], data["u"], data["pu"], m.levels(data["b"]),
                             m.levels(data["a"])))
        elif kind == "trade" or kind == "aggTrade":
            px(data["p"]), qty(data["q"])

    def on_snapshot(self, symbol: str, snap: dict) -> None:
        """Load a REST depth snapshot and replay the buffered diffs through it; the book
        is then synced, or waits for the diff that bridges the snapshot, or (the stream
        had moved past the snapshot) wants another snapshot."""
        m = self.markets[symbol]
        pending = m.book.load_snapshot(snap["lastUpdateId"], m.levels(snap["bids"]),
                                       m.levels(snap["asks"]))
        self.want_snapshot.discard(symbol)
        if m.sig is None:
            for ev in pending:
                m.book.replay(ev)
            return
        m.sig.book_synced = m.book.synced
        for ev in pending:
            self._depth(m, ev, replay=True)

    def reset(self, symbol: str) -> None:
        """A connection carrying this symbol's book opened or closed."""
        m = self.markets[symbol]
        m.book.reset()
        m.sig.book_synced = False
        self.want_snapshot.add(symbol)

    def tables(self) -> dict:
        def columns(names, rows):
            return {c: [r[i] for r in rows] for i, c in enumerate(names)}

        return {"indicators": columns(COLUMNS, self.rows), "bars_1m": columns(BAR_COLUMNS, self.bars),
                "signals": columns(SIGNAL_COLUMNS, self.signals)}


# ---------------------------------------------------------------------------- offline
def _decimals(text: str) -> int:
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def _read(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        for line in fh:
            stamp, _, payload = line.strip().partition(b" ")
            if payload:
                yield payload


def scan_recording(path):
    """(symbol, px_dec, qty_dec, has_book_ticker): the decimals are the most seen."""
    symbol, px_dec, qty_dec, has_bbo = None, 0, 0, False
    for payload in _read(path):
        msg = orjson.loads(payload)
        if "data" not in msg:
            pairs = msg.get("bids", []) + msg.get("asks", [])
        else:
            data = msg["data"]
            kind = data.get("e")
            if kind == "depthUpdate":
                pairs = data["b"] + data["a"]
            elif kind == "bookTicker":
                pairs = [(data["b"], data["B"]), (data["a"], data["A"])]
                has_bbo = True
            elif kind in ("trade", "aggTrade"):
                pairs = [(data["p"], data["q"])]
            else:
                continue
            if symbol is None:
                symbol = data["s"]
            elif symbol != data["s"]:
                raise ValueError(f"{path}: more than one symbol")
        for p, q in pairs:
            px_dec = max(px_dec, _decimals(p))
            qty_dec = max(qty_dec, _decimals(q))
    if symbol is None:
        raise ValueError(f"{path}: no stream messages")
    return symbol, px_dec, qty_dec, has_bbo


def run_recording(path, overrides: dict | None = None, tick: float | None = None) -> dict:
    """Run one symbol's collector recording through the bot; its tables (column lists)."""
    symbol, px_dec, qty_dec, has_bbo = scan_recording(path)
    market = Market(symbol, px_dec, qty_dec, settings(overrides), tick, not has_bbo)
    bot = Bot({symbol: market}, collect=True)
    for payload in _read(path):
        if payload.startswith(b'{"stream"'):
            bot.on_message(payload)
        elif b'"lastUpdateId"' in payload:
            bot.on_snapshot(symbol, orjson.loads(payload))
    market.sig.finish()
    bot._out(market, None)
    return bot.tables()


# ---------------------------------------------------------------------------- live
class Stamps:
    """Receive time and processing time of a connection's last ``n`` frames (a ring)."""

    def __init__(self, n: int):
        self.n = n
        self.recv = array("q", bytes(8 * max(n, 1)))
        self.took = array("q", bytes(8 * max(n, 1)))

    def arrays(self, frames: int) -> dict:
        """The kept frames in order: frame number, receive time, processing time."""
        import numpy as np

        frame = np.arange(max(frames - self.n, 0), frames, dtype=np.int64)
        slots = frame % max(self.n, 1)
        return {"frame": frame, "recv_ns": np.frombuffer(self.recv, np.int64)[slots],
                "took_ns": np.frombuffer(self.took, np.int64)[slots]}


def stream_urls(ws_url: str, symbols) -> list:
    """Depth and bookTicker on /public, trades on /market (Binance's 2026 split)."""
    base = ws_url.rstrip("/")
    public = "/".join(f"{s.lower()}@depth@0ms/{s.lower()}@bookTicker" for s in symbols)
    market = "/".join(f"{s.lower()}@trade" for s in symbols)
    return [("public", f"{base}/public/stream?streams={public}", list(symbols)),
            ("market", f"{base}/market/stream?streams={market}", [])]


async def fetch_json(http, url: str, params=None):
    async with http.get(url, params=params) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: HTTP {resp.status}: {body[:200]!r}")
        return orjson.loads(body)


async def run_live(rest_url: str, ws_url: str, symbols, overrides: dict, stamps: int,
                   stop: asyncio.Event, report: dict) -> None:
    import aiohttp
    import websockets

    async with aiohttp.ClientSession() as http:
        info = await fetch_json(http, rest_url.rstrip("/") + "/fapi/v1/exchangeInfo")
        specs = {s["symbol"]: s for s in info["symbols"]}
        cfg = settings(overrides)
        markets = {}
        for sym in symbols:
            spec = specs[sym]
            tick = next(float(f["tickSize"]) for f in spec["filters"] if f["filterType"] == "PRICE_FILTER")
            markets[sym] = Market(sym, spec["pricePrecision"], spec["quantityPrecision"], cfg, tick, False)
        bot = Bot(markets)
        bot.on_synced = lambda sym: print(f"synced {sym}", flush=True)
        wake = asyncio.Event()
        counters = {"snapshots": 0, "resyncs": 0}

        async def snapshots():
            while True:
                await wake.wait()
                wake.clear()
                for sym in sorted(bot.want_snapshot):
                    snap = await fetch_json(http, rest_url.rstrip("/") + "/fapi/v1/depth",
                                            {"symbol": sym, "limit": 1000})
                    counters["snapshots"] += 1
                    bot.on_snapshot(sym, snap)
                if bot.want_snapshot:       # too old for the stream: again, a little later
                    await asyncio.sleep(0.05)
                    wake.set()

        async def connection(name: str, url: str, book_symbols, out: dict):
            ring = Stamps(stamps)
            out.update(url=url, frames=0, connects=0)
            out["ring"] = ring
            perf, wall = time.perf_counter_ns, time.time_ns
            on_message = bot.on_message
            mask_n = ring.n
            recv_a, took_a = ring.recv, ring.took
            async for ws in websockets.connect(url, max_size=None, compression=None,
                                               open_timeout=10, ping_interval=20):
                out["connects"] += 1
                for sym in book_symbols:
                    bot.reset(sym)
                if book_symbols:
                    wake.set()
                try:
                    frames = out["frames"]
                    async for msg in ws:
                        t_wall = wall()
                        t0 = perf()
                        on_message(msg)
                        if mask_n:
                            i = frames % mask_n
                            recv_a[i] = t_wall
                            took_a[i] = perf() - t0
                        frames += 1
                        out["frames"] = frames
                        if bot.want_snapshot:
                            wake.set()
                except websockets.ConnectionClosed:
                    counters["resyncs"] += 1
                    continue

        conns = {}
        tasks = [asyncio.create_task(snapshots())]
        for name, url, book_symbols in stream_urls(ws_url, symbols):
            conns[name] = {}
            tasks.append(asyncio.create_task(connection(name, url, book_symbols, conns[name])))

        async def bar_timer():
            while True:
                await asyncio.sleep(1.0 - time.time() % 1.0 + 0.001)
                now_ms = time.time_ns() // 1_000_000
                for m in markets.values():
                    m.sig.bar_timer(now_ms)
                    bot._out(m, None)

        tasks.append(asyncio.create_task(bar_timer()))
        await stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        report.update(rows=bot.n_rows, signals=bot.n_signals, targets=bot.targets, **counters,
                      dropped_levels={s: m.book.dropped_levels for s, m in markets.items()},
                      connections=conns)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="the plain-Python baseline bot (asyncio + websockets + orjson)")
    parser.add_argument("--rest", required=True, help="REST base URL")
    parser.add_argument("--ws", required=True, help="WebSocket base URL")
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="indicator setting, e.g. vpin.calibration_ms=10000 (repeatable)")
    parser.add_argument("--stamps", type=int, default=0, help="keep the last N frames' times per connection")
    parser.add_argument("--out", required=True, help="result file (JSON)")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.overrides:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value) if value not in ("", "none") else None
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    report: dict = {}

    async def run():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_live(args.rest, args.ws, symbols, overrides, args.stamps, stop, report)

    import uvloop

    uvloop.run(run())
    import numpy as np

    for name, conn in report.get("connections", {}).items():
        ring = conn.pop("ring", None)
        if ring is not None and args.stamps:
            np.savez(f"{args.out}.{name}.npz", **ring.arrays(conn["frames"]))
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
