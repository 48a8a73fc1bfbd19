"""What the execution tests share: rtaid-sim and the daemon in one process, targets
as the engine hands them over, the sim's account seen from outside, the tables."""
from __future__ import annotations

import asyncio
import contextlib
import json
import time

import aiohttp
import pyarrow.dataset as ds

from rtaid.daemon import Daemon
from rtaid.infra import exchange_info
from rtaid.infra.config import load_config
from rtaid.infra.sdnotify import Notifier
from rtaid.sim import SimConfig, SimExchange
from tests.helpers import daemon_args
from tests.sim.helpers import signed

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
KEYS = {"RTAID_API_KEY": "sim-key", "RTAID_API_SECRET": "sim-secret"}
# generous limits: each test tightens the one it is about
OPEN_RISK = ("risk.max_position=1.0", "risk.max_order_qty=1.0", "risk.max_notional_usd=1000000",
             "risk.max_orders_per_minute=1200", "risk.max_daily_loss_usd=1000000")


def run(coro, timeout: float = 90.0):
    """Run a scenario on uvloop, as the daemon runs."""
    import uvloop

    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return uvloop.run(bounded())


def sim_config(**kw) -> SimConfig:
    # a calm market: a limit order at the touch meets the touch it was priced at
    base = dict(port=0, rate=100.0, seed=5, synthetic_levels=60)
    base.update(kw)
    return SimConfig(**base)


def exec_config(sim, data_dir, *sets, venue="ccxt", env=None, path=None):
    """A config for the daemon against ``sim`` (strategy off: the tests give targets),
    from the file ``path`` if given, with ``sets`` over it."""
    base = [f"exchange.rest_url={sim.rest_url}", f"exchange.ws_url={sim.ws_url}",
            f"exchange.user_ws_url={sim.ws_url}/private/ws", "exchange.recv_window_ms=1000",
            "exchange.request_timeout_s=3",
            f"feed.symbols={json.dumps(SYMBOLS)}", f"storage.data_dir={data_dir}",
            "storage.flush_interval_ms=100", "metrics.port=0", "daemon.gc_freeze=false",
            "daemon.event_loop=asyncio", f"execution.venue={venue}", "strategy.name=none",
            "execution.max_backoff_s=1", *OPEN_RISK, *sets]
    return load_config(str(path) if path else None, base, env=KEYS if env is None else env)


@contextlib.asynccontextmanager
async def daemon_at(sim, config, synced: bool = True):
    """The daemon running (its task) against ``sim``; stopped (and its exit code
    checked) on leaving."""
    info = await asyncio.to_thread(exchange_info.fetch, sim.rest_url)
    daemon = Daemon(config, notifier=Notifier({}), scales=exchange_info.scales(info, SYMBOLS),
                    ticks=exchange_info.tick_sizes(info, SYMBOLS), exchange_info=info)
    task = asyncio.create_task(daemon.run())
    try:
        if synced:
            done, _ = await asyncio.wait([task, asyncio.ensure_future(daemon.feed.all_synced.wait())],
                                         timeout=15, return_when=asyncio.FIRST_COMPLETED)
            assert not task.done(), f"the daemon stopped at start: {task.result()}"
            assert daemon.feed.all_synced.is_set(), daemon.feed.states
            assert await until(lambda: daemon.execution.started, 10)
        daemon.task = task
        yield daemon
    finally:
        if not task.done():
            daemon.request_stop("test done")
        daemon.exit_code_seen = await asyncio.wait_for(task, 60)


def target(symbol: str, qty: float, strategy_target: int | None = None) -> dict:
    """A target change as the engine drains it (``Engine.drain_exec_events``)."""
    side = strategy_target if strategy_target is not None else (qty > 0) - (qty < 0)
    return {"type": "target", "symbol": symbol, "ts_ms": time.time_ns() // 1_000_000, "seq": 0,
            "prev_target": 0, "target": side, "target_qty": qty, "reason": "entry_long",
            "mid": 0.0, "dev_osc": 0.0, "ofi_osc": 0.0, "vpin_osc": 0.0,
            "recv_ns": time.time_ns(), "mono_ns": time.monotonic_ns()}


async def until(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return bool(predicate())


def sim_position(sim, symbol: str) -> float:
    """The sim account's position (base units), as the exchange sees it."""
    market = sim.markets[symbol]
    return market.inst.qty_float(sim.account.positions[symbol].lots)


def sim_orders(sim, symbol: str | None = None) -> list:
    """Every order the sim received (recent history), oldest first."""
    return [o for o in sim.account.orders.values() if symbol is None or o.symbol == symbol]


def sim_open(sim) -> list:
    return list(sim.account.open_orders.values())


def rtaid_position(daemon, symbol: str) -> float:
    return daemon.execution.status()["symbols"][symbol]["position"]


def table(root, name: str) -> list[dict]:
    """A dataset table's rows (file order per symbol)."""
    path = root / name
    if not path.exists():
        return []
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist()


async def with_sim(scenario, **sim_kw):
    async with SimExchange(sim_config(**sim_kw)) as sim:
        return await scenario(sim)


# ---------------------------------------------------------------- the binance venue
ED25519_API_KEY = "sim-ed25519-key"


def ed25519_keys(directory) -> tuple[str, str]:
    """A fresh Ed25519 key pair as files: ``(private key PEM path (0600), public key PEM
    path)``; the sim registers the public one (``ed25519_public_key_file``)."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = directory / "ed25519.pem"
    public = directory / "ed25519.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    os.chmod(private, 0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(private), str(public)


def binance_config(sim, data_dir, *sets, ed25519_key_file=None, env=None, path=None):
    """exec_config for ``execution.venue = binance`` (the sim's WebSocket API); with
    ``ed25519_key_file`` the Ed25519 key's API key and the key file (session.logon)."""
    if ed25519_key_file is not None:
        env = {"RTAID_API_KEY": ED25519_API_KEY} if env is None else env
        sets = (f"exchange.ed25519_key_file={ed25519_key_file}", *sets)
    return exec_config(sim, data_dir, f"exchange.ws_api_url={sim.ws_url}/ws-fapi/v1", *sets,
                       venue="binance", env=env, path=path)


def sim_transports(sim, symbol: str) -> list[str]:
    """How each order reached the sim (``rest`` or ``ws``), oldest first."""
    return [o["transport"] for o in sim.latency.orders(symbol)]


# ---------------------------------------------------------------- rtaid run (a process)
def venue_args(port, tmp_path, *extra, venue="ccxt"):
    """``rtaid run`` against the sim at ``port`` with ``execution.venue`` (ccxt, or
    binance: orders over the sim's WebSocket API)."""
    if venue == "binance":
        extra = (f"exchange.ws_api_url=ws://127.0.0.1:{port}/ws-fapi/v1", *extra)
    return daemon_args(port, tmp_path) + [
        "--set", f"execution.venue={venue}", "--set", f"exchange.user_ws_url=ws://127.0.0.1:{port}/private/ws",
        *[a for s in extra for a in ("--set", s)]]


async def outside_order(port, side="BUY", qty="0.002"):
    """A market order placed on the sim's account by someone else (signed REST)."""
    async with aiohttp.ClientSession() as session:
        status, body, _ = await signed(session, "POST", f"http://127.0.0.1:{port}/fapi/v1/order",
                                       {"symbol": "BTCUSDT", "side": side, "type": "MARKET",
                                        "quantity": qty})
        assert status == 200, body
