"""Preflight: what ``rtaid run`` checks before it starts: a problem found here is a clear message and
a non-zero exit (systemd shows the reason), never a daemon that runs blind.

- the exchange's instruments: every configured symbol must be listed and trading
  (exchangeInfo from ``exchange.exchange_info_file`` or the exchange's REST answer);
- the data directory: created if needed, a file written, fsynced and removed;
- execution (``execution.venue`` not ``off``): a live venue's API keys and URLs, the
  trading state file.
"""
from __future__ import annotations

import os
import tempfile

from rtaid.infra import exchange_info as xinfo
from rtaid.infra.log import get_logger

log = get_logger("rtaid.preflight")


class StartupError(Exception):
    """A problem that keeps the daemon from starting; ``str()`` names the thing."""


def load_exchange_info(config) -> dict | None:
    """The exchangeInfo the daemon runs with: the configured file, else the exchange's
    answer; None (with a warning) when the exchange cannot be reached, so decimals come
    from the first messages. A configured file that cannot be read is an error."""
    if config.exchange.exchange_info_file:
        try:
            return xinfo.load(config.exchange.exchange_info_file)
        except (OSError, ValueError) as exc:
            raise StartupError(f"exchange.exchange_info_file: {exc}") from None
    try:
        return xinfo.fetch(config.exchange.rest_url, config.exchange.request_timeout_s)
    except (OSError, ValueError) as exc:
        log.warning("exchange_info_unavailable", error=str(exc),
                    consequence="symbols not checked; decimals inferred from the first messages")
        return None


def check_symbols(info: dict | None, symbols) -> None:
    """Every symbol must be listed by the exchange and trading."""
    if info is None:
        return
    listed = {e.get("symbol"): e for e in info.get("symbols", []) if isinstance(e, dict)}
    unknown = [s for s in symbols if s not in listed]
    halted = [f"{s} ({listed[s].get('status')})" for s in symbols
              if s in listed and listed[s].get("status", "TRADING") != "TRADING"]
    problems = []
    if unknown:
        problems.append(f"not listed by the exchange: {', '.join(unknown)}")
    if halted:
        problems.append(f"listed but not trading: {', '.join(halted)}")
    if problems:
        raise StartupError("feed.symbols: " + "; ".join(problems))


def probe_data_dir(path: str) -> None:
    """Create ``path`` if needed and prove it takes a file: write, fsync, remove."""
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".rtaid-probe-", dir=path)
        try:
            os.write(fd, b"rtaid can write here\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise StartupError(f"storage.data_dir {path}: cannot write there "
                           f"({exc.strerror or exc})") from None


BINANCE_REST = "https://fapi.binance.com"
BINANCE_USER_WS = "wss://fstream.binance.com/private/ws"
BINANCE_WS_API = "wss://ws-fapi.binance.com/ws-fapi/v1"


def check_execution(config, info: dict | None) -> None:
    """What execution needs before it starts: keys (from the environment or a 0600 file,
    see rtaid/infra/secrets.py), exchangeInfo and URLs for a live venue, a readable
    trading state file."""
    ex = config.execution
    if ex.venue == "off":
        return
    if ex.venue in ("ccxt", "binance"):
        exchange = config.exchange
        venue = ex.venue
        ed25519 = venue == "binance" and exchange.ed25519_key is not None
        if not exchange.api_key or not (exchange.api_secret or ed25519):
            raise StartupError(f"execution.venue = '{venue}' needs API keys: set RTAID_API_KEY and "
                               "RTAID_API_SECRET, or exchange.credentials_file (a file of mode "
                               "0600 with api_key=... and api_secret=... lines)"
                               + (", or RTAID_API_KEY with an Ed25519 key (RTAID_ED25519_KEY or "
                                  "exchange.ed25519_key_file)" if venue == "binance" else ""))
        if info is None:
            raise StartupError(f"execution.venue = '{venue}' needs the exchange's exchangeInfo at "
                               f"start (decimals, filters): {exchange.rest_url} did not answer")
        if exchange.rest_url != BINANCE_REST and exchange.user_ws_url == BINANCE_USER_WS:
            raise StartupError(f"exchange.user_ws_url is Binance's ({BINANCE_USER_WS}) while "
                               f"exchange.rest_url is {exchange.rest_url}: set "
                               "exchange.user_ws_url to that exchange's user data stream")
        if (venue == "binance" and exchange.rest_url != BINANCE_REST
                and exchange.ws_api_url == BINANCE_WS_API):
            raise StartupError(f"exchange.ws_api_url is Binance's ({BINANCE_WS_API}) while "
                               f"exchange.rest_url is {exchange.rest_url}: set "
                               "exchange.ws_api_url to that exchange's WebSocket API")
    from rtaid.exec.service import default_state_file
    from rtaid.exec.state import StateFileError, TradingState

    try:
        TradingState.load(default_state_file(config))
    except StateFileError as exc:
        raise StartupError(str(exc)) from None


def resolve(config) -> tuple[dict | None, dict, dict]:
    """Run the start-up checks; returns ``(exchangeInfo or None, scales, ticks)``."""
    symbols = list(config.feed.symbols)
    probe_data_dir(config.storage.data_dir)
    info = load_exchange_info(config)
    check_symbols(info, symbols)
    check_execution(config, info)
    if info is None:
        return None, {}, {}
    scales = xinfo.scales(info, symbols)
    ticks = xinfo.tick_sizes(info, symbols)
    log.info("exchange_info", scales=scales, ticks={s: str(t) for s, t in ticks.items()})
    return info, scales, ticks
