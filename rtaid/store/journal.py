"""Raw journal: every received frame as ``<recv ns> <payload>`` lines, gzip, hourly.

The engine copies each frame into a per-symbol byte ring (frames of no known symbol
go to the last ring); the store's writer thread calls :meth:`RawJournal.flush`, which
formats the lines in C and appends them to
``<data_dir>/raw/symbol=<SYMBOL>/date=<YYYY-MM-DD>/<symbol>_<YYYYMMDD>T<HH>-<seq>.gz``
by the frames' local receive hour. That is the collector format of the shared
recordings, one symbol per file, so ``rtaid replay`` attributes each file's REST
snapshot lines to its symbol and a recorded day replays exactly. A file is written
under a dot-prefixed temporary name and renamed when its hour is over.
"""
from __future__ import annotations

import datetime as dt
import gzip
import os
import time
from typing import Callable, Sequence

import numpy as np

from rtaid.infra.log import RateLimitedLog, get_logger
from rtaid.store.partfile import discard, publish

NS_PER_HOUR = 3_600_000_000_000
UNKNOWN_SYMBOL = "_unknown"


class _HourFile:
    def __init__(self, final_path: str, hour: int, compresslevel: int) -> None:
        self.final_path = final_path
        directory, name = os.path.split(final_path)
        self.tmp_path = os.path.join(directory, f".{name}.tmp")
        self.hour = hour
        self.lines = 0
        self._raw = open(self.tmp_path, "wb")
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=compresslevel)

    def write(self, data, lines: int) -> None:
        self._gz.write(data)   # zlib deflates without the GIL
        self.lines += lines

    def close(self) -> None:
        self._gz.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        publish(self.tmp_path, self.final_path)

    def abort(self) -> None:
        discard(self.tmp_path, self._gz.close, self._raw.close)


class RawJournal:
    """Write the frames of a ``ByteRings`` to hourly gzip files.

    Parameters
    ----------
    rings : rtaid._kernels.ring.ByteRings
        One ring per symbol and a last one for frames of no known symbol.
    symbols : sequence of str
        Symbol names by index.
    data_dir : str
        Root of the dataset; files go under ``raw/``.
    ring_bytes : int
        Capacity of each ring (sizes the drain buffer).
    now_ns : callable
        Wall clock in ns: a file whose hour has passed is closed even with no new frame.
    """

    def __init__(self, rings, symbols: Sequence[str], data_dir: str, ring_bytes: int,
                 compresslevel: int = 5, retry_s: float = 5.0,
                 now_ns: Callable[[], int] = time.time_ns, logger=None) -> None:
        self.rings = rings
        self.names = list(symbols) + [UNKNOWN_SYMBOL]
        if len(rings) != len(self.names):
            raise ValueError(f"{len(self.names)} rings needed, got {len(rings)}")
        self.root = os.path.join(str(data_dir), "raw")
        self.compresslevel = compresslevel
        self.retry_s = retry_s
        self.now_ns = now_ns
        self.log = logger or get_logger("rtaid.store.journal")
        self.rate_log = RateLimitedLog(self.log, 10.0)
        # a frame never exceeds its ring, so one drain always makes progress
        self._out = np.empty(ring_bytes + (1 << 16), dtype=np.uint8)
        n_max = ring_bytes // 16 + 1
        self._stamps = np.empty(n_max, dtype=np.int64)
        self._ends = np.empty(n_max, dtype=np.int64)
        self.buffer_bytes = self._out.nbytes + self._stamps.nbytes + self._ends.nbytes
        self._files: dict[int, _HourFile] = {}
        self._seq: dict[tuple, int] = {}
        self._failed_until = 0.0
        self.lines_written = 0
        self.lines_dropped = 0
        self.files_written = 0
        self.last_error: str | None = None

    def flush(self, final: bool = False) -> None:
        """Move every ring's frames to their files; close all files if final."""
        for i in range(len(self.names)):
            while True:
                n = self.rings.drain_lines(i, self._out, self._stamps, self._ends)
                if n == 0:
                    break
                self._write_lines(i, n)
        now_hour = self.now_ns() // NS_PER_HOUR
        for i in list(self._files):
            if final or self._files[i].hour < now_hour:
                self._close(i)

    def _write_lines(self, i: int, n: int) -> None:
        if time.monotonic() < self._failed_until:
            self.lines_dropped += n
            return
        hours = self._stamps[:n] // NS_PER_HOUR
        cuts = [0, *(np.flatnonzero(np.diff(hours)) + 1).tolist(), n]
        view = memoryview(self._out)
        for a, b in zip(cuts[:-1], cuts[1:]):
            start = int(self._ends[a - 1]) if a else 0
            try:
                f = self._file(i, int(hours[a]))
                f.write(view[start:int(self._ends[b - 1])], b - a)
            except OSError as exc:
                self._fail(i, exc, n - a)
                return
            self.lines_written += b - a

    def _file(self, i: int, hour: int) -> _HourFile:
        f = self._files.get(i)
        if f is not None and f.hour == hour:
            return f
        if f is not None:
            self._close(i)
        stamp = dt.datetime.fromtimestamp(hour * 3600, dt.timezone.utc)
        name = self.names[i]
        directory = os.path.join(self.root, f"symbol={name}", f"date={stamp:%Y-%m-%d}")
        os.makedirs(directory, exist_ok=True)
        seq = self._seq.get((i, hour), 0)
        while True:
            path = os.path.join(directory, f"{name.lower()}_{stamp:%Y%m%dT%H}-{seq:04d}.gz")
            seq += 1
            if not os.path.exists(path):
                break
        self._seq[(i, hour)] = seq
        f = self._files[i] = _HourFile(path, hour, self.compresslevel)
        return f

    def _close(self, i: int) -> None:
        f = self._files.pop(i)
        try:
            f.close()
        except OSError as exc:
            f.abort()
            self.lines_written -= f.lines
            self._fail(i, exc, f.lines)
            return
        self.files_written += 1

    def _fail(self, i: int, exc: OSError, lines: int) -> None:
        f = self._files.pop(i, None)
        if f is not None:
            f.abort()
            self.lines_written -= f.lines
            lines += f.lines
        self.lines_dropped += lines
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._failed_until = time.monotonic() + self.retry_s
        self.rate_log.error(("journal", self.names[i]), "journal_write_failed",
                            error=self.last_error, lines_dropped=lines)

    def stats(self) -> dict:
        return {
            "lines_written": self.lines_written,
            "lines_dropped_io": self.lines_dropped,
            "lines_dropped_ring": sum(self.rings.dropped(i) for i in range(len(self.names))),
            "files_written": self.files_written,
            "last_error": self.last_error,
        }
