"""Replay of collector recordings (``<recv ns> <raw json>`` lines, gzip) into a `SymbolMarket`.

The book starts from the recording's REST snapshot plus the buffered diffs that follow
it (the official sync procedure), so the sim's ``GET /fapi/v1/depth`` and the replayed
``@depth@0ms`` chain are consistent from the first published event on. Recorded frames
are forwarded byte for byte; ``@aggTrade``, the aggregated depth streams and
``@markPrice`` are derived.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from rtaid.infra.recordings import RecordingReader
from rtaid.sim.book import ASK, BID
from rtaid.sim.config import SymbolSpec, spec_for
from rtaid.sim.logs import LazyLogger
from rtaid.sim.market import SymbolMarket

log = LazyLogger("rtaid.sim.replay")


@dataclass
class Recording:
    """A recording loaded in memory: its symbol, snapshot and the lines after it."""

    path: str
    symbol: str
    snapshot: dict | None
    # Depth events recorded before the snapshot (applied during sync, not published).
    pre_snapshot_depth: list[dict] = field(default_factory=list)
    # (recv_ns, stream, raw line) published in order.
    lines: list[tuple[int, str, str]] = field(default_factory=list)


def _stream_of(text: str) -> str | None:
    if not text.startswith('{"stream":"'):
        return None
    end = text.index('"', 11)
    return text[11:end]


def data_bytes(text: str) -> bytes:
    """The ``data`` object of a combined-stream line, as the exact recorded bytes."""
    start = text.index('"data":') + 7
    return text[start: text.rindex("}")].encode()


def load_recording(path: str | Path, max_lines: int | None = None) -> Recording:
    """Read a recording (gzip or plain) into memory; blocking, run it off the event loop."""
    symbol = None
    snapshot = None
    pre: list[dict] = []
    lines: list[tuple[int, str, str]] = []
    reader = RecordingReader(path, max_lines)
    for _, recv, payload in reader.lines():
        text = payload.decode()
        stream = _stream_of(text)
        if stream is None:
            if snapshot is None and '"lastUpdateId"' in text:
                snapshot = orjson.loads(text)
            continue
        if symbol is None:
            symbol = stream.partition("@")[0].upper()
        if snapshot is None:
            if "@depth" in stream:
                pre.append(orjson.loads(text)["data"])
            continue
        lines.append((int(recv), stream, text))
    if symbol is None:
        raise ValueError(f"{path}: no stream lines")
    return Recording(str(path), symbol, snapshot, pre, lines)


def spec_for_recording(rec: Recording) -> SymbolSpec:
    """The recording symbol's spec: the known one, or a generic one with the recorded decimals."""
    spec = spec_for(rec.symbol)
    sample = None
    if rec.snapshot and rec.snapshot.get("bids"):
        sample = rec.snapshot["bids"][0]
    if sample is None:
        return spec
    pp = len(sample[0].partition(".")[2])
    qp = len(sample[1].partition(".")[2])
    if (pp, qp) == (spec.price_precision, spec.quantity_precision):
        return spec
    return SymbolSpec(rec.symbol, tick_size=f"{10 ** -pp:.{pp}f}" if pp else "1",
                      step_size=f"{10 ** -qp:.{qp}f}" if qp else "1",
                      price_precision=pp, quantity_precision=qp, initial_price=sample[0])


def _changes(market: SymbolMarket, data: dict) -> list[tuple[int, int, int]]:
    pp, pq = market.inst.parse_price, market.inst.parse_qty
    out = [(BID, pp(p), pq(q)) for p, q in data["b"]]
    out += [(ASK, pp(p), pq(q)) for p, q in data["a"]]
    return out


class ReplayDriver:
    """Publishes a `Recording` through a `SymbolMarket` at a speed multiple.

    Parameters
    ----------
    recording : Recording
        Loaded recording.
    market : SymbolMarket
        Market (created with ``mutable=False``) to drive.
    speed : float
        1.0 = recorded pace, 10.0 = ten times faster, 0 = as fast as possible.
    """

    def __init__(self, recording: Recording, market: SymbolMarket, speed: float = 1.0) -> None:
        self.rec = recording
        self.market = market
        self.speed = speed
        self.published = 0
        self.skipped_stale = 0
        self.finished = asyncio.Event()
        self._depth_lines = [i for i, (_, stream, _) in enumerate(recording.lines) if "@depth" in stream]
        self._next_depth = 0  # index into _depth_lines
        self._sync_book()
        self._announce_next_depth(-1)

    def _announce_next_depth(self, index: int) -> None:
        """Tell the market the U of the first depth event after line ``index``."""
        depth = self._depth_lines
        k = self._next_depth
        while k < len(depth) and depth[k] <= index:
            k += 1
        self._next_depth = k
        self.market.next_first_id = _int_field(self.rec.lines[depth[k]][2], '"U":') if k < len(depth) else None

    def _sync_book(self) -> None:
        m = self.market
        snap = self.rec.snapshot
        if snap is None:
            # Without a snapshot the book is only what the diffs touch (documented limitation).
            log.warning("replay_without_snapshot", path=self.rec.path)
            return
        pp, pq = m.inst.parse_price, m.inst.parse_qty
        for p, q in snap["bids"]:
            m.book.bids.set(pp(p), pq(q))
        for p, q in snap["asks"]:
            m.book.asks.set(pp(p), pq(q))
        m.book.last_update_id = m.next_id = snap["lastUpdateId"]
        for data in self.rec.pre_snapshot_depth:
            if data["u"] >= m.book.last_update_id:
                m.apply(_changes(m, data), data["U"], data["u"], data["E"], data["T"], publish_ticker=False)

    def _publish(self, index: int, stream: str, text: str) -> None:
        m = self.market
        kind = stream.partition("@")[2]
        if kind.startswith("depth"):
            self._announce_next_depth(index)
            data = orjson.loads(text)["data"]
            if data["u"] <= m.book.last_update_id:
                # Already contained in the synced book: a synced client would drop it too.
                self.skipped_stale += 1
                return
            raw = data_bytes(text) if stream == m.s_depth0 else None
            m.apply(_changes(m, data), data["U"], data["u"], data["E"], data["T"], data=raw, publish_ticker=False)
        elif kind == "trade":
            data = orjson.loads(text)["data"]
            m.publish_trade(m.inst.parse_price(data["p"]), m.inst.parse_qty(data["q"]), data["m"],
                            data["E"], data["T"], data=data_bytes(text), trade_id=data["t"])
        elif kind == "bookTicker":
            m.forward(stream, data_bytes(text), _int_field(text, '"u":'), _int_field(text, '"E":'))
        else:
            m.forward(stream, data_bytes(text), -1, _int_field(text, '"E":'))
        self.published += 1

    async def run(self) -> None:
        lines = self.rec.lines
        if not lines:
            self.finished.set()
            return
        t0 = lines[0][0]
        w0 = time.monotonic()
        fast = self.speed <= 0
        i, n = 0, len(lines)
        while i < n:
            if fast:
                end = min(i + 500, n)
            else:
                horizon = t0 + (time.monotonic() - w0) * self.speed * 1e9
                end = i
                while end < n and lines[end][0] <= horizon:
                    end += 1
                if end == i:
                    await asyncio.sleep(min(0.05, max(0.0005, (lines[i][0] - horizon) / self.speed / 1e9)))
                    continue
            for index in range(i, end):
                _, stream, text = lines[index]
                self._publish(index, stream, text)
            i = end
            await asyncio.sleep(0)
        log.info("replay_finished", path=self.rec.path, published=self.published)
        self.finished.set()


def _int_field(text: str, key: str) -> int:
    start = text.find(key)
    if start < 0:
        return -1
    start += len(key)
    end = start
    while end < len(text) and text[end].isdigit():
        end += 1
    return int(text[start:end]) if end > start else -1
