"""The execution service: what the daemon (and a paper replay) calls.

:class:`ExecutionService` owns the order manager, the risk gate, the trading state, the
PnL, the recorder and one venue, and answers the control commands:

- ``on_events(events)``: every event the engine drained (target changes; the paper
  venue's fills and "done"), synchronously, on the engine's thread;
- ``await start()`` / ``await stop(flatten=False)``;
- ``status()`` (``state``, per symbol ``position``, ``target``, ``pnl``; ``orders``,
  ``balance``, latency...), ``await flatten(symbol=None)``, ``pause()``, ``resume()``,
  ``reload(config)`` (SIGHUP: the ``[risk]`` keys);
- ``latency["tick_to_order"]``, ``latency["tick_to_deferred_order"]`` (orders a decision
  held back past their frame's turn: :func:`rtaid.exec.orders.record_tick_to_order`),
  ``latency["order_round_trip"]``: LatencyHistograms.

Clocks: the paper venue decides on exchange time (the events' ``ts_ms``) and only when
events arrive, so that ``rtaid replay`` of a journal gives the live run's orders and
fills; the ccxt venue on the wall clock, also from a timer (order timeouts, the
backoff's end) and a periodic reconciliation with the exchange.

A symbol is traded only after its strategy decided something in this run: after a
restart the venue's position is adopted and held, orders a previous run left are
cancelled, and the first target change reconciles against what is there (so nothing
is bought twice). A flatten, the kill switch and the daily loss limit close it anyway.
"""
from __future__ import annotations

import asyncio
import os
import time

from rtaid._kernels.hist import LatencyHistogram
from rtaid.exec.ids import ClientIds, is_ours
from rtaid.exec.instruments import Instrument
from rtaid.exec.orders import DEFERRED_STAGE, Cause, OrderManager
from rtaid.exec.pnl import PnlBook
from rtaid.exec.records import ExecRecorder
from rtaid.exec.risk import RiskGate, RiskLimits
from rtaid.exec.state import HALTED, REDUCING, TradingState
from rtaid.infra import exchange_info as xinfo
from rtaid.infra.log import get_logger

log = get_logger("rtaid.exec")

TICK_S = 0.25            # ccxt: decisions without an event (timeouts, backoff's end)
FILL_GRACE_S = 1.0       # a fill the REST answer shows and the stream did not, after this
LATENCIES = ("tick_to_order", DEFERRED_STAGE, "order_round_trip")
VENUES = ("paper", "ccxt", "binance")


class ExecutionStartError(Exception):
    """Execution cannot start (keys refused, venue unreachable...); ``str()`` says why."""


def default_state_file(config) -> str:
    return config.execution.state_file or os.path.join(config.storage.data_dir, "execution",
                                                       "state.json")


def symbol_section(config, symbol: str, section: str):
    """A symbol's effective section (the global one for a symbol outside feed.symbols:
    a replay of other recordings)."""
    if symbol in config.feed.symbols:
        return getattr(config.for_symbol(symbol), section)
    return getattr(config, section)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class EngineMarket:
    """The order manager's view of the market: the engine's books."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def synced(self, sym: int) -> bool:
        return self.engine.book_state(sym) == "synced"

    def age_ms(self, sym: int, now_ms: int) -> int | None:
        last = self.engine.last_event_ms(sym)
        return now_ms - last if last else None

    def _best(self, sym: int, side: str) -> int | None:
        top = self.engine.top(sym, side, 1)
        return top[0][0] if top else None

    def touch(self, sym: int, side: int) -> int | None:
        """The price an order of ``side`` takes: the best ask for a buy."""
        return self._best(sym, "ask" if side > 0 else "bid")

    def own_touch(self, sym: int, side: int) -> int | None:
        """The best price on an order's own side: the best bid for a buy."""
        return self._best(sym, "bid" if side > 0 else "ask")

    def mid(self, sym: int) -> float | None:
        bid, ask = self._best(sym, "bid"), self._best(sym, "ask")
        return (bid + ask) / 2 if bid and ask else None


class ExecutionService:
    """Targets to orders at one venue; see the module docstring.

    Parameters
    ----------
    config : rtaid.infra.config.Config
    engine : rtaid._kernels.engine.Engine
    rings : RecordRings or None
        The store's rings (orders and fills rows); None records nothing.
    exchange_info : dict or None
        exchangeInfo: order filters (tick, step, min notional).
    state_path : str or None
        The trading state file (None: in memory, for a replay).
    keepalive_s : float, optional
        listenKey keep-alive interval (ccxt).
    """

    def __init__(self, config, engine, rings=None, exchange_info=None,
                 state_path: str | None = None, keepalive_s: float | None = None) -> None:
        self.config = config
        self.venue_name = config.execution.venue
        if self.venue_name not in VENUES:
            raise ValueError(f"execution.venue {self.venue_name!r} has no execution service")
        self.paper = self.venue_name == "paper"
        self.engine = engine
        self.symbols = list(engine.symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self._filters = (xinfo.trading_filters(exchange_info, self.symbols)
                         if exchange_info is not None else {})
        self.instruments: dict[str, Instrument] = {}
        for s in self.symbols:
            self._instrument(s)
        self.latency = {name: LatencyHistogram() for name in LATENCIES}
        if self.venue_name == "binance":
            # the orders sent over the WebSocket API (tick_to_order: every order), and the
            # socket write of each request (on loopback: the kernel's delivery inside it)
            self.latency["tick_to_order_ws"] = LatencyHistogram()
            self.latency["ws_write"] = LatencyHistogram()
        self._limits: dict[str, RiskLimits] = {}
        self.state = TradingState.load(state_path)
        ex = config.execution
        self.pnl = PnlBook(self.symbols, self.instruments,
                           balance=ex.paper_balance_usd if self.paper else None)
        if self.state.day:
            self.pnl.day, self.pnl.day_net = self.state.day, self.state.day_realized
        self.risk = RiskGate()
        self.recorder = ExecRecorder(rings, self.symbols, self.venue_name)
        self.market = EngineMarket(engine)
        self.ids = ClientIds(None if self.paper else wall_ms())
        self.manager = OrderManager(self.symbols, self.instruments, ex, self.limits, self.state,
                                    self.risk, self.pnl, self.ids, self.recorder, self.market)
        if self.paper:
            from rtaid.exec.venues.paper import PaperVenue

            self.venue = PaperVenue(engine, self, self.latency, ex.taker_fee_bps,
                                    ex.maker_fee_bps, ex.paper_latency_ms, ex.order_timeout_ms)
        elif self.venue_name == "ccxt":
            from rtaid.exec.venues.ccxt import CcxtVenue

            self.venue = CcxtVenue(config.exchange, ex.max_backoff_s, self.instruments, self,
                                   self.latency, engine, self.symbols)
        else:
            from rtaid.exec.venues.binance import BinanceVenue

            try:
                self.venue = BinanceVenue(config.exchange, ex.max_backoff_s, self.instruments,
                                          self, self.latency, engine, self.symbols)
            except ValueError as exc:
                raise ExecutionStartError(f"exchange.ed25519_key_file / RTAID_ED25519_KEY: "
                                          f"{exc}") from None
        # the ccxt and binance venues' C order path, armed from the manager's plans
        # (arming.py)
        self.arming = None
        if not self.paper:
            from rtaid.exec.arming import Arming

            self.arming = Arming(self)
        if self.venue_name == "binance":
            # resting orders past their timeout are moved (order.modify), not replaced
            self.manager.reprice = True
        self.keepalive_s = keepalive_s
        self.user_stream = None
        self._exec_lost = engine.exec_lost
        self._last_recv_ns = 0
        self._tasks: list[asyncio.Task] = []           # timers
        self._side_tasks: set[asyncio.Task] = set()    # reconciliations, flattens
        self._flatten_lock: asyncio.Lock | None = None
        self._reconcile_lock: asyncio.Lock | None = None
        self._pending: set[str] = set()
        self._pending_scheduled = False
        self._venue_cum: dict[str, tuple[int, float]] = {}
        self._gap_seen: dict[str, float] = {}
        self._foreign_fills: set = set()
        self._position_event: dict[str, float] = {}
        self._foreign_open: dict[str, int] = {s: 0 for s in self.symbols}
        self._last_flatten: dict | None = None
        self.started = False

    # ------------------------------------------------------------------ set-up
    def _instrument(self, symbol: str) -> Instrument | None:
        inst = self.instruments.get(symbol)
        if inst is not None:
            return inst
        i = self.index[symbol]
        px_dec, qty_dec = self.engine.decoder.scales(i)
        if px_dec < 0 or qty_dec < 0:
            return None
        inst = Instrument.from_filters(symbol, i, px_dec, qty_dec, self._filters.get(symbol))
        self.instruments[symbol] = inst
        return inst

    def limits(self, symbol: str) -> RiskLimits:
        """A symbol's effective [risk] values (cached until a reload)."""
        limits = self._limits.get(symbol)
        if limits is None:
            limits = self._limits[symbol] = RiskLimits.of(symbol_section(self.config, symbol, "risk"))
        return limits

    async def start(self) -> None:
        """Connect the venue and take its state (ccxt); raises ExecutionStartError."""
        loop = asyncio.get_running_loop()
        self._flatten_lock = asyncio.Lock()
        self._reconcile_lock = asyncio.Lock()
        if not self.paper:
            await self._start_ccxt()
            self._tasks.append(loop.create_task(self._tick_loop(), name="exec_tick"))
            self._tasks.append(loop.create_task(self._reconcile_loop(), name="exec_reconcile"))
        self.started = True
        log.info("execution_started", venue=self.venue_name, state=self.state.state,
                 reason=self.state.reason, flatten=sorted(self.state.flatten))
        if self.config.risk.kill_switch or any(self.limits(s).kill_switch for s in self.symbols):
            self._halt_and_flatten("kill_switch")
        elif self.state.state == HALTED and self.state.flatten:
            self.decide_all()

    async def _start_ccxt(self) -> None:
        from rtaid.exec.user_stream import KEEPALIVE_S, UserStream, UserStreamError
        from rtaid.exec.venues.ccxt import VenueStartError

        missing = [s for s in self.symbols if s not in self.instruments]
        if missing:
            raise ExecutionStartError(f"execution.venue = '{self.venue_name}' needs the decimals of "
                                      f"{', '.join(missing)} from exchangeInfo at start")
        try:
            await self.venue.start()
        except VenueStartError as exc:
            raise ExecutionStartError(str(exc)) from None
        ex = self.config.exchange
        self.user_stream = UserStream(self.venue.session, ex.rest_url, ex.user_ws_url,
                                      ex.api_key, self._on_user_event, self._on_stream_connected,
                                      keepalive_s=self.keepalive_s or KEEPALIVE_S,
                                      timeout_s=ex.request_timeout_s)
        try:
            await self.user_stream.check()
        except (UserStreamError, OSError, asyncio.TimeoutError) as exc:
            raise ExecutionStartError(f"user data stream: {exc}") from None
        self.user_stream.start()
        try:
            await asyncio.wait_for(self.user_stream.connected.wait(), ex.request_timeout_s)
        except asyncio.TimeoutError:
            raise ExecutionStartError(f"user data stream: no connection to {ex.user_ws_url} "
                                      f"({self.user_stream.last_error or 'timeout'})") from None
        try:
            await self.reconcile(adopt_now=True)
        except Exception as exc:   # noqa: BLE001 - a start-up error names the cause
            raise ExecutionStartError(f"reconciliation with the exchange failed: "
                                      f"{type(exc).__name__}: {str(exc)[:300]}") from None

    async def stop(self, flatten: bool = False) -> dict | None:
        """Stop (after a flatten when asked); returns the flatten's result."""
        result = None
        if flatten and self.started:
            result = await self.flatten(None)
        tasks = [*self._tasks, *self._side_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self.user_stream is not None:
            await self.user_stream.stop()
        if not self.paper:
            await self.venue.close()
        self.started = False
        return result

    # ------------------------------------------------------------------ events
    def on_events(self, events: list[dict]) -> None:
        """Handle drained execution events in order (the engine's thread): target
        changes, the paper venue's fills and "done"; others (closed bars) are not ours."""
        now = None
        for ev in events:
            kind = ev["type"]
            symbol = ev["symbol"]
            self._last_recv_ns = ev["recv_ns"]
            if kind == "target":
                inst = self._instrument(symbol)
                if inst is None:
                    continue
                now = ev["ts_ms"] if self.paper else wall_ms()
                self.manager.set_target(symbol, inst.lots(ev["target_qty"]), ev["target"],
                                        Cause(ev["ts_ms"], ev["recv_ns"], ev["mono_ns"]))
                self._decide(symbol, now, ev["recv_ns"])
                self.manager.frame_handled(symbol)
            elif self.paper and kind in ("fill", "done"):
                symbol = self.venue.on_event(ev)
                if symbol is not None:
                    now = ev["ts_ms"]
                    self._decide(symbol, now, ev["recv_ns"])
        lost = self.engine.exec_lost
        if lost != self._exec_lost:
            self._exec_lost = lost
            self._targets_from_engine(now)
        if now is not None and self.paper:
            # the paper venue's fills come with these events (ccxt: its timer checks)
            self.check_daily_loss(now)
        if self.arming is not None:
            self._track_unclaimed()

    def _targets_from_engine(self, now: int | None) -> None:
        """Events were lost (the ring overflowed): the strategy's state says the target."""
        log.error("execution_events_lost", lost=self._exec_lost)
        for symbol, i in self.index.items():
            st = self.engine.signal_state(i)
            inst = self._instrument(symbol)
            if st is None or inst is None:
                continue
            qty = symbol_section(self.config, symbol, "strategy").order_qty
            lots = inst.lots(repr(st["target"] * qty))
            if lots != self.manager.targets[symbol]:
                self.manager.set_target(symbol, lots, st["target"], Cause(now or 0))
            self._decide(symbol, now if now is not None else self._now_ms(symbol), 0)

    def _now_ms(self, symbol: str) -> int:
        if self.paper:
            return self.engine.last_event_ms(self.index[symbol])
        return wall_ms()

    def _decide(self, symbol: str, now_ms: int, recv_ns: int) -> None:
        # a paper cancel is answered at once: decide again (a replacement)
        for _ in range(4):
            intents = self.manager.decide(symbol, now_ms)
            if not intents:
                break
            settled = True
            for action, order in intents:
                if action == "place":
                    self.venue.place(order, now_ms, recv_ns)
                elif action == "modify":
                    self._disarm(symbol)
                    self.venue.move(order, now_ms)
                else:
                    self.venue.cancel(order, now_ms, recv_ns)
                    settled = settled and not order.is_open
            if not (self.paper and settled):
                break
        if self.arming is not None:
            self.arming.rearm(symbol)

    def decide_all(self, symbols=None) -> None:
        # paper: the receive time of the last frame handled (a replay writes the same rows)
        recv_ns = self._last_recv_ns if self.paper else time.time_ns()
        for symbol in symbols or self.symbols:
            if symbol in self.instruments:
                self._decide(symbol, self._now_ms(symbol), recv_ns)

    def poke(self, symbol: str) -> None:
        """Something changed for ``symbol`` at the venue: decide again soon (ccxt:
        coalesced, after the messages already read)."""
        if self.paper:
            return
        self._pending.add(symbol)
        if not self._pending_scheduled:
            self._pending_scheduled = True
            asyncio.get_running_loop().call_soon(self._run_pending)

    def _run_pending(self) -> None:
        self._pending_scheduled = False
        pending, self._pending = self._pending, set()
        for symbol in pending:
            self._decide(symbol, wall_ms(), time.time_ns())

    # ------------------------------------------------------------------ venue callbacks
    def sent(self, order, ts_ms: int, recv_ns: int) -> None:
        self._disarm(order.symbol)
        self.manager.sent(order, ts_ms, recv_ns)

    def may_send(self, order) -> bool:
        """Whether a send may be repeated now (a halt stops all but a flatten's)."""
        return self.state.state != HALTED or order.purpose == "flatten"

    def modified(self, order, px: int, now_ms: int) -> None:
        """The venue moved ``order`` to ``px`` (binance: order.modify)."""
        self._disarm(order.symbol)
        self.manager.modified(order, px, now_ms, wall_ms(), time.time_ns())

    def rejected(self, order, reason: str, ts_ms: int, recv_ns: int, venue: bool = True,
                 message: str = "") -> None:
        self._disarm(order.symbol)
        log.warning("order_rejected", symbol=order.symbol, client_id=order.client_id,
                    reason=reason, message=message)
        self.manager.rejected(order, reason, ts_ms, recv_ns,
                              cooloff_from_ms=self._now_ms(order.symbol) if venue else None)
        self._rearm(order.symbol)
        self.poke(order.symbol)

    def update(self, order, status: str, filled: int, ts_ms: int, recv_ns: int,
               venue_id: int = 0, reason: str = "") -> None:
        self._disarm(order.symbol)
        self.manager.update(order, status, filled, ts_ms, recv_ns, venue_id, reason)
        self._rearm(order.symbol)
        self.poke(order.symbol)

    def fill(self, order, symbol, client_id, trade_id, side, px, lots, fee, maker, ts_ms,
             recv_ns, realized=None, cum=None) -> bool:
        self._disarm(symbol)
        booked = self.manager.fill(order, symbol, client_id, trade_id, side, px, lots, fee,
                                   maker, ts_ms, recv_ns, realized, cum)
        self._rearm(symbol)
        if booked:
            self.state.note_day(self.pnl.day, self.pnl.day_net)
            if not self.paper:
                self.check_daily_loss(wall_ms())
        return booked

    def note_cum_quote(self, order, filled: int, cum_quote: float) -> None:
        """The venue's cumulative fill of an order (REST): a fill the stream did not
        bring is booked from it after FILL_GRACE_S."""
        self._venue_cum[order.client_id] = (filled, cum_quote)
        if filled > order.fills_qty:
            self._gap_seen.setdefault(order.client_id, time.monotonic())

    def backoff(self, retry_after_s: float | None, max_s: float) -> None:
        self._disarm()
        wait = min(retry_after_s if retry_after_s is not None else max_s, max_s)
        until = wall_ms() + int(wait * 1000)
        if until > self.manager.hold_until_ms:
            self.manager.hold_until_ms = until
            log.warning("venue_backoff", seconds=wait)

    def halt(self, reason: str) -> None:
        """Stop trading (the venue refuses orders): cancel, keep positions."""
        self._disarm()
        log.error("trading_halted", reason=reason)
        self.state.halt(reason)
        self.decide_all()

    # ------------------------------------------------------------------ the C order path
    def _rearm(self, symbol: str) -> None:
        """The manager has taken in an answer, a fill or a rejection: the C path's plans
        for ``symbol`` as of now (the decision ``poke`` schedules comes a callback later,
        and a frame read before it would find the symbol unarmed)."""
        if self.arming is not None:
            self.arming.rearm(symbol)

    def _disarm(self, symbol: str | None = None) -> None:
        """Something that may change the manager's next decision happened: the C order
        path sends nothing for ``symbol`` (None: any) until the next decision re-arms it."""
        if self.arming is not None:
            self.arming.disarm(symbol)

    def _track_unclaimed(self) -> None:
        """Orders the C path sent and no decision claimed (a decision that differed from
        its plan: logged): tracked like the manager's own, so that they are answered,
        counted and, beyond the target, cancelled by the next decision."""
        for order in self.venue.unclaimed():
            log.error("fast_path_unclaimed", symbol=order.symbol, client_id=order.client_id,
                      consequence="tracked as sent; the next decision corrects it")
            if self.ids.peek(order.sym, wall_ms()) == order.client_id:
                self.ids.next(order.sym, wall_ms())
            self.manager.track(order)
            self.venue.track(order)

    def listener_hook(self, fallback):
        """What the feed's listener calls after a frame that queued execution events:
        the venue's C order path first, then ``fallback`` (the daemon's drain);
        ``fallback`` itself for the paper venue."""
        if self.arming is None:
            return fallback
        self.venue.fast.fallback = fallback
        return self.venue.fast

    def ws_api_up(self, up: bool) -> None:
        """The binance venue's WebSocket API connection came up (re-arm: decide) or went
        down (orders over REST meanwhile)."""
        if up and self.started:
            self.decide_all()

    # ------------------------------------------------------------------ user stream (ccxt)
    def _on_stream_connected(self) -> None:
        if self.started:
            self._spawn(self._safe_reconcile())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _on_user_event(self, event: dict) -> None:
        # the C order path: what an event changes (a fill, an order's status, a
        # position) disarms its own symbol (fill, update, _venue_position); the others
        # stay armed
        kind = event.get("e")
        try:
            if kind == "ORDER_TRADE_UPDATE":
                self._on_order_event(event)
            elif kind == "ACCOUNT_UPDATE":
                self._on_account_event(event)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("user_event_unreadable", event=kind, error=f"{type(exc).__name__}: {exc}")

    def _on_order_event(self, event: dict) -> None:
        from rtaid.exec.venues.ccxt import STATUSES

        o = event["o"]
        symbol = o["s"]
        inst = self.instruments.get(symbol)
        if inst is None:
            return
        cid = o["c"]
        order = self.manager.by_id.get(cid)
        ts = int(o.get("T") or event.get("T") or event.get("E") or wall_ms())
        recv = time.time_ns()
        cum = inst.lots(o["z"])
        if o["x"] == "TRADE":
            trade_id = int(o["t"])
            if order is None:
                if (symbol, trade_id) in self._foreign_fills:
                    return
                self._foreign_fills.add((symbol, trade_id))
            self._position_event[symbol] = time.monotonic()
            fee = float(o.get("n") or 0.0)
            self.fill(order, symbol, cid, trade_id, 1 if o["S"] == "BUY" else -1,
                      inst.units(o["L"]), inst.lots(o["l"]), fee, bool(o.get("m")), ts, recv,
                      realized=float(o.get("rp") or 0.0), cum=cum if order is not None else None)
        if order is not None:
            self.manager.update(order, STATUSES.get(o["X"], order.status), cum, ts, recv,
                                int(o.get("i") or 0))
        self.poke(symbol)

    def _on_account_event(self, event: dict) -> None:
        a = event["a"]
        for b in a.get("B", ()):
            if b.get("a") == "USDT" and b.get("wb") is not None:
                self.pnl.set_balance(float(b["wb"]))
        for p in a.get("P", ()):
            symbol = p.get("s")
            inst = self.instruments.get(symbol)
            if inst is None or p.get("ps", "BOTH") != "BOTH":
                continue
            self._position_event[symbol] = time.monotonic()
            self._venue_position(symbol, inst.lots(p["pa"]), float(p.get("ep") or 0.0),
                                 "account_update")
            self.poke(symbol)

    def _venue_position(self, symbol: str, lots: int, entry: float, source: str) -> None:
        """The venue's position of ``symbol``: the booked one is corrected when fills
        still to be booked do not explain the difference."""
        if lots == self.manager.held(symbol):
            return
        self._disarm(symbol)
        inst = self.instruments[symbol]
        booked = lots - self.manager.unbooked_lots(symbol)
        log.warning("position_corrected", symbol=symbol, source=source,
                    was=inst.qty(self.manager.held(symbol)), venue=inst.qty(lots))
        self.pnl.set_position(symbol, booked, entry)

    # ------------------------------------------------------------------ reconciliation (ccxt)
    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._book_gap_fills(time.monotonic() - FILL_GRACE_S)
                self.decide_all()
                self.check_daily_loss(wall_ms())
            except Exception as exc:   # noqa: BLE001 - keep the timer alive, say why
                log.error("execution_tick_failed", error=f"{type(exc).__name__}: {exc}")

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.execution.reconcile_interval_s)
            await self._safe_reconcile()

    async def _safe_reconcile(self) -> None:
        if wall_ms() < self.manager.hold_until_ms:
            return              # the exchange asked to be left alone
        try:
            await self.reconcile()
        except Exception as exc:   # noqa: BLE001 - the next one tries again
            log.warning("reconcile_failed", error=f"{type(exc).__name__}: {str(exc)[:300]}")

    async def reconcile(self, symbols=None, adopt_now: bool = False) -> dict:
        """Take the venue's open orders, orders' fates, positions and balance (ccxt).

        Orders of ours the venue has and we do not know are adopted (and cancelled by
        the next decision); ours that left its book are looked up; fills it shows and
        the stream did not bring are booked; a position that differs, with no fill
        pending that would explain it and no account event since the request, is
        adopted (with ``adopt_now`` also with fills pending: they are booked first).
        Returns ``{symbol: open orders at the venue (ours and others)}``.
        """
        # The C order path stays armed meanwhile: what the reconciliation changes goes
        # through the callbacks that disarm its symbol (update, fill, _venue_position,
        # an adoption), and from the balance on it runs without an await to its
        # decisions, which re-arm. A target change meanwhile is as safe on the C path
        # as on the Python one: the decision claims the order in the same loop turn, and
        # an order in flight or unknown to the snapshot is looked up, not assumed gone.
        async with self._reconcile_lock:
            symbols = list(symbols or self.symbols)
            asked = time.monotonic()
            venue_open = {}
            for symbol in symbols:
                rows = await self.venue.open_orders(symbol)
                venue_open[symbol] = len(rows)
                self._take_open_orders(symbol, rows)
                for order in list(self.manager.open[symbol].values()):
                    if order.inflight or any(r.get("clientOrderId") == order.client_id
                                             for r in rows):
                        continue
                    info = await self.venue.query(symbol, order.client_id)
                    if info is not None:
                        self.venue.apply(order, info)
                    elif not order.inflight and order.is_open:
                        self._disarm(symbol)
                        self.manager.update(order, "failed", order.filled, wall_ms(),
                                            time.time_ns(), reason="not_at_venue")
            positions = await self.venue.positions()
            balance = await self.venue.balance()
            if adopt_now:
                self._book_gap_fills(None)
            for symbol in symbols:
                lots, entry = positions[symbol]
                if self._position_event.get(symbol, 0.0) > asked:
                    continue        # the stream said something newer
                self._venue_position(symbol, lots, entry, "reconcile")
            if balance is not None:
                self.pnl.set_balance(balance)
            self.decide_all(symbols)
            return venue_open

    def _take_open_orders(self, symbol: str, rows: list[dict]) -> None:
        inst = self.instruments[symbol]
        foreign = 0
        for r in rows:
            cid = r.get("clientOrderId", "")
            order = self.manager.by_id.get(cid)
            if order is not None:
                if not order.inflight:
                    self.venue.apply(order, r)
                continue
            if not is_ours(cid):
                foreign += 1
                continue
            otype = "limit" if r.get("type") == "LIMIT" else "market"
            order = self.manager.adopt(symbol, cid, 1 if r.get("side") == "BUY" else -1, otype,
                                       r.get("timeInForce", "GTC"), inst.units(r.get("price") or 0),
                                       inst.lots(r.get("origQty", "0")),
                                       inst.lots(r.get("executedQty", "0")),
                                       bool(r.get("reduceOnly")), int(r.get("orderId") or 0),
                                       wall_ms())
            self._disarm(symbol)
            log.warning("order_adopted", symbol=symbol, client_id=cid)
        if foreign != self._foreign_open[symbol]:
            self._foreign_open[symbol] = foreign
            if foreign:
                log.warning("foreign_open_orders", symbol=symbol, count=foreign,
                            consequence="left alone; a flatten cancels them")

    def _book_gap_fills(self, seen_before: float | None) -> None:
        """Book what the venue filled and the stream did not report (noticed before
        ``seen_before``, monotonic; None: all)."""
        for cid in [c for c in self._gap_seen if c not in self.manager.unbooked]:
            self._gap_seen.pop(cid)
        for cid, order in list(self.manager.unbooked.items()):
            since = self._gap_seen.setdefault(cid, time.monotonic())
            if seen_before is not None and since > seen_before:
                continue
            self._gap_seen.pop(cid, None)
            filled = order.filled
            cum_quote = self._venue_cum.get(cid, (filled, 0.0))[1]
            inst = self.instruments[order.symbol]
            lots = filled - order.fills_qty
            booked = order.fills_quote / 10 ** (inst.px_dec + inst.qty_dec)
            quote = max(cum_quote - booked, 0.0)
            px = inst.units(repr(quote / inst.qty(lots))) if quote else order.px
            maker = order.tif == "GTX"
            ex = self.config.execution
            fee = inst.notional(px, lots) * (ex.maker_fee_bps if maker else ex.taker_fee_bps) / 1e4
            log.warning("fill_recovered", symbol=order.symbol, client_id=cid, qty=inst.qty(lots),
                        px=inst.price(px), consequence="not in the user stream: booked from the "
                        "order's cumulative fill, fee at the configured rate")
            self.fill(order, order.symbol, cid, 0, order.side, px, lots, fee, maker, wall_ms(),
                      time.time_ns(), cum=filled)

    # ------------------------------------------------------------------ risk
    def check_daily_loss(self, now_ms: int) -> None:
        """Halt and flatten when the day's PnL (realised net of fees, plus unrealised)
        is below ``-risk.max_daily_loss_usd``."""
        self.pnl.roll_day(now_ms)
        if self.state.state == HALTED and self.state.reason == "max_daily_loss_usd":
            return
        loss_limit = self.config.risk.max_daily_loss_usd
        if self.daily_pnl() <= -loss_limit:
            log.error("daily_loss_limit", pnl=round(self.daily_pnl(), 6), limit=loss_limit)
            self._halt_and_flatten("max_daily_loss_usd")

    def daily_pnl(self) -> float:
        return self.pnl.day_net + sum(self.pnl.unrealized(s, self.market.mid(self.index[s]))
                                      for s in self.instruments)

    def _halt_and_flatten(self, reason: str) -> None:
        if self.paper or not self.started:
            self.state.halt(reason, self.symbols)
            self.decide_all()
        else:
            self._spawn(self.flatten(None, reason=reason))

    def reload(self, config) -> None:
        """SIGHUP: apply the new ``[risk]`` values (the kill switch halts and flattens)."""
        before = self.config
        self._disarm()
        self.config = config
        self._limits.clear()
        if self.arming is not None:
            for symbol in self.symbols:     # the C path's plans with the new limits
                self.arming.rearm(symbol)
        was_on = before.risk.kill_switch or any(RiskLimits.of(symbol_section(before, s, "risk")).kill_switch
                                                 for s in self.symbols)
        now_on = config.risk.kill_switch or any(self.limits(s).kill_switch for s in self.symbols)
        log.info("risk_reloaded", kill_switch=now_on)
        if now_on and not was_on:
            self._halt_and_flatten("kill_switch")

    # ------------------------------------------------------------------ control
    async def flatten(self, symbol: str | None = None, reason: str = "flatten") -> dict:
        """Cancel every open order, close every position with reduce-only market orders
        and verify at the venue that the positions are zero (retrying until
        ``execution.flatten_timeout_s``); trading stays ``halted`` until resume.

        Idempotent and safe while orders are in flight. Returns ``{"ok": flat, ...}``.
        """
        if symbol is not None:
            symbol = symbol.upper()
            if symbol not in self.index:
                return {"ok": False, "error": f"unknown symbol {symbol} (trading {', '.join(self.symbols)})"}
        symbols = [symbol] if symbol else list(self.symbols)
        if self._flatten_lock is None:
            self._flatten_lock = asyncio.Lock()
        async with self._flatten_lock:
            self._disarm()
            self.state.halt(reason, symbols)
            log.warning("flatten", symbols=symbols, reason=reason)
            deadline = time.monotonic() + self.config.execution.flatten_timeout_s
            if self.paper:
                result = await self._flatten_paper(symbols, deadline)
            else:
                result = await self._flatten_venue(symbols, deadline)
        self._last_flatten = result
        (log.info if result["ok"] else log.error)("flatten_done", **result)
        return result

    async def _flatten_paper(self, symbols, deadline) -> dict:
        self.decide_all(symbols)
        while True:
            open_orders = {s: len(self.manager.open[s]) for s in symbols}
            flat = all(self._is_flat(s) for s in symbols) and not any(open_orders.values())
            if flat or time.monotonic() >= deadline:
                return self._flatten_result(symbols, flat, open_orders)
            # fills arrive with the market's next events (on_events)
            await asyncio.sleep(0.02)
            self.decide_all(symbols)

    async def _flatten_venue(self, symbols, deadline) -> dict:
        problems: list[str] = []
        venue_open = {s: 0 for s in symbols}
        flat = False
        while True:
            self.decide_all(symbols)           # cancels what works
            await self.venue.settle(max(deadline - time.monotonic(), 0.0))
            try:
                for s in symbols:
                    await self.venue.cancel_all(s)
                venue_open = await self.reconcile(symbols, adopt_now=True)
                flat = all(self._is_flat(s) for s in symbols) and not any(venue_open.values())
            except Exception as exc:   # noqa: BLE001 - retried until the deadline
                problems.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                flat = False
            if flat or time.monotonic() >= deadline:
                return self._flatten_result(symbols, flat, venue_open, problems[-3:])
            self.decide_all(symbols)           # reduce-only market orders close
            await self.venue.settle(max(deadline - time.monotonic(), 0.0))
            await asyncio.sleep(0.1)           # their fills and account updates arrive

    def _is_flat(self, symbol: str) -> bool:
        inst = self.instruments.get(symbol)
        pos = self.manager.held(symbol)
        return pos == 0 or (inst is not None and abs(pos) < inst.step)

    def _flatten_result(self, symbols, flat: bool, open_orders: dict, problems=()) -> dict:
        positions = {s: self._qty(s, self.manager.held(s)) for s in symbols}
        out = {"ok": flat, "flat": flat, "state": self.state.state, "symbols": symbols,
               "positions": positions, "open_orders": dict(open_orders)}
        if flat:
            out["message"] = (f"flat at the venue ({', '.join(symbols)}); trading halted "
                              f"until resume")
        else:
            out["error"] = (f"not flat after {self.config.execution.flatten_timeout_s:g} s: "
                            f"positions {positions}, open orders {open_orders}"
                            + (f"; errors: {'; '.join(problems)}" if problems else ""))
        return out

    def pause(self) -> dict:
        """Only orders that reduce positions from now on."""
        self._disarm()
        why = self.state.pause()
        if why:
            return {"ok": False, "error": why, "state": self.state.state}
        log.warning("trading_paused")
        self.decide_all()
        return {"ok": True, "state": self.state.state,
                "message": "reducing: only orders that shrink positions"}

    def resume(self) -> dict:
        """Active again (refused while the kill switch is on or the day's loss is over
        the limit)."""
        if self.config.risk.kill_switch or any(self.limits(s).kill_switch for s in self.symbols):
            return {"ok": False, "state": self.state.state,
                    "error": "risk.kill_switch is on: turn it off in the config and reload first"}
        if self.daily_pnl() <= -self.config.risk.max_daily_loss_usd:
            return {"ok": False, "state": self.state.state,
                    "error": f"today's PnL {self.daily_pnl():.2f} USD is beyond "
                             f"risk.max_daily_loss_usd ({self.config.risk.max_daily_loss_usd:g})"}
        self._disarm()
        self.state.resume()
        log.warning("trading_resumed")
        self.decide_all()
        return {"ok": True, "state": self.state.state, "message": "trading active"}

    # ------------------------------------------------------------------ status
    def _qty(self, symbol: str, lots: int) -> float:
        inst = self.instruments.get(symbol)
        return inst.qty(lots) if inst is not None else 0.0

    def status(self) -> dict:
        """The execution part of ``rtaidctl status``."""
        symbols = {}
        total = {"realized": 0.0, "unrealized": 0.0, "fees": 0.0}
        for s in self.symbols:
            p = self.pnl.symbols[s]
            inst = self.instruments.get(s)
            unrealized = self.pnl.unrealized(s, self.market.mid(self.index[s])) if inst else 0.0
            pnl = {"realized": p.realized, "unrealized": unrealized, "fees": p.fees}
            for k in total:
                total[k] += pnl[k]
            target = self.manager.targets[s]
            symbols[s] = {
                "position": self._qty(s, self.manager.held(s)),
                "entry_price": p.entry if p.position else None,
                "target": self.manager.strategy_targets[s],
                "target_qty": self._qty(s, target) if target is not None else None,
                "working_orders": len(self.manager.open[s]),
                "pnl": pnl,
            }
        counts = self.manager.counts
        daily = self.daily_pnl()
        out = {
            "state": self.state.state, "state_reason": self.state.reason,
            "paused": self.state.state == REDUCING, "venue": self.venue_name,
            "symbols": symbols,
            "orders": {"sent": counts["sent"], "filled": counts["filled"],
                       "canceled": counts["canceled"], "expired": counts["expired"],
                       "failed": counts["failed"], "rejected": dict(self.risk.rejected)},
            "pnl": {**total, "daily": daily},
            "daily_pnl_usd": daily,
            "max_daily_loss_usd": self.config.risk.max_daily_loss_usd,
            "balance": self.pnl.balance,
            "latency_us": {name: _percentiles(h) for name, h in self.latency.items()},
            "rows_dropped": self.recorder.dropped,
        }
        if self.user_stream is not None:
            out["user_stream"] = self.user_stream.status()
        if not self.paper:
            out["venue_errors"] = dict(self.venue.errors)
            out["rest_keepalive"] = self.venue.keepalive_status()
            if self.venue_name == "ccxt":
                out["fast_path"] = self.venue.fast_status()
        if self.venue_name == "binance":
            out["ws_api"] = self.venue.ws_status()
            hold = self.manager.hold_until_ms - wall_ms()
            if hold > 0:
                out["backoff_s"] = hold / 1000
        if self._last_flatten is not None:
            out["last_flatten"] = self._last_flatten
        return out


def _percentiles(h) -> dict:
    count = h.count
    if not count:
        return {"count": 0}
    return {"count": count, **{f"p{q:g}".replace(".", ""): h.percentile(q) / 1000
                               for q in (50, 99, 99.9)}}
