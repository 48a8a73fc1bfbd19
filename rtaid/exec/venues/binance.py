"""The binance venue: orders over Binance's WebSocket API (``exchange.ws_api_url``,
``/ws-fapi/v1``: ``order.place``, ``order.cancel``, and ``order.modify`` to move a resting
order past ``execution.order_timeout_ms`` to the touch), REST (the ccxt
venue's code, which this class extends) for reconciliation, balances, lookups and as
the fallback while the WebSocket API is down.

The connection is opened at start and authenticated: with an Ed25519 key
(``exchange.ed25519_key_file`` / ``RTAID_ED25519_KEY``) by ``session.logon``, after
which requests carry only a timestamp (ccxt signs REST with the same key); else every
request is HMAC-signed with ``exchange.api_secret``. It is kept alive (pings; the
server's pings answered), and reconnected with backoff when it drops; meanwhile orders
and cancels go over REST, and back over the WebSocket API once it is up again.

Orders: a target change is written to the socket in the frame's own callback, by the
C order path (rtaid/exec/fastpath.pyx) when the symbol is armed, else by
:meth:`BinanceVenue.place` (same templates, same loop turn, Python). Answers update the
order manager as the ccxt venue's REST answers do (:meth:`CcxtVenue.apply`); errors are
classified by :mod:`rtaid.exec.venues.binance_errors` with the same outcomes: an answer
that does not come (timeout, lost connection) makes the order's fate unknown, and it is
looked up by client id once its recvWindow has passed, sent again with the same id only
if the exchange does not have it. ``rateLimits`` in the answers are respected: a limit
reached holds new orders until its window ends.
"""
from __future__ import annotations

import asyncio
import base64
import hmac
import hashlib
import time

import ccxt.async_support as ccxt_async
import orjson
from picows import WSError, WSListener, WSMsgType, ws_connect

from rtaid.exec.fastpath import (
    PRICE_SLOT as PRICE, SIGNATURE_SLOT as SIGNATURE, TIMESTAMP_SLOT as TIMESTAMP, FastOrderPath,
)
from rtaid.exec.orders import record_tick_to_order
from rtaid.exec.venues.binance_errors import BACKOFF, VenueError, classify
from rtaid.exec.venues.ccxt import CcxtVenue, VenueStartError, _short, wall_ms
from rtaid.feed.backoff import backoff_delay
from rtaid.infra.log import get_logger

log = get_logger("rtaid.exec.binance")

RECONNECT_MIN_S, RECONNECT_MAX_S = 0.1, 30.0
PING_IDLE_S, PING_REPLY_S = 20.0, 10.0
WINDOW_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


class ConnectionLost(ccxt_async.NetworkError):
    """The WebSocket API connection dropped before the answer came."""


class _Request:
    __slots__ = ("rid", "method", "future", "written_mono_ns")

    def __init__(self, rid: str, method: str, future: asyncio.Future, written_mono_ns: int):
        self.rid = rid
        self.method = method
        self.future = future
        self.written_mono_ns = written_mono_ns


class _ApiListener(WSListener):
    """The WebSocket API connection's answers (Python: not the hot path)."""

    def __init__(self, venue: "BinanceVenue") -> None:
        super().__init__()
        self.venue = venue

    def on_ws_frame(self, transport, frame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.venue._on_message(transport, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def on_ws_disconnected(self, transport) -> None:
        self.venue._on_disconnected(transport)


def load_ed25519(pem: str):
    """The private key of an Ed25519 PEM (PKCS#8); ValueError otherwise."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), None)
    except (ValueError, TypeError):
        raise ValueError("not a PEM private key without a password") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 key")
    return key


def window_left_s(interval: str, num: int, now: float | None = None) -> float:
    """Seconds until the clock-aligned rate-limit window ends."""
    length = WINDOW_S.get(interval, 60) * max(int(num), 1)
    now = time.time() if now is None else now
    return length - (now % length)


class OrderWindows:
    """The ``ORDERS`` limits the WebSocket API reports (``rateLimits``), counted on here
    between answers: an order sent counts at once, so that orders in flight (whose
    answers have not said so yet) cannot overrun a limit. Windows are clock-aligned,
    as Binance's are."""

    def __init__(self) -> None:
        self.windows: dict[int, list] = {}     # window length (s) -> [limit, index, count]

    def report(self, interval: str, num, limit: int, count: int, now: float) -> None:
        """A ``rateLimits`` entry of type ORDERS from an answer."""
        seconds = WINDOW_S.get(interval, 60) * max(int(num), 1)
        index = int(now // seconds)
        w = self.windows.setdefault(seconds, [limit, index, 0])
        w[0] = limit
        if w[1] != index:
            w[1], w[2] = index, count
        else:
            w[2] = max(w[2], count)

    def sent(self, now: float) -> float:
        """Count one order sent; the seconds to hold new orders for (0: room left)."""
        hold = 0.0
        for seconds, w in self.windows.items():
            index = int(now // seconds)
            if w[1] != index:
                w[1], w[2] = index, 0
            w[2] += 1
            if w[0] > 0 and w[2] >= w[0]:
                hold = max(hold, seconds - now % seconds)
        return hold


def ws_error(answer: dict) -> VenueError:
    """The :class:`VenueError` of a WebSocket API error answer."""
    err = answer.get("error") or {}
    code = err.get("code")
    data = err.get("data") if isinstance(err.get("data"), dict) else {}
    retry_after = None
    if data.get("retryAfter"):
        value = float(data["retryAfter"])
        retry_after = max((value - time.time() * 1000) / 1000, 0.0) if value > 1e12 else value
    return VenueError(int(answer.get("status") or 400), int(code) if code is not None else None,
                      str(err.get("msg") or ""), retry_after)


def request_template(method: str, rid: str, params: list, api_key: str | None) -> tuple[bytes, bytes | None]:
    """A request with slots (price, timestamp, signature) for the C path and the Python
    one: ``(json, signature payload)``; ``params``: ``(name, text, is_int)``, values
    ASCII without quotes or backslashes (ids, decimals, enums). ``api_key``: sign each
    request (HMAC) with it; None: the connection is logged on (no signature)."""
    items = [(k, v.encode() if isinstance(v, str) else v, is_int) for k, v, is_int in params]
    payload = None
    if api_key is not None:
        items.append(("apiKey", api_key.encode(), False))
        items.sort()
        payload = b"&".join(k.encode() + b"=" + v for k, v, _ in items)
    body = b",".join(b'"' + k.encode() + b'":' + (v if is_int else b'"' + v + b'"')
                     for k, v, is_int in items)
    if api_key is not None:
        body += b',"signature":"' + SIGNATURE + b'"'
    return (b'{"id":"' + rid.encode() + b'","method":"' + method.encode() + b'","params":{'
            + body + b"}}", payload)


class BinanceVenue(CcxtVenue):
    """Orders over the WebSocket API, state and fallback over REST (ccxt).

    Parameters
    ----------
    exchange_config, max_backoff_s, instruments, sink, latency
        As :class:`CcxtVenue`, also ``tick_to_order_ws`` (the orders sent over the
        WebSocket API) and ``ws_write`` (the socket write of each request).
    engine : Engine
        Its execution ring and books feed the C order path.
    symbols : sequence of str
        The engine's symbols, by index.
    """

    name = "binance"

    def __init__(self, exchange_config, max_backoff_s: float, instruments: dict, sink,
                 latency: dict, engine, symbols) -> None:
        super().__init__(exchange_config, max_backoff_s, instruments, sink, latency, engine,
                         symbols)
        cfg = exchange_config
        self.ed25519 = None
        if cfg.ed25519_key is not None:
            self.ed25519 = load_ed25519(cfg.ed25519_key.reveal())
        self.transport = None
        self.logged_on = False
        self._hmac_key: bytes | None = None
        self._pending: dict[str, _Request] = {}
        self._first: dict[str, _Request] = {}       # client id -> its first send's request
        self._rid = 0
        self._down = asyncio.Event()
        self._stopping = False
        self._supervisor: asyncio.Task | None = None
        self.rate_limits: list[dict] = []
        self.order_windows = OrderWindows()
        self.counts.update({"ws_orders": 0, "rest_orders": 0, "ws_cancels": 0,
                            "rest_cancels": 0, "modifies": 0, "connects": 0,
                            "disconnects": 0, "timeouts": 0, "modified": 0,
                            "rate_limit_holds": 0, "connect_failures": 0})

    # ------------------------------------------------------------------ life cycle
    def _fast_path(self, engine) -> FastOrderPath:
        return FastOrderPath(engine, len(self.symbols), self.latency["tick_to_order"],
                             self.latency["tick_to_order_ws"], self.latency["ws_write"])

    def _connect_fast_path(self) -> None:
        """The C path writes to the WebSocket API connection (set when it is up), not
        through ccxt: while it is down, orders are the Python path's (REST)."""

    def _rest_secret(self) -> str:
        if self.ed25519 is not None:
            return self.cfg.ed25519_key.reveal()    # ccxt signs REST with the Ed25519 key
        return super()._rest_secret()

    async def start(self) -> None:
        await super().start()
        try:
            await asyncio.wait_for(self._connect(), self.cfg.request_timeout_s)
        except VenueStartError:
            raise
        except (OSError, asyncio.TimeoutError, WSError, ccxt_async.NetworkError) as exc:
            raise VenueStartError(f"exchange.ws_api_url {self.cfg.ws_api_url}: cannot connect "
                                  f"({type(exc).__name__}: {_short(exc)})") from None
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(),
                                                                  name="ws_api")

    async def _connect(self) -> None:
        """Connect and authenticate; raises VenueStartError when the keys are refused."""
        transport, _ = await ws_connect(lambda: _ApiListener(self), self.cfg.ws_api_url,
                                        websocket_handshake_timeout=self.cfg.request_timeout_s,
                                        enable_auto_pong=True, enable_auto_ping=True,
                                        auto_ping_idle_timeout=PING_IDLE_S,
                                        auto_ping_reply_timeout=PING_REPLY_S,
                                        logger_name="rtaid.exec.ws_api")
        self.transport = transport
        self._down.clear()
        cfg = self.cfg
        try:
            if self.ed25519 is not None:
                params = {"apiKey": cfg.api_key.reveal(), "timestamp": wall_ms()}
                payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
                params["signature"] = base64.b64encode(self.ed25519.sign(payload.encode())).decode()
                answer = await self._call("session.logon", params, signed=False)
                self.logged_on = True
                self._hmac_key = None
            else:
                # every request signed: the keys are checked by a signed call now
                answer = await self._call("order.status", {"symbol": self.symbols[0],
                                                           "origClientOrderId": "rt-keycheck"})
                self._hmac_key = cfg.api_secret.reveal().encode()
        except VenueError as exc:
            if exc.code not in (-2013, -2011):      # "no such order": the keys are fine
                transport.disconnect()
                raise VenueStartError(f"exchange.ws_api_url {cfg.ws_api_url}: the WebSocket API "
                                      f"refuses our keys ({exc})") from None
            self._hmac_key = cfg.api_secret.reveal().encode()
            answer = None
        self.counts["connects"] += 1
        self.fast.set_transport(transport, self._hmac_key)
        log.info("ws_api_connected", url=cfg.ws_api_url,
                 auth="session.logon (Ed25519)" if self.logged_on else "HMAC per request",
                 **({"authorized_since": answer.get("authorizedSince")}
                    if isinstance(answer, dict) else {}))
        self.sink.ws_api_up(True)

    async def _supervise(self) -> None:
        """Reconnect with backoff whenever the connection drops."""
        attempt = 0
        while not self._stopping:
            await self._down.wait()
            if self._stopping:
                return
            delay = backoff_delay(attempt, RECONNECT_MIN_S, RECONNECT_MAX_S)
            await asyncio.sleep(delay)
            try:
                await asyncio.wait_for(self._connect(), self.cfg.request_timeout_s)
                attempt = 0
            except Exception as exc:   # noqa: BLE001 - retried with backoff, said in the log
                attempt += 1
                self.counts["connect_failures"] += 1
                self._down.set()
                log.warning("ws_api_connect_failed", error=f"{type(exc).__name__}: {_short(exc)}",
                            attempt=attempt, retry_in_s=round(backoff_delay(
                                attempt, RECONNECT_MIN_S, RECONNECT_MAX_S), 3))

    async def close(self) -> None:
        self._stopping = True
        self._down.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        transport, self.transport = self.transport, None
        self.fast.set_transport(None)
        if transport is not None:
            transport.disconnect()
        await super().close()

    def _on_disconnected(self, transport) -> None:
        if transport is not self.transport:
            return
        self.transport = None
        self.logged_on = False
        self.fast.set_transport(None)
        self.counts["disconnects"] += 1
        pending, self._pending = self._pending, {}
        for req in pending.values():
            if not req.future.done():
                req.future.set_exception(ConnectionLost("the WebSocket API connection dropped"))
        if not self._stopping:
            log.warning("ws_api_disconnected", in_flight=len(pending),
                        consequence="orders over REST until it is back")
            self.sink.ws_api_up(False)
        self._down.set()

    @property
    def up(self) -> bool:
        return self.transport is not None

    # ------------------------------------------------------------------ requests
    def _next_rid(self, prefix: str) -> str:
        self._rid += 1
        return f"{prefix}{self._rid}"

    def _register(self, rid: str, method: str, written_mono_ns: int) -> _Request:
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(_quiet)
        req = self._pending[rid] = _Request(rid, method, future, written_mono_ns)
        return req

    def _write(self, data: bytes) -> int:
        """Write a request; returns when it was handed to the socket (monotonic ns)."""
        handed = time.monotonic_ns()
        self.transport.send(WSMsgType.TEXT, data)
        self.latency["ws_write"].record(time.monotonic_ns() - handed)
        return handed

    async def _call(self, method: str, params: dict, signed: bool = True) -> dict:
        """One request (not an order placement): its result, or raises VenueError,
        ConnectionLost, RequestTimeout."""
        if self.transport is None:
            raise ConnectionLost("the WebSocket API is down")
        params = dict(params)
        if signed and method not in ("ping", "time", "session.status", "session.logout"):
            params.setdefault("timestamp", wall_ms())
            params.setdefault("recvWindow", self.cfg.recv_window_ms)
            if not self.logged_on:
                params["apiKey"] = self.cfg.api_key.reveal()
                payload = "&".join(f"{k}={_text(params[k])}" for k in sorted(params))
                params["signature"] = hmac.new(self.cfg.api_secret.reveal().encode(),
                                               payload.encode(), hashlib.sha256).hexdigest()
        rid = self._next_rid("q")
        data = orjson.dumps({"id": rid, "method": method, "params": params})
        req = self._register(rid, method, self._write(data))
        answer = await self._answer(req)
        if answer.get("status") != 200:
            raise ws_error(answer)
        return answer.get("result")

    async def _answer(self, req: _Request) -> dict:
        try:
            return await asyncio.wait_for(asyncio.shield(req.future), self.cfg.request_timeout_s)
        except asyncio.TimeoutError:
            self._pending.pop(req.rid, None)
            self.counts["timeouts"] += 1
            raise ccxt_async.RequestTimeout(f"WebSocket API: no answer to {req.method} in "
                                            f"{self.cfg.request_timeout_s:g} s") from None

    def _on_message(self, transport, data: bytes) -> None:
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.error("ws_api_bad_answer", size=len(data))
            return
        if not isinstance(answer, dict):
            return
        limits = answer.get("rateLimits")
        if limits:
            self._note_rate_limits(limits)
        req = self._pending.pop(answer.get("id"), None) if answer.get("id") is not None else None
        if req is not None:
            if not req.future.done():
                req.future.set_result(answer)
            return
        if answer.get("status") == 401:
            # the key was revoked during the session (Binance answers id null)
            self.sink.halt(f"the WebSocket API revoked our key: {ws_error(answer)}")

    def _note_rate_limits(self, limits: list) -> None:
        """An answer's ``rateLimits``: a limit reached holds new orders (and the C path)
        until its window ends (at most ``execution.max_backoff_s``)."""
        self.rate_limits = limits
        now = time.time()
        for rl in limits:
            try:
                count, limit = int(rl["count"]), int(rl["limit"])
            except (KeyError, TypeError, ValueError):
                continue
            interval, num = rl.get("interval", "MINUTE"), rl.get("intervalNum", 1)
            if rl.get("rateLimitType") == "ORDERS":
                self.order_windows.report(interval, num, limit, count, now)
            if limit > 0 and count >= limit:
                self._hold(rl.get("rateLimitType"), count, limit,
                           window_left_s(interval, num, now))

    def _hold(self, kind, count: int, limit: int, seconds: float) -> None:
        self.counts["rate_limit_holds"] += 1
        log.warning("rate_limit_reached", kind=kind, count=count, limit=limit,
                    hold_s=round(seconds, 3))
        self.sink.backoff(seconds, self.max_backoff_s)

    def _count_order(self) -> None:
        """An order sent (WebSocket API or REST: the limits are the account's)."""
        hold = self.order_windows.sent(time.time())
        if hold > 0:
            self._hold("ORDERS", -1, -1, hold)

    # ------------------------------------------------------------------ orders
    def place_params(self, order) -> list:
        """``order.place``'s parameters (the price and timestamp as slots)."""
        params = [("newClientOrderId", order.client_id, False), ("newOrderRespType", "RESULT", False),
                  ("quantity", self.instruments[order.symbol].qty_text(order.qty), False),
                  ("recvWindow", str(self.cfg.recv_window_ms), True),
                  ("side", "BUY" if order.side > 0 else "SELL", False),
                  ("symbol", order.symbol, False), ("timestamp", TIMESTAMP, True),
                  ("type", order.type.upper(), False)]
        if order.type == "limit":
            params += [("price", PRICE, False), ("timeInForce", order.tif, False)]
        if order.reduce_only:
            params.append(("reduceOnly", "true", False))
        return params

    def place_template(self, order, attempt: int = 1) -> tuple[bytes, bytes | None]:
        api_key = None if self.logged_on else self.cfg.api_key.reveal()
        return request_template("order.place", f"{order.client_id}.{attempt}",
                                self.place_params(order), api_key)

    def _template(self, order) -> tuple[bytes, bytes | None]:
        return self.place_template(order)

    def place(self, order, now_ms: int, recv_ns: int) -> None:
        order.inflight = True
        if self.transport is not None:
            req = self._claim(order)
            if req is None:
                req = self._send_place(order, 1)
                record_tick_to_order(self.latency, order.cause, req.written_mono_ns,
                                     "tick_to_order", "tick_to_order_ws")
            self._first[order.client_id] = req
            self.counts["ws_orders"] += 1
            written = None
        else:
            # the WebSocket API is down: REST, its first send in this turn too
            self.counts["rest_orders"] += 1
            written = self._send_now(order)
        # the row's recv_ns: the frame that caused the order (bench/exec.py's wire_to_wire)
        self.sink.sent(order, wall_ms(), recv_ns)
        self._count_order()
        self._spawn(self._send(order, written))

    def _send_place(self, order, attempt: int) -> _Request:
        template, sig_template = self.place_template(order, attempt)
        ts = wall_ms()
        px_dec = self.instruments[order.symbol].px_dec
        if sig_template is not None:    # signed as the C path signs (its key: _hmac_key)
            data = self.fast.render_signed(template, sig_template, order.px, px_dec, ts)
        else:
            data = self.fast.render(template, order.px, px_dec, ts)
        return self._register(f"{order.client_id}.{attempt}", "order.place", self._write(data))

    def _sent_by_fast(self, order, written_mono_ns: int) -> _Request:
        return self._register(f"{order.client_id}.1", "order.place", written_mono_ns)

    def _adopt(self, order, first_send) -> None:
        self._first[order.client_id] = first_send       # what _create answers it with

    async def _create(self, order, first: bool):
        req = self._first.pop(order.client_id, None) if first else None
        if req is None:
            if not first:
                self._count_order()
            if self.transport is None:
                if not first:
                    self.counts["rest_orders"] += 1
                return await super()._create(order, first)     # REST while it is down
            self._rid += 1
            req = self._send_place(order, self._rid)
            self.counts["ws_orders"] += 1
        try:
            answer = await self._answer(req)
        except (ccxt_async.RequestTimeout, ConnectionLost) as exc:
            return None, exc
        self.latency["order_round_trip"].record(time.monotonic_ns() - req.written_mono_ns)
        if answer.get("status") != 200:
            return None, ws_error(answer)
        return answer.get("result"), None

    async def _cancel_request(self, order) -> dict:
        if self.transport is None:
            self.counts["rest_cancels"] += 1
            return await super()._cancel_request(order)
        self.counts["ws_cancels"] += 1
        return await self._call("order.cancel", {"symbol": order.symbol,
                                                 "origClientOrderId": order.client_id})

    def move(self, order, now_ms: int) -> None:
        """Move a resting limit order to ``order.reprice_px`` (the manager's rule 5)."""
        order.inflight = True
        self._count_order()             # a modify counts against the ORDERS limits
        self._spawn(self._move(order, order.reprice_px, now_ms))

    async def _move(self, order, px: int, now_ms: int) -> None:
        """``order.modify`` (REST ``PUT /fapi/v1/order`` while the WebSocket API is down):
        same ids, same quantity, the new price. When it fails (the order filled or left
        meanwhile, a refusal, no answer) the exchange's view of the order is taken, and
        an order still resting and not moved is cancelled: the next decision replaces it,
        as without modify."""
        inst = self.instruments[order.symbol]
        params = {"symbol": order.symbol, "origClientOrderId": order.client_id,
                  "side": "BUY" if order.side > 0 else "SELL",
                  "quantity": inst.qty_text(order.qty), "price": inst.price_text(px)}
        self.counts["modifies"] += 1
        try:
            if self.transport is None:
                answer = await self.exchange.fapiPrivatePutOrder(params)
            else:
                answer = await self._call("order.modify", params)
        except Exception as exc:   # noqa: BLE001 - classified; the order's state is looked up
            outcome, reason = classify(exc)
            self._count(reason)
            if outcome == BACKOFF or getattr(exc, "status", None) == 418:
                self.sink.backoff(getattr(exc, "retry_after_s", None), self.max_backoff_s)
            log.warning("modify_error", client_id=order.client_id, symbol=order.symbol,
                        outcome=outcome, reason=reason, error=_short(exc))
            try:
                answer = await self.query(order.symbol, order.client_id)
            except Exception as lookup_exc:   # noqa: BLE001 - reconciliation looks again
                log.warning("order_lookup_failed", client_id=order.client_id,
                            error=_short(lookup_exc))
                answer = None
        else:
            self.counts["modified"] += 1
        order.inflight = False
        if answer is not None:
            if answer.get("price") and inst.units(answer["price"]) == px:
                self.sink.modified(order, px, now_ms)
            self.apply(order, answer)
        if order.is_open and order.px != px and not order.cancel_requested:
            order.cancel_requested = True
            self._spawn(self._cancel(order))
        self.sink.poke(order.symbol)

    # ------------------------------------------------------------------ status
    def ws_status(self) -> dict:
        return {"connected": self.up, "auth": "ed25519" if self.ed25519 is not None else "hmac",
                "logged_on": self.logged_on, **self.counts,
                "fast_fired": self.fast.fired, "fast_passed": self.fast.passed,
                "fast_passed_by": self.fast.passed_by, "fast_warmed": self.fast.warmed,
                "rate_limits": [{k: rl.get(k) for k in ("rateLimitType", "interval",
                                                          "intervalNum", "limit", "count")}
                                for rl in self.rate_limits]}


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quiet(future: asyncio.Future) -> None:
    # a request whose answer nobody awaits any more (timed out): its error is not news
    if not future.cancelled():
        future.exception()
