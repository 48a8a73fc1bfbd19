"""``rtaid-sim record``: a synthetic recording in the collector format, faster than real time.

The synthetic market of :mod:`rtaid.sim.synthetic` runs on a simulated clock (Poisson event
times, ``rate`` events per second of exchange time) and every frame it would send on
``<sym>@depth@0ms``, ``<sym>@bookTicker`` and ``<sym>@trade`` is written as a
combined-stream line ``<recv_ns> {"stream":...,"data":...}``, with one REST depth
snapshot line after the first few depth events: the format of the shared recordings, so
``rtaid replay`` turns it into a dataset like any recording.

Price process (calibrated for the AI tests, see docs/ai.md):

- the fair price is a random walk (no reversion, no jumps) of ``NOISE_BPS_PER_MINUTE``
  bps per square root of a minute; the book follows it through the order-flow model;
- with ``ofi_alpha_bps`` = X, at the end of every minute of exchange time the market's
  current normalised order-flow imbalance ``o`` (indicators.md section 3: Cont's e_n over
  the L1 changes of the last ``OFI_WINDOW_MS``, divided by the mean (Qb + Qa) / 2 of those
  events) gives the fair price a drift of ``X * o`` bps, spread evenly over the next
  ``EFFECT_MINUTES`` minutes (the planted effect); without it there is none.

Everything comes from ``seed``: the same arguments give the same bytes.
"""
from __future__ import annotations

import gzip
import math
import random
from collections import deque
from dataclasses import dataclass

import orjson

from rtaid.sim.config import spec_for
from rtaid.sim.instruments import Instrument
from rtaid.sim.market import SymbolMarket
from rtaid.sim.synthetic import FlowParams, OrderFlowModel

# 2024-01-01T00:00:00Z: a fixed start, so the dataset's date partitions do not depend on
# when the recording was made.
DEFAULT_START_MS = 1_704_067_200_000
DEFAULT_SYMBOL = "SYNTHUSDT"    # generic grid: tick 0.01 at 100.00 = 1 bps
DEFAULT_RATE = 2.5             # book events per second of exchange time
NOISE_BPS_PER_MINUTE = 8.0     # random-walk volatility of the fair price
EFFECT_MINUTES = 5             # the planted drift is spread over this many minutes
OFI_WINDOW_MS = 10_000         # indicators.md ofi.window_ms default
SNAPSHOT_AFTER_EVENTS = 20     # the collector fetches its snapshot after subscribing
RECV_DELAY_NS = 3_000_000      # local receive time = exchange time + 3 ms
SNAPSHOT_LIMIT = 1000


@dataclass
class RecordSummary:
    """What a recording holds (``str()`` is the printed summary)."""

    path: str
    symbol: str
    minutes: float
    events: int = 0
    lines: int = 0
    depth: int = 0
    book_ticker: int = 0
    trades: int = 0
    impulses: int = 0
    first_mid: float = 0.0
    last_mid: float = 0.0

    def __str__(self) -> str:
        move = 1e4 * (self.last_mid / self.first_mid - 1) if self.first_mid else 0.0
        return (f"recorded {self.minutes:g} min of {self.symbol} to {self.path}: {self.lines:,} lines "
                f"(depth {self.depth:,}, bookTicker {self.book_ticker:,}, trade {self.trades:,}, "
                f"snapshot 1) from {self.events:,} book events; planted impulses {self.impulses:,}; "
                f"mid {self.first_mid:g} -> {self.last_mid:g} ({move:+.1f} bps)")


class _LineWriter:
    """Stands in for the `StreamHub`: every frame of the recorded streams becomes a line."""

    def __init__(self, fh, streams: dict[str, str], clock) -> None:
        self.fh = fh
        self.pending: list[bytes] = []
        self.streams = streams           # stream name -> summary counter name
        self.clock = clock
        self.prefixes = {s: b'{"stream":"' + s.encode() + b'","data":' for s in streams}
        self.counts = {name: 0 for name in streams.values()}

    def has_subscribers(self, stream: str) -> bool:
        return stream in self.streams

    def publish(self, stream: str, data: bytes) -> int:
        prefix = self.prefixes.get(stream)
        if prefix is None:
            return 0
        recv_ns = self.clock.now_ms * 1_000_000 + RECV_DELAY_NS
        pending = self.pending
        pending.append(b"%d %s%s}\n" % (recv_ns, prefix, data))
        if len(pending) >= 4096:
            self.flush()
        self.counts[self.streams[stream]] += 1
        return 0   # no latency stamps: nothing was sent anywhere

    def write_line(self, line: bytes) -> None:
        self.pending.append(line)

    def flush(self) -> None:
        self.fh.write(b"".join(self.pending))
        self.pending.clear()


class _SimClock:
    __slots__ = ("now_ms",)

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms


class _NoLatency:
    def frame_sent(self, *args) -> None:  # pragma: no cover - publish returns 0
        pass


class OfiTracker:
    """The market's own normalised OFI over the last ``window_ms`` of L1 changes
    (indicators.md section 3), fed with each new top of book."""

    def __init__(self, window_ms: int = OFI_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self.events: deque[tuple[int, int, int]] = deque()   # (T, e, Qb + Qa)
        self.sum_e = 0
        self.sum_q = 0
        self.prev: tuple | None = None

    def on_top(self, t_ms: int, top: tuple) -> None:
        pb, qb, pa, qa = top
        if self.prev is None:
            e = 0
        else:
            ppb, pqb, ppa, pqa = self.prev
            e = ((qb if pb >= ppb else 0) - (pqb if pb <= ppb else 0)
                 - (qa if pa <= ppa else 0) + (pqa if pa >= ppa else 0))
        self.prev = top
        self.events.append((t_ms, e, qb + qa))
        self.sum_e += e
        self.sum_q += qb + qa

    def value(self, t_ms: int) -> float:
        """ofi_norm over (t - window, t]; 0 with no L1 event in the window."""
        events = self.events
        while events and events[0][0] <= t_ms - self.window_ms:
            _, e, q = events.popleft()
            self.sum_e -= e
            self.sum_q -= q
        if not events or self.sum_q <= 0:
            return 0.0
        ad = self.sum_q / (2.0 * len(events))
        return self.sum_e / ad


def record(out: str, minutes: float, seed: int, *, ofi_alpha_bps: float | None = None,
           symbol: str = DEFAULT_SYMBOL, rate: float = DEFAULT_RATE,
           start_ms: int = DEFAULT_START_MS, noise_bps_per_minute: float = NOISE_BPS_PER_MINUTE,
           compresslevel: int = 1) -> RecordSummary:
    """Write ``minutes`` of a synthetic market for ``symbol`` to ``out`` (gzip collector format).

    Parameters
    ----------
    out : str
        Output file (gzip).
    minutes : float
        Length of the recording in minutes of exchange time.
    seed : int
        Seed of every random choice.
    ofi_alpha_bps : float, optional
        The planted effect: bps of drift over the next ``EFFECT_MINUTES`` minutes per unit
        of the current normalised OFI, set at the end of every minute. None or 0: none.
    symbol : str
        Symbol (known symbols get their real grid, see ``rtaid.sim.config``).
    rate : float
        Book events per second of exchange time.
    start_ms : int
        Exchange time of the first event.
    noise_bps_per_minute : float
        Random-walk volatility of the fair price.
    compresslevel : int
        gzip level (1: fast; the file is read once by ``rtaid replay``).

    Returns
    -------
    RecordSummary
    """
    if not minutes > 0:
        raise ValueError(f"--minutes must be positive, got {minutes}")
    if not rate > 0:
        raise ValueError(f"--rate must be positive, got {rate}")
    if ofi_alpha_bps is not None and not math.isfinite(ofi_alpha_bps):
        raise ValueError(f"--ofi-alpha-bps must be a finite number, got {ofi_alpha_bps}")
    rng = random.Random(seed)
    inst = Instrument(spec_for(symbol))
    clock = _SimClock(start_ms)
    end_ms = start_ms + int(round(minutes * 60_000))
    price_ticks = float(inst.parse_price(inst.spec.initial_price))
    # ticks per bps at the initial price; the random walk is in ticks per event
    ticks_per_bps = price_ticks * 1e-4
    per_event = noise_bps_per_minute * ticks_per_bps / math.sqrt(60.0 * rate)
    params = FlowParams(reversion=0.0, volatility=per_event, jump_prob=0.0)
    summary = RecordSummary(path=str(out), symbol=inst.symbol, minutes=minutes)
    alpha = float(ofi_alpha_bps or 0.0)
    effect_ms = EFFECT_MINUTES * 60_000
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               compresslevel=compresslevel, mtime=0) as fh:
        s = inst.lower
        writer = _LineWriter(fh, {f"{s}@depth@0ms": "depth", f"{s}@bookTicker": "book_ticker",
                                  f"{s}@trade": "trades"}, clock)
        market = SymbolMarket(inst, writer, _NoLatency(), rng=random.Random(rng.getrandbits(64)))
        market.clock_ms = clock
        market.aggregates = []           # no @depth@100ms etc. in a recording
        model = OrderFlowModel(market, random.Random(rng.getrandbits(64)), params=params)
        model.seed_book()
        ofi = OfiTracker()
        drifts: deque[tuple[int, float]] = deque()   # (until_ms, ticks per ms)
        drift_rate = 0.0
        next_minute = (start_ms // 60_000 + 1) * 60_000
        t = float(start_ms)
        last_top = market._top
        mean_gap_ms = 1000.0 / rate
        events = 0
        first_mid = None
        while True:
            t_next = t + rng.expovariate(1.0) * mean_gap_ms
            now = int(t_next)
            if now >= end_ms:
                break
            # minute ends passed before this event: the planted impulse of each
            while next_minute <= now:
                if alpha:
                    model.fair += drift_rate * (next_minute - t)
                    t = float(next_minute)
                    while drifts and drifts[0][0] <= next_minute:
                        drifts.popleft()
                    book = market.book
                    mid = (book.bids.best() + book.asks.best()) / 2.0
                    total_ticks = alpha * ofi.value(next_minute) * mid * 1e-4
                    drifts.append((next_minute + effect_ms, total_ticks / effect_ms))
                    drift_rate = sum(r for _, r in drifts)
                    summary.impulses += 1
                next_minute += 60_000
            if alpha:
                model.fair += drift_rate * (t_next - t)
            t = t_next
            clock.now_ms = now
            model.step()
            events += 1
            top = market._top
            if top is not last_top:
                last_top = top
                ofi.on_top(now, top)
                if first_mid is None:
                    first_mid = (top[0] + top[2]) / 2.0
            if events == SNAPSHOT_AFTER_EVENTS:
                snap = market.depth_snapshot(SNAPSHOT_LIMIT, for_rest=True)
                writer.write_line(b"%d %s\n" % (now * 1_000_000 + RECV_DELAY_NS, orjson.dumps(snap)))
                summary.lines += 1
        writer.flush()
        if events < SNAPSHOT_AFTER_EVENTS:
            raise ValueError(f"{minutes} min at {rate} events/s is too short for a recording "
                             f"(at least {SNAPSHOT_AFTER_EVENTS} events)")
    summary.events = events
    summary.depth = writer.counts["depth"]
    summary.book_ticker = writer.counts["book_ticker"]
    summary.trades = writer.counts["trades"]
    summary.lines += summary.depth + summary.book_ticker + summary.trades
    top = market._top
    summary.first_mid = inst.price_float(1) * (first_mid or 0.0)
    summary.last_mid = inst.price_float(1) * (top[0] + top[2]) / 2.0
    return summary


def build_parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="rtaid-sim record",
        description="Write a synthetic recording in the collector format (gzip, "
                    "'<recv_ns> <json>' lines: depth@0ms, bookTicker, trade and a REST "
                    "snapshot), faster than real time; rtaid replay turns it into a dataset.")
    p.add_argument("--minutes", type=float, required=True, help="minutes of exchange time")
    p.add_argument("--seed", type=int, required=True, help="random seed (same seed, same file)")
    p.add_argument("--ofi-alpha-bps", type=float, default=None, metavar="X",
                   help=f"planted effect: the mid drifts over the next {EFFECT_MINUTES} minutes "
                        f"by X bps per unit of the normalised OFI at each minute's end "
                        f"(default: no effect)")
    p.add_argument("--out", required=True, metavar="FILE", help="output file (gzip)")
    p.add_argument("--symbol", default=DEFAULT_SYMBOL,
                   help=f"symbol (default {DEFAULT_SYMBOL}: tick 0.01 at 100.00, 1 bps, the grid "
                        f"the noise is calibrated for; known symbols get their real grid)")
    p.add_argument("--rate", type=float, default=DEFAULT_RATE,
                   help=f"book events per second of exchange time (default {DEFAULT_RATE:g})")
    p.add_argument("--noise-bps", type=float, default=NOISE_BPS_PER_MINUTE,
                   help=f"random-walk volatility of the fair price, bps per sqrt(minute) "
                        f"(default {NOISE_BPS_PER_MINUTE:g})")
    p.add_argument("--start", default=None, metavar="ISO",
                   help="exchange time of the start, e.g. 2024-01-01T00:00:00Z (the default)")
    return p


def main(argv) -> int:
    """``rtaid-sim record ...``; returns the exit status."""
    import datetime as dt
    import re
    import sys

    args = build_parser().parse_args(argv)
    start_ms = DEFAULT_START_MS
    if args.start:
        try:
            when = dt.datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        except ValueError:
            print(f"rtaid-sim record: --start {args.start!r} is not an ISO date-time", file=sys.stderr)
            return 2
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        start_ms = int(when.timestamp() * 1000)
    if not re.fullmatch(r"[A-Za-z0-9]{2,20}", args.symbol):
        print(f"rtaid-sim record: --symbol {args.symbol!r} is not a symbol name", file=sys.stderr)
        return 2
    try:
        summary = record(args.out, args.minutes, args.seed, ofi_alpha_bps=args.ofi_alpha_bps,
                         symbol=args.symbol, rate=args.rate, start_ms=start_ms,
                         noise_bps_per_minute=args.noise_bps)
    except (OSError, ValueError) as exc:
        print(f"rtaid-sim record: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0
