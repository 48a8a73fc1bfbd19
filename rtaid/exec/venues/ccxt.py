"""The ccxt venue: ``ccxt.async_support.binanceusdm`` with its URLs taken from
``exchange.rest_url``, so the same code talks to Binance, its testnet or rtaid-sim.

Orders go out through binanceusdm's signed ``POST /fapi/v1/order`` (its implicit API:
ccxt signs, sends and maps errors) with our client id (``newClientOrderId``), ``RESULT``
answers, ``reduceOnly``, the time in force, and the exact decimal strings of our grid;
cancels by client id (``cancel_order``); ``cancel_all_orders``,
open orders, order lookups by client id, positions (``/fapi/v3/positionRisk``) and the
balance (``/fapi/v2/balance``) serve reconciliation. Errors are mapped for every URL by
:mod:`rtaid.exec.venues.binance_errors` (:func:`classify` says what each means):
an order whose fate is unknown is looked up by its client id once the exchange can no
longer accept it (its recvWindow has passed), and sent again with the same id only when
the exchange does not have it, so a timeout never doubles an order.

The first send of an order is written in the turn that placed it, on a keep-alive
connection of :mod:`rtaid.exec.venues.keepalive` (ccxt signs it, ccxt maps its answer);
when none is idle, and for every retry, ccxt sends it through aiohttp. With the engine
given, a target change the order manager has planned for (armed, as for the binance
venue: rtaid/exec/arming.py) is sent from the C order path (rtaid/exec/fastpath.pyx)
inside the listener's callback of its frame, before the Python decision runs; that
decision then claims the order already sent (:meth:`CcxtVenue._claim`). Its request is
ccxt's own: at arming, ccxt signs the planned order with a marker price and timestamp,
whose places become the template's slots, which the C path fills with the touch and the
time and signs (HMAC-SHA256, as ccxt does) — no Python runs between the frame and the
write but the keep-alive connection's. At start the venue renders a template and has
ccxt sign the same order: the two must be the same bytes, or the C path stays off (said
in the log and in ``fast_path.off``), e.g. for a key ccxt signs otherwise than by HMAC.

Latency: ``tick_to_order`` is the frame's monotonic stamp to the moment the order
request is handed to the transport (the keep-alive connection's write; through aiohttp,
its trace hook for the body, called right before the headers and the body go out in
one write, found through a context variable set around the send); ``order_round_trip``
from just before the send to the answer.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import re
import time
from types import SimpleNamespace

import aiohttp
import ccxt.async_support as ccxt_async

from rtaid.exec.fastpath import (
    PRICE_SLOT, SIGNATURE_SLOT, TIMESTAMP_SLOT, FastOrderPath, price_mode,
)
from rtaid.exec.orders import record_tick_to_order
from rtaid.exec.venues.binance_errors import (
    BACKOFF, DUPLICATE, HALT, NOT_FOUND, REJECT, RETRY, UNKNOWN, classify, venue_error,
)
from rtaid.exec.venues.keepalive import Closed, KeepAlivePool
from rtaid.infra.log import get_logger

log = get_logger("rtaid.exec.ccxt")

BINANCE_REST = "https://fapi.binance.com"
MAX_SENDS = 3            # sends of one order (same client id) before it is "failed"
KEEPALIVE_CONNECTIONS = 2   # for first sends in the placing turn (one request each)
RESOLVE_DEADLINE_S = 60.0
STATUSES = {"NEW": "accepted", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled",
            "CANCELED": "canceled", "EXPIRED": "expired", "EXPIRED_IN_MATCH": "expired",
            "REJECTED": "rejected"}
# the write stamps of the order being sent in this task (see _trace_config)
_SENDING: contextvars.ContextVar = contextvars.ContextVar("rtaid_order_sending", default=None)
# what ccxt signs a template order with: their places in its body become the slots
TEMPLATE_NONCE = 1999999999999
PRICE_MARK = "PXSLOTMARK"
CLIENT_ID_MARK = "rtCIDSLOTMARK"
URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")      # what urlencode leaves as it is
MAX_SHAPES = 256         # ccxt templates kept, by order shape (symbol, side, type, qty...)


class VenueStartError(Exception):
    """The venue cannot be used (unreachable, symbols unknown, keys refused)."""


class RtaidBinanceUsdm(ccxt_async.binanceusdm):
    """binanceusdm whose error answers are mapped by rtaid for every base URL, and
    whose nonce (the ``timestamp`` it signs) can be fixed while a template is made."""

    template_nonce: int | None = None

    def nonce(self):
        if self.template_nonce is not None:
            return self.template_nonce
        return super().nonce()

    def handle_errors(self, code, reason, url, method, headers, body, response,
                      requestHeaders, requestBody):
        err = venue_error(code, headers, response)
        if err is not None:
            raise err
        return super().handle_errors(code, reason, url, method, headers, body, response,
                                     requestHeaders, requestBody)


def _trace_config() -> aiohttp.TraceConfig:
    async def written(session, ctx, params):
        slot = _SENDING.get()
        if slot is not None:
            slot[0] = time.monotonic_ns()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(written)
    # the body's hook runs right before headers and body go to the transport together
    trace.on_request_chunk_sent.append(written)
    return trace


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class CcxtVenue:
    """Orders, cancels and venue state through ccxt.

    Parameters
    ----------
    exchange_config : rtaid.infra.config.ExchangeConfig
        URLs, credentials (``api_key``/``api_secret``: Secrets), recvWindow, timeout.
    max_backoff_s : float
        ``execution.max_backoff_s``.
    instruments : dict of str to Instrument
    sink : ExecutionService
    latency : dict of str to LatencyHistogram
    engine : Engine, optional
        Its execution ring and books feed the C order path (none without it).
    symbols : sequence of str
        The engine's symbols, by index.
    """

    name = "ccxt"

    def __init__(self, exchange_config, max_backoff_s: float, instruments: dict, sink,
                 latency: dict, engine=None, symbols=()) -> None:
        self.cfg = exchange_config
        self.max_backoff_s = max_backoff_s
        self.instruments = instruments
        self.sink = sink
        self.latency = latency
        self.session: aiohttp.ClientSession | None = None
        self.exchange: RtaidBinanceUsdm | None = None
        self.market_symbol: dict[str, str] = {}
        self._tasks: set[asyncio.Task] = set()
        self.errors: dict[str, int] = {}
        self.keepalive: KeepAlivePool | None = None
        # binanceusdm's implicit endpoint of orders: what its fapiPrivatePostOrder signs
        self._order_entry = inspect.getattr_static(RtaidBinanceUsdm, "fapiPrivatePostOrder")
        # the C order path: the armed plans' orders, what its sends wrote
        self.symbols = list(symbols)
        self.counts = {"fast_claimed": 0, "fast_mismatch": 0, "fast_unclaimed": 0}
        self._planned: dict[tuple[int, int], object] = {}
        self._fast_written: dict[int, tuple] = {}     # sym -> the keep-alive request
        self._adopted: dict[str, tuple] = {}          # client id -> an unclaimed one's
        self._shapes: dict[tuple, tuple[bytes, bytes]] = {}   # ccxt's templates, by order shape
        self._order_request: tuple | None = None      # (method, url, headers, head)
        self.fast_off: str | None = None              # why the C path is off
        self.fast = self._fast_path(engine) if engine is not None else None

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        """Open the session, load the markets; raises VenueStartError."""
        # ccxt logs request headers (the API key) at DEBUG: never let them through
        logging.getLogger("ccxt").setLevel(logging.INFO)
        self.session = aiohttp.ClientSession(trace_configs=[_trace_config()])
        cfg = self.cfg
        self.exchange = RtaidBinanceUsdm({
            "apiKey": cfg.api_key.reveal(), "secret": self._rest_secret(),
            "session": self.session, "enableRateLimit": False,
            "timeout": int(cfg.request_timeout_s * 1000),
            "options": {"fetchCurrencies": False, "recvWindow": cfg.recv_window_ms,
                        "warnOnFetchOpenOrdersWithoutSymbol": False},
        })
        base = cfg.rest_url.rstrip("/")
        if base != BINANCE_REST:
            api = self.exchange.urls["api"]
            for k, v in list(api.items()):
                if isinstance(v, str) and v.startswith(BINANCE_REST):
                    api[k] = base + v[len(BINANCE_REST):]
        try:
            await self.exchange.load_markets()
        except Exception as exc:   # noqa: BLE001 - a start-up error names the cause
            raise VenueStartError(f"exchange.rest_url {cfg.rest_url}: cannot load the markets "
                                  f"({type(exc).__name__}: {_short(exc)})") from None
        by_id = self.exchange.markets_by_id or {}
        missing = [s for s in self.instruments if s not in by_id]
        if missing:
            raise VenueStartError(f"the exchange has no market for {', '.join(missing)}")
        self.market_symbol = {s: by_id[s][0]["symbol"] for s in self.instruments}
        api = self.exchange.urls["api"]["fapiPrivate"]
        context = None
        if api.startswith("https:"):   # the CA bundle ccxt's own requests trust
            import ssl
            context = ssl.create_default_context(cafile=self.exchange.cafile)
        self.keepalive = KeepAlivePool(api, KEEPALIVE_CONNECTIONS, context)
        await self.keepalive.start()
        if self.fast is not None:
            self._connect_fast_path()

    def _fast_path(self, engine) -> FastOrderPath:
        return FastOrderPath(engine, len(self.symbols), self.latency["tick_to_order"], None,
                             None)

    def _connect_fast_path(self) -> None:
        """The C order path writes through :meth:`_send_armed` from now on, once a
        rendered template is ccxt's request to the byte (else it stays off)."""
        secret = self._rest_secret().encode()
        self.fast.set_sender(None, secret)          # the key, for the check: nothing sent
        try:
            problem = self._check_templates()
        except Exception as exc:   # noqa: BLE001 - the C path stays off, said why
            problem = f"{type(exc).__name__}: {_short(exc)}"
        if problem is not None:
            self.fast_off = problem
            log.error("fast_path_off", reason=problem,
                      consequence="every order is signed and sent by the Python path")
            return
        self.fast.set_sender(self._send_armed, secret)

    def _rest_secret(self) -> str:
        """What ccxt signs REST requests with (the HMAC secret)."""
        return self.cfg.api_secret.reveal()

    async def close(self) -> None:
        if self.fast is not None:
            self.fast.set_sender(None)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.keepalive is not None:
            await self.keepalive.close()
        if self.exchange is not None:
            self.exchange.timeout_on_exit = 0
            await self.exchange.close()
        if self.session is not None:
            await self.session.close()

    async def settle(self, timeout: float) -> bool:
        """Wait until no send or cancel is in flight (True) or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while self._tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self._count("task_failed")
            log.error("venue_task_failed", error=f"{type(exc).__name__}: {_short(exc)}")

    def _count(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1

    # ------------------------------------------------------------------ orders
    def place(self, order, now_ms: int, recv_ns: int) -> None:
        order.inflight = True
        written = self._claim(order) if self.fast is not None else None
        if written is None:
            written = self._send_now(order)
        # recv_ns: the receipt of the frame that caused the order (the paper venue's too),
        # so that the orders table ties each order to its cause
        self.sink.sent(order, wall_ms(), recv_ns)
        self._spawn(self._send(order, written))

    def cancel(self, order, now_ms: int, recv_ns: int) -> None:
        self._spawn(self._cancel(order))

    async def _send(self, order, written=None) -> None:
        """Send ``order`` until its fate is known (``written``: its first send, already
        on a keep-alive connection)."""
        sends = 0
        while True:
            sends += 1
            sent_ms = wall_ms()
            if written is not None:
                answer, exc = await self._keepalive_answer(written)
                written = None
            else:
                answer, exc = await self._create(order, first=sends == 1)
            if exc is None:
                self.apply(order, answer)
                return
            outcome, reason = classify(exc)
            self._count(reason)
            log.warning("order_error", client_id=order.client_id, symbol=order.symbol,
                        outcome=outcome, reason=reason, error=_short(exc), attempt=sends)
            if outcome == RETRY and sends < MAX_SENDS:
                await asyncio.sleep(0.2 * sends)
                if self.sink.may_send(order):
                    continue
                self.sink.rejected(order, "halted", wall_ms(), time.time_ns(), venue=False)
                return
            if outcome in (UNKNOWN, DUPLICATE, RETRY):
                if outcome == UNKNOWN:
                    # once its recvWindow has passed the exchange cannot accept it any more:
                    # what a lookup says then is final
                    wait = (sent_ms + self.cfg.recv_window_ms + 250 - wall_ms()) / 1000
                    if wait > 0:
                        await asyncio.sleep(wait)
                try:
                    info = await self._lookup(order)
                except Exception as lookup_exc:   # noqa: BLE001 - reconciliation looks again
                    log.error("order_fate_unknown", client_id=order.client_id,
                              error=_short(lookup_exc))
                    self.sink.update(order, "failed", order.filled, wall_ms(), time.time_ns(),
                                     reason=reason)
                    return
                if info is not None:
                    self.apply(order, info)
                    return
                if sends < MAX_SENDS and outcome != DUPLICATE and self.sink.may_send(order):
                    continue                 # the exchange does not have it: same id again
                self.sink.update(order, "failed", order.filled, wall_ms(), time.time_ns(),
                                 reason=reason)
                return
            if outcome == BACKOFF:
                self.sink.backoff(exc.retry_after_s, self.max_backoff_s)
                self.sink.rejected(order, reason, wall_ms(), time.time_ns(), venue=True)
                return
            if outcome == HALT:
                if exc.status == 418:     # banned: not a request until the ban ends
                    self.sink.backoff(exc.retry_after_s, self.max_backoff_s)
                self.sink.rejected(order, reason, wall_ms(), time.time_ns(), venue=True)
                self.sink.halt(f"the exchange refuses orders: {reason} ({_short(exc)})")
                return
            self.sink.rejected(order, reason, wall_ms(), time.time_ns(), venue=True,
                               message=_short(exc))
            return

    def _order_params(self, order, price: str | None, client_id: str | None = None) -> dict:
        # binanceusdm's signed POST /fapi/v1/order with the exact decimal strings of our
        # grid (create_order would go through floats and its market layer: slower, and
        # rounding there is not ours)
        inst = self.instruments[order.symbol]
        params = {"symbol": order.symbol, "side": "BUY" if order.side > 0 else "SELL",
                  "type": order.type.upper(), "quantity": inst.qty_text(order.qty),
                  "newClientOrderId": client_id or order.client_id, "newOrderRespType": "RESULT"}
        if order.type == "limit":
            params["price"] = price
            params["timeInForce"] = order.tif
        if order.reduce_only:
            params["reduceOnly"] = "true"
        return params

    def _send_now(self, order):
        """The order's request, signed by ccxt, written on an idle keep-alive connection
        in this turn: ``(future, handed mono ns, request, headers)``, what
        :meth:`_keepalive_answer` takes, or None (no idle connection: ccxt sends it)."""
        if self.keepalive is None:
            return None
        entry = self._order_entry
        try:
            request = self.exchange.sign(entry.path, entry.api, entry.method,
                                         self._order_params(order, self._price(order, order.px)))
            headers = self.exchange.prepare_request_headers(request["headers"])
        except Exception:   # noqa: BLE001 - ccxt refuses it: its own send says why
            return None
        sent = self.keepalive.send(request["method"], request["url"], headers,
                                   request["body"])
        if sent is None:
            return None
        future, handed = sent
        record_tick_to_order(self.latency, order.cause, handed, "tick_to_order")
        return future, handed, request, headers

    # ------------------------------------------------------------------ the C order path
    def arm(self, symbol: str, target: int, target_qty: float, order, limits) -> None:
        """Arm the C path: ``order`` (OrderManager.plan) for the strategy's ``target``."""
        inst = self.instruments[symbol]
        try:
            template, sig = self._template(order)
        except ValueError as exc:   # not armed: the Python path sends it
            self._count("fast_path_template")
            log.error("fast_path_not_armed", symbol=symbol, error=str(exc))
            return
        self._planned[(inst.sym, target)] = order
        self.fast.arm(inst.sym, target, target_qty, order.side, price_mode(order.type, order.tif),
                      order.qty, order.reduce_only, inst.tick, limits.max_book_age_ms,
                      limits.price_band_bps, limits.max_notional_usd,
                      inst.min_notional if inst.min_notional else 0.0, inst.px_dec,
                      inst.qty_dec, template, sig)

    def _price(self, order, px: int) -> str | None:
        return self.instruments[order.symbol].price_text(px) if order.type == "limit" else None

    def _template(self, order) -> tuple[bytes, bytes | None]:
        """ccxt's signed ``POST /fapi/v1/order`` body for ``order`` as a template, and
        the signature's payload: ccxt signs the order's shape once (a marker client id,
        price and timestamp); the client id is written in here, the rest in C."""
        if not URL_SAFE.fullmatch(order.client_id):
            raise ValueError(f"client id {order.client_id!r} needs URL encoding")
        key = (order.symbol, order.side, order.type, order.tif, order.reduce_only, order.qty)
        shape = self._shapes.get(key)
        if shape is None:
            if len(self._shapes) >= MAX_SHAPES:     # quantities vary: keep it bounded
                self._shapes.clear()
            shape = self._shapes[key] = self._ccxt_template(order, CLIENT_ID_MARK)
        mark, cid = b"newClientOrderId=" + CLIENT_ID_MARK.encode(), b"newClientOrderId=" + order.client_id.encode()
        return shape[0].replace(mark, cid), shape[1].replace(mark, cid)

    def _ccxt_template(self, order, client_id: str) -> tuple[bytes, bytes]:
        ex, entry = self.exchange, self._order_entry
        ex.template_nonce = TEMPLATE_NONCE
        try:
            request = ex.sign(entry.path, entry.api, entry.method,
                              self._order_params(order, PRICE_MARK, client_id))
        finally:
            ex.template_nonce = None
        query, sep, _ = (request.get("body") or "").rpartition("&signature=")
        marks = {f"timestamp={TEMPLATE_NONCE}": 1, f"newClientOrderId={client_id}": 1,
                 f"price={PRICE_MARK}": 1 if order.type == "limit" else 0}
        if not sep or any(query.count(m) != n for m, n in marks.items()):
            raise ValueError(f"ccxt's order body is not of the expected form: {query[:200]!r}")
        payload = query.encode().replace(f"timestamp={TEMPLATE_NONCE}".encode(),
                                         b"timestamp=" + TIMESTAMP_SLOT)
        payload = payload.replace(f"price={PRICE_MARK}".encode(), b"price=" + PRICE_SLOT)
        return payload + b"&signature=" + SIGNATURE_SLOT, payload

    def _check_templates(self) -> str | None:
        """None when a rendered template is, byte for byte, the body ccxt signs for the
        same order at the same time (a limit and a market order), else what differs;
        also makes the head of the keep-alive requests."""
        ex, entry = self.exchange, self._order_entry
        # the C path stamps the wall clock; ccxt signs its nonce: they must agree
        if abs(ex.nonce() - ex.milliseconds()) > 1:
            return f"ccxt's timestamp is not the clock (timeDifference {ex.options.get('timeDifference')})"
        symbol, inst = next(iter(self.instruments.items()))
        ts = wall_ms()
        for otype in ("limit", "market"):
            order = SimpleNamespace(symbol=symbol, side=1, type=otype, tif="GTC",
                                    reduce_only=False, qty=inst.step,
                                    client_id="rt-check-1")
            px = 12345 * inst.tick
            template, payload = self._template(order)
            mine = self.fast.render_signed(template, payload, px, inst.px_dec, ts)
            ex.template_nonce = ts
            try:
                request = ex.sign(entry.path, entry.api, entry.method,
                                  self._order_params(order, self._price(order, px)))
            finally:
                ex.template_nonce = None
            theirs = (request.get("body") or "").encode()
            if mine != theirs:
                return (f"a rendered {otype} order differs from ccxt's "
                        f"({mine[:80]!r}... vs {theirs[:80]!r}...)")
        self._shapes.clear()
        headers = ex.prepare_request_headers(request["headers"])
        self._order_request = (request["method"], request["url"], headers,
                               self.keepalive.head(request["method"], request["url"], headers))
        return None

    def _send_armed(self, sym: int, target: int, body: bytes) -> int:
        """The C path's write of an armed plan's request body: when it was handed to
        the keep-alive connection (monotonic ns), or 0 (none idle)."""
        sent = self.keepalive.send_prepared(self._order_request[3], body)
        if sent is None:
            return 0
        self._fast_written[sym] = (sent[0], sent[1], body)
        return sent[1]

    def _sent_by_fast(self, order, written_mono_ns: int):
        """What :meth:`_send` takes for the first send the C path made for ``order``."""
        future, handed, body = self._fast_written.pop(order.sym)
        method, url, headers, _ = self._order_request
        return future, handed, {"method": method, "url": url, "body": body.decode()}, headers

    def _claim(self, order):
        """The first send the C path made for ``order``'s symbol, if it is this order
        (the plan the manager's decision repeats). Terms that differ (should not happen)
        are logged and the order takes the sent request's terms: that is what the
        exchange has. Another client id: the sent one stays unclaimed (:meth:`unclaimed`)."""
        sent = self.fast.peek_sent(order.sym)
        if sent is None:
            return None
        target, px, _, written, _ = sent
        planned = self._planned.get((order.sym, target))
        if planned is None or planned.client_id != order.client_id:
            return None
        self.fast.take_sent(order.sym)
        self.counts["fast_claimed"] += 1
        if (planned.side, planned.qty, planned.type, planned.tif, planned.reduce_only, px) != (
                order.side, order.qty, order.type, order.tif, order.reduce_only, order.px):
            self.counts["fast_mismatch"] += 1
            log.error("fast_path_mismatch", symbol=order.symbol, client_id=order.client_id,
                      sent=[planned.side, planned.qty, planned.type, planned.tif,
                            planned.reduce_only, px],
                      decided=[order.side, order.qty, order.type, order.tif, order.reduce_only,
                               order.px],
                      consequence="the order takes the terms of the request sent")
            order.side, order.qty, order.type = planned.side, planned.qty, planned.type
            order.tif, order.reduce_only, order.px = planned.tif, planned.reduce_only, px
        return self._sent_by_fast(order, written)

    def unclaimed(self) -> list:
        """Orders the C path sent that no decision claimed (should not happen): the
        planned orders at the price sent; the service tracks them (:meth:`track`)."""
        out = []
        for sym in self.fast.pending_symbols():
            target, px, _, written, _ = self.fast.take_sent(sym)
            planned = self._planned.get((sym, target))
            self.counts["fast_unclaimed"] += 1
            if planned is None:
                self._fast_written.pop(sym, None)
                log.error("fast_path_lost", symbol=self.symbols[sym])
                continue
            planned.px = px
            planned.inflight = True
            self._adopt(planned, self._sent_by_fast(planned, written))
            out.append(planned)
        return out

    def _adopt(self, order, first_send) -> None:
        self._adopted[order.client_id] = first_send

    def track(self, order) -> None:
        """Follow an order sent by the C path that no decision claimed."""
        self.sink.sent(order, wall_ms(), time.time_ns())
        self._count_order()
        self._spawn(self._send(order, self._adopted.pop(order.client_id, None)))

    def _count_order(self) -> None:
        """An order request is going out (the binance venue counts its rate limits)."""

    def fast_status(self) -> dict:
        """The C order path's counts (``rtaidctl status``)."""
        return {"off": self.fast_off, "fired": self.fast.fired, "passed": self.fast.passed,
                "passed_by": self.fast.passed_by, "write_errors": self.fast.write_errors,
                "warmed": self.fast.warmed,
                **self.counts}

    async def _keepalive_answer(self, written):
        """The answer to a request :meth:`_send_now` wrote, as ccxt's ``fetch`` gives
        it: ``(json answer, None)`` or ``(None, the exception ccxt would raise)``."""
        future, handed, request, headers = written
        ex = self.exchange
        method, url, body = request["method"], request["url"], request["body"]
        details = f"{ex.id} {method} {url}"
        try:
            got = await asyncio.wait_for(future, ex.timeout / 1000)
        except asyncio.TimeoutError:
            return None, ccxt_async.RequestTimeout(details)
        except Closed as error:
            return None, ccxt_async.ExchangeNotAvailable(f"{details}: {error}")
        self.latency["order_round_trip"].record(time.monotonic_ns() - handed)
        try:
            text = ex.on_rest_response(got.status, got.reason, url, method, got.headers,
                                       got.text, headers, body)
            answer = ex.parse_json(text)
            ex.handle_errors(got.status, got.reason, url, method, got.headers, text, answer,
                             headers, body)
            ex.handle_http_status_code(got.status, got.reason, url, method, text)
        except Exception as error:   # noqa: BLE001 - classified by the caller
            return None, error
        return answer, None

    async def _create(self, order, first: bool):
        params = self._order_params(order, self._price(order, order.px))
        slot = [0]
        token = _SENDING.set(slot)
        t0 = time.monotonic_ns()
        try:
            answer = await self.exchange.fapiPrivatePostOrder(params)
            exc = None
        except Exception as error:   # noqa: BLE001 - classified by the caller
            answer, exc = None, error
        finally:
            _SENDING.reset(token)
        answered = exc is None or getattr(exc, "status", None) is not None
        if answered:
            self.latency["order_round_trip"].record(time.monotonic_ns() - t0)
        if first and slot[0]:
            record_tick_to_order(self.latency, order.cause, slot[0], "tick_to_order")
        return answer, exc

    async def _lookup(self, order):
        """The exchange's answer for ``order`` by client id; None when it has none.

        Retries while the lookup itself fails (until RESOLVE_DEADLINE_S)."""
        deadline = time.monotonic() + RESOLVE_DEADLINE_S
        delay = 0.2
        while True:
            try:
                return await self.query(order.symbol, order.client_id)
            except Exception as exc:   # noqa: BLE001 - retried, then given up on
                outcome, reason = classify(exc)
                self._count(reason)
                if outcome == BACKOFF or getattr(exc, "status", None) == 418:
                    self.sink.backoff(exc.retry_after_s, self.max_backoff_s)
                if time.monotonic() + delay > deadline or outcome in (HALT, REJECT):
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _cancel(self, order) -> None:
        try:
            self.apply(order, await self._cancel_request(order))
            return
        except Exception as exc:   # noqa: BLE001 - classified below
            outcome, reason = classify(exc)
            self._count(reason)
            if outcome == BACKOFF or getattr(exc, "status", None) == 418:
                self.sink.backoff(exc.retry_after_s, self.max_backoff_s)
            if outcome != NOT_FOUND:
                log.warning("cancel_error", client_id=order.client_id, outcome=outcome,
                            reason=reason, error=_short(exc))
        # not open at the exchange, or the cancel failed: learn its state from the exchange
        try:
            info = await self.query(order.symbol, order.client_id)
        except Exception as exc:   # noqa: BLE001 - the next reconciliation looks again
            log.warning("order_lookup_failed", client_id=order.client_id, error=_short(exc))
            info = None
        if info is not None:
            self.apply(order, info)
        order.cancel_requested = False
        self.sink.poke(order.symbol)

    async def _cancel_request(self, order) -> dict:
        """Cancel ``order`` by client id; the exchange's answer (raises its error)."""
        answer = await self.exchange.cancel_order(
            None, self.market_symbol[order.symbol], {"origClientOrderId": order.client_id})
        return answer["info"]

    def apply(self, order, info: dict) -> None:
        """The exchange's view of an order (a REST answer) onto ours."""
        inst = self.instruments[order.symbol]
        status = STATUSES.get(info.get("status"), "accepted")
        filled = inst.lots(info.get("executedQty", "0"))
        ts = int(info.get("updateTime") or wall_ms())
        order.inflight = False
        self.sink.note_cum_quote(order, filled, float(info.get("cumQuote") or 0.0))
        self.sink.update(order, status, filled, ts, time.time_ns(),
                         venue_id=int(info.get("orderId") or 0))

    def keepalive_status(self) -> dict:
        """The keep-alive connections of first sends (``rtaidctl status``)."""
        pool = self.keepalive
        if pool is None:
            return {"open": 0}
        return {"open": len(pool.connections), "idle": pool.idle_count(), "sent": pool.sent,
                "unavailable": pool.unavailable, "opens": pool.opens,
                "open_errors": pool.open_errors}

    # ------------------------------------------------------------------ venue state
    async def query(self, symbol: str, client_id: str) -> dict | None:
        """The exchange's raw order by client id; None when it does not exist."""
        try:
            answer = await self.exchange.fetch_order(None, self.market_symbol[symbol],
                                                     {"origClientOrderId": client_id})
        except Exception as exc:   # noqa: BLE001 - re-raised unless "no such order"
            if classify(exc)[0] == NOT_FOUND:
                return None
            raise
        return answer["info"]

    async def cancel_all(self, symbol: str) -> None:
        await self.exchange.cancel_all_orders(self.market_symbol[symbol])

    async def open_orders(self, symbol: str) -> list[dict]:
        """Raw open orders of ``symbol``."""
        orders = await self.exchange.fetch_open_orders(self.market_symbol[symbol])
        return [o["info"] for o in orders]

    async def positions(self) -> dict[str, tuple[int, float]]:
        """``{symbol: (signed lots, entry price)}`` of our symbols (0 when flat)."""
        rows = await self.exchange.fapiPrivateV3GetPositionRisk()
        out = {s: (0, 0.0) for s in self.instruments}
        for row in rows:
            sym = row.get("symbol")
            if sym in self.instruments and row.get("positionSide", "BOTH") == "BOTH":
                out[sym] = (self.instruments[sym].lots(row.get("positionAmt", "0")),
                            float(row.get("entryPrice") or 0.0))
        return out

    async def balance(self) -> float | None:
        """The USDT wallet balance."""
        rows = await self.exchange.fapiPrivateV2GetBalance()
        for row in rows:
            if row.get("asset") == "USDT":
                return float(row.get("balance") or 0.0)
        return None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."
