"""Simulator configuration: instruments, market source, account, limits and timers."""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SymbolSpec:
    """One perpetual contract: its grid and how the wire formats its numbers.

    Parameters
    ----------
    symbol : str
        Upper-case symbol, e.g. ``"BTCUSDT"``.
    tick_size, step_size : str
        Price and quantity grids (PRICE_FILTER tickSize, LOT_SIZE stepSize).
    price_precision, quantity_precision : int
        Decimals used when the wire formats prices and quantities.
    initial_price : str
        Starting mid of the synthetic market.
    """

    symbol: str
    tick_size: str = "0.01"
    step_size: str = "0.001"
    price_precision: int = 2
    quantity_precision: int = 3
    initial_price: str = "100.00"
    base_asset: str = ""
    quote_asset: str = "USDT"

    def __post_init__(self) -> None:
        if not self.base_asset:
            base = self.symbol[: -len(self.quote_asset)] if self.symbol.endswith(self.quote_asset) else self.symbol
            object.__setattr__(self, "base_asset", base)
        # The wire decimals must be able to express the grid exactly.
        for grid, decimals in ((self.tick_size, self.price_precision), (self.step_size, self.quantity_precision)):
            scaled = Decimal(grid) * (10**decimals)
            if scaled != scaled.to_integral_value() or scaled <= 0:
                raise ValueError(f"{self.symbol}: grid {grid} not expressible with {decimals} decimals")


KNOWN_SYMBOLS: dict[str, SymbolSpec] = {
    "BTCUSDT": SymbolSpec("BTCUSDT", "0.10", "0.001", 2, 3, "60000.00"),
    "ETHUSDT": SymbolSpec("ETHUSDT", "0.01", "0.001", 2, 3, "2600.00"),
    "SOLUSDT": SymbolSpec("SOLUSDT", "0.010", "1", 3, 0, "150.000"),
    "BNBUSDT": SymbolSpec("BNBUSDT", "0.010", "0.01", 3, 2, "580.000"),
    "XRPUSDT": SymbolSpec("XRPUSDT", "0.0001", "0.1", 4, 1, "0.6000"),
    "DOGEUSDT": SymbolSpec("DOGEUSDT", "0.00001", "1", 5, 0, "0.10000"),
    "ADAUSDT": SymbolSpec("ADAUSDT", "0.0001", "1", 4, 0, "0.3500"),
    "AVAXUSDT": SymbolSpec("AVAXUSDT", "0.001", "1", 3, 0, "25.000"),
    "LINKUSDT": SymbolSpec("LINKUSDT", "0.001", "0.01", 3, 2, "11.000"),
    "LTCUSDT": SymbolSpec("LTCUSDT", "0.01", "0.001", 2, 3, "65.00"),
}


def spec_for(symbol: str) -> SymbolSpec:
    """Return the known spec for ``symbol`` or a generic one (tick 0.01, step 0.001)."""
    symbol = symbol.upper()
    return KNOWN_SYMBOLS.get(symbol) or SymbolSpec(symbol)


@dataclass
class SimConfig:
    """Everything the simulator can be told; defaults are a BTCUSDT+ETHUSDT synthetic market.

    Parameters
    ----------
    host, port : str, int
        Listening address; ``port=0`` picks an ephemeral port (see ``SimExchange.port``).
    symbols : tuple of SymbolSpec
        Instruments of the synthetic market (ignored for symbols that are replayed).
    replay : tuple of str
        Recording files (collector format) to replay instead of a synthetic market.
    speed : float
        Replay speed multiple; ``0`` replays as fast as possible.
    replay_max_lines : int or None
        Stop reading each recording after this many lines (tests).
    rate : float
        Synthetic book events per second per symbol.
    rates : dict of str to float
        Per-symbol rates overriding ``rate`` (a busy symbol beside quieter ones).
    api_key, api_secret : str
        Credentials of the single simulated account (HMAC-SHA256).
    ed25519_api_key, ed25519_public_key_file : str
        The account's Ed25519 API key and the public key (PEM file) registered for it;
        no file: the account has no Ed25519 key (``session.logon`` is refused).
    connection_lifetime_factor : float
        Scales Binance's 24 h WebSocket lifetime (tests use tiny factors).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    symbols: tuple[SymbolSpec, ...] = (KNOWN_SYMBOLS["BTCUSDT"], KNOWN_SYMBOLS["ETHUSDT"])
    replay: tuple[str, ...] = ()
    speed: float = 1.0
    replay_max_lines: int | None = None
    rate: float = 50.0
    rates: dict[str, float] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    synthetic_levels: int = 200
    api_key: str = "sim-key"
    api_secret: str = "sim-secret"
    ed25519_api_key: str = "sim-ed25519-key"
    ed25519_public_key_file: str = ""
    initial_balance: float = 100_000.0
    leverage: int = 20
    maker_fee: float = 0.0002
    taker_fee: float = 0.0005
    connection_lifetime_s: float = 24 * 3600.0
    connection_lifetime_factor: float = 1.0
    ping_interval_s: float = 180.0
    pong_timeout_s: float = 600.0
    max_client_msgs_per_s: int = 10
    max_streams_per_connection: int = 1024
    weight_limit_1m: int = 2400
    order_limit_10s: int = 300
    order_limit_1m: int = 1200
    listen_key_ttl_s: float = 3600.0
    mark_price_interval_s: float = 1.0
    latency_capacity: int = 100_000
    slow_client_buffer_bytes: int = 8 * 1024 * 1024
    log_level: str = "info"

    def rate_of(self, symbol: str) -> float:
        """Synthetic events per second of one symbol."""
        return float(self.rates.get(symbol, self.rate))

    @property
    def max_connection_age_s(self) -> float:
        """Lifetime after which the server closes a WebSocket connection."""
        return self.connection_lifetime_s * self.connection_lifetime_factor


def _symbol_from_toml(name: str, table: dict[str, Any]) -> SymbolSpec:
    base = spec_for(name)
    fields = {f.name for f in dataclasses.fields(SymbolSpec)}
    unknown = set(table) - fields
    if unknown:
        raise ValueError(f"unknown keys for instrument {name}: {sorted(unknown)}")
    return dataclasses.replace(base, **{k: v for k, v in table.items() if k != "symbol"})


def config_from_mapping(sim: dict[str, Any], base: SimConfig | None = None) -> SimConfig:
    """Build a config from a ``[sim]`` table (see ``load_config`` for the keys)."""
    cfg = dataclasses.replace(base or SimConfig())
    sim = dict(sim)
    instruments = sim.pop("instruments", {})
    names = sim.pop("symbols", None)
    if names is not None:
        if isinstance(names, str):
            names = names.split(",")
        cfg.symbols = tuple(
            _symbol_from_toml(n.strip().upper(), instruments.get(n.strip().upper(), {})) for n in names if n.strip()
        )
    elif instruments:
        cfg.symbols = tuple(_symbol_from_toml(n.upper(), t) for n, t in instruments.items())
    if "replay" in sim:
        replay = sim.pop("replay")
        cfg.replay = (replay,) if isinstance(replay, str) else tuple(replay)
    known = {f.name for f in dataclasses.fields(SimConfig)}
    if "rates" in sim:
        cfg.rates = {str(k).upper(): float(v) for k, v in dict(sim.pop("rates")).items()}
    for key, value in sim.items():
        if key not in known:
            raise ValueError(f"unknown [sim] key: {key}")
        setattr(cfg, key, value)
    return cfg


def load_config(path: str | Path, base: SimConfig | None = None) -> SimConfig:
    """Read a TOML file's ``[sim]`` table into a `SimConfig`.

    Keys are `SimConfig` field names; ``symbols`` is a list of names (known symbols get
    realistic grids) and ``[sim.instruments.<SYMBOL>]`` tables override `SymbolSpec` fields.
    """
    with open(path, "rb") as fh:
        doc = tomllib.load(fh)
    return config_from_mapping(doc.get("sim", {}), base)
