"""rtaid configuration: TOML file + environment + ``--set`` overrides, validated.

Layers, lowest priority first: the defaults below, the TOML file, the environment
(``RTAID_DATA_DIR``, ``RTAID_LOG_LEVEL`` and their legacy ``RTAI_*`` names), then
``--set section.key=value`` overrides in command-line order. Every layer goes through
the same validation; all problems are collected and raised together as one
:class:`ConfigError`, one problem per line, each naming the key.

Per-symbol overrides live under ``symbols.<SYMBOL>.<section>.<key>`` for the indicator
sections, ``strategy`` and the per-symbol keys of ``risk``; :meth:`Config.for_symbol`
gives the effective values for one symbol.

The schema is the dataclasses below: each key is declared once with its default, its
validation rule and whether it may change on SIGHUP without a restart (``live``).
docs/config.md is the operator's page for it.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import stat
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from rtaid._kernels.records import TABLES as TABLE_REGISTRY
from rtaid.infra.cpu_latency import MAX_US as CPU_LATENCY_MAX_US
from rtaid.infra.secrets import (REDACTED, Secret, resolve_credentials, resolve_ed25519_key,
                                 resolve_freqtrade_token)

DEFAULT_CONFIG_PATH = "/etc/rtaid/rtaid.toml"
# New names first: when both are set the new one wins.
ENV_CONFIG = ("RTAID_CONFIG", "RTAI_CONFIG_PATH")
ENV_DATA_DIR = ("RTAID_DATA_DIR", "RTAI_DATA_PATH")
ENV_LOG_LEVEL = ("RTAID_LOG_LEVEL", "RTAI_LOG_LEVEL")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The Parquet tables the store can write (storage.tables): the table registry's.
STORAGE_TABLES = tuple(TABLE_REGISTRY)
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
MAX_STREAMS_PER_CONNECTION = 1024  # Binance limit, binance.md


class ConfigError(ValueError):
    """Invalid configuration; ``str()`` lists every problem, one per line.

    Attributes
    ----------
    problems : list of str
        One entry per problem, each naming the key concerned.
    source : str or None
        The config file involved, when there is one.
    """

    def __init__(self, problems: Iterable[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Rule:
    """How one key is validated (attached to its dataclass field as metadata)."""

    kind: str  # int float bool str path url enum str_list int_list secret mode
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself excluded
    optional: bool = False  # None (absent) allowed
    pattern: str | None = None
    upper: bool = False  # normalise strings to upper case before checking
    schemes: tuple = ()
    nonempty: bool = False
    max_bytes: int | None = None  # encoded length limit (unix socket paths)
    live: bool = False  # may change on reload without a restart
    per_symbol: bool = False  # may be overridden under symbols.<SYMBOL>.


def setting(default: Any, kind: str, **rule: Any):
    """Declare a config key (a dataclass field): its default and its :class:`Rule`.

    Adding a key to a section is one line, e.g.
    ``depth: int = setting(10, "int", lo=1, hi=1000, per_symbol=True)``; adding a
    section is a frozen dataclass registered in :data:`SECTIONS` and a field of
    :class:`Config`.
    """
    if isinstance(default, list):
        default = tuple(default)
    return field(default=default, metadata={"rule": Rule(kind, **rule)})


def _ms(default: int, lo: int = 1, **rule: Any):
    return setting(default, "int", lo=lo, hi=7 * 86_400_000, **rule)


def _levels(default: int):
    return setting(default, "int", lo=1, hi=1000, per_symbol=True)


@dataclass(frozen=True)
class ExchangeConfig:
    """[exchange]: endpoints and credentials (Binance or the local simulator)."""

    rest_url: str = setting("https://fapi.binance.com", "url", schemes=("http", "https"))
    # Base URL: the feed appends /public/stream and /market/stream.
    ws_url: str = setting("wss://fstream.binance.com", "url", schemes=("ws", "wss"))
    ws_api_url: str = setting("wss://ws-fapi.binance.com/ws-fapi/v1", "url", schemes=("ws", "wss"))
    # Base URL: the user-data stream appends /<listenKey>.
    user_ws_url: str = setting("wss://fstream.binance.com/private/ws", "url", schemes=("ws", "wss"))
    exchange_info_file: str | None = setting(None, "path", optional=True)
    credentials_file: str | None = setting(None, "path", optional=True)
    api_key: Secret | None = setting(None, "secret", optional=True)
    api_secret: Secret | None = setting(None, "secret", optional=True)
    # The binance venue: an Ed25519 private key (PEM, PKCS#8; a 0600 file, or the PEM in
    # RTAID_ED25519_KEY) logs the WebSocket API connection on (session.logon) and signs
    # REST; api_key is then that key's API key and api_secret is not needed.
    ed25519_key_file: str | None = setting(None, "path", optional=True)
    # resolved from RTAID_ED25519_KEY or ed25519_key_file; never taken from the config
    ed25519_key: Secret | None = setting(None, "secret", optional=True)
    recv_window_ms: int = setting(5000, "int", lo=1, hi=60000)  # Binance caps recvWindow at 60 s
    request_timeout_s: float = setting(10.0, "float", lo=0, lo_open=True, hi=300)


@dataclass(frozen=True)
class FeedConfig:
    """[feed]: symbols, market-data streams, book sync and reconnection."""

    symbols: tuple[str, ...] = setting(
        ["BTCUSDT"], "str_list", pattern=r"^[A-Z0-9]{2,20}$", upper=True, nonempty=True
    )
    depth_speed: str = setting("0ms", "enum", choices=("0ms", "100ms"))
    trades: str = setting("trade", "enum", choices=("aggTrade", "trade"))
    book_ticker: bool = setting(True, "bool")
    mark_price: bool = setting(False, "bool")
    snapshot_limit: int = setting(1000, "int", choices=SNAPSHOT_LIMITS)
    stale_after_s: float = setting(5.0, "float", lo=0, lo_open=True, hi=3600)
    reconnect_min_s: float = setting(0.1, "float", lo=0, lo_open=True, hi=3600)
    reconnect_max_s: float = setting(30.0, "float", lo=0, lo_open=True, hi=3600)
    # Binance drops connections at 24 h; a make-before-break handover earlier avoids the gap.
    max_connection_age_s: float = setting(82800.0, "float", lo=1, hi=86400)
    max_book_levels: int = setting(5000, "int", lo=1, hi=1_000_000)
    buffer_events: int = setting(4096, "int", lo=1, hi=10_000_000)


@dataclass(frozen=True)
class StorageConfig:
    """[storage]: the Parquet dataset and its rings, rotation and retention."""

    data_dir: str = setting("/var/lib/rtaid", "path")
    compression: str = setting("zstd", "enum", choices=("zstd", "snappy"))
    rotate_mb: int = setting(256, "int", lo=1, hi=1_000_000)
    rotate_s: int = setting(3600, "int", lo=1, hi=7 * 86400)
    # A kill -9 loses at most this much of any table: part files are published within it.
    max_loss_s: int = setting(60, "int", lo=5, hi=7 * 86400)
    retention_days: int = setting(30, "int", lo=0, hi=100_000)  # 0 = keep forever
    # 0 = sized from the expected rates (rtaid/store/rings.py); else a power of two >= 1024
    ring_records: int = setting(0, "int", lo=0, hi=1 << 26)
    flush_interval_ms: int = setting(100, "int", lo=10, hi=3_600_000)
    raw_journal: bool = setting(False, "bool")
    tables: tuple[str, ...] = setting(list(STORAGE_TABLES), "str_list", choices=STORAGE_TABLES)


@dataclass(frozen=True)
class ControlConfig:
    """[control]: the unix socket rtaidctl talks to."""

    # sun_path holds 108 bytes including the terminating NUL.
    socket: str = setting("/run/rtaid/rtaid.sock", "path", max_bytes=107)
    # Permissions of the socket file; group access lets operators in rtaid's group use rtaidctl.
    socket_mode: int = setting(0o660, "mode")


@dataclass(frozen=True)
class MetricsConfig:
    """[metrics]: the Prometheus endpoint."""

    host: str = setting("127.0.0.1", "str", nonempty=True)
    port: int = setting(9464, "int", lo=0, hi=65535)  # 0 = no metrics server


@dataclass(frozen=True)
class FreqtradeConfig:
    """[freqtrade]: the producer endpoint freqtrade's external_message_consumer reads."""

    enabled: bool = setting(False, "bool")
    host: str = setting("127.0.0.1", "str", nonempty=True)
    port: int = setting(8080, "int", lo=1, hi=65535)
    # The consumer's ws_token comes from RTAID_FREQTRADE_TOKEN, else this 0600 file.
    token_file: str | None = setting(None, "path", optional=True)
    # Resolved from those two; refused in the TOML file and on the command line.
    token: Secret | None = setting(None, "secret", optional=True)


@dataclass(frozen=True)
class ExecutionConfig:
    """[execution]: where and how orders go."""

    venue: str = setting("off", "enum", choices=("off", "paper", "ccxt", "binance"))
    on_shutdown: str = setting("leave", "enum", choices=("leave", "flatten"))
    order_type: str = setting("limit", "enum", choices=("limit", "market"))
    time_in_force: str = setting("GTC", "enum", choices=("GTC", "IOC", "FOK", "GTX"), upper=True)
    order_timeout_ms: int = _ms(5000, lo=0)  # cancel a resting order after this; 0 = never
    reconcile_interval_s: float = setting(30.0, "float", lo=0, lo_open=True, hi=86400)
    # flatten: cancel, close, verify at the venue until flat or this deadline
    flatten_timeout_s: float = setting(30.0, "float", lo=0, lo_open=True, hi=3600)
    # after HTTP 429 (or a 418 ban) no order request for its Retry-After, at most this long
    max_backoff_s: float = setting(60.0, "float", lo=0, hi=3600)
    # the paper venue: exchange-time latency before an order works, fees, starting balance
    paper_latency_ms: int = _ms(20, lo=0)
    taker_fee_bps: float = setting(5.0, "float", lo=-100, hi=100)
    maker_fee_bps: float = setting(2.0, "float", lo=-100, hi=100)  # < 0: a rebate
    paper_balance_usd: float = setting(10000.0, "float", lo=0)
    # trading state (active/reducing/halted) kept across restarts; unset: <data_dir>/execution/state.json
    state_file: str | None = setting(None, "path", optional=True)


@dataclass(frozen=True)
class RiskConfig:
    """[risk]: hard limits checked before every order (live-reloadable)."""

    max_position: float = setting(0.01, "float", lo=0, live=True, per_symbol=True)  # base units
    max_order_qty: float = setting(0.01, "float", lo=0, live=True, per_symbol=True)
    max_notional_usd: float = setting(1000.0, "float", lo=0, live=True, per_symbol=True)
    max_orders_per_minute: int = setting(60, "int", lo=0, hi=1200, live=True)
    max_daily_loss_usd: float = setting(100.0, "float", lo=0, live=True)
    kill_switch: bool = setting(False, "bool", live=True)
    # an order's price (a market order's: the touch it takes) within this of the mid
    price_band_bps: float = setting(50.0, "float", lo=0, lo_open=True, hi=10000, live=True)
    # no order on a book whose last event is older than this (exchange time to local clock)
    max_book_age_ms: int = _ms(5000, live=True)


def _pct(default: float):
    return setting(default, "float", lo=0, hi=100, live=True, per_symbol=True)


@dataclass(frozen=True)
class StrategyConfig:
    """[strategy]: the mean-reversion signal of indicators.md section 9; ``hybrid`` takes
    its entries only when the model (rtaid train) agrees (docs/ai.md)."""

    name: str = setting("mean_reversion", "enum", choices=("mean_reversion", "hybrid", "none"),
                        per_symbol=True)
    entry_low: float = _pct(10.0)
    entry_high: float = _pct(90.0)
    exit_mid: float = _pct(50.0)
    toxic_max: float = _pct(80.0)
    max_hold_ms: int = _ms(120000, live=True, per_symbol=True)
    stop_bps: float = setting(15.0, "float", lo=0, lo_open=True, hi=10000, live=True, per_symbol=True)
    cooldown_ms: int = _ms(30000, lo=0, live=True, per_symbol=True)
    stale_ms: int = _ms(1000, live=True, per_symbol=True)
    order_qty: float = setting(0.001, "float", lo=0, lo_open=True, per_symbol=True)
    # hybrid: the model file (rtaid train) and the probability at which it lets the rule
    # enter (a long when p_up >= threshold, a short when 1 - p_up >= threshold)
    model_path: str | None = setting(None, "path", optional=True, live=True)
    model_threshold: float = setting(0.55, "float", lo=0.5, hi=1.0, live=True, per_symbol=True)
    # exchange ms after a bar's close from which its probability gates entries: live and
    # replay then gate alike (inference, off the frame path, takes far less)
    model_delay_ms: int = _ms(1000, lo=0, per_symbol=True)


@dataclass(frozen=True)
class TobiConfig:
    """[tobi]: top-of-book and depth imbalance (indicators.md section 1)."""

    levels: int = _levels(10)
    decay: float = setting(0.5, "float", lo=0, lo_open=True, hi=1, per_symbol=True)
    trade_window_ms: int = _ms(10000, per_symbol=True)


@dataclass(frozen=True)
class OfiConfig:
    """[ofi]: order-flow imbalance (section 3)."""

    window_ms: int = _ms(10000, per_symbol=True)
    levels: int = _levels(10)


@dataclass(frozen=True)
class VpinConfig:
    """[vpin]: volume-synchronised toxicity (section 4)."""

    # None: calibrated from the first calibration_ms of trades (indicators.md section 4).
    bucket_volume: float | None = setting(None, "float", lo=0, lo_open=True, optional=True, per_symbol=True)
    buckets: int = setting(50, "int", lo=1, hi=100_000, per_symbol=True)
    calibration_ms: int = _ms(600000, per_symbol=True)


@dataclass(frozen=True)
class KyleConfig:
    """[kyle]: Kyle's lambda (section 5)."""

    interval_ms: int = _ms(1000, per_symbol=True)
    window: int = setting(300, "int", lo=2, hi=1_000_000, per_symbol=True)
    min_intervals: int = setting(30, "int", lo=2, hi=1_000_000, per_symbol=True)


@dataclass(frozen=True)
class LpiConfig:
    """[lpi]: liquidity provider incentive (section 6)."""

    horizon_ms: int = _ms(5000, lo=0, per_symbol=True)
    half_life_ms: int = _ms(60000, per_symbol=True)
    maker_fee_bps: float = setting(2.0, "float", lo=-100, hi=100, per_symbol=True)  # < 0: rebate


@dataclass(frozen=True)
class WallConfig:
    """[wall]: wall ratio (section 7)."""

    levels: int = _levels(20)


@dataclass(frozen=True)
class NormConfig:
    """[norm]: z-score and oscillator normalisation (section 8)."""

    tau_ms: int = _ms(300000, per_symbol=True)
    warmup: int = setting(100, "int", lo=0, hi=10_000_000, per_symbol=True)
    sigma_floor: float = setting(1e-12, "float", lo=0, lo_open=True, per_symbol=True)


@dataclass(frozen=True)
class DevConfig:
    """[dev]: price deviation from its EMA (section 9)."""

    ema_ms: int = _ms(60000, per_symbol=True)


@dataclass(frozen=True)
class LogConfig:
    """[log]: log level and format."""

    level: str = setting("INFO", "enum", choices=LOG_LEVELS, upper=True, live=True)
    format: str = setting("json", "enum", choices=("json", "console"))


@dataclass(frozen=True)
class DaemonConfig:
    """[daemon]: process settings."""

    cpu_affinity: tuple[int, ...] = setting([], "int_list", lo=0, hi=4095)  # empty = no pinning
    # a CPU wake-up latency limit held while the daemon runs (/dev/cpu_dma_latency;
    # 0: idle CPUs poll instead of halting): rtaid.infra.cpu_latency
    cpu_dma_latency_us: int | None = setting(None, "int", optional=True, lo=0, hi=CPU_LATENCY_MAX_US)
    gc_freeze: bool = setting(True, "bool")
    shutdown_timeout_s: float = setting(10.0, "float", lo=0, lo_open=True, hi=3600)
    # the `status` log line (frames, rate, books, lag, p99, targets, rows): progress for
    # a daemon run outside systemd, whose STATUS= line only systemctl shows
    status_interval_s: float = setting(30.0, "float", lo=1, hi=86400)
    event_loop: str = setting("uvloop", "enum", choices=("uvloop", "asyncio"))


# Order here is the order of `rtaid config show` and of the example file.
SECTIONS: dict[str, type] = {
    "exchange": ExchangeConfig,
    "feed": FeedConfig,
    "storage": StorageConfig,
    "control": ControlConfig,
    "metrics": MetricsConfig,
    "freqtrade": FreqtradeConfig,
    "execution": ExecutionConfig,
    "risk": RiskConfig,
    "strategy": StrategyConfig,
    "tobi": TobiConfig,
    "ofi": OfiConfig,
    "vpin": VpinConfig,
    "kyle": KyleConfig,
    "lpi": LpiConfig,
    "wall": WallConfig,
    "norm": NormConfig,
    "dev": DevConfig,
    "log": LogConfig,
    "daemon": DaemonConfig,
}
INDICATOR_SECTIONS = ("tobi", "ofi", "vpin", "kyle", "lpi", "wall", "norm", "dev")
PER_SYMBOL_SECTIONS = INDICATOR_SECTIONS + ("strategy", "risk")


# The signal kernels' parameters (indicators.md section 11 and the strategy keys) are
# the keys of these sections; the kernels (SigParams) and the reference (Params) name
# each ``<section>_<key>`` and take its default from here.
SIGNAL_SECTIONS = INDICATOR_SECTIONS + ("strategy",)
# indicators.md section 6: the LPI keeps "a history of at least 4096" L1 states. Not a
# config key; the kernels and the reference must keep exactly the same number.
LPI_HISTORY = 4096


def signal_keys() -> dict[str, str]:
    """``{config key: parameter name}`` of the signal parameters, in schema order
    (``"tobi.levels": "tobi_levels"``, ...)."""
    return {f"{sec}.{f.name}": f"{sec}_{f.name}"
            for sec in SIGNAL_SECTIONS for f in dataclasses.fields(SECTIONS[sec])}


def signal_values(cfg: Any = None) -> dict[str, Any]:
    """The signal parameters of a :class:`Config` or :class:`SymbolConfig` (None: the
    defaults), by parameter name."""
    out = {}
    for sec in SIGNAL_SECTIONS:
        section = getattr(cfg, sec) if cfg is not None else SECTIONS[sec]()
        for f in dataclasses.fields(section):
            out[f"{sec}_{f.name}"] = getattr(section, f.name)
    return out


def rules(section: str) -> dict[str, Rule]:
    """Return ``{key: Rule}`` for a section, in declaration order."""
    return {f.name: f.metadata["rule"] for f in dataclasses.fields(SECTIONS[section])}


def rule_for(dotted: str) -> Rule | None:
    """Return the Rule of ``section.key`` or ``symbols.SYM.section.key`` (None if unknown)."""
    parts = dotted.split(".")
    if parts[0] == "symbols":
        parts = parts[2:]
    if len(parts) != 2 or parts[0] not in SECTIONS:
        return None
    return rules(parts[0]).get(parts[1])


@dataclass(frozen=True)
class SymbolConfig:
    """Effective per-symbol sections: the global ones with ``symbols.<SYMBOL>`` applied."""

    symbol: str
    tobi: TobiConfig
    ofi: OfiConfig
    vpin: VpinConfig
    kyle: KyleConfig
    lpi: LpiConfig
    wall: WallConfig
    norm: NormConfig
    dev: DevConfig
    strategy: StrategyConfig
    risk: RiskConfig


def _empty_overrides() -> Mapping:
    return MappingProxyType({})


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. Build it with :func:`load_config`.

    ``Config()`` is the pure defaults. Sections are attributes named as in the TOML
    file (``config.feed.symbols``); ``symbol_overrides`` is the ``[symbols.*]`` table
    as ``{SYMBOL: {section: {key: value}}}``; ``source`` the file read (None: none);
    ``overrides`` the ``--set`` texts applied (kept so a reload applies them again).
    """

    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    feed: FeedConfig = field(default_factory=FeedConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    freqtrade: FreqtradeConfig = field(default_factory=FreqtradeConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    tobi: TobiConfig = field(default_factory=TobiConfig)
    ofi: OfiConfig = field(default_factory=OfiConfig)
    vpin: VpinConfig = field(default_factory=VpinConfig)
    kyle: KyleConfig = field(default_factory=KyleConfig)
    lpi: LpiConfig = field(default_factory=LpiConfig)
    wall: WallConfig = field(default_factory=WallConfig)
    norm: NormConfig = field(default_factory=NormConfig)
    dev: DevConfig = field(default_factory=DevConfig)
    log: LogConfig = field(default_factory=LogConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    symbol_overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(
        default_factory=_empty_overrides
    )
    source: str | None = None
    overrides: tuple[str, ...] = ()

    def for_symbol(self, symbol: str) -> SymbolConfig:
        """Return the effective per-symbol sections of ``symbol``.

        Parameters
        ----------
        symbol : str
            A symbol of ``feed.symbols`` (case-insensitive).

        Returns
        -------
        SymbolConfig

        Raises
        ------
        KeyError
            If the symbol is not in ``feed.symbols``.
        """
        sym = symbol.upper()
        if sym not in self.feed.symbols:
            raise KeyError(f"symbol {symbol!r} is not in feed.symbols {list(self.feed.symbols)}")
        return _effective(self, sym, self.symbol_overrides.get(sym, {}))

    def to_dict(self, redact: bool = True) -> dict[str, Any]:
        """Return the configuration as plain TOML/JSON-able data.

        Parameters
        ----------
        redact : bool
            Replace secrets by ``"***"`` (default). With False, their values appear.

        Returns
        -------
        dict
            ``{section: {key: value}}`` plus ``"symbols"`` when there are per-symbol
            overrides. Unset optional keys are None.
        """
        out: dict[str, Any] = {}
        for name in SECTIONS:
            section = getattr(self, name)
            out[name] = {
                f.name: _plain(getattr(section, f.name), f.metadata["rule"], redact)
                for f in dataclasses.fields(section)
            }
        if self.symbol_overrides:
            out["symbols"] = {
                sym: {
                    sec: {k: _plain(v, rules(sec)[k], redact) for k, v in keys.items()}
                    for sec, keys in secs.items()
                }
                for sym, secs in self.symbol_overrides.items()
            }
        return out


def _effective(base: Config, sym: str, overrides: Mapping[str, Mapping[str, Any]]) -> SymbolConfig:
    sections = {}
    for name in PER_SYMBOL_SECTIONS:
        section = getattr(base, name)
        if overrides.get(name):
            section = dataclasses.replace(section, **overrides[name])
        sections[name] = section
    return SymbolConfig(symbol=sym, **sections)


def _plain(value: Any, rule: Rule, redact: bool) -> Any:
    if isinstance(value, Secret):
        return REDACTED if redact else value.reveal()
    if isinstance(value, tuple):
        return list(value)
    if rule.kind == "mode":
        return f"{value:04o}"
    return value


# --------------------------------------------------------------------------- loading


def resolve_config_path(path: str | None = None, env: Mapping[str, str] = os.environ):
    """Decide which config file to read.

    Parameters
    ----------
    path : str or None
        ``--config``; wins when given.
    env : mapping
        Consulted for ``RTAID_CONFIG`` (then the legacy ``RTAI_CONFIG_PATH``).

    Returns
    -------
    tuple of (str or None, bool)
        The path (None: no file, pure defaults) and whether it was named explicitly
        (an explicitly named file that does not exist is an error).
    """
    if path:
        return str(path), True
    for var in ENV_CONFIG:
        if env.get(var):
            return env[var], True
    if os.path.exists(DEFAULT_CONFIG_PATH):
        return DEFAULT_CONFIG_PATH, False
    return None, False


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse one ``--set section.key=value`` into its key path and value.

    The value is read as a TOML value when it is one (``50``, ``true``,
    ``["BTCUSDT","ETHUSDT"]``, ``"quoted"``), else taken as a bare string
    (``http://127.0.0.1:8765``, ``DEBUG``).

    Raises
    ------
    ConfigError
        If there is no ``=`` or the key path is malformed.
    """
    dotted, sep, raw = text.partition("=")
    dotted = dotted.strip()
    parts = dotted.split(".")
    if not sep or not dotted or any(not p.strip() for p in parts):
        raise ConfigError([f"--set {dotted or text!r}: expected section.key=value"])
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return [p.strip() for p in parts], value


def load_config(
    path: str | None = None,
    overrides: Iterable[str] = (),
    env: Mapping[str, str] = os.environ,
) -> Config:
    """Load, merge and validate the configuration.

    Parameters
    ----------
    path : str or None
        Config file (``--config``). None: ``RTAID_CONFIG`` / ``RTAI_CONFIG_PATH``, else
        /etc/rtaid/rtaid.toml if it exists, else pure defaults.
    overrides : iterable of str
        ``section.key=value`` texts (``--set``), applied in order, last wins.
    env : mapping
        Environment for the config path, ``RTAID_DATA_DIR``, ``RTAID_LOG_LEVEL`` and
        the API credentials.

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        Listing every problem found, one per line.
    """
    overrides = tuple(overrides)
    # Whether the file was named explicitly no longer matters here: resolve_config_path
    # returns the default path only when it exists, so "not found" is always an error.
    path, _explicit = resolve_config_path(path, env)
    problems: list[str] = []
    tree: dict[str, Any] = {}
    origins: dict[str, str] = {}  # dotted key -> where it came from, when not the file
    file_private = False
    if path is not None:
        tree, file_private = _read_toml(path, problems)
        if problems:  # nothing sensible can be said about the keys of an unreadable file
            raise ConfigError(problems, path)
    for section, keyname, names in (("storage", "data_dir", ENV_DATA_DIR), ("log", "level", ENV_LOG_LEVEL)):
        var = next((v for v in names if env.get(v)), None)
        if var:
            _put(tree, [section, keyname], env[var])
            origins[f"{section}.{keyname}"] = f"env {var}"
    for text in overrides:
        try:
            parts, value = parse_override(text)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        rule = rule_for(".".join(parts))
        if rule is not None and rule.kind in ("str", "path", "url", "enum", "secret", "mode") \
                and not isinstance(value, str):
            value = text.partition("=")[2].strip()  # `--set control.socket=123` means the text
        if parts[0] == "symbols" and len(parts) > 1 and isinstance(tree.get("symbols"), dict):
            # `--set symbols.ETHUSDT...` amends the file's [symbols.ethusdt] table.
            parts[1] = next((s for s in tree["symbols"] if s.upper() == parts[1].upper()), parts[1])
        _put(tree, parts, value)
        origins[".".join(parts)] = "--set"
    config = _validate(tree, origins, problems, path, file_private, env)
    if problems:
        raise ConfigError(problems, path)
    return dataclasses.replace(config, source=path, overrides=overrides)


def _read_toml(path: str, problems: list[str]) -> tuple[dict, bool]:
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = tomllib.load(fh)
    except FileNotFoundError:
        problems.append(f"config file not found: {path}")
        return {}, False
    except IsADirectoryError:
        problems.append(f"config file is a directory: {path}")
        return {}, False
    except OSError as exc:
        problems.append(f"cannot read config file {path}: {exc.strerror}")
        return {}, False
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: invalid TOML: {exc}")  # message carries line and column
        return {}, False
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: invalid TOML: not UTF-8 ({exc.reason} at byte {exc.start})")
        return {}, False
    return data, not (stat.S_IMODE(st.st_mode) & 0o077)


def _put(tree: dict, parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        for k, v in value.items():
            _put(node[last], [k], v)
    else:
        node[last] = value


# --------------------------------------------------------------------------- validation


class _Checker:
    """Collects problems while turning the raw tree into typed sections."""

    def __init__(self, origins: Mapping[str, str], problems: list[str]) -> None:
        self.origins = origins
        self.problems = problems
        self.bad: set[str] = set()  # keys whose value was rejected (default used instead)

    def add(self, dotted: str, message: str) -> None:
        parts = dotted.split(".")
        # The key itself, or a table above it set whole (`--set vpin={buckets=5}`).
        origin = next((self.origins[k] for k in (".".join(parts[:i]) for i in range(len(parts), 0, -1))
                       if k in self.origins), None)
        if origin is None:
            # A whole table (e.g. symbols.X) came from one place if all its keys did.
            under = {o for k, o in self.origins.items() if k.startswith(dotted + ".")}
            origin = under.pop() if len(under) == 1 else None
        self.problems.append(message + (f" (from {origin})" if origin else ""))

    def section_values(self, prefix: str, section: str, raw: Mapping, per_symbol: bool) -> dict:
        known = rules(section)
        values = {}
        for name, value in raw.items():
            dotted = f"{prefix}.{name}"
            rule = known.get(name)
            if rule is None:
                self.add(dotted, f"unknown key {dotted!r}{_suggest_key(prefix, section, name)}")
                continue
            if per_symbol and not rule.per_symbol:
                allowed = ", ".join(k for k, r in known.items() if r.per_symbol)
                self.add(dotted, f"{dotted}: not a per-symbol key "
                                 f"(per-symbol keys of [{section}]: {allowed})")
                continue
            checked, problem = check_value(value, rule)
            if problem:
                self.bad.add(dotted)
                self.add(dotted, f"{dotted}: {problem}")
            else:
                values[name] = checked
        return values


def _suggest_key(prefix: str, section: str, name: str) -> str:
    close = difflib.get_close_matches(name, list(rules(section)), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{prefix}.{close[0]}'?)"
    # The right key in the wrong section is a common slip: point to where it lives.
    homes = [s for s in SECTIONS if name in rules(s)]
    if homes:
        return f" (did you mean '{homes[0]}.{name}'?)"
    return ""


def _suggest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _validate(tree, origins, problems, path, file_private, env) -> Config:
    checker = _Checker(origins, problems)
    for name, value in tree.items():
        if name != "symbols" and name not in SECTIONS:
            checker.add(name, f"unknown section {name!r}{_suggest(name, list(SECTIONS) + ['symbols'])}")
        elif name != "symbols" and not isinstance(value, dict):  # symbols: see below
            checker.add(name, f"{name}: expected a table [{name}], got {_describe(value)}")
    sections = {}
    for name, cls in SECTIONS.items():
        raw = tree.get(name)
        raw = raw if isinstance(raw, dict) else {}
        sections[name] = cls(**checker.section_values(name, name, raw, per_symbol=False))
    _check_secret_sources(tree, origins, path, file_private, checker)
    overrides = _validate_symbols(tree.get("symbols"), sections, checker)
    config = Config(**sections, symbol_overrides=overrides)
    _cross_check_global(config, checker)
    global_found = _cross_check_symbol(_effective(config, "", {}), config)
    problems.extend(global_found)
    problems.extend(_cross_check_hybrid(config))
    for sym in config.feed.symbols:
        if overrides.get(sym):
            found = _cross_check_symbol(config.for_symbol(sym), config)
            problems.extend(f"symbols.{sym}: {f}" for f in found if f not in global_found)
    exchange = config.exchange
    creds, cred_problems = resolve_credentials(
        exchange.api_key, exchange.api_secret, exchange.credentials_file, env
    )
    problems.extend(cred_problems)
    if exchange.ed25519_key is not None:
        checker.add("exchange.ed25519_key", "exchange.ed25519_key: the private key is not "
                    "accepted in the config file or on the command line; set RTAID_ED25519_KEY "
                    "or exchange.ed25519_key_file (a file of mode 0600)")
    ed_key, ed_problems = resolve_ed25519_key(exchange.ed25519_key_file, env)
    problems.extend(ed_problems)
    exchange = dataclasses.replace(exchange, api_key=creds.api_key, api_secret=creds.api_secret,
                                   ed25519_key=ed_key)
    return dataclasses.replace(config, exchange=exchange, freqtrade=_check_freqtrade(config, env, checker))


def _check_freqtrade(config: Config, env, checker: _Checker) -> FreqtradeConfig:
    """[freqtrade] with its token resolved (RTAID_FREQTRADE_TOKEN or freqtrade.token_file)."""
    ft = config.freqtrade
    if ft.token is not None:
        checker.add("freqtrade.token", "freqtrade.token: the token is not accepted in the config "
                    "file or on the command line; set RTAID_FREQTRADE_TOKEN or "
                    "freqtrade.token_file (a file of mode 0600)")
    token, token_problems = resolve_freqtrade_token(ft.token_file, env, required=ft.enabled)
    checker.problems.extend(token_problems)
    if ft.enabled and config.metrics.port == ft.port and config.metrics.host == ft.host:
        checker.add("freqtrade.port", f"freqtrade.port: {ft.port} is also metrics.port on "
                                      f"{ft.host}; give them different ports")
    if ft.enabled and "feed.symbols" not in checker.bad:
        from rtaid.freqtrade.pairs import symbol_to_pair

        for symbol in config.feed.symbols:
            try:
                symbol_to_pair(symbol)
            except ValueError as exc:
                checker.add("feed.symbols", f"feed.symbols: freqtrade.enabled needs freqtrade "
                                            f"pairs: {exc}")
    missing = [t for t in ("bars_1m", "signals") if t not in config.storage.tables]
    if ft.enabled and missing and "storage.tables" not in checker.bad:
        checker.add("storage.tables", f"storage.tables: freqtrade.enabled needs the "
                                      f"{' and '.join(missing)} table(s): the producer's rows")
    return dataclasses.replace(ft, token=token)


def _check_secret_sources(tree, origins, path, file_private, checker: _Checker) -> None:
    exchange = tree.get("exchange")
    if not isinstance(exchange, dict):
        return
    for name in ("api_key", "api_secret"):
        if name not in exchange:
            continue
        dotted = f"exchange.{name}"
        env_var = "RTAID_API_KEY" if name == "api_key" else "RTAID_API_SECRET"
        if origins.get(dotted) == "--set":
            checker.problems.append(
                f"{dotted}: secrets are not accepted on the command line (other users see it "
                f"in ps); use {env_var} or exchange.credentials_file"
            )
        elif not file_private:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            checker.problems.append(
                f"{dotted}: secrets in the config file need it to be mode 0600, {path} is "
                f"{mode:04o} (readable by group/others); chmod 600 it, or use {env_var} or "
                f"exchange.credentials_file"
            )


def _validate_symbols(raw, sections, checker: _Checker) -> Mapping:
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        hint = " (did you mean 'feed.symbols'?)" if isinstance(raw, list) else ""
        checker.add("symbols", f"symbols: expected tables [symbols.<SYMBOL>.<section>], got "
                               f"{_describe(raw)}{hint}")
        return MappingProxyType({})
    feed_symbols = sections["feed"].symbols
    symbols_known = "feed.symbols" not in checker.bad
    result: dict[str, Mapping] = {}
    for given, table in raw.items():
        sym = given.upper()
        prefix = f"symbols.{given}"
        if symbols_known and sym not in feed_symbols:
            checker.add(prefix, f"{prefix}: unknown symbol {given!r} (not in feed.symbols "
                                f"{list(feed_symbols)}){_suggest(sym, feed_symbols, 0.8)}")
            continue
        if sym in result:
            checker.add(prefix, f"{prefix}: symbol {sym} overridden twice (names are case-insensitive)")
            continue
        if not isinstance(table, dict):
            checker.add(prefix, f"{prefix}: expected a table of sections, got {_describe(table)}")
            continue
        per_section = {}
        for section, keys in table.items():
            sec_prefix = f"{prefix}.{section}"
            if section not in PER_SYMBOL_SECTIONS:
                if section in SECTIONS:
                    msg = (f"{sec_prefix}: [{section}] cannot be set per symbol (per-symbol "
                           f"sections: {', '.join(PER_SYMBOL_SECTIONS)})")
                else:
                    msg = f"unknown section {sec_prefix!r}{_suggest(section, PER_SYMBOL_SECTIONS)}"
                checker.add(sec_prefix, msg)
                continue
            if not isinstance(keys, dict):
                checker.add(sec_prefix, f"{sec_prefix}: expected a table, got {_describe(keys)}")
                continue
            values = checker.section_values(sec_prefix, section, keys, per_symbol=True)
            if values:
                per_section[section] = MappingProxyType(values)
        result[sym] = MappingProxyType(per_section)
    return MappingProxyType(result)


def _cross_check_global(config: Config, checker: _Checker) -> None:
    feed, storage, exchange = config.feed, config.storage, config.exchange
    problems = checker.problems
    if len(set(feed.symbols)) != len(feed.symbols):
        dups = sorted({s for s in feed.symbols if feed.symbols.count(s) > 1})
        checker.add("feed.symbols", f"feed.symbols: duplicate symbols {dups}")
    if feed.reconnect_min_s > feed.reconnect_max_s:
        problems.append(f"feed.reconnect_min_s ({feed.reconnect_min_s}) must be <= "
                        f"feed.reconnect_max_s ({feed.reconnect_max_s})")
    if feed.max_book_levels < feed.snapshot_limit:
        problems.append(f"feed.max_book_levels ({feed.max_book_levels}) must be >= "
                        f"feed.snapshot_limit ({feed.snapshot_limit})")
    public = len(feed.symbols) * (1 + feed.book_ticker)
    market = len(feed.symbols) * (1 + feed.mark_price)
    if max(public, market) > MAX_STREAMS_PER_CONNECTION:
        problems.append(f"feed.symbols: {len(feed.symbols)} symbols need {max(public, market)} "
                        f"streams on one connection, Binance allows {MAX_STREAMS_PER_CONNECTION}; "
                        f"split them over several rtaid instances")
    if storage.ring_records & (storage.ring_records - 1):
        checker.add("storage.ring_records",
                    f"storage.ring_records: {storage.ring_records} is not a power of two")
    elif 0 < storage.ring_records < 1 << 10:
        checker.add("storage.ring_records",
                    f"storage.ring_records: {storage.ring_records} is below 1024 (0 = sized "
                    f"from the expected rates)")
    # the writer drains the rings every flush interval: a row waits up to two of them
    # before the flush that publishes it notices it is due, plus a margin for the write
    if storage.max_loss_s * 1000 < 2 * storage.flush_interval_ms + 3000:
        checker.add("storage.max_loss_s",
                    f"storage.max_loss_s ({storage.max_loss_s}) must be at least 2 x "
                    f"storage.flush_interval_ms ({storage.flush_interval_ms} ms) + 3 s")
    if len(set(storage.tables)) != len(storage.tables):
        checker.add("storage.tables", "storage.tables: duplicate table names")
    if len(set(config.daemon.cpu_affinity)) != len(config.daemon.cpu_affinity):
        checker.add("daemon.cpu_affinity", "daemon.cpu_affinity: duplicate CPU numbers")
    if exchange.exchange_info_file and not os.path.isfile(exchange.exchange_info_file):
        checker.add("exchange.exchange_info_file",
                    f"exchange.exchange_info_file: file not found: {exchange.exchange_info_file}")


def _cross_check_hybrid(config: Config) -> list[str]:
    names = {config.strategy.name} | {
        secs.get("strategy", {}).get("name") for secs in config.symbol_overrides.values()}
    if "hybrid" in names and not config.strategy.model_path:
        return ["strategy.model_path: strategy.name = \"hybrid\" needs a model file "
                "(rtaid train --out MODEL)"]
    return []


def _cross_check_symbol(sc: SymbolConfig, config: Config) -> list[str]:
    """Return the problems between keys of the per-symbol sections.

    Run once on the global sections and again for each symbol that has overrides; the
    caller reports a symbol's problem only when the global sections do not have it too.
    """
    found = []
    st = sc.strategy
    if not st.entry_low < st.exit_mid < st.entry_high:
        found.append(f"strategy: need entry_low < exit_mid < entry_high, got "
                     f"{st.entry_low} / {st.exit_mid} / {st.entry_high}")
    if sc.kyle.min_intervals > sc.kyle.window:
        found.append(f"kyle.min_intervals ({sc.kyle.min_intervals}) must be <= "
                     f"kyle.window ({sc.kyle.window})")
    if config.execution.venue != "off" and st.name != "none":
        if st.order_qty > sc.risk.max_order_qty:
            found.append(f"strategy.order_qty ({st.order_qty}) exceeds risk.max_order_qty "
                         f"({sc.risk.max_order_qty}): every order would be rejected")
        if st.order_qty > sc.risk.max_position:
            found.append(f"strategy.order_qty ({st.order_qty}) exceeds risk.max_position "
                         f"({sc.risk.max_position}): every entry would be rejected")
    return found


def check_value(value: Any, rule: Rule) -> tuple[Any, str | None]:
    """Validate one value against its rule.

    Returns
    -------
    tuple
        ``(normalised value, None)`` or ``(None, problem)``; the problem text does
        not name the key (the caller prefixes it) and never echoes a secret.
    """
    kind = rule.kind
    if value is None or (rule.optional and value == ""):  # `--set vpin.bucket_volume=` unsets
        if rule.optional:
            return None, None
        return None, "a value is required"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"expected an integer, got {_describe(value)}"
        return _range(value, rule)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"expected a number, got {_describe(value)}"
        if not math.isfinite(value):
            return None, f"expected a finite number, got {value}"
        return _range(float(value), rule)
    if kind == "bool":
        if not isinstance(value, bool):
            return None, f"expected true or false, got {_describe(value)}"
        return value, None
    if kind == "mode":
        return _check_mode(value)
    if kind in ("str_list", "int_list"):
        return _check_list(value, rule)
    if not isinstance(value, str):
        shown = _type_name(value) if kind == "secret" else _describe(value)
        return None, f"expected a string, got {shown}"
    if kind == "secret":
        return (Secret(value), None) if value else (None, "must not be empty")
    return _check_str(value.upper() if rule.upper else value, rule)


def _check_str(value: str, rule: Rule) -> tuple[Any, str | None]:
    if rule.kind == "enum" and value not in rule.choices:
        return None, f"{value!r} is not one of {', '.join(map(repr, rule.choices))}"
    if rule.kind == "url":
        value = value.rstrip("/")
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in rule.schemes or not parts.netloc:
            return None, f"{_short(value)!r} is not a {'/'.join(rule.schemes)} URL"
    if rule.kind == "path" or rule.nonempty:
        if not value.strip():
            return None, "must not be empty"
        if "\0" in value:
            return None, "must not contain NUL"
    if rule.max_bytes is not None and len(os.fsencode(value)) > rule.max_bytes:
        return None, f"longer than {rule.max_bytes} bytes ({len(os.fsencode(value))})"
    if rule.pattern and not re.fullmatch(rule.pattern, value):
        return None, f"{_short(value)!r} does not match {rule.pattern}"
    return value, None


def _check_list(value: Any, rule: Rule) -> tuple[Any, str | None]:
    item_kind = "str" if rule.kind == "str_list" else "int"
    example = '["BTCUSDT", "ETHUSDT"]' if item_kind == "str" else "[2, 3]"
    if not isinstance(value, list):
        return None, f"expected a list, e.g. {example}, got {_describe(value)}"
    items, problems = [], []
    item_rule = dataclasses.replace(rule, kind="enum" if rule.choices else item_kind)
    for i, item in enumerate(value):
        checked, problem = check_value(item, item_rule)
        if problem:
            problems.append(f"item {i}: {problem}")
        else:
            items.append(checked)
    if problems:
        return None, "; ".join(problems)
    if rule.nonempty and not items:
        return None, "must not be empty"
    return tuple(items), None


def _check_mode(value: Any) -> tuple[Any, str | None]:
    # TOML writes octal as 0o660; a string "0660" is what people type after chmod.
    if isinstance(value, str) and re.fullmatch(r"(0o?)?[0-7]{1,4}", value):
        value = int(value.removeprefix("0o"), 8)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        return None, f"expected a file mode such as 0o660 or \"0660\", got {_describe(value)}"
    return value, None


def _range(value, rule: Rule) -> tuple[Any, str | None]:
    if rule.choices and value not in rule.choices:
        return None, f"{value} is not one of {', '.join(map(str, rule.choices))}"
    low_bad = rule.lo is not None and (value <= rule.lo if rule.lo_open else value < rule.lo)
    high_bad = rule.hi is not None and value > rule.hi
    if low_bad or high_bad:
        lo = "" if rule.lo is None else f"{'>' if rule.lo_open else '>='} {_num(rule.lo)}"
        hi = "" if rule.hi is None else f"<= {_num(rule.hi)}"
        return None, f"{value} is out of range (must be {' and '.join(p for p in (lo, hi) if p)})"
    return value, None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _type_name(value)
    shown = json.dumps(value) if isinstance(value, (bool, str)) else repr(value)
    return f"{_type_name(value)} {_short(shown)}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- reload


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload changes: keys applied live and keys that need a restart.

    Keys are dotted (``strategy.entry_low``, ``symbols.BTCUSDT.vpin.bucket_volume``).
    """

    live: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()

    @property
    def changed(self) -> tuple[str, ...]:
        """Every changed key."""
        return tuple(sorted(self.live + self.restart))

    @property
    def needs_restart(self) -> bool:
        """True if some change takes effect only after a restart."""
        return bool(self.restart)


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """Compare two configs and classify every changed key as live or restart-only.

    Live keys (applied on SIGHUP): strategy thresholds, risk limits, log.level, and
    their per-symbol overrides. Everything else needs a restart.
    """
    a, b = _flatten(old.to_dict(redact=False)), _flatten(new.to_dict(redact=False))
    live, restart = [], []
    for dotted in sorted(set(a) | set(b)):
        if a.get(dotted, _MISSING) == b.get(dotted, _MISSING):
            continue
        rule = rule_for(dotted)
        (live if rule is not None and rule.live else restart).append(dotted)
    return ReloadPlan(tuple(live), tuple(restart))


def reload_config(
    old: Config,
    path: str | None = None,
    overrides: Iterable[str] | None = None,
    env: Mapping[str, str] = os.environ,
) -> tuple[Config, ReloadPlan]:
    """Validate a reloaded configuration (SIGHUP) and say what changed.

    Parameters
    ----------
    old : Config
        The running configuration.
    path : str or None
        File to read; default: the file ``old`` was read from.
    overrides : iterable of str or None
        ``--set`` texts; default: those ``old`` was built with.
    env : mapping
        Environment.

    Returns
    -------
    tuple of (Config, ReloadPlan)

    Raises
    ------
    ConfigError
        If the new configuration is invalid (keep running on ``old``).
    """
    new = load_config(
        path if path is not None else old.source,
        old.overrides if overrides is None else overrides,
        env,
    )
    return new, plan_reload(old, new)


_MISSING = object()


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for k, v in tree.items():
        dotted = f"{prefix}{k}"
        if isinstance(v, Mapping):
            flat.update(_flatten(v, dotted + "."))
        else:
            flat[dotted] = v
    return flat


# --------------------------------------------------------------------------- output


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def dump_toml(data: Mapping[str, Any]) -> str:
    """Render ``{section: {key: value}}`` (as from :meth:`Config.to_dict`) as TOML.

    None values (unset optional keys) are written as comments.
    """
    lines: list[str] = []
    _dump_table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _dump_table(table: Mapping, path: list[str], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_toml_key(p) for p in path) + "]")
    for k, v in scalars:
        if v is None:
            lines.append(f"# {_toml_key(k)} =  (unset)")
        else:
            lines.append(f"{_toml_key(k)} = {toml_value(v)}")
    for k, v in tables:
        _dump_table(v, path + [k], lines)


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else json.dumps(k)


def toml_value(v: Any) -> str:
    """Render one scalar or list as a TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        # JSON's escapes are TOML's, but TOML has no surrogate pairs (so no ensure_ascii)
        # and also wants DEL escaped.
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")
