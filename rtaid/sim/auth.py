"""HMAC-SHA256 request signing and timestamp/recvWindow checks, as Binance does them."""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Mapping

from rtaid.sim.errors import BinanceError, api_key_format, api_key_invalid, bad_signature, missing

MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
# Binance tolerates client clocks up to 1 s ahead of its own.
MAX_AHEAD_MS = 1_000


def sign(secret: str, payload: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``payload`` (what clients put in ``signature``)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> str:
    """A raw query string or form body without its ``signature=`` parameter."""
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


def ws_api_payload(params: Mapping[str, object]) -> str:
    """The string a WebSocket API request signs: its params sorted by name, minus signature."""
    parts = []
    for key in sorted(params):
        if key == "signature":
            continue
        value = params[key]
        if isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{key}={value}")
    return "&".join(parts)


class Authenticator:
    """Checks API key, signature and timestamp of signed requests for the one sim account.

    Parameters
    ----------
    api_key, api_secret : str
        The account's credentials.
    """

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret

    def check_api_key(self, key: str | None) -> None:
        if not key:
            raise api_key_format()
        if not hmac.compare_digest(key, self.api_key):
            raise api_key_invalid()

    def check_signed(self, params: Mapping[str, str], payload: str, now_ms: int | None = None) -> None:
        """Verify ``signature`` over ``payload`` and the timestamp window; raises `BinanceError`."""
        signature = params.get("signature")
        if not signature:
            raise missing("signature")
        timestamp = params.get("timestamp")
        if timestamp in (None, ""):
            raise missing("timestamp")
        expected = sign(self.api_secret, payload)
        if not hmac.compare_digest(expected, str(signature).lower()):
            raise bad_signature()
        try:
            ts = int(timestamp)
            recv_window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
        except (TypeError, ValueError):
            raise BinanceError(-1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.")
        if recv_window <= 0 or recv_window > MAX_RECV_WINDOW_MS:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now = int(time.time() * 1000) if now_ms is None else now_ms
        if ts > now + MAX_AHEAD_MS:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - ts > recv_window:
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
