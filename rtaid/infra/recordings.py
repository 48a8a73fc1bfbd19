"""The recordings format, read in one place: the shared recordings and the raw journal.

A recording (hftbacktest's collector format, and rtaid's own raw journal) is a text
file, gzip or plain, with one message per line: ``<local receive time> <raw JSON>``.
Local times are ns (µs in some collectors: a first stamp below ``US_LIMIT`` means µs).
Stream messages are combined-stream frames (``{"stream":...,"data":...}``); a REST
depth snapshot is a bare object without a symbol, attributed to the file's symbol.

Damage (a gzip stream cut short, a line cut in the middle, a stamp that is not a
number), as a ``kill -9`` or a full disk leaves a journal, never raises: the reader
yields every readable line, skips the damaged ones and lists each in
``RecordingReader.damage`` with its file and line number, so callers can say what was
skipped and exit non-zero.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np

# Local times below this are microseconds (ns since 1970 passed 1e17 in 1973).
US_LIMIT = 10 ** 17
READ_BLOCK = 1 << 20     # bytes read (decompressed) at a time
CHUNK_LINES = 50_000      # lines per chunk of read_chunks: memory stays flat on a whole day
GZIP_MAGIC = b"\x1f\x8b"
STREAM_SYMBOL = re.compile(rb'"stream"\s*:\s*"([A-Za-z0-9_]+)@')
EVENT_SYMBOL = re.compile(rb'"s"\s*:\s*"([A-Za-z0-9_]+)"')
# the raw journal next to the dataset: <data_dir>/raw/symbol=X/date=D/<sym>_<hour>-<seq>.gz
JOURNAL_DIR = "raw"


@dataclass(frozen=True)
class Damage:
    """One damaged place of a recording: ``str()`` names the file and the line."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line:,}: {self.what}"


class RecordingError(OSError):
    """A recording that cannot be read at all (missing, unreadable)."""


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether a file is gzip (by its magic bytes, not its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


class RecordingReader:
    """Read one recording line by line or in chunks, surviving damage.

    Parameters
    ----------
    path : path-like
        A recording or journal file, gzip or plain text.
    max_lines : int, optional
        Stop after this many lines (tests, quick looks).
    """

    def __init__(self, path: str | os.PathLike, max_lines: int | None = None) -> None:
        self.path = os.fspath(path)
        self.max_lines = max_lines
        self.damage: list[Damage] = []
        self.lines_read = 0
        self._us: bool | None = None
        try:
            self._gzip = is_gzip(self.path)
        except OSError as exc:
            raise RecordingError(f"{self.path}: {exc.strerror or exc}") from exc

    def _open(self):
        return gzip.open(self.path, "rb") if self._gzip else open(self.path, "rb")

    def _raw_lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, bytes without the newline), read in large blocks. A compressed
        stream cut short ends the file with a damage entry (the partial line at the cut
        is dropped)."""
        n = 0
        rest = b""
        with self._open() as fh:
            while True:
                try:
                    block = fh.read1(READ_BLOCK)
                except EOFError:
                    self.damage.append(Damage(self.path, n + 1, "compressed stream cut short "
                                                                "(the rest of the file is lost)"))
                    return
                except (zlib.error, gzip.BadGzipFile, OSError) as exc:
                    self.damage.append(Damage(self.path, n + 1, f"unreadable from here on "
                                                                f"({type(exc).__name__}: {exc})"))
                    return
                if not block:
                    if rest:
                        yield n + 1, rest.rstrip(b"\r")
                    return
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    n += 1
                    yield n, line.rstrip(b"\r") if line.endswith(b"\r") else line

    def lines(self) -> Iterator[tuple[int, int, bytes]]:
        """Yield ``(line number, recv_ns, payload)`` for every readable message line."""
        for n, line in self._raw_lines():
            if self.max_lines is not None and self.lines_read >= self.max_lines:
                return
            if not line.strip():
                continue
            stamp, _, payload = line.strip().partition(b" ")
            try:
                recv = int(stamp)
            except ValueError:
                self.damage.append(Damage(self.path, n, "no receive time before the message"))
                continue
            if not payload:
                self.damage.append(Damage(self.path, n, "receive time without a message"))
                continue
            if self._us is None:
                self._us = recv < US_LIMIT
            self.lines_read += 1
            yield n, recv * 1000 if self._us else recv, payload

    def chunks(self, chunk_lines: int = CHUNK_LINES):
        """Yield ``(buf, offsets, recv_ns, line_numbers)`` for successive runs of lines:
        frame i is ``buf[offsets[i]:offsets[i+1]]``, received at ``recv_ns[i]`` (ns),
        from line ``line_numbers[i]`` of the file."""
        stamps: list[int] = []
        payloads: list[bytes] = []
        numbers: list[int] = []
        for n, recv, payload in self.lines():
            stamps.append(recv)
            payloads.append(payload)
            numbers.append(n)
            if len(payloads) == chunk_lines:
                yield (*pack(payloads, stamps), np.asarray(numbers, dtype=np.int64))
                stamps, payloads, numbers = [], [], []
        if payloads:
            yield (*pack(payloads, stamps), np.asarray(numbers, dtype=np.int64))

    def frames(self) -> tuple[list[bytes], np.ndarray]:
        """Every payload and its receive time (ns), in memory (tests, benchmarks, demo)."""
        stamps, payloads = [], []
        for _, recv, payload in self.lines():
            stamps.append(recv)
            payloads.append(payload)
        return payloads, np.array(stamps, dtype=np.int64)

    def symbol(self) -> str | None:
        """The symbol of the first line that names one (stream name or ``"s"``)."""
        for _, _, payload in self.lines():
            match = STREAM_SYMBOL.search(payload) or EVENT_SYMBOL.search(payload)
            if match:
                return match.group(1).decode().upper()
        return None


def pack(payloads: list[bytes], stamps=None) -> tuple[bytes, np.ndarray, np.ndarray]:
    """One buffer, its int64 offsets (n + 1) and the int64 receive times (0 if none)."""
    offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
    if payloads:
        np.cumsum([len(p) for p in payloads], out=offsets[1:])
    recv = (np.asarray(stamps, dtype=np.int64) if stamps is not None
            else np.zeros(len(payloads), dtype=np.int64))
    return b"".join(payloads), offsets, recv


def read_frames(path: str | os.PathLike, max_lines: int | None = None):
    """``(payloads, recv_ns)`` of a whole recording (raises RecordingError if unreadable)."""
    return RecordingReader(path, max_lines).frames()


def recording_symbol(path: str | os.PathLike) -> str | None:
    """The symbol a recording is about (read until the first line that names one)."""
    return RecordingReader(path).symbol()


# --------------------------------------------------------------------------- scan
@dataclass
class RecordingScan:
    """What a pre-pass over recordings found (what replay needs before the first frame).

    ``decimals``: ``{SYMBOL: [px_dec, qty_dec]}``, the most decimals seen in the
    symbol's depth, bookTicker and trade strings and its snapshot levels;
    ``has_bbo``: symbols with at least one bookTicker line; ``file_symbol``:
    ``{path: SYMBOL}`` of each file's stream lines (a file with a snapshot must have
    exactly one).
    """

    decimals: dict
    has_bbo: set
    file_symbol: dict
    damage: list


def _decimals(text: str) -> int:
    dot = text.find(".")
    return 0 if dot < 0 else len(text) - dot - 1


def scan(paths, max_lines: int | None = None) -> RecordingScan:
    """Pre-scan recordings for each symbol's decimals, bookTicker presence and each
    file's symbol.

    Raises
    ------
    ValueError
        A file with a snapshot line and not exactly one symbol in its stream lines.
    """
    import orjson

    dec: dict[str, list[int]] = {}
    has_bbo: set[str] = set()
    file_symbol: dict[str, str] = {}
    damage: list[Damage] = []
    for path in paths:
        path = os.fspath(path)
        reader = RecordingReader(path, max_lines)
        syms: set[str] = set()
        snapshots = []
        for n, _, payload in reader.lines():
            try:
                msg = orjson.loads(payload)
            except orjson.JSONDecodeError:
                damage.append(Damage(path, n, "not JSON (the replay skips it)"))
                continue
            if not isinstance(msg, dict):
                continue
            data = msg.get("data")
            if not isinstance(data, dict):
                if "lastUpdateId" in msg:
                    snapshots.append(msg)
                continue
            kind = data.get("e")
            try:
                if kind == "depthUpdate":
                    pairs = data["b"] + data["a"]
                elif kind == "bookTicker":
                    pairs = [(data["b"], data["B"]), (data["a"], data["A"])]
                    has_bbo.add(data["s"])
                elif kind in ("trade", "aggTrade"):
                    pairs = [(data["p"], data["q"])]
                else:
                    continue
                sym = data["s"]
            except (KeyError, TypeError):
                continue
            syms.add(sym)
            d = dec.setdefault(sym, [0, 0])
            for px, qty in pairs:
                d[0] = max(d[0], _decimals(px))
                d[1] = max(d[1], _decimals(qty))
        damage.extend(reader.damage)
        if len(syms) == 1:
            file_symbol[path] = next(iter(syms))
        if snapshots:
            if len(syms) != 1:
                raise ValueError(f"{path}: cannot attribute a snapshot to one symbol "
                                 f"(stream symbols: {sorted(syms)})")
            d = dec.setdefault(file_symbol[path], [0, 0])
            for snap in snapshots:
                for px, qty in snap.get("bids", []) + snap.get("asks", []):
                    d[0] = max(d[0], _decimals(px))
                    d[1] = max(d[1], _decimals(qty))
    return RecordingScan(dec, has_bbo, file_symbol, damage)


# --------------------------------------------------------------------------- journal
# the exchangeInfo a daemon ran with, kept beside its journal: raw/exchangeInfo-<UTC>.json
EXCHANGE_INFO_PREFIX = "exchangeInfo-"
JOURNAL_HOUR = re.compile(r"_(\d{8}T\d{2})-\d+\.gz$")


def exchange_info_path(data_dir: str | os.PathLike, when_s: float) -> str:
    """Where a daemon keeps the exchangeInfo it starts with (its UTC start time)."""
    import time as _time

    stamp = _time.strftime("%Y%m%dT%H%M%S", _time.gmtime(when_s))
    return os.path.join(os.fspath(data_dir), JOURNAL_DIR, f"{EXCHANGE_INFO_PREFIX}{stamp}.json")


def journal_exchange_info(paths) -> str | None:
    """The exchangeInfo saved beside the raw journal files ``paths``: the newest one saved
    no later than the earliest file's hour (the one that run started with), else the
    oldest; None when the paths are not journal files or none was saved."""
    hours, roots = [], set()
    for path in paths:
        path = os.path.abspath(os.fspath(path))
        match = JOURNAL_HOUR.search(os.path.basename(path))
        parts = path.split(os.sep)
        if not match or len(parts) < 4 or not parts[-3].startswith("symbol="):
            return None
        hours.append(match.group(1))
        roots.add(os.sep.join(parts[:-3]))
    if len(roots) != 1:
        return None
    root = roots.pop()
    saved = sorted(f for f in os.listdir(root)
                   if f.startswith(EXCHANGE_INFO_PREFIX) and f.endswith(".json"))
    if not saved:
        return None
    first_hour = min(hours)                  # YYYYMMDDTHH
    older = [f for f in saved if f[len(EXCHANGE_INFO_PREFIX):][:11] <= first_hour]
    return os.path.join(root, older[-1] if older else saved[0])
def journal_files(data_dir: str | os.PathLike, symbols=None) -> list[str]:
    """The raw journal's complete files under a data dir, per symbol in time order
    (``<data_dir>/raw/symbol=X/date=D/<sym>_<YYYYMMDDTHH>-<seq>.gz``; temporary
    dot-files of a running or killed daemon excluded)."""
    root = os.path.join(os.fspath(data_dir), JOURNAL_DIR)
    out = []
    if not os.path.isdir(root):
        return out
    for sym_dir in sorted(os.listdir(root)):
        if not sym_dir.startswith("symbol="):
            continue
        if symbols is not None and sym_dir[7:] not in {s.upper() for s in symbols}:
            continue
        base = os.path.join(root, sym_dir)
        for date_dir in sorted(os.listdir(base)):
            day = os.path.join(base, date_dir)
            out.extend(os.path.join(day, f) for f in sorted(os.listdir(day))
                       if f.endswith(".gz") and not f.startswith("."))
    return out
