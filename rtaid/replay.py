"""``rtaid replay``: recordings -> the daemon's kernels -> the Parquet dataset, offline.

Input is the collector format of the shared recordings (gzip or plain text, one
``<local time> <JSON>`` line per message, local times in ns or us, REST snapshot lines
without a symbol). Files are processed in the order given and form one chain: the
engine and its books carry over from one file to the next. A file's snapshot lines
are attributed to the symbol of that file's stream lines.

Replay is deterministic: the engine runs in this thread and, before each stretch of
frames, the rings are drained so that they have room for anything a frame can
produce (nothing is ever dropped); files rotate only on size and exchange-time date.

The signal kernels run as in the daemon, with the parameters of the config (or
``params``) resolved per symbol as ``rtaid.reference.pipeline.run_recording`` does
(Decisions P1, P3: decimals from the data, or from exchangeInfo when given; tick from
exchangeInfo; L1 from the book for a symbol without bookTicker lines), which costs a
pre-scan of the input in Python (about 6 us per line). Open bars are closed at the
end of the input, as the reference does.
"""
from __future__ import annotations

import gzip
import re
import sys
import time
from dataclasses import dataclass, field, replace

import numpy as np

from rtaid._kernels.engine import Engine
from rtaid._kernels.signals import SignalParams, resolve_params
from rtaid.store.service import Store

STREAM_SYMBOL = re.compile(rb'"stream"\s*:\s*"([A-Za-z0-9_]+)@')
EVENT_SYMBOL = re.compile(rb'"s"\s*:\s*"([A-Za-z0-9_]+)"')
# Local times below this are microseconds (ns since 1970 passed 1e17 in 1973).
US_LIMIT = 10 ** 17
MAX_MESSAGE_LEVELS = 8192
BUFFER_EVENTS = 4096
CHUNK_LINES = 50_000   # lines read and run at a time: memory stays flat on a whole day


def _open(path: str):
    """Open a recording, gzip or plain text (by its magic bytes)."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def recording_symbol(path: str) -> str | None:
    """The symbol of a recording's stream lines (read until the first one)."""
    with _open(path) as fh:
        for line in fh:
            match = STREAM_SYMBOL.search(line) or EVENT_SYMBOL.search(line)
            if match:
                return match.group(1).decode().upper()
    return None


def read_chunks(path: str, chunk_lines: int = CHUNK_LINES):
    """Yield ``(buf, offsets, recv_ns)`` for successive runs of a recording's lines.

    ``offsets`` has one more entry than there are frames; ``recv_ns`` is in ns even
    when the file has microseconds (decided on its first line).
    """
    scale = None
    with _open(path) as fh:
        while True:
            stamps, payloads = [], []
            for line in fh:
                stamp, _, payload = line.strip().partition(b" ")
                if payload:
                    stamps.append(int(stamp))
                    payloads.append(payload)
                    if len(payloads) == chunk_lines:
                        break
            if not payloads:
                return
            recv_ns = np.array(stamps, dtype=np.int64)
            if scale is None:
                scale = 1000 if recv_ns[0] < US_LIMIT else 1
            if scale != 1:
                recv_ns *= scale
            offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(p) for p in payloads])
            yield b"".join(payloads), offsets, recv_ns


@dataclass
class ReplaySummary:
    """What a replay did (``str()`` is the printed summary)."""

    files: int = 0
    frames: int = 0
    seconds: float = 0.0
    messages: dict = field(default_factory=dict)
    decode_results: dict = field(default_factory=dict)
    books: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    files_written: int = 0

    def __str__(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        lines = [f"replayed {self.frames:,} frames from {self.files} file(s) in "
                 f"{self.seconds:.2f} s ({rate:,.0f} frames/s)"]
        lines.append("messages: " + ", ".join(f"{k} {v:,}" for k, v in self.messages.items()))
        bad = {k: v for k, v in self.decode_results.items() if k != "ok"}
        if bad:
            lines.append("not decoded: " + ", ".join(f"{k} {v:,}" for k, v in bad.items()))
        for sym, stats in self.books.items():
            lines.append(f"book {sym}: synced {stats['synced']}, gaps {stats['gap']}, "
                         f"crossed {stats['crossed']}, applied {stats['applied']:,}, "
                         f"state {stats['state']}")
        lines.append("rows: " + ", ".join(f"{k} {v:,}" for k, v in self.rows.items()))
        lines.append(f"files written: {self.files_written}")
        if any(self.dropped.values()):
            lines.append("DROPPED rows: " + ", ".join(
                f"{k} {v:,}" for k, v in self.dropped.items() if v))
        return "\n".join(lines)


def replay(paths, out_dir: str, *, storage=None, scales=None, params=None,
           exchange_info=None, signals: bool = True, ring_records: int = 1 << 16,
           **store_options) -> ReplaySummary:
    """Replay recordings through the kernels into a dataset under ``out_dir``.

    Parameters
    ----------
    paths : sequence of path-like
        Recordings, in chain order.
    out_dir : str
        Root of the dataset to write.
    storage : rtaid.infra.config.StorageConfig, optional
        Compression, size rotation and tables come from here.
    scales : dict, optional
        ``{SYMBOL: (px_dec, qty_dec)}`` (from exchangeInfo); missing symbols take the
        most decimals their data shows.
    params : Params or dict, optional
        Signal parameters (``rtaid.reference.indicators.Params``), one for every symbol
        or ``{SYMBOL: Params}``; default: indicators.md's defaults.
    exchange_info : dict or str, optional
        An exchangeInfo answer (or its path): the symbols' tick sizes.
    signals : bool
        Run the signal kernels (tables indicators, bars_1m, signals).
    ring_records : int
        Records per table ring; at least twice what one frame can produce.

    Returns
    -------
    ReplaySummary
    """
    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    file_symbols = [recording_symbol(p) for p in paths]
    symbols = []
    for path, sym in zip(paths, file_symbols):
        if sym is None:
            raise ValueError(f"{path}: no stream line names a symbol")
        if sym not in symbols:
            symbols.append(sym)
    signal_params, l1_from_book = {}, set()
    engine_scales = dict(scales or {})
    if signals:
        resolved, l1_from_book, _ = resolve_params(paths, params, exchange_info)
        for sym, p in resolved.items():
            # the decoder and the kernels must agree on the decimals
            px_dec, qty_dec = engine_scales.setdefault(sym, (p.px_dec, p.qty_dec))
            signal_params[sym] = SignalParams(replace(p, px_dec=px_dec, qty_dec=qty_dec))
    engine = Engine(symbols, scales=engine_scales, buffer_events=BUFFER_EVENTS,
                    max_message_levels=MAX_MESSAGE_LEVELS, signal_params=signal_params,
                    l1_from_book=l1_from_book)
    options = dict(tables=None, compression="zstd", rotate_mb=256)
    if storage is not None:
        options.update(tables=storage.tables, compression=storage.compression,
                       rotate_mb=storage.rotate_mb)
    options.update(store_options)
    # no time rotation, no time-based row groups, no retention: the output depends on
    # the input only (and retention would delete an old recording's partitions)
    options.update(rotate_s=None, row_group_s=None, retention_days=0, raw_journal=False)
    store = Store(engine, str(out_dir), ring_records=ring_records, **options)
    # room for the most one frame can produce: a full snapshot's levels plus every
    # buffered event replayed after it (a book_top and a book_events row each)
    reserve = 2 * MAX_MESSAGE_LEVELS + 2 * BUFFER_EVENTS + 16
    if store.rings.capacity < 2 * reserve:
        raise ValueError(f"ring_records must be at least {2 * reserve}")
    frames = 0
    for path, sym_name in zip(paths, file_symbols):
        sym = symbols.index(sym_name)
        for buf, offsets, recv_ns in read_chunks(path):
            n = len(offsets) - 1
            i = 0
            while i < n:
                i = engine.run_frames_paced(buf, offsets, recv_ns, sym, i, reserve)
                store.writer.flush()
            frames += n
    engine.finish_signals()
    store.stop()
    summary = ReplaySummary(files=len(paths), frames=frames)
    summary.seconds = time.perf_counter() - t0
    summary.messages = engine.decoder.kind_counts()
    summary.decode_results = engine.decoder.counts()
    for i, sym in enumerate(symbols):
        stats = engine.book_stats(i)
        stats["state"] = engine.book_state(i)
        summary.books[sym] = stats
    stats = store.stats()
    summary.rows = stats["rows_written"]
    summary.dropped = {k: stats["rows_dropped_ring"][k] + stats["rows_dropped_io"][k]
                       for k in summary.rows}
    summary.files_written = stats["files_written"]
    return summary


DEFAULT_OUT = "out"


def main(args) -> int:
    """``rtaid replay FILE... [--out DIR]``: the handler ``rtaid.cli`` dispatches to."""
    from rtaid.cli import load_config_from_args

    from rtaid.infra import exchange_info

    from rtaid.reference.indicators import Params

    config = load_config_from_args(args)
    out = args.out or DEFAULT_OUT
    info_path = args.exchange_info or config.exchange.exchange_info_file
    try:
        info = exchange_info.load(info_path) if info_path else None
        scales = exchange_info.scales(info) if info is not None else None
        params = _ConfigParams(config, Params)
        summary = replay(args.files, out, storage=config.storage, scales=scales,
                         params=params, exchange_info=info)
    except (OSError, ValueError) as exc:
        print(f"rtaid replay: {exc}", file=sys.stderr)
        return 1
    print(summary)
    print(f"dataset: {out}")
    return 1 if any(summary.dropped.values()) else 0


class _ConfigParams(dict):
    """``{SYMBOL: Params}`` from a config, for any symbol: ``[symbols.X]`` overrides
    apply to the symbols of ``feed.symbols``, the global sections to the others."""

    def __init__(self, config, params_cls):
        super().__init__()
        self._config = config
        self._cls = params_cls

    def get(self, symbol, default=None):
        if symbol not in self:
            cfg = (self._config.for_symbol(symbol) if symbol in self._config.feed.symbols
                   else self._config)
            self[symbol] = self._cls.from_config(cfg)
        return self[symbol]
