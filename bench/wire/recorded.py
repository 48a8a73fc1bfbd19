"""The shared recordings as an endless, consistent stream of pre-encoded WebSocket frames.

Each recording (one symbol) is cut after its REST snapshot: the book at that point
(snapshot + the recorded diffs that bridge it) is the start book, the frames after it
are the loop body. The bodies of all recordings are merged by receive time into one
timeline that repeats forever. Loop k is loop 0 with

- update ids (depth U/u/pu, bookTicker u) + k * S_symbol and trade ids + k * St_symbol,
  so every diff's ``pu`` is the previous diff's ``u`` across loops and ids only grow;
- exchange times (E, T) + k * D, D = the timeline's span + 1 ms, so windows and bars
  see time run on (loop 0 starts at the wall-clock time the generator starts);
- one extra depth diff per symbol at the end of each loop (the *bridge*) that turns
  the book the loop ends with back into the start book, so books stay synced and never
  cross.

Every frame is encoded once (header + the recorded JSON, byte for byte apart from those
numbers); a loop change rewrites the numbers in place (patch.pyx, a few ms per loop). ``snapshot(symbol, position, loop)`` answers ``GET /fapi/v1/depth`` for
any point of the stream: the book there and, as ``lastUpdateId``, the ``U`` of the
symbol's next diff (the state is the same up to it).
"""
from __future__ import annotations

import bisect
import gzip
import re
import time
from dataclasses import dataclass, field

import numpy as np
import orjson

KINDS = ("depth", "bbo", "trade")
STREAM_SUFFIX = {"depth": "@depth@0ms", "bbo": "@bookTicker", "trade": "@trade"}
# numbers rewritten per loop, by message kind
PATCHED = {"depth": (b'"E":', b'"T":', b'"U":', b'"u":', b'"pu":'),
           "bbo": (b'"E":', b'"T":', b'"u":'),
           "trade": (b'"E":', b'"T":', b'"t":')}
CHECKPOINT_EVERY = 512      # depth diffs between stored books (snapshots replay the rest)
NUMBER = re.compile(rb'"(E|T|U|u|pu|t)":(\d+)')


def ws_header(n: int) -> bytes:
    """Header of an unmasked, final text frame of n payload bytes (server -> client)."""
    if n < 126:
        return bytes((0x81, n))
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big")
    return bytes((0x81, 127)) + n.to_bytes(8, "big")


def _price_key(px: str) -> float:
    return float(px)        # distinct decimal prices stay distinct (and ordered) as floats


@dataclass
class SymbolTrack:
    """One symbol's part of the timeline."""

    symbol: str
    start_bids: dict          # price key -> (price, qty) strings: the book loop 0 starts with
    start_asks: dict
    first_pu: int             # pu of the body's first diff = u of the start book
    id_step: int = 0          # S: update ids advance this much per loop
    trade_step: int = 1       # St: trade ids advance this much per loop
    depth_pos: list = field(default_factory=list)     # timeline index of each body diff
    depth_U: list = field(default_factory=list)       # loop-0 U of each body diff
    diffs: list = field(default_factory=list)         # (bids, asks) [(px, qty)] of each body diff
    checkpoints: list = field(default_factory=list)   # (bids, asks) dicts before diff c * CHECKPOINT_EVERY
    bridge_U: int = 0         # loop-0 ids of the bridge diff (U = u)


class LoopedRecordings:
    """The merged, looping timeline of one or more collector recordings.

    Attributes
    ----------
    n : int
        Frames per loop (bridges included).
    stream_names : list of str
        Stream name of each stream code (``btcusdt@depth@0ms`` ...).
    code : numpy int16 array (n,)
        Stream code of each frame; ``sym``/``kind`` its symbol and kind index.
    ids, id_steps : numpy int64 arrays (n,)
        Loop-0 id of each frame (u of bbo/depth, t of trades) and what it gains per loop.
    """

    def __init__(self, paths, start_ms: int | None = None, max_lines: int | None = None):
        tracks, lines = [], []
        for s, path in enumerate(paths):
            track, body = self._load(path, max_lines)
            tracks.append(track)
            lines += [(recv, s, kind, text) for recv, kind, text in body]
        lines.sort(key=lambda x: x[0])
        self.tracks = tracks
        self.symbols = [t.symbol for t in tracks]
        # exchange-time shift: loop 0 starts now; D = the timeline's span + 1 ms
        times = [_field(text, key) for _, _, _, text in lines for key in (b'"E":', b'"T":')]
        t_first, t_last = min(times), max(times)
        self.time_shift = (int(time.time() * 1000) if start_ms is None else start_ms) - t_first
        self.time_step = t_last - t_first + 1
        self.last_time = t_last
        self._build(lines)

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _load(path, max_lines=None):
        """A recording's start book and loop body (at most ``max_lines`` lines read)."""
        opener = gzip.open if str(path).endswith(".gz") else open
        symbol, snap, pre, body = None, None, [], []
        with opener(path, "rb") as fh:
            for n, line in enumerate(fh):
                if max_lines is not None and n >= max_lines:
                    break
                recv, _, text = line.rstrip(b"\r\n").partition(b" ")
                if not text:
                    continue
                if not text.startswith(b'{"stream":"'):
                    if snap is None and b'"lastUpdateId"' in text:
                        snap = orjson.loads(text)
                    continue
                stream = text[11:text.index(b'"', 11)].decode()
                sym, _, suffix = stream.partition("@")
                if symbol is None:
                    symbol = sym.upper()
                elif sym.upper() != symbol:
                    raise ValueError(f"{path}: more than one symbol ({symbol}, {sym.upper()})")
                kind = {"depth@0ms": "depth", "bookTicker": "bbo", "trade": "trade"}.get(suffix)
                if kind is None:
                    raise ValueError(f"{path}: stream {stream} is not served by the bench generator")
                if snap is None:
                    if kind == "depth":
                        pre.append(orjson.loads(text)["data"])
                    continue
                body.append((int(recv), kind, text))
        if symbol is None or snap is None:
            raise ValueError(f"{path}: needs stream lines and a REST snapshot line")
        bids = {_price_key(p): (p, q) for p, q in snap["bids"]}
        asks = {_price_key(p): (p, q) for p, q in snap["asks"]}
        last = snap["lastUpdateId"]
        for data in pre:                     # the diffs that bridge the snapshot
            if data["u"] >= snap["lastUpdateId"]:
                _apply(bids, asks, data["b"], data["a"])
                last = data["u"]
        first = next((orjson.loads(t)["data"] for _, k, t in body if k == "depth"), None)
        if first is None or first["pu"] != last:
            raise ValueError(f"{path}: the first diff after the snapshot does not continue it")
        return SymbolTrack(symbol, bids, asks, first_pu=last), body

    def _build(self, lines) -> None:
        tracks = self.tracks
        self.stream_names = [t.symbol.lower() + STREAM_SUFFIX[k] for t in tracks for k in KINDS]
        # per symbol: replay the body to get every diff, the checkpoints and the bridge
        bids = [dict(t.start_bids) for t in tracks]
        asks = [dict(t.start_asks) for t in tracks]
        ids = [[t.first_pu] for t in tracks]          # every update id of the body
        trade_ids = [[] for _ in tracks]
        last_u = [t.first_pu for t in tracks]
        frames = []      # (sym, kind, text)
        for _, s, kind, text in lines:
            t = tracks[s]
            if kind == "depth":
                data = orjson.loads(text)["data"]
                if data["pu"] != last_u[s]:
                    raise ValueError(f"{t.symbol}: the recording's diffs break at u={data['u']}")
                if len(t.diffs) % CHECKPOINT_EVERY == 0:
                    t.checkpoints.append((dict(bids[s]), dict(asks[s])))
                t.depth_pos.append(len(frames))
                t.depth_U.append(data["U"])
                t.diffs.append((data["b"], data["a"]))
                _apply(bids[s], asks[s], data["b"], data["a"])
                last_u[s] = data["u"]
                ids[s] += (data["U"], data["u"])
            elif kind == "bbo":
                ids[s].append(_field(text, b'"u":'))
            else:
                trade_ids[s].append(_field(text, b'"t":'))
            frames.append((s, kind, text))
        for s, t in enumerate(tracks):
            # the bridge's id B is above every id of the loop; the next loop continues the
            # chain from it (first pu + S = B) and every one of its ids is above the loop's
            lo, hi = min(ids[s]), max(ids[s])
            t.bridge_U = hi + 1 + max(0, t.first_pu - lo)
            t.id_step = t.bridge_U - t.first_pu
            if trade_ids[s]:
                t.trade_step = max(trade_ids[s]) - min(trade_ids[s]) + 1
            t.end_book = (bids[s], asks[s])
            data = {"e": "depthUpdate", "E": self.last_time, "T": self.last_time, "s": t.symbol,
                    "U": t.bridge_U, "u": t.bridge_U, "pu": last_u[s],
                    "b": _book_diff(bids[s], t.start_bids), "a": _book_diff(asks[s], t.start_asks)}
            t.depth_pos.append(len(frames))
            t.depth_U.append(t.bridge_U)
            frames.append((s, "depth", orjson.dumps({"stream": self.stream_names[s * 3], "data": data})))
        self._encode(frames)

    def _encode(self, frames) -> None:
        n = len(frames)
        self.n = n
        self.code = np.empty(n, np.int16)
        self.ids = np.empty(n, np.int64)        # loop-0 id (u or t) of each frame
        self.id_steps = np.empty(n, np.int64)
        self.times = np.empty(n, np.int64)      # loop-0 T of each frame, as recorded
        texts, fields = [], []
        kind_index = {k: i for i, k in enumerate(KINDS)}
        for i, (s, kind, text) in enumerate(frames):
            t = self.tracks[s]
            self.code[i] = s * 3 + kind_index[kind]
            texts.append(text)
            found = {m.group(1): m for m in NUMBER.finditer(text)}
            for key in PATCHED[kind]:
                m = found.get(key[1:-2])
                if m is None:
                    raise ValueError(f"frame {i} ({self.stream_names[self.code[i]]}) has no {key.decode()}")
                start, end = m.span(2)
                value = int(m.group(2))
                if key == b'"E":' or key == b'"T":':
                    step_kind = 0
                    if key == b'"T":':
                        self.times[i] = value
                elif key == b'"t":':
                    step_kind = 2 + 2 * s
                    self.ids[i], self.id_steps[i] = value, t.trade_step
                else:
                    step_kind = 1 + 2 * s
                    if key == b'"u":':
                        self.ids[i], self.id_steps[i] = value, t.id_step
                fields.append((i, start, end - start, value, step_kind))
        # per step kind: 0 = time (D), 1 + 2s = update ids of symbol s (S), 2 + 2s = trade ids (St)
        self.steps = np.array([self.time_step] + [x for t in self.tracks for x in (t.id_step, t.trade_step)],
                              np.int64)
        self.texts = texts
        self.fields = np.array(fields, dtype=np.int64).reshape(-1, 5)
        self.sym = (self.code // 3).astype(np.int16)
        self.kind = (self.code % 3).astype(np.int16)

    # ------------------------------------------------------------------ stream sets
    def codes_of(self, streams) -> list[int]:
        """Stream codes of stream names; ValueError naming an unknown one."""
        index = {name: i for i, name in enumerate(self.stream_names)}
        out = []
        for name in streams:
            if name not in index:
                raise ValueError(f"stream {name!r} is not served (have: {', '.join(self.stream_names)})")
            out.append(index[name])
        return sorted(set(out))

    def encode_set(self, codes) -> "EncodedSet":
        """The frames of a set of streams, encoded back to back, with their patch table."""
        return EncodedSet(self, codes)

    # ------------------------------------------------------------------ snapshots
    def snapshot(self, symbol: str, position: int, loop: int, limit: int = 1000) -> dict:
        """``GET /fapi/v1/depth`` at a point of the stream: ``position`` frames of loop
        ``loop`` have been sent. The book before the symbol's next diff, whose U is the
        ``lastUpdateId``."""
        s = self.symbols.index(symbol)
        t = self.tracks[s]
        j = bisect.bisect_left(t.depth_pos, position)     # the symbol's next diff
        if j >= len(t.depth_pos):                          # all sent, bridge too
            j, loop = 0, loop + 1
        if j == len(t.diffs):                              # next: the bridge
            bids, asks = t.end_book
        else:
            c = j // CHECKPOINT_EVERY
            bids, asks = (dict(x) for x in t.checkpoints[c])
            for b, a in t.diffs[c * CHECKPOINT_EVERY:j]:
                _apply(bids, asks, b, a)
        when = int(self.times[max(position - 1, 0)]) + self.time_shift + loop * self.time_step
        return {"lastUpdateId": t.depth_U[j] + loop * t.id_step, "E": when, "T": when,
                "bids": [list(bids[k]) for k in sorted(bids, reverse=True)[:limit]],
                "asks": [list(asks[k]) for k in sorted(asks)[:limit]]}


class EncodedSet:
    """One stream set's frames (header + JSON) for a loop, patched in place per loop."""

    def __init__(self, rec: LoopedRecordings, codes):
        self.codes = list(codes)
        mask = np.isin(rec.code, self.codes)
        self.index = np.flatnonzero(mask)              # timeline index of each frame here
        # before[p] = frames of this set among timeline frames [0, p)
        self.before = np.concatenate(([0], np.cumsum(mask))).astype(np.int64)
        parts, offsets = [], [0]
        frame_start = {}
        for i in self.index:
            text = rec.texts[i]
            head = ws_header(len(text))
            frame_start[int(i)] = offsets[-1] + len(head)
            parts.append(head)
            parts.append(text)
            offsets.append(offsets[-1] + len(head) + len(text))
        self.buf = bytearray(b"".join(parts))
        self._bufs = [self.buf, None]
        self.offsets = np.array(offsets, np.int64)
        f = rec.fields[np.isin(rec.fields[:, 0], self.index)]
        self.pos = np.array([frame_start[int(i)] for i in f[:, 0]], np.int64) + f[:, 1]
        self.width = f[:, 2].astype(np.int64)
        self.step_kind = f[:, 4].astype(np.int64)
        self.base = f[:, 3] + np.where(self.step_kind == 0, rec.time_shift, 0)
        self.steps = rec.steps
        self.loop = -1
        self.ids = rec.ids[self.index]
        self.id_steps = rec.id_steps[self.index]
        self.stream = rec.code[self.index]

    def set_loop(self, k: int, reuse: bool = True) -> None:
        """Rewrite the numbers for loop k (no-op if already there).

        Loops alternate between two buffers, so that data of the previous loop still
        queued in a transport (written without a copy) is never rewritten. The caller
        passes ``reuse=False`` when the buffer of loop k - 2 may still be queued
        somewhere: loop k then gets a fresh copy.
        """
        if k == self.loop:
            return
        from bench.wire.build import load

        slot = k % 2
        if self._bufs[slot] is None or not reuse:
            self._bufs[slot] = bytearray(self._bufs[1 - slot])
        buf = self._bufs[slot]
        load("patch").patch_numbers(buf, self.pos, self.width, self.base, self.step_kind, self.steps, k)
        self.buf = buf
        self.loop = k

    def byte_range(self, p0: int, p1: int) -> tuple[int, int, int, int]:
        """(first frame, end frame, first byte, end byte) here of timeline frames [p0, p1)."""
        f0, f1 = int(self.before[p0]), int(self.before[p1])
        return f0, f1, int(self.offsets[f0]), int(self.offsets[f1])


_FIELD_RE: dict = {}


def _field(text: bytes, key: bytes) -> int:
    pattern = _FIELD_RE.get(key)
    if pattern is None:
        pattern = _FIELD_RE[key] = re.compile(re.escape(key) + rb"(\d+)")
    m = pattern.search(text)
    if m is None:
        raise ValueError(f"no {key.decode()} in {text[:80]!r}")
    return int(m.group(1))


def _apply(bids: dict, asks: dict, b, a) -> None:
    for side, levels in ((bids, b), (asks, a)):
        for p, q in levels:
            k = _price_key(p)
            if float(q) == 0.0:
                side.pop(k, None)
            else:
                side[k] = (p, q)


def _book_diff(have: dict, want: dict) -> list:
    """Levels that turn side ``have`` into side ``want`` (absolute sizes, zero deletes)."""
    zero = None
    out = []
    for k, (p, q) in have.items():
        if k not in want:
            if zero is None:
                dec = len(q.partition(".")[2])
                zero = "0." + "0" * dec if dec else "0"
            out.append([p, zero])
    for k, (p, q) in want.items():
        if have.get(k) != (p, q):
            out.append([p, q])
    return out
