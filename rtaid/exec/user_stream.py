"""The user data stream: fills and account changes as they happen.

``POST /fapi/v1/listenKey`` (API key header) gives the key, the WebSocket is
``exchange.user_ws_url + "/" + listenKey``; the key is kept alive with ``PUT`` every
:data:`KEEPALIVE_S` (Binance: valid 60 min). Events: ``ORDER_TRADE_UPDATE`` and
``ACCOUNT_UPDATE`` go to ``on_event``; ``listenKeyExpired`` (or a keep-alive the
exchange refuses) makes a new key and a new connection. A connection that drops is
reopened with backoff; every (re)connection calls ``on_connected`` so that the service
reconciles with REST what the gap may have hidden.
"""
from __future__ import annotations

import asyncio

import aiohttp
import orjson

from rtaid.infra.log import get_logger

log = get_logger("rtaid.exec.user_stream")

KEEPALIVE_S = 30 * 60.0
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0


class UserStreamError(Exception):
    """The listenKey could not be obtained (``str()`` says why)."""


class UserStream:
    """Keep one user data stream open.

    Parameters
    ----------
    session : aiohttp.ClientSession
    rest_url, user_ws_url : str
    api_key : rtaid.infra.secrets.Secret
    on_event : callable(dict)
        Each event (decoded JSON object) but ``listenKeyExpired``.
    on_connected : callable()
        After each (re)connection.
    keepalive_s : float
    timeout_s : float
        REST and connect timeout.
    """

    def __init__(self, session, rest_url: str, user_ws_url: str, api_key, on_event,
                 on_connected, keepalive_s: float = KEEPALIVE_S, timeout_s: float = 10.0) -> None:
        self.session = session
        self.rest_url = rest_url.rstrip("/")
        self.user_ws_url = user_ws_url.rstrip("/")
        self._api_key = api_key
        self.on_event = on_event
        self.on_connected = on_connected
        self.keepalive_s = keepalive_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.connected = asyncio.Event()
        self.connects = 0
        self.disconnects = 0
        self.events = 0
        self.keepalives = 0
        self.last_error = ""
        self._task: asyncio.Task | None = None
        self._ws = None

    # ------------------------------------------------------------------ listenKey
    async def _listen_key(self, method: str) -> str:
        headers = {"X-MBX-APIKEY": self._api_key.reveal()}
        async with self.session.request(method, f"{self.rest_url}/fapi/v1/listenKey",
                                        headers=headers, timeout=self.timeout) as resp:
            body = await resp.read()
            try:
                data = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                data = {}
            if resp.status >= 400 or not isinstance(data, dict) or "listenKey" not in data:
                code = data.get("code") if isinstance(data, dict) else None
                msg = data.get("msg") if isinstance(data, dict) else body[:200]
                raise UserStreamError(f"{method} /fapi/v1/listenKey: HTTP {resp.status}"
                                      + (f" {code}" if code is not None else "") + f": {msg}")
            return data["listenKey"]

    async def check(self) -> None:
        """Obtain a listenKey once (start-up: are the key and the URL right?)."""
        await self._listen_key("POST")

    # ------------------------------------------------------------------ connection
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="user_stream")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        while True:
            try:
                key = await self._listen_key("POST")
                async with self.session.ws_connect(f"{self.user_ws_url}/{key}",
                                                   timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                                                   autoping=True, max_msg_size=1 << 22) as ws:
                    self._ws = ws
                    self.connects += 1
                    self.connected.set()
                    delay = BACKOFF_MIN_S
                    log.info("user_stream_connected", connects=self.connects)
                    self.on_connected()
                    keepalive = asyncio.get_running_loop().create_task(self._keepalive(ws))
                    try:
                        await self._read(ws)
                    finally:
                        keepalive.cancel()
                        await asyncio.gather(keepalive, return_exceptions=True)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, UserStreamError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("user_stream_error", error=self.last_error)
            finally:
                self._ws = None
                if self.connected.is_set():
                    self.connected.clear()
                    self.disconnects += 1
                    log.warning("user_stream_disconnected", disconnects=self.disconnects)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _read(self, ws) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    return
                continue
            try:
                event = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                log.warning("user_stream_bad_message", data=msg.data[:200])
                continue
            if not isinstance(event, dict):
                continue
            if event.get("e") == "listenKeyExpired":
                log.warning("listen_key_expired")
                return
            self.events += 1
            self.on_event(event)

    async def _keepalive(self, ws) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self._listen_key("PUT")
                self.keepalives += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, UserStreamError) as exc:
                # a key the exchange no longer knows: a new key, a new connection
                log.warning("listen_key_keepalive_failed", error=str(exc)[:300])
                await ws.close()
                return

    def status(self) -> dict:
        return {"connected": self.connected.is_set(), "connects": self.connects,
                "disconnects": self.disconnects, "events": self.events,
                "keepalives": self.keepalives, "last_error": self.last_error}


