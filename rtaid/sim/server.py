"""`SimExchange`: wires markets, account, faults and every endpoint onto one aiohttp port."""
from __future__ import annotations

import asyncio
import collections
import random
import time
from typing import Any

from aiohttp import web

from rtaid.sim import control, rest_public, rest_trading, ws_market, ws_private
from rtaid.sim.account import Account
from rtaid.sim.auth import Authenticator
from rtaid.sim.config import SimConfig
from rtaid.sim.errors import BinanceError
from rtaid.sim.fanout import StreamHub
from rtaid.sim.faults import FaultController
from rtaid.sim.instruments import Instrument
from rtaid.sim.latency import LatencyRecorder
from rtaid.sim.logs import LazyLogger
from rtaid.sim.market import AGGREGATE_INTERVALS_MS, SymbolMarket
from rtaid.sim.ratelimit import RateLimiter
from rtaid.sim.replay import ReplayDriver, load_recording, spec_for_recording
from rtaid.sim.synthetic import OrderFlowModel, SyntheticDriver
from rtaid.sim.user_stream import UserStreams

log = LazyLogger("rtaid.sim")


def _ping_frame(payload: bytes) -> bytes:
    return bytes((0x89, len(payload))) + payload


class SimExchange:
    """A local Binance USD-M exchange: REST and every WebSocket path on one port.

    Parameters
    ----------
    config : SimConfig, optional
        What to simulate; defaults to a synthetic BTCUSDT + ETHUSDT market on port 8765.

    Attributes
    ----------
    markets : dict of str to SymbolMarket
        Book, sequence and publisher per symbol.
    account : Account
        The one trading account (orders, positions, balance).
    faults : FaultController
        Fault injection (also ``POST /sim/fault``).
    latency : LatencyRecorder
        Frame-sent and order-arrival stamps (also ``GET /sim/latency``).
    drivers : dict of str to SyntheticDriver
        Synthetic generators; set ``.paused = True`` to freeze a market.
    replays : dict of str to ReplayDriver
        Replay drivers (``.finished`` is an asyncio.Event).

    Examples
    --------
    >>> async with SimExchange(SimConfig(port=0)) as sim:   # doctest: +SKIP
    ...     sim.rest_url, sim.ws_url
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        cfg = self.config
        self.hub = StreamHub(cfg.slow_client_buffer_bytes)
        self.latency = LatencyRecorder(cfg.latency_capacity)
        self.limiter = RateLimiter(cfg.weight_limit_1m, cfg.order_limit_10s, cfg.order_limit_1m)
        public_key = None
        if cfg.ed25519_public_key_file:
            with open(cfg.ed25519_public_key_file, "rb") as fh:
                public_key = fh.read()
        self.auth = Authenticator(cfg.api_key, cfg.api_secret, cfg.ed25519_api_key, public_key)
        self.user_streams = UserStreams(cfg.listen_key_ttl_s)
        self.markets: dict[str, SymbolMarket] = {}
        self.models: dict[str, OrderFlowModel] = {}
        self.drivers: dict[str, SyntheticDriver] = {}
        self.replays: dict[str, ReplayDriver] = {}
        self.faults = FaultController(self.markets, self.hub)
        self.account: Account | None = None
        self.counters: collections.Counter = collections.Counter()
        self._rng = random.Random(cfg.seed)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self._port: int | None = None
        self._started_mono = 0.0

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "SimExchange":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def _build_markets(self) -> None:
        cfg = self.config
        recordings = [await asyncio.to_thread(load_recording, p, cfg.replay_max_lines) for p in cfg.replay]
        for rec in recordings:
            market = SymbolMarket(Instrument(spec_for_recording(rec)), self.hub, self.latency,
                                  mutable=False, rng=self._rng)
            self.markets[rec.symbol] = market
            self.replays[rec.symbol] = ReplayDriver(rec, market, cfg.speed)
        if not recordings:
            for spec in cfg.symbols:
                market = SymbolMarket(Instrument(spec), self.hub, self.latency, mutable=True,
                                      rng=random.Random(self._rng.random()))
                market.next_id = self._rng.randrange(1_000_000_000, 2_000_000_000)
                model = OrderFlowModel(market, random.Random(self._rng.random()), cfg.synthetic_levels)
                model.seed_book()
                self.markets[spec.symbol] = market
                self.models[spec.symbol] = model
                self.drivers[spec.symbol] = SyntheticDriver(model, cfg.rate_of(spec.symbol))

    async def start(self) -> None:
        """Build the market, bind the port and start generating/replaying."""
        cfg = self.config
        await self._build_markets()
        self.account = Account(self.markets, initial_balance=cfg.initial_balance, maker_fee=cfg.maker_fee,
                               taker_fee=cfg.taker_fee, leverage=cfg.leverage, emit=self.user_streams.publish)
        app = web.Application()
        rest_public.register(app, self)
        rest_trading.register(app, self)
        ws_market.register(app, self)
        ws_private.register(app, self)
        control.register(app, self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            # e.g. port in use: __aexit__ will not run, so release what exists now.
            await self._runner.cleanup()
            self._runner = None
            raise
        self._port = site._server.sockets[0].getsockname()[1]
        self._started_mono = time.monotonic()
        spawn = asyncio.get_running_loop().create_task
        for driver in self.drivers.values():
            self._tasks.append(spawn(driver.run()))
        for replay in self.replays.values():
            self._tasks.append(spawn(replay.run()))
        for index, interval_ms in enumerate(AGGREGATE_INTERVALS_MS):
            self._tasks.append(spawn(self._flush_aggregates(index, interval_ms / 1000)))
        self._tasks.append(spawn(self._mark_prices()))
        self._tasks.append(spawn(self._housekeeping()))
        log.info("sim_started", rest=self.rest_url, ws=self.ws_url, symbols=list(self.markets),
                 replay=bool(self.replays))

    async def stop(self) -> None:
        """Stop timers, drop every connection and release the port."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        async def close(conn) -> None:
            conn.closed = True
            try:
                await asyncio.wait_for(conn.ws.close(code=1001, message=b"server shutdown"), 1.0)
            except Exception:
                conn.abort()

        await asyncio.gather(*(close(c) for c in list(self.hub.connections.values())))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("sim_stopped")

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        """The bound port (the real one when configured with port 0)."""
        if self._port is None:
            raise RuntimeError("SimExchange not started")
        return self._port

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def rest_url(self) -> str:
        """Base URL for REST, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base URL for every WebSocket path, e.g. ``ws://127.0.0.1:8765``."""
        return f"ws://{self.host}:{self.port}"

    # ------------------------------------------------------------------ orders
    def place_order(self, params: dict[str, str], transport: str, mono_ns: int, wall_ns: int) -> dict:
        """Stamp, fault-check and place an order; returns the answer JSON (ACK or RESULT)."""
        symbol = (params.get("symbol") or "").upper()
        record = self.latency.order_arrived(symbol, params.get("newClientOrderId", ""), transport, mono_ns, wall_ns)
        self.counters["orders"] += 1
        reject = self.faults.take_order_reject() if self.faults.order_rejects else None
        try:
            order, ack = self.account.place(params, reject)
        except BinanceError:
            self.counters["orders_rejected"] += 1
            raise
        record[0] = order.client_order_id
        record[1] = order.order_id
        if params.get("newOrderRespType", "ACK") == "RESULT":
            return self.account.order_json(order)
        return ack

    # ------------------------------------------------------------------ timers
    async def _flush_aggregates(self, index: int, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            for market in self.markets.values():
                market.flush_aggregate(index)

    async def _mark_prices(self) -> None:
        while True:
            await asyncio.sleep(self.config.mark_price_interval_s)
            for market in self.markets.values():
                market.publish_mark_price()

    async def _housekeeping(self) -> None:
        """Server pings, pong timeouts, the connection lifetime and listenKey expiry."""
        cfg = self.config
        max_age = cfg.max_connection_age_s
        tick = max(0.02, min(1.0, cfg.ping_interval_s / 4, max_age / 10, cfg.pong_timeout_s / 4))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for conn in list(self.hub.connections.values()):
                if conn.closed:
                    continue
                if now - conn.opened_mono >= max_age:
                    self.counters["lifetime_disconnects"] += 1
                    conn.closed = True
                    self.hub.remove(conn)
                    asyncio.ensure_future(conn.ws.close(code=1000, message=b"connection lifetime exceeded"))
                elif now - conn.last_pong > cfg.pong_timeout_s:
                    self.counters["pong_timeouts"] += 1
                    conn.abort()
                elif now - conn.last_ping >= cfg.ping_interval_s:
                    conn.last_ping = now
                    conn.write(_ping_frame(str(int(time.time() * 1000)).encode()))
            self.user_streams.expire()

    # ------------------------------------------------------------------ user streams
    async def serve_user_stream(self, request: web.Request, listen_key: str) -> web.StreamResponse:
        return await ws_private.serve_user_stream(self, request, listen_key)

    # ------------------------------------------------------------------ inspection
    def book(self, symbol: str, limit: int | None = None) -> dict:
        """The sim's current book of ``symbol`` as a depth snapshot (wire-formatted)."""
        return self.markets[symbol.upper()].depth_snapshot(limit)

    async def wait_replay_finished(self) -> None:
        """Wait until every replayed recording has been published."""
        for replay in self.replays.values():
            await replay.finished.wait()

    def stats(self) -> dict:
        """Counters: per-symbol events, fan-out, connections, REST, orders, faults."""
        classes = collections.Counter(c.path_class for c in self.hub.connections.values())
        return {
            "uptime_s": time.monotonic() - self._started_mono if self._started_mono else 0.0,
            "symbols": {
                s: {
                    "events": m.events_applied, "trades": m.trades, "last_update_id": m.book.last_update_id,
                    "bid_levels": len(m.book.bids), "ask_levels": len(m.book.asks),
                    "best_bid": m.inst.fmt_price(m.book.bids.best()) if m.book.bids.best() is not None else None,
                    "best_ask": m.inst.fmt_price(m.book.asks.best()) if m.book.asks.best() is not None else None,
                    "generated": self.drivers[s].generated if s in self.drivers else None,
                    "replay_published": self.replays[s].published if s in self.replays else None,
                    "replay_finished": self.replays[s].finished.is_set() if s in self.replays else None,
                }
                for s, m in self.markets.items()
            },
            "fanout": dict(self.hub.stats),
            "connections": dict(classes),
            "subscribed_streams": len(self.hub.subscribers),
            "counters": dict(self.counters),
            "rest_weight_used_1m": self.limiter.weight.current(time.time()),
            "rate_limit_rejections": self.limiter.rejected,
            "user_events_sent": self.user_streams.events_sent,
            "open_orders": len(self.account.open_orders) if self.account else 0,
            "fills": self.account.fills if self.account else 0,
            "faults": self.faults.pending(),
        }
