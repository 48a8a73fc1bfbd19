"""The producer endpoint: freqtrade's ``external_message_consumer`` reads rtaid's bars.

A WebSocket server at ``/api/v1/message/ws?token=TOKEN`` that speaks freqtrade's
producer protocol (:mod:`rtaid.freqtrade.wire`): it answers ``whitelist`` and
``analyzed_df`` requests (all pairs or one, ``limit`` rows, at most 1500) and, to the
consumers subscribed to ``analyzed_df``, sends one row per pair each time a bar closes
(``new_candle`` too, to those subscribed to it).

Rows (:mod:`rtaid.freqtrade.bars`): per symbol, the last 1500 one-minute bars. At start
they come from the dataset (``bars_1m`` + ``signals``); when the dataset does not fill
the window (a fresh data dir), the exchange's klines fill the minutes it lacks with OHLCV
and empty rtaid columns (:mod:`rtaid.freqtrade.klines`). Then a poll of the injected live
source, once a second, appends each newly closed bar.

The daemon's event loop is never blocked: the dataset is read and large frames are
built in worker threads; each consumer has its own writer task with a bounded queue;
a consumer that falls behind (about four minutes of rows queued) or stops reading (a
send not done within ``send_timeout_s``) is dropped (close 1013) and counted. Pings are answered (aiohttp's
autoping), and the server pings idle consumers itself to find dead ones.

A wrong or missing token is refused as freqtrade refuses it: HTTP 403 with an empty
body at the handshake (freqtrade closes the socket with 1008 before accepting it,
which uvicorn turns into a 403), so the consumer logs "Connection Refused" and retries.
"""
from __future__ import annotations

import asyncio
import collections
import inspect
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

import aiohttp
from aiohttp import web

from rtaid.freqtrade import bars as barlib
from rtaid.freqtrade import klines as klinelib
from rtaid.freqtrade import wire
from rtaid.freqtrade.pairs import symbol_to_pair
from rtaid.infra.log import RateLimitedLog, get_logger
from rtaid.infra.secrets import Secret

log = get_logger("rtaid.freqtrade")

PATH = "/api/v1/message/ws"
MINUTE_MS = 60_000
FULL_FRAME_ROWS = 100      # freqtrade's FULL_DATAFRAME_THRESHOLD: a first frame needs this many

# {symbol: bars_1m row} of each symbol's last closed bar; may be a coroutine function
LatestBars = Callable[[], "Mapping[str, Mapping[str, Any]] | Awaitable[Mapping[str, Mapping[str, Any]]]"]


class ProducerError(RuntimeError):
    """The endpoint cannot start (e.g. its address is in use); the text says why."""


@dataclass
class PairRows:
    """The rows held for one symbol: ``(minute_ms, row text, from klines)``, oldest first."""

    symbol: str
    pair: str
    rows: collections.deque = field(default_factory=lambda: collections.deque(maxlen=wire.MAX_LIMIT))
    last_analyzed_s: float = 0.0

    @property
    def last_minute(self) -> int | None:
        return self.rows[-1][0] if self.rows else None

    def texts(self, limit: int | None) -> list[str]:
        rows = list(self.rows)
        if limit is not None:
            rows = rows[-limit:]
        return [text for _, text, _ in rows]


class TargetTrack:
    """The strategy's target changes of one symbol as the daemon reports them, to give
    each live bar the target at its close (the last change before the minute ended)."""

    def __init__(self) -> None:
        self.base = 0                      # the daemon starts flat
        self.changes: collections.deque = collections.deque(maxlen=4096)

    def note(self, ts_ms: int, target: int) -> None:
        if len(self.changes) == self.changes.maxlen:
            self.base = self.changes[0][1]
        self.changes.append((ts_ms, target))

    def at_close(self, minute_ms: int) -> int:
        end = minute_ms + MINUTE_MS
        changes = self.changes
        while changes and changes[0][0] < end:
            self.base = changes.popleft()[1]
        return self.base


class Consumer:
    """One connected consumer: its subscriptions and the queue its writer task drains."""

    def __init__(self, ws: web.WebSocketResponse, transport, peer: str, max_pending: int) -> None:
        self.ws = ws
        self.transport = transport
        self.peer = peer
        self.subscriptions: set[str] = set()
        self.queue: collections.deque = collections.deque()
        self.max_pending = max_pending
        self.wakeup = asyncio.Event()
        self.dropped = False       # nothing more is sent
        self.closing = False       # _drop has run

    def put(self, item) -> bool:
        """Queue a message (str) or a request job; False when the queue is full."""
        if len(self.queue) >= self.max_pending:
            return False
        self.queue.append(item)
        self.wakeup.set()
        return True


class Producer:
    """The endpoint. Construct, ``await start()``, ``await stop()``.

    Parameters
    ----------
    symbols : sequence of str
        Binance symbols served (``BTCUSDT`` -> pair ``BTC/USDT:USDT``).
    token : Secret
        The consumers' ``ws_token``.
    latest_bars : callable
        ``latest_bars() -> {symbol: row}``: the ``bars_1m`` columns (``minute_ms``,
        ``open``, ...) of each symbol's last closed bar; a plain function is called on
        the event loop (it must be quick), a coroutine function is awaited.
    bar_columns : sequence of str
        The ``bars_1m`` columns (their order is the frames' order).
    data_dir : str
        The dataset: history at start, bars the live source skipped.
    rest_url : str or None
        The exchange, for klines when the dataset does not fill the window (None: never).
    host, port : str, int
        Where to listen (port 0: any free port, see :attr:`port`).
    history_rows : int
        Rows kept per symbol (freqtrade asks for 1500).
    poll_s : float
        How often ``latest_bars`` is called.
    max_pending : int or None
        Messages and requests a consumer may have queued before it is dropped; default
        about four minutes of rows (4 per pair) plus 16.
    send_timeout_s : float
        Longest wait for one message to leave; longer: the consumer is dropped.
    request_timeout_s : float
        Timeout of a klines request.
    clock : callable
        Epoch seconds: the exchange's "now" (which klines are closed) and ``la``.
    """

    def __init__(self, symbols: Sequence[str], token: Secret, latest_bars: LatestBars,
                 bar_columns: Sequence[str], data_dir: str, rest_url: str | None,
                 host: str = "127.0.0.1", port: int = 8080, history_rows: int = wire.MAX_LIMIT,
                 poll_s: float = 1.0, max_pending: int | None = None, send_timeout_s: float = 30.0,
                 request_timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not token:
            raise ValueError("the producer needs a token")
        self.token = token
        self.latest_bars = latest_bars
        self.columns = barlib.frame_columns(bar_columns)
        self.header = wire.FrameHeader(self.columns)
        self.data_dir = data_dir
        self.rest_url = rest_url
        self.host = host
        self._port = port
        self.history_rows = min(history_rows, wire.MAX_LIMIT)
        self.poll_s = poll_s
        self.max_pending = max_pending if max_pending is not None else 16 + 4 * len(symbols)
        self.send_timeout_s = send_timeout_s
        self.request_timeout_s = request_timeout_s
        self.clock = clock
        self.pairs: dict[str, PairRows] = {}
        for symbol in symbols:
            rows = PairRows(symbol, symbol_to_pair(symbol))
            rows.rows = collections.deque(maxlen=self.history_rows)
            self.pairs[rows.pair] = rows
        self.by_symbol = {p.symbol: p for p in self.pairs.values()}
        self.targets = {s: TargetTrack() for s in self.by_symbol}
        self.consumers: set[Consumer] = set()
        self.ready = asyncio.Event()
        self.counters: collections.Counter = collections.Counter()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self._consumer_tasks: set[asyncio.Task] = set()
        self._warn = RateLimitedLog(log, 60.0)

    # ------------------------------------------------------------------ life cycle
    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        """Bind the endpoint (raises :class:`ProducerError` when it cannot), then load
        the history in the background and start polling the live source."""
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        # no access log: the request line carries the token
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ProducerError(f"freqtrade producer cannot listen on {self.host}:{self._port}: "
                                f"{exc.strerror or exc}") from None
        self._port = site._server.sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(self._load_then_poll(), name="freqtrade_producer"))
        log.info("freqtrade_producer_listening", url=f"ws://{self.host}:{self._port}{PATH}",
                 pairs=list(self.pairs))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for consumer in list(self.consumers):
            await self._drop(consumer, 1001, "server shutdown")
        for task in list(self._consumer_tasks):
            task.cancel()
        await asyncio.gather(*self._consumer_tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("freqtrade_producer_stopped", **self.stats())

    def stats(self) -> dict:
        return {"consumers": len(self.consumers), **self.counters,
                "rows": {p: len(r.rows) for p, r in self.pairs.items()}}

    # ------------------------------------------------------------------ inputs
    def note_targets(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The daemon's execution hook hands target changes here too (rows of the
        ``signals`` table: ``symbol``, ``ts_ms``, ``target``)."""
        for row in rows:
            try:
                track = self.targets.get(row.get("symbol"))
                if track is not None:
                    track.note(int(row["ts_ms"]), int(row["target"]))
            except (KeyError, TypeError, ValueError, AttributeError):
                # called from the frame callback: never raise, count
                self.counters["bad_target_rows"] += 1

    async def _load_then_poll(self) -> None:
        try:
            await self._load_history()
        finally:
            self.ready.set()
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                found = self.latest_bars()
                if inspect.isawaitable(found):
                    found = await found
            except Exception as exc:   # noqa: BLE001 - a bad poll must not end the producer
                self.counters["poll_errors"] += 1
                self._warn.log("poll", "freqtrade_poll_failed", error=f"{type(exc).__name__}: {exc}")
                continue
            for symbol, bar in (found or {}).items():
                rows = self.by_symbol.get(symbol)
                if rows is not None and bar is not None:
                    try:
                        await self._on_bar(rows, bar)
                    except Exception as exc:   # noqa: BLE001
                        self.counters["bar_errors"] += 1
                        self._warn.log(("bar", symbol), "freqtrade_bar_failed", symbol=symbol,
                                       error=f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ history
    async def _load_history(self) -> None:
        n = self.history_rows
        async with aiohttp.ClientSession() as session:
            for rows in self.pairs.values():
                try:
                    await self._load_symbol(session, rows, n)
                except Exception as exc:   # noqa: BLE001 - one symbol must not stop the rest
                    self.counters["history_errors"] += 1
                    log.error("freqtrade_history_failed", symbol=rows.symbol,
                              error=f"{type(exc).__name__}: {exc}")

    async def _load_symbol(self, session: aiohttp.ClientSession, rows: PairRows, n: int) -> None:
        symbol = rows.symbol
        newest = await asyncio.to_thread(barlib.newest_bar, self.data_dir, symbol)
        end = newest["minute_ms"] + MINUTE_MS if newest else None
        frame = None
        if end is not None:
            frame = await asyncio.to_thread(barlib.read_bars, self.data_dir, symbol,
                                            end - n * MINUTE_MS, end)
        now_ms = int(self.clock() * 1000)
        now_minute = _minute(now_ms)
        stale = end is None or end < now_minute - MINUTE_MS
        klines: dict = {}
        if self.rest_url and (stale or frame is None or len(frame) < n
                              or _has_joined_minutes(frame, end - n * MINUTE_MS)):
            klines = await klinelib.fetch_with_retry(session, self.rest_url, symbol,
                                                     timeout_s=self.request_timeout_s,
                                                     now_ms=now_ms)
            if klines and (end is None or max(klines) + MINUTE_MS > end):
                end = max(klines) + MINUTE_MS
                frame = await asyncio.to_thread(barlib.read_bars, self.data_dir, symbol,
                                                end - n * MINUTE_MS, end)
        if end is None:
            log.warning("freqtrade_no_history", symbol=symbol,
                        consequence="the first frame waits for 100 bars")
            return
        built = await asyncio.to_thread(self._history_rows, frame, klines, end - n * MINUTE_MS, end)
        rows.rows.extend(built)
        rows.last_analyzed_s = self.clock()
        from_klines = sum(1 for r in built if r[2])
        self.counters["kline_rows"] += from_klines
        log.info("freqtrade_history", symbol=symbol, pair=rows.pair, rows=len(built),
                 from_dataset=len(built) - from_klines, from_klines=from_klines)

    def _history_rows(self, frame: barlib.BarFrame | None, klines: dict, start: int,
                      end: int) -> list[tuple]:
        """Worker thread: the window's rows, dataset first, klines for minutes it lacks."""
        by_minute: dict[int, tuple] = {}
        for minute, ohlcv in klines.items():
            if start <= minute < end:
                by_minute[minute] = self._kline_history_row(minute, ohlcv)
        if frame is not None:
            minutes = set(int(m) for m in frame.dates)
            for values in frame.rows():
                minute = values[0]
                if _joined_midway(minute, minutes, start) and minute in by_minute:
                    continue           # a run's first, partial bar: the exchange's candle
                by_minute[minute] = (minute, wire.row_text(values), False)
        return [by_minute[m] for m in sorted(by_minute)]

    # ------------------------------------------------------------------ live bars
    async def _on_bar(self, rows: PairRows, bar: Mapping[str, Any]) -> None:
        minute = int(bar["minute_ms"])
        last = rows.last_minute
        replace = False
        if last is not None and minute <= last:
            if minute != last or not rows.rows[-1][2]:
                return                 # seen already (or older than what is held)
            replace = True             # rtaid's own bar for a minute klines filled
        new: list[tuple] = []
        if last is not None and minute > last + MINUTE_MS:
            # minutes the poll did not see: from the dataset, when it has them
            frame = await asyncio.to_thread(barlib.read_bars, self.data_dir, rows.symbol,
                                            last + MINUTE_MS, minute)
            if frame is not None:
                texts = await asyncio.to_thread(lambda: [wire.row_text(v) for v in frame.rows()])
                new.extend((int(m), t, False) for m, t in zip(frame.dates, texts))
                self.counters["gap_rows_from_dataset"] += len(texts)
        if bar.get("partial"):
            # rtaid saw only the end of this minute: the exchange's candle, rtaid's
            # columns empty (as for history), or nothing until the next full minute
            row = await self._kline_row(rows.symbol, minute)
            if row is None:
                self.counters["partial_bars_skipped"] += 1
                return
            self.counters["partial_bars_from_klines"] += 1
            new.append(row)
        else:
            target = self.targets[rows.symbol].at_close(minute)
            values = [minute] + [_cell(bar.get(c)) for c in self.columns[1:-1]] + [target]
            new.append((minute, wire.row_text(values), False))
        if replace:
            rows.rows.pop()
        rows.rows.extend(new)
        rows.last_analyzed_s = self.clock()
        self.counters["live_rows"] += 1
        self._broadcast(rows, [t for _, t, _ in new])

    async def _kline_row(self, symbol: str, minute: int) -> tuple | None:
        """The exchange's closed candle of ``minute`` as a history row, or None (no REST
        endpoint, or the request failed: logged)."""
        if not self.rest_url:
            return None
        try:
            async with aiohttp.ClientSession() as session:
                klines = await klinelib.fetch_closed(session, self.rest_url, symbol, limit=5,
                                                     timeout_s=self.request_timeout_s,
                                                     now_ms=int(self.clock() * 1000))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            self._warn.log(("kline", symbol), "freqtrade_partial_bar_kline_failed", symbol=symbol,
                           error=f"{type(exc).__name__}: {exc}",
                           consequence="the minute rtaid joined mid-way is left out")
            return None
        ohlcv = klines.get(minute)
        return self._kline_history_row(minute, ohlcv) if ohlcv is not None else None

    def _kline_history_row(self, minute: int, ohlcv) -> tuple:
        """A row from the exchange's candle: OHLCV, every rtaid column empty."""
        values = [minute, *ohlcv] + [None] * (len(self.columns) - 6)
        return (minute, wire.row_text(values), True)

    def _broadcast(self, rows: PairRows, texts: list[str]) -> None:
        df_message = None
        candle = None
        for consumer in list(self.consumers):
            if "analyzed_df" in consumer.subscriptions:
                if df_message is None:
                    df_message = wire.analyzed_df(rows.pair, self.header, texts, rows.last_analyzed_s)
                self._queue(consumer, df_message)
            if "new_candle" in consumer.subscriptions:
                candle = candle or wire.new_candle(rows.pair)
                self._queue(consumer, candle)

    def _queue(self, consumer: Consumer, item) -> None:
        if consumer.dropped:
            return
        if not consumer.put(item):
            consumer.dropped = True    # nothing more is queued; _drop closes it
            self.counters["consumers_dropped_slow"] += 1
            log.warning("freqtrade_consumer_too_slow", peer=consumer.peer,
                        pending=len(consumer.queue), action="dropped")
            self._spawn(self._drop(consumer, 1013, "consumer too slow"))

    # ------------------------------------------------------------------ connections
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.remote or "?"
        given = request.query.get("token", "")
        if not given or not secrets.compare_digest(given.encode(), self.token.reveal().encode()):
            self.counters["tokens_refused"] += 1
            self._warn.log(("token", peer), "freqtrade_token_refused", peer=peer)
            # what uvicorn answers when freqtrade closes an unaccepted socket (1008)
            return web.Response(status=403, body=b"", content_type="text/plain",
                                charset="utf-8", headers={"Connection": "close"})
        ws = web.WebSocketResponse(autoping=True, heartbeat=60.0, max_msg_size=1 << 16)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade\n")
        await ws.prepare(request)
        consumer = Consumer(ws, request.transport, peer, self.max_pending)
        self.consumers.add(consumer)
        self.counters["consumers_connected"] += 1
        log.info("freqtrade_consumer_connected", peer=peer, consumers=len(self.consumers))
        writer = self._spawn(self._writer(consumer))
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._on_request(consumer, msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    self._queue(consumer, wire.error("Invalid request type: None"))
        finally:
            consumer.dropped = True
            consumer.wakeup.set()
            self.consumers.discard(consumer)
            writer.cancel()
            log.info("freqtrade_consumer_disconnected", peer=peer, consumers=len(self.consumers))
        return ws

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._consumer_tasks.add(task)
        task.add_done_callback(self._consumer_tasks.discard)
        return task

    def _on_request(self, consumer: Consumer, text: str) -> None:
        self.counters["requests"] += 1
        try:
            kind, data = wire.parse_request(text)
            if kind == "subscribe":
                # freqtrade takes the list only when every topic is a message type
                if isinstance(data, list) and data and all(
                        isinstance(t, str) and t in wire.MESSAGE_TYPES for t in data):
                    consumer.subscriptions = set(data)
                return
            if kind == "whitelist":
                self._queue(consumer, wire.whitelist(list(self.pairs)))
                return
            limit, pair = wire.analyzed_df_request(data)
            if pair is not None and pair not in self.pairs:
                raise wire.BadRequest(f"Unknown pair: {pair}")
            self.counters["analyzed_df_requests"] += 1
            if pair is not None:
                self.counters["backfill_requests"] += 1
            self._queue(consumer, ("analyzed_df", pair, limit))
        except wire.BadRequest as exc:
            self.counters["bad_requests"] += 1
            self._queue(consumer, wire.error(str(exc)))

    async def _writer(self, consumer: Consumer) -> None:
        """Send the consumer's queue in order; analyzed_df answers are built here."""
        try:
            while not consumer.dropped:
                if not consumer.queue:
                    consumer.wakeup.clear()
                    await consumer.wakeup.wait()
                    continue
                item = consumer.queue.popleft()
                if isinstance(item, str):
                    await self._send(consumer, item)
                    continue
                _, pair, limit = item
                await self.ready.wait()
                for rows in ([self.pairs[pair]] if pair else list(self.pairs.values())):
                    texts = rows.texts(limit)
                    if not texts:
                        continue
                    if len(texts) < FULL_FRAME_ROWS and (limit is None or limit >= FULL_FRAME_ROWS):
                        # freqtrade would keep asking for a full frame: wait for 100 bars
                        self._warn.log(("short", rows.pair), "freqtrade_history_too_short",
                                       pair=rows.pair, rows=len(texts), needed=FULL_FRAME_ROWS)
                        continue
                    message = await asyncio.to_thread(wire.analyzed_df, rows.pair, self.header,
                                                      texts, rows.last_analyzed_s)
                    await self._send(consumer, message)
                    self.counters["frames_sent"] += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:   # noqa: BLE001 - a failed send drops this consumer only
            if not consumer.dropped:
                self.counters["send_errors"] += 1
                self._warn.log(("send", consumer.peer), "freqtrade_send_failed",
                               peer=consumer.peer, error=f"{type(exc).__name__}: {exc}")
                await self._drop(consumer, 1011, "send failed")

    async def _send(self, consumer: Consumer, message: str) -> None:
        try:
            await asyncio.wait_for(consumer.ws.send_str(message), self.send_timeout_s)
        except asyncio.TimeoutError:
            self.counters["consumers_dropped_stuck"] += 1
            log.warning("freqtrade_consumer_stuck", peer=consumer.peer,
                        timeout_s=self.send_timeout_s, action="dropped")
            await self._drop(consumer, 1013, "consumer too slow")

    async def _drop(self, consumer: Consumer, code: int, reason: str) -> None:
        if consumer.closing:
            return
        consumer.closing = consumer.dropped = True
        consumer.queue.clear()
        consumer.wakeup.set()
        self.consumers.discard(consumer)
        try:
            await asyncio.wait_for(consumer.ws.close(code=code, message=reason.encode()), 1.0)
        except Exception:   # noqa: BLE001 - a stuck peer: cut the connection
            pass
        transport = consumer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


def _cell(value):
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _joined_midway(minute: int, minutes: set, window_start: int) -> bool:
    """A dataset bar after a minute without one: the first bar of a daemon run (or after
    an outage), which covers only the part of its minute after the daemon joined. While
    the daemon runs every minute has a bar (a timer closes quiet ones)."""
    return minute > window_start and minute - MINUTE_MS not in minutes


def _has_joined_minutes(frame, window_start: int) -> bool:
    minutes = set(int(m) for m in frame.dates)
    return any(_joined_midway(m, minutes, window_start) for m in minutes)


def _minute(ms: float) -> int:
    ms = int(ms)
    return ms - ms % MINUTE_MS
