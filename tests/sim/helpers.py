"""Client-side helpers for the sim tests: signing, and a book built the official way."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import urllib.parse
from decimal import Decimal

import aiohttp
import orjson
import websockets
import yarl

from rtaid.sim import SimConfig
from rtaid.sim.auth import sign, ws_api_payload

KEY, SECRET = "sim-key", "sim-secret"


def quiet_config(**kw) -> SimConfig:
    """A small, fast, seeded synthetic market on an ephemeral port."""
    base = dict(port=0, rate=400.0, seed=7, synthetic_levels=60)
    base.update(kw)
    return SimConfig(**base)


def signed_query(params: dict, secret: str = SECRET, timestamp: int | None = None) -> str:
    params = dict(params)
    params.setdefault("timestamp", int(time.time() * 1000) if timestamp is None else timestamp)
    query = urllib.parse.urlencode(params)
    sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={sig}"


async def signed(session: aiohttp.ClientSession, method: str, url: str, params: dict, *, key: str = KEY,
                 secret: str = SECRET, timestamp: int | None = None, in_body: bool = False):
    """Send a signed request; returns (status, json, headers)."""
    query = signed_query(params, secret, timestamp)
    headers = {"X-MBX-APIKEY": key}
    if in_body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        resp = await session.request(method, url, data=query, headers=headers)
    else:
        # encoded=True: the URL must go out exactly as signed (no re-quoting).
        resp = await session.request(method, yarl.URL(f"{url}?{query}", encoded=True), headers=headers)
    async with resp:
        return resp.status, await resp.json(content_type=None), resp.headers


class LocalBook:
    """A book kept with Binance's official USD-M procedure (binance.md); Decimal keyed."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_u: int | None = None
        self.synced = False
        self.applied = 0

    def load_snapshot(self, snap: dict) -> None:
        self.bids = {Decimal(p): Decimal(q) for p, q in snap["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snap["asks"]}
        self.last_u = snap["lastUpdateId"]
        self.synced = False

    def apply(self, ev: dict) -> bool:
        """Apply one diff; returns False (and unsyncs) on a chain break or crossed book."""
        if self.last_u is None:
            return True
        if not self.synced:
            if ev["u"] < self.last_u:
                return True
            if not (ev["U"] <= self.last_u <= ev["u"]):
                return False
            self.synced = True
        elif ev["pu"] != self.last_u:
            self.synced = False
            return False
        for side, levels in ((self.bids, ev["b"]), (self.asks, ev["a"])):
            for p, q in levels:
                qd = Decimal(q)
                if qd == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = qd
        self.last_u = ev["u"]
        self.applied += 1
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            self.synced = False
            return False
        return True

    def best(self):
        b = max(self.bids)
        a = min(self.asks)
        return b, self.bids[b], a, self.asks[a]

    def top(self, n: int):
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def book_levels(snap: dict):
    return ([(Decimal(p), Decimal(q)) for p, q in snap["bids"]], [(Decimal(p), Decimal(q)) for p, q in snap["asks"]])


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def get_json(session: aiohttp.ClientSession, url: str):
    async with session.get(url) as resp:
        return resp.status, await resp.json(content_type=None)


async def sync_book(ws, session, rest_url: str, symbol: str, stream: str, events: int,
                    on_ticker=None) -> LocalBook:
    """Buffer the depth stream, fetch the snapshot, then apply ``events`` diffs with no gap."""
    book = LocalBook()
    buffered: list[dict] = []
    snapshot_task = None
    while book.applied < events:
        msg = await recv_json(ws)
        data = msg["data"]
        if msg["stream"] != stream:
            if on_ticker is not None:
                on_ticker(book, data)
            continue
        if book.last_u is None:
            buffered.append(data)
            if snapshot_task is None:
                snapshot_task = asyncio.ensure_future(
                    get_json(session, f"{rest_url}/fapi/v1/depth?symbol={symbol}&limit=1000"))
            if snapshot_task.done():
                status, snap = snapshot_task.result()
                assert status == 200
                book.load_snapshot(snap)
                for ev in buffered:
                    assert book.apply(ev), "buffered event broke the chain"
            continue
        assert book.apply(data), f"chain break: pu={data['pu']} last_u={book.last_u} U={data['U']}"
    return book


def ws_connect(url: str, **kw):
    """websockets.connect with an unbounded receive queue.

    With the default bounded queue a test that stops reading pauses the socket, and its
    close handshake then waits (10 s) behind a full TCP window of unread market data.
    """
    kw.setdefault("max_queue", None)
    return websockets.connect(url, **kw)


def ws_request(req_id, method, params, secret=SECRET) -> str:
    """A signed WebSocket API request (params sorted and signed like Binance)."""
    params = {**params, "apiKey": KEY, "timestamp": int(time.time() * 1000)}
    params["signature"] = sign(secret, ws_api_payload(params))
    return orjson.dumps({"id": req_id, "method": method, "params": params}).decode()
