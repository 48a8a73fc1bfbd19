"""``rtaid run``: the daemon. uvloop, the feed, the kernels, storage, systemd.

Life cycle: start the feed; READY=1 once every symbol's book is synced; WATCHDOG=1
only while the feed is healthy (fresh frames, books synced or resyncing within
``feed.stale_after_s``), so systemd restarts a daemon that is alive but blind; on
SIGTERM/SIGINT stop taking data, flush, STOPPING=1, exit 0; on SIGHUP validate the
config file again and apply what can change live.

Signals: the engine runs the signal kernels of every symbol whose decimals are known
(exchangeInfo at start-up, else the data's own once its first message decoded); a
one-second timer closes the one-minute bars no event closed. The execution seam: the
engine queues the strategy's target changes (and the paper venue's fills) in a ring of
fixed records (and records the changes in the ``signals`` table); every drained event
goes to the execution service (rtaid/exec, when ``execution.venue`` is not ``off``) and
the target changes to ``on_target_changes`` (logged). Without a venue the listener only
wakes the execution task, which drains the ring; with one, the listener's wake-up
drains and handles the events at once, after the frame that queued them, as ``rtaid
replay`` does: the paper venue's fills depend on the frame its orders follow (so the
live run and a replay of its journal trade alike), and a ccxt order goes out one loop
turn sooner.
``execution.on_shutdown = "flatten"`` flattens before the feed stops; SIGHUP applies
the ``[risk]`` keys.
"""
from __future__ import annotations

import asyncio
import collections
import faulthandler
import gc
import os
import signal
import sys
import time

from rtaid._kernels.engine import Engine
from rtaid._kernels.signals import SignalParams
from rtaid.infra import preflight
from rtaid.infra.cpu_latency import CpuLatencyError, hold_cpu_latency
from rtaid.infra.config import ConfigError, reload_config
from rtaid.ai.model import ModelError
from rtaid.control import ControlServer
from rtaid.feed import Feed
from rtaid.metrics import MetricsServer
from rtaid.infra.log import get_logger, setup_logging
from rtaid.infra.sdnotify import Notifier
from rtaid.store import Store

log = get_logger("rtaid.daemon")


class Daemon:
    """One rtaid process: a feed, an engine, and their supervision.

    Parameters
    ----------
    config : rtaid.infra.config.Config
    notifier : Notifier, optional
        systemd notification (defaults to $NOTIFY_SOCKET).
    """

    def __init__(self, config, notifier: Notifier | None = None, scales: dict | None = None,
                 ticks: dict | None = None, exchange_info: dict | None = None):
        self.config = config
        self.exchange_info = exchange_info
        self.notifier = notifier or Notifier()
        self.ticks = dict(ticks or {})
        symbols = list(config.feed.symbols)
        # without a bookTicker stream the kernels take L1 from the top of the book
        self.l1_from_book = not config.feed.book_ticker
        self.engine = Engine(symbols, scales=scales,
                             max_levels=config.feed.max_book_levels,
                             buffer_events=config.feed.buffer_events)
        self.targets: dict[str, int] = {s: 0 for s in symbols}
        self.target_changes = 0
        self.recent_targets: collections.deque = collections.deque(maxlen=50)
        self.hook_errors = 0
        self.engine.queue_exec_events(True)
        self._targets_wake = asyncio.Event()
        self.enable_signals()
        # the hybrid strategy's model (ModelError: the caller says why and exits 2)
        self.model = None
        from rtaid.ai.live import hybrid_symbols
        if hybrid_symbols(config, symbols):
            from rtaid.ai.live import ModelRunner
            self.model = ModelRunner(self.engine, config)
        # the store attaches its rings to the engine before the first frame arrives
        self.store = Store.from_config(self.engine, config.storage)
        self.execution = None
        if config.execution.venue != "off":
            from rtaid.exec.service import ExecutionService, default_state_file

            self.execution = ExecutionService(config, self.engine, self.store.rings,
                                              exchange_info=exchange_info,
                                              state_path=default_state_file(config))
        # with a venue the listener hands the events over at once (see drain_exec_events;
        # the binance venue's C order path runs first: ExecutionService.listener_hook)
        self.feed = Feed(config, self.engine, on_book_state=self._on_book_state,
                         on_targets=(self.execution.listener_hook(self.drain_exec_events)
                                     if self.execution is not None
                                     else self._targets_wake.set))
        self.started_mono = time.monotonic()
        self.ready_sent = False
        self.unsynced_since: dict[str, float] = {s: time.monotonic() for s in self.feed.symbols}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.exit_code = 0
        self.pid = os.getpid()
        self._status_frames = (time.monotonic(), 0)
        # the stage histograms behind rtaidctl status and /metrics (C, per frame)
        self.engine.set_timing(True)
        self.control = ControlServer(self, config.control.socket, config.control.socket_mode)
        self.metrics = (MetricsServer(self, config.metrics.host, config.metrics.port)
                        if config.metrics.port != 0 else None)
        # the freqtrade producer endpoint (rtaid/freqtrade), fed the engine's closed bars
        self.freqtrade = None
        self._first_bar_minute: dict[str, int] = {}
        if config.freqtrade.enabled:
            from rtaid.freqtrade.producer import Producer
            from rtaid.store.tables import TABLES

            ft = config.freqtrade
            self.freqtrade = Producer(symbols, ft.token, self._closed_bars,
                                      [c for c, *_ in TABLES["bars_1m"].columns],
                                      config.storage.data_dir, config.exchange.rest_url,
                                      host=ft.host, port=ft.port)

    def _closed_bars(self) -> dict:
        """{symbol: bars_1m row} of each symbol's last closed bar (the engine's; called on
        the event loop once a second by the freqtrade producer).

        The run's first bar of a symbol covers only the part of its minute after the
        daemon connected (its open is not the minute's open): it goes out marked
        ``partial`` and the producer serves the exchange's candle for that minute."""
        out = {}
        for i, s in enumerate(self.engine.symbols):
            bar = self.engine.last_bar(i)
            if bar is None:
                continue
            first = self._first_bar_minute.setdefault(s, bar["minute_ms"])
            if bar["minute_ms"] == first:
                bar = {**bar, "partial": True}
            out[s] = bar
        return out

    # ------------------------------------------------------------------ signals
    def signal_params(self, config, sym: int) -> SignalParams | None:
        """A symbol's kernel parameters (None while its decimals are unknown)."""
        name = self.engine.symbols[sym]
        px_dec, qty_dec = self.engine.decoder.scales(sym)
        if px_dec < 0 or qty_dec < 0:
            return None
        tick = self.ticks.get(name)
        return SignalParams.from_config(config.for_symbol(name), px_dec, qty_dec,
                                        tick=float(tick) if tick is not None else None)

    def enable_signals(self) -> None:
        """Start the signal kernels of every symbol whose decimals are now known."""
        for sym, name in enumerate(self.engine.symbols):
            if self.engine.signals_enabled(sym):
                continue
            params = self.signal_params(self.config, sym)
            if params is None:
                continue
            self.engine.enable_signals(sym, params, self.l1_from_book)
            if name not in self.ticks:
                log.warning("tick_size_unknown", symbol=name,
                            consequence="tick = 10**-price_decimals (exchangeInfo unavailable)")
            log.info("signals_enabled", symbol=name, strategy=self.config.for_symbol(name).strategy.name)

    def on_target_changes(self, rows: list[dict]) -> None:
        """The execution hook: the strategy changed targets (from the execution task).

        Until an execution venue is configured the targets are logged and recorded
        (the engine writes each change to the ``signals`` table).
        """
        if self.freqtrade is not None:
            self.freqtrade.note_targets(rows)
        for row in rows:
            self.targets[row["symbol"]] = row["target"]
            self.target_changes += 1
            self.recent_targets.append(row)
            log.info("target_change", **row)

    def drain_exec_events(self) -> None:
        """The listener's wake-up when a venue trades: every queued execution event goes
        to the execution service at once, after the frame that queued it (the paper
        venue's fills depend on that frame; a ccxt order's send starts one loop turn
        sooner than through the execution task); the target changes are logged
        (``on_target_changes``) and closed bars go to the hybrid strategy's model after
        the orders' first steps have run."""
        events = self._execute(self.engine.drain_exec_events())
        if events:
            # the model and the log: after the frame callback (a probability applies from
            # a later exchange time, so a loop turn later changes nothing)
            asyncio.get_running_loop().call_soon(self._after_orders, events)

    def _execute(self, events: list[dict]) -> list[dict]:
        if events and self.execution is not None:
            try:
                self.execution.on_events(events)
            except Exception as exc:   # noqa: BLE001 - keep trading's caller alive, say why
                self.hook_errors += 1
                log.exception("execution_failed", error=f"{type(exc).__name__}: {exc}")
        return events

    def _after_orders(self, events: list[dict]) -> None:
        """The hybrid strategy's model at each closed bar, then the target changes."""
        if self.model is not None:
            for event in events:
                if event["type"] == "bar":
                    self.model.on_bar(event)
        rows = [e for e in events if e["type"] == "target"]
        if not rows:
            return
        try:
            self.on_target_changes(rows)
        except Exception as exc:   # noqa: BLE001 - keep the task alive, say why
            self.hook_errors += 1
            log.error("execution_hook_failed", error=f"{type(exc).__name__}: {exc}")

    async def _execution_task(self) -> None:
        """Drain the engine's execution events whenever the listener (or the bar timer)
        says there are some."""
        while True:
            await self._targets_wake.wait()
            self._targets_wake.clear()
            events = self._execute(self.engine.drain_exec_events())
            if events and self.execution is not None:
                # the orders just decided go out (their tasks' first steps write the
                # requests) before the model and the log
                await asyncio.sleep(0)
            self._after_orders(events)

    async def _signal_timer(self) -> None:
        """Each second: close the bars of finished minutes, start late kernels."""
        while True:
            await asyncio.sleep(1.0 - (time.time() % 1.0) + 0.001)
            try:
                self.enable_signals()
                # the exchange's clock is not ours: the bar closes a second after its
                # minute ends, so a skew under a second changes nothing
                self.engine.bar_timer(time.time_ns() // 1_000_000)
                if self.engine.exec_pending:
                    self._targets_wake.set()
            except Exception as exc:   # noqa: BLE001 - keep the timer alive, say why
                log.error("signal_timer_failed", error=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ state
    def _on_book_state(self, symbol: str, previous: str, state: str, reason: str) -> None:
        now = time.monotonic()
        if state == "dropped":
            # delisted while running: the others go on; nothing left is a failure
            self.unsynced_since.pop(symbol, None)
            if all(s == "dropped" for s in self.feed.states.values()):
                self.exit_code = 1
                self.request_stop("every symbol was dropped")
            return
        # gap/crossed/synced rows come from the engine itself; what only the feed knows
        # (a connection opened or closed, a resync it started) is recorded here
        if state == "unsynced" and reason in ("connect", "disconnect"):
            self.store.push_book_event(self.feed.index[symbol], "reconnect", reason)
        elif state == "unsynced":
            self.store.push_book_event(self.feed.index[symbol], "resync", reason)
        if state == "synced":
            self.unsynced_since.pop(symbol, None)
            self.enable_signals()
        elif previous == "synced" or symbol not in self.unsynced_since:
            self.unsynced_since[symbol] = now
        if not self.ready_sent and self.feed.all_synced.is_set():
            self.ready_sent = True
            took = now - self.started_mono
            log.info("ready", symbols=self.feed.symbols, seconds=round(took, 3))
            self.notifier.ready(f"synced {len(self.feed.symbols)} symbols")

    def healthy(self) -> tuple[bool, str]:
        """Fresh frames on every connection, and no book unsynced for too long."""
        fc = self.config.feed
        now_ns = time.monotonic_ns()
        for conn in self.feed.connections:
            lst = conn.listener
            if not conn.connected or lst is None:
                return False, f"{conn.name} disconnected"
            if now_ns - lst.last_frame_mono_ns > fc.stale_after_s * 1e9:
                return False, f"{conn.name} stale"
        now = time.monotonic()
        for sym, since in self.unsynced_since.items():
            if now - since > max(fc.stale_after_s, 10.0):
                return False, f"{sym} unsynced for {now - since:.0f}s"
        return True, "ok"

    def status_line(self) -> str:
        states = self.feed.states
        synced = sum(1 for s in states.values() if s == "synced")
        frames = sum(c.frames for c in self.feed.connections)
        p99 = self.feed.latency.percentile(99)
        targets = " ".join(f"{s}:{t:+d}" for s, t in self.targets.items())
        if self.execution is not None:
            targets += f", trading {self.execution.state.state}"
        return (f"{synced}/{len(states)} synced, {frames} frames, "
                f"p99 {p99 if p99 is not None else '-'} ns, resyncs {self.feed.counters['resyncs']}, "
                f"handovers {self.feed.counters['handovers']}, "
                f"targets {targets}, tasks {len(asyncio.all_tasks())}")

    # ------------------------------------------------------------------ tasks
    def status_fields(self) -> dict:
        """The periodic ``status`` log line: progress a user outside systemd can follow."""
        now = time.monotonic()
        frames = sum(c.frames for c in self.feed.connections)
        t0, f0 = self._status_frames
        self._status_frames = (now, frames)
        states = self.feed.states
        stats = self.store.stats()
        lags = {s: self.engine.lag_ms(i) for i, s in enumerate(self.engine.symbols)}
        return {
            "frames": frames,
            "frames_per_s": round((frames - f0) / (now - t0), 1) if now > t0 else 0.0,
            "books_synced": f"{sum(1 for v in states.values() if v == 'synced')}/{len(states)}",
            "lag_ms": {s: v for s, v in lags.items() if v is not None},
            "latency_p99_ns": self.feed.latency.percentile(99),
            "targets": dict(self.targets),
            **({"execution": self.execution_summary()} if self.execution is not None else {}),
            "rows_written": sum(stats["rows_written"].values()),
            "rows_dropped": sum(stats["rows_dropped_ring"].values())
            + sum(stats["rows_dropped_io"].values()),
        }

    def execution_summary(self) -> dict:
        """State, positions and PnL for the status line (the full status: ``status()``)."""
        st = self.execution.status()
        return {"state": st["state"], "positions": {s: v["position"] for s, v in st["symbols"].items()},
                "orders": st["orders"], "pnl": {k: round(v, 6) for k, v in st["pnl"].items()}}

    async def _supervise(self) -> None:
        interval = self.notifier.watchdog_interval_s or 5.0
        tick = min(1.0, interval)
        last_status = 0.0
        last_log = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            ok, why = self.healthy()
            if ok:
                self.notifier.watchdog()
            now = time.monotonic()
            if now - last_status >= 5.0:
                last_status = now
                self.notifier.status(self.status_line() + ("" if ok else f" (unhealthy: {why})"))
                if not ok:
                    log.warning("unhealthy", reason=why)
            if now - last_log >= self.config.daemon.status_interval_s:
                last_log = now
                log.info("status", **self.status_fields())

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.notifier.status("starting")
        log.info("starting", symbols=self.feed.symbols, rest=self.config.exchange.rest_url,
                 ws=self.config.exchange.ws_url, pid=os.getpid())
        for setting in unimplemented_settings(self.config):
            log.warning("setting_not_implemented", setting=setting)
        if self.execution is not None:
            from rtaid.exec.service import ExecutionStartError

            try:
                await self.execution.start()
            except ExecutionStartError as exc:
                log.error("startup_failed", reason=f"execution: {exc}")
                print(f"rtaid run: execution: {exc}", file=sys.stderr)
                await self.execution.stop()
                return 2
        if self.config.storage.raw_journal and self.exchange_info is not None:
            path = save_exchange_info(self.config.storage.data_dir, self.exchange_info)
            log.info("exchange_info_saved", path=path)
        if self.freqtrade is not None:
            from rtaid.freqtrade.producer import ProducerError
            try:
                await self.freqtrade.start()
            except ProducerError as exc:
                log.error("freqtrade_producer_failed", error=str(exc))
                if self.execution is not None:
                    await self.execution.stop()
                return 1
        try:
            await self.control.start()
            if self.metrics is not None:
                self.metrics.start()
        except OSError as exc:
            what = "control socket" if self.control.server is None else "metrics server"
            log.error("listen_failed", what=what, error=f"{type(exc).__name__}: {exc}")
            print(f"rtaid run: cannot open the {what}: {exc}", file=sys.stderr)
            await self.control.stop()
            if self.execution is not None:
                await self.execution.stop()
            return 1
        self.store.start()
        await self.feed.start()
        self._tasks.append(asyncio.create_task(self._supervise(), name="supervise"))
        self._tasks.append(asyncio.create_task(self._signal_timer(), name="signal_timer"))
        self._tasks.append(asyncio.create_task(self._execution_task(), name="execution"))
        if self.config.daemon.gc_freeze:
            # everything allocated at start-up is permanent: keep the GC from scanning it
            gc.collect()
            gc.freeze()
        await self._stop.wait()
        await self.shutdown()
        return self.exit_code

    def request_stop(self, why: str = "stop") -> None:
        if not self._stop.is_set():
            log.info("stopping", signal=why)
            self._stop.set()

    async def shutdown(self) -> None:
        self.notifier.stopping("stopping")
        if self.execution is not None:
            # before the feed stops: a paper flatten fills on the market's next events
            await self._stop_execution()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.control.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self.freqtrade is not None:
            await self.freqtrade.stop()
        try:
            await asyncio.wait_for(self.feed.stop(), self.config.daemon.shutdown_timeout_s)
        except asyncio.TimeoutError:
            log.error("shutdown_timeout", what="feed")
            self.exit_code = 1
        # after the feed: no more records can arrive; everything buffered is written
        await asyncio.to_thread(self.store.stop)
        stats = self.store.stats()
        dropped = {t: stats["rows_dropped_ring"][t] + stats["rows_dropped_io"][t]
                   for t in stats["rows_written"]}
        if any(dropped.values()):
            # never exit 0 after losing data
            log.error("rows_dropped", tables={t: n for t, n in dropped.items() if n},
                      total=sum(dropped.values()))
            self.exit_code = 1
        log.info("stopped", status=self.status_line(), counters=dict(self.feed.counters),
                 store=stats, exit_code=self.exit_code)

    async def _stop_execution(self) -> None:
        flatten = self.config.execution.on_shutdown == "flatten"
        budget = self.config.execution.flatten_timeout_s + self.config.daemon.shutdown_timeout_s
        try:
            result = await asyncio.wait_for(self.execution.stop(flatten=flatten), budget)
        except asyncio.TimeoutError:
            log.error("shutdown_timeout", what="execution")
            self.exit_code = 1
            return
        if flatten and not (result or {}).get("ok"):
            log.error("shutdown_flatten_failed", result=result)
            self.exit_code = 1

    def reload(self) -> None:
        """SIGHUP: re-read and validate the config; apply what can change live."""
        self.notifier.reloading()
        try:
            new, plan = reload_config(self.config)
        except ConfigError as exc:
            log.error("reload_rejected", problems=exc.problems)
            self.notifier.status("reload rejected: " + "; ".join(exc.problems)[:200])
            return
        if plan.restart:
            log.warning("reload_needs_restart", keys=list(plan.restart))
        if new.log.level != self.config.log.level:
            setup_logging(new.log.level, new.log.format)
        if self.model is not None and new.strategy.model_path:
            self.model.reload(new.strategy.model_path)
        if self.execution is not None:
            # the [risk] keys apply even when other changes wait for a restart: a kill
            # switch must not depend on what else the file changed
            self.execution.reload(new)
        if not plan.restart:
            self.config = new
            for sym in range(len(self.engine.symbols)):
                params = self.signal_params(new, sym)
                if params is not None:
                    self.engine.update_strategy(sym, params)
        log.info("reloaded", live=list(plan.live), ignored_until_restart=list(plan.restart))
        self.notifier.notify("READY=1", "STATUS=reloaded")


def unimplemented_settings(config) -> list[str]:
    """Settings this version accepts but does not act on yet: the daemon names each at
    start (a setting is implemented or refused, never silently ignored)."""
    found = []
    return found


def save_exchange_info(data_dir: str, info: dict) -> str:
    """Keep the exchangeInfo the daemon runs with next to the raw journal, so that
    ``rtaid replay`` of the journal resolves decimals and ticks as this run did."""
    import json

    from rtaid.infra.recordings import exchange_info_path

    path = exchange_info_path(data_dir, time.time())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(info, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def pin_cpus(cpus) -> None:
    if cpus:
        os.sched_setaffinity(0, set(cpus))
        log.info("cpu_affinity", cpus=sorted(cpus))


def main(args) -> int:
    """Entry point of ``rtaid run``."""
    from rtaid.cli import load_config_from_args

    config = load_config_from_args(args)
    setup_logging(config.log.level, config.log.format)
    faulthandler.enable()
    try:
        pin_cpus(config.daemon.cpu_affinity)
    except OSError as exc:             # a CPU this machine (or cgroup) does not have
        log.error("startup_failed", reason=f"daemon.cpu_affinity: {exc}")
        print(f"rtaid run: daemon.cpu_affinity {list(config.daemon.cpu_affinity)}: "
              f"{exc.strerror or exc} (usable CPUs: {sorted(os.sched_getaffinity(0))})",
              file=sys.stderr)
        return 2
    latency_fd = None
    if config.daemon.cpu_dma_latency_us is not None:
        try:
            latency_fd = hold_cpu_latency(config.daemon.cpu_dma_latency_us)
        except CpuLatencyError as exc:
            log.error("startup_failed", reason=f"daemon.cpu_dma_latency_us: {exc}")
            print(f"rtaid run: daemon.cpu_dma_latency_us = {config.daemon.cpu_dma_latency_us}: "
                  f"{exc}", file=sys.stderr)
            return 2
        log.info("cpu_dma_latency", us=config.daemon.cpu_dma_latency_us)
    try:
        return _run(config)
    finally:
        if latency_fd is not None:      # (the process's exit would drop it too)
            os.close(latency_fd)


def _run(config) -> int:
    try:
        info, scales, ticks = preflight.resolve(config)
    except preflight.StartupError as exc:
        log.error("startup_failed", reason=str(exc))
        print(f"rtaid run: {exc}", file=sys.stderr)
        return 2
    try:
        daemon = Daemon(config, scales=scales, ticks=ticks, exchange_info=info)
    except ModelError as exc:          # an unusable model file
        log.error("startup_failed", reason=str(exc))
        print(f"rtaid run: strategy.model_path: {exc}", file=sys.stderr)
        return 2
    if config.daemon.event_loop == "uvloop":
        import uvloop

        return uvloop.run(daemon.run())
    return asyncio.run(daemon.run())
