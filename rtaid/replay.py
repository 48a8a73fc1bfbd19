"""``rtaid replay``: recordings -> the daemon's Engine -> the Parquet dataset, offline.

Input is the recordings format (rtaid/infra/recordings.py: the shared recordings and
the daemon's raw journal). Files are processed in the order given and form one chain:
the engine and its books carry over from one file to the next. A file's snapshot lines
are attributed to the symbol of that file's stream lines.

The engine is the daemon's own (rtaid/_kernels/engine.pyx): the same decode, book,
signal kernels and records, with its rings drained into the dataset
(:func:`replay`) or into memory (:func:`replay_tables`, for tests and benchmarks), so
a replay and a live run cannot drift apart. It is deterministic: the engine runs in
this thread and, before each stretch of frames, the rings are drained so that they
have room for anything a frame can produce (nothing is ever dropped); files rotate
only on size and exchange-time date.

Signal parameters come from the config (``[symbols.X]`` overrides for the symbols of
``feed.symbols``, the global sections for the others); decimals from exchangeInfo when
given, else the most decimals each symbol's data shows (a pre-scan of the input); tick
from exchangeInfo; L1 from the book for a symbol without bookTicker lines. Open bars
are closed at the end of the input.

Damaged input (a gzip cut short, a line cut mid-JSON, as a killed daemon's journal may
end) is replayed as far as it is readable; every damaged place is named (file and line)
and the exit status is 1.

With ``execution.venue = "paper"`` the strategy trades on the paper venue
(rtaid/exec): the engine stops after each frame that queued execution events and the
execution service handles them before the next frame, as the live daemon does, so the
``orders`` and ``fills`` tables are the same on every replay, and the same as the live
run's for a replay of its journal (the symbols' files run one after another: only
account-wide limits, orders per minute and the daily loss, couple the symbols).
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

from rtaid._kernels.decode import Decoder, result_name
from rtaid._kernels.engine import Engine
from rtaid._kernels.signals import SignalParams
from rtaid.infra import exchange_info as xinfo
from rtaid.infra import preflight
from rtaid.infra.config import Config
from rtaid.infra.recordings import Damage, RecordingReader, journal_exchange_info, scan

MAX_MESSAGE_LEVELS = 8192
BUFFER_EVENTS = 4096
SIGNAL_TABLES = ("indicators", "bars_1m", "signals")
# room the rings need for the most one frame can produce: a full snapshot's levels plus
# every buffered event replayed after it (a book_top and a book_events row each)
FRAME_RESERVE = 2 * MAX_MESSAGE_LEVELS + 2 * BUFFER_EVENTS + 16


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
    damage: list = field(default_factory=list)
    execution: dict | None = None

    @property
    def complete(self) -> bool:
        """Nothing skipped: no damaged input, no dropped row."""
        return not self.damage and not any(self.dropped.values())

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
        if self.execution is not None:
            ex = self.execution
            orders = ex["orders"]
            lines.append(f"paper trading: {orders['sent']} orders sent, {orders['filled']} filled, "
                         f"rejected {orders['rejected'] or 0}; realised PnL "
                         f"{ex['pnl']['realized']:.4f}, fees {ex['pnl']['fees']:.4f}, state {ex['state']}")
        lines.append(f"files written: {self.files_written}")
        if any(self.dropped.values()):
            lines.append("DROPPED rows: " + ", ".join(
                f"{k} {v:,}" for k, v in self.dropped.items() if v))
        if self.damage:
            lines.append(f"DAMAGED input, skipped ({len(self.damage)}):")
            lines.extend(f"  {d}" for d in self.damage[:20])
            if len(self.damage) > 20:
                lines.append(f"  ... and {len(self.damage) - 20} more")
        return "\n".join(lines)


@dataclass
class ReplayPlan:
    """The engine a replay needs: symbols, decimals and signal parameters."""

    paths: list
    file_symbols: list
    symbols: list
    scales: dict
    signal_params: dict
    l1_from_book: set
    damage: list

    def engine(self) -> Engine:
        return Engine(self.symbols, scales=self.scales, buffer_events=BUFFER_EVENTS,
                      max_message_levels=MAX_MESSAGE_LEVELS, signal_params=self.signal_params,
                      l1_from_book=self.l1_from_book)


def plan(paths, config: Config | None = None, exchange_info=None,
         signals: bool = True, capacities=None) -> ReplayPlan:
    """Resolve what the engine of a replay needs (a pre-scan of the input).

    Parameters
    ----------
    paths : sequence of path-like
        Recordings, in chain order.
    config : Config, optional
        Signal parameters (default: the defaults of the config schema).
    exchange_info : dict, optional
        A parsed exchangeInfo answer: decimals and tick sizes.
    signals : bool
        Run the signal kernels.
    capacities : dict, optional
        Signal ring capacities (``SignalParams``).
    """
    config = config if config is not None else Config()
    paths = [os.fspath(p) for p in paths]
    found = scan(paths)
    file_symbols = []
    for path in paths:
        sym = found.file_symbol.get(path)
        if sym is None:
            sym = RecordingReader(path).symbol()
        if sym is None:
            raise ValueError(f"{path}: no stream line names a symbol")
        file_symbols.append(sym)
    symbols = list(dict.fromkeys(file_symbols))
    scales = xinfo.scales(exchange_info, symbols) if exchange_info is not None else {}
    ticks = xinfo.tick_sizes(exchange_info, symbols) if exchange_info is not None else {}
    for sym, (px_dec, qty_dec) in found.decimals.items():
        scales.setdefault(sym, (px_dec, qty_dec))
    signal_params = {}
    if signals:
        for sym in symbols:
            if sym not in scales:
                continue
            cfg = config.for_symbol(sym) if sym in config.feed.symbols else config
            px_dec, qty_dec = scales[sym]
            signal_params[sym] = SignalParams.from_config(cfg, px_dec, qty_dec,
                                                          tick=ticks.get(sym),
                                                          **(capacities or {}))
    l1_from_book = {s for s in symbols if s not in found.has_bbo}
    return ReplayPlan(paths, file_symbols, symbols, scales, signal_params, l1_from_book,
                      list(found.damage))


def run(engine: Engine, replay_plan: ReplayPlan, drain, rings_capacity: int,
        damage: list, on_exec=None) -> int:
    """Feed every file of the plan through ``engine``, calling ``drain()`` whenever the
    rings may be short of room; returns the frames processed. Damaged lines are added to
    ``damage``: what the reader could not read, and frames the decoder rejected.
    ``on_exec(events)``: the execution events of each frame that made any, handled
    before the next frame (the hybrid strategy's model, the paper venue)."""
    if on_exec is not None:
        engine.queue_exec_events(True)
    if rings_capacity < 2 * FRAME_RESERVE:
        raise ValueError(f"ring_records must be at least {2 * FRAME_RESERVE}")
    frames = 0
    for path, sym_name in zip(replay_plan.paths, replay_plan.file_symbols):
        sym = replay_plan.symbols.index(sym_name)
        reader = RecordingReader(path)
        for buf, offsets, recv_ns, lines in reader.chunks():
            n = len(offsets) - 1
            errors = _decode_errors(engine)
            i = 0
            while i < n:
                i = engine.run_frames_paced(buf, offsets, recv_ns, sym, i, FRAME_RESERVE,
                                            on_exec is not None)
                if on_exec is not None and engine.exec_pending:
                    on_exec(engine.drain_exec_events())
                drain()
            if _decode_errors(engine) != errors:
                damage.extend(_name_bad_frames(engine, path, buf, offsets, sym, lines))
            frames += n
        damage.extend(d for d in reader.damage if d not in damage)
    return frames


def model_hook(engine: Engine, config: Config, model=None):
    """The hybrid strategy's model over a replay (None when no symbol is hybrid): each
    frame's closed bars get their probability before the next frame, as live."""
    from rtaid.ai.live import ModelRunner, hybrid_symbols

    if not hybrid_symbols(config, engine.symbols):
        return None
    runner = ModelRunner(engine, config, model, log_level="debug")

    def on_exec(events):
        for event in events:
            if event["type"] == "bar":
                runner.on_bar(event)
    return on_exec


def paper_trading(config: Config | None, engine: Engine, rings, exchange_info):
    """The execution service of a replay that trades on the paper venue, else None; any
    other venue is refused (ValueError)."""
    venue = config.execution.venue if config is not None else "off"
    if venue == "off":
        return None
    if venue != "paper":
        raise ValueError(f"execution.venue = {venue!r}: rtaid replay trades on the paper venue "
                         f"only (--set execution.venue=paper)")
    from rtaid.exec.service import ExecutionService

    return ExecutionService(config, engine, rings, exchange_info=exchange_info)


def exec_hook(model, service):
    """One ``on_exec`` for the model (bars) and the paper venue (every event), or None."""
    if service is None:
        return model
    if model is None:
        return service.on_events

    def on_exec(events):
        model(events)                  # a probability applies from a later exchange time
        service.on_events(events)
    return on_exec


def _decode_errors(engine: Engine) -> int:
    return sum(v for k, v in engine.decoder.counts().items()
               if k not in ("ok", "unknown_event", "control"))


def _name_bad_frames(engine: Engine, path: str, buf, offsets, sym: int, lines) -> list:
    """The damaged lines of a chunk the decoder rejected frames of (decoded once more
    by a decoder of the same symbols and decimals; only chunks with errors pay this)."""
    probe = Decoder(MAX_MESSAGE_LEVELS)
    for i, name in enumerate(engine.symbols):
        probe.add_symbol(name, *engine.decoder.scales(i))
    out = []
    view = memoryview(buf)
    for i in range(len(offsets) - 1):
        rc, _ = probe.decode_bytes(view[offsets[i]:offsets[i + 1]], sym)
        if rc < 0 or result_name(rc) in ("unknown_symbol", "no_scale"):
            out.append(Damage(path, int(lines[i]), f"message not decoded ({result_name(rc)})"))
    return out


def _summary(engine: Engine, replay_plan: ReplayPlan, frames: int, t0: float,
             damage: list) -> ReplaySummary:
    summary = ReplaySummary(files=len(replay_plan.paths), frames=frames, damage=damage)
    summary.seconds = time.perf_counter() - t0
    summary.messages = engine.decoder.kind_counts()
    summary.decode_results = engine.decoder.counts()
    for i, sym in enumerate(replay_plan.symbols):
        stats = engine.book_stats(i)
        stats["state"] = engine.book_state(i)
        summary.books[sym] = stats
    return summary


def replay(paths, out_dir: str, *, config: Config | None = None, exchange_info=None,
           signals: bool = True, ring_records: int = 1 << 16, **store_options) -> ReplaySummary:
    """Replay recordings through the daemon's engine into a dataset under ``out_dir``.

    Parameters
    ----------
    paths : sequence of path-like
        Recordings, in chain order.
    out_dir : str
        Root of the dataset to write.
    config : Config, optional
        Signal parameters and ``[storage]`` (compression, size rotation, tables).
    exchange_info : dict, optional
        A parsed exchangeInfo answer: decimals and tick sizes per symbol.
    signals : bool
        Run the signal kernels (tables indicators, bars_1m, signals).
    ring_records : int
        Records per table ring; at least twice what one frame can produce.

    Returns
    -------
    ReplaySummary
    """
    from rtaid.store.service import Store

    t0 = time.perf_counter()
    config = config if config is not None else Config()
    replay_plan = plan(paths, config, exchange_info, signals)
    engine = replay_plan.engine()
    storage = config.storage
    options = dict(tables=storage.tables, compression=storage.compression,
                   rotate_mb=storage.rotate_mb)
    options.update(store_options)
    # no time rotation, no time-based row groups, no retention: the output depends on
    # the input only (and retention would delete an old recording's partitions)
    options.update(rotate_s=None, row_group_s=None, retention_days=0, raw_journal=False)
    store = Store(engine, str(out_dir), ring_records=ring_records, **options)
    damage = list(replay_plan.damage)
    service = paper_trading(config, engine, store.rings, exchange_info)
    frames = run(engine, replay_plan, store.writer.flush, store.rings.capacity, damage,
                 exec_hook(model_hook(engine, config) if signals else None, service))
    engine.finish_signals()
    store.stop()
    summary = _summary(engine, replay_plan, frames, t0, damage)
    if service is not None:
        summary.execution = service.status()
    stats = store.stats()
    summary.rows = stats["rows_written"]
    summary.dropped = {k: stats["rows_dropped_ring"][k] + stats["rows_dropped_io"][k]
                       for k in summary.rows}
    summary.files_written = stats["files_written"]
    return summary


def replay_tables(paths, *, config: Config | None = None, exchange_info=None,
                  tables=SIGNAL_TABLES, capacities=None, ring_records: int = 1 << 16,
                  engine_out: list | None = None, model=None):
    """Replay recordings through the daemon's engine into memory.

    Same input and engine as :func:`replay`; returns ``(arrays, summary)`` with
    ``arrays = {table: numpy records}`` in the registry's dtypes (rtaid/store/tables.py)
    and rows in the order the engine produced them. ``engine_out`` (a list), if given,
    receives the engine (its books and signal state after the input). ``model``: the
    hybrid strategy's model object (``predict_proba``) instead of strategy.model_path's.
    """
    from rtaid.store.memory import MemoryTables

    t0 = time.perf_counter()
    replay_plan = plan(paths, config, exchange_info, signals=True, capacities=capacities)
    engine = replay_plan.engine()
    memory = MemoryTables(engine, tables, ring_records)
    damage = list(replay_plan.damage)
    service = paper_trading(config, engine, memory.rings, exchange_info)
    frames = run(engine, replay_plan, memory.drain, memory.rings.capacity, damage,
                 exec_hook(model_hook(engine, config if config is not None else Config(), model),
                           service))
    engine.finish_signals()
    memory.drain()
    summary = _summary(engine, replay_plan, frames, t0, damage)
    if service is not None:
        summary.execution = service.status()
    arrays = memory.arrays()
    summary.rows = {name: len(records) for name, records in arrays.items()}
    summary.dropped = memory.dropped()
    if engine_out is not None:
        engine_out.append(engine)
    return arrays, summary


DEFAULT_OUT = "out"


def main(args) -> int:
    """``rtaid replay FILE... [--out DIR]``: the handler ``rtaid.cli`` dispatches to."""
    from rtaid.cli import load_config_from_args

    config = load_config_from_args(args)
    out = args.out or DEFAULT_OUT
    if config.execution.venue not in ("off", "paper"):
        print(f"rtaid replay: execution.venue = {config.execution.venue!r}: a replay trades on "
              f"the paper venue only (--set execution.venue=paper)", file=sys.stderr)
        return 2
    try:
        # before reading any input: a replay that cannot write its dataset is refused
        preflight.probe_data_dir(out)
    except preflight.StartupError as exc:
        print(f"rtaid replay: --out {exc}".replace("storage.data_dir ", ""), file=sys.stderr)
        return 2
    info_path = args.exchange_info or config.exchange.exchange_info_file
    if info_path is None:
        # a daemon keeps the exchangeInfo it ran with beside its journal
        info_path = journal_exchange_info(args.files)
        if info_path is not None:
            print(f"exchangeInfo: {info_path} (saved beside the journal)")
    try:
        info = xinfo.load(info_path) if info_path else None
        summary = replay(args.files, out, config=config, exchange_info=info)
    except (OSError, ValueError) as exc:
        print(f"rtaid replay: {exc}", file=sys.stderr)
        return 1
    print(summary)
    print(f"dataset: {out}")
    return 0 if summary.complete else 1
