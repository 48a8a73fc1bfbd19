"""Request signatures and timestamp/recvWindow checks, as Binance does them.

Two kinds of API key: HMAC-SHA256 (``api_key``/``api_secret``: a hex signature) and
Ed25519 (``ed25519_api_key`` with the public key the account registered: a base64
signature of the same payload). Only an Ed25519 key can ``session.logon`` a WebSocket
API connection (Binance's rule); after that the connection's requests carry no
``apiKey``/``signature``, but still a ``timestamp``.
"""
from __future__ import annotations

import base64
import binascii
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


def load_ed25519_public_key(pem: bytes):
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo), as Binance takes them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


class Authenticator:
    """Checks API key, signature and timestamp of signed requests for the one sim account.

    Parameters
    ----------
    api_key, api_secret : str
        The account's HMAC credentials.
    ed25519_api_key : str, optional
        The API key of the account's Ed25519 key (with ``ed25519_public_key``).
    ed25519_public_key : bytes, optional
        Its public key (PEM); None: the account has no Ed25519 key.
    """

    def __init__(self, api_key: str, api_secret: str, ed25519_api_key: str = "",
                 ed25519_public_key: bytes | None = None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.ed25519_api_key = ed25519_api_key if ed25519_public_key else ""
        self.ed25519_key = load_ed25519_public_key(ed25519_public_key) if ed25519_public_key else None

    def check_api_key(self, key: str | None) -> str:
        """The kind of ``key`` (``hmac`` or ``ed25519``); raises -2014 / -2015."""
        if not key:
            raise api_key_format()
        if hmac.compare_digest(key, self.api_key):
            return "hmac"
        if self.ed25519_api_key and hmac.compare_digest(key, self.ed25519_api_key):
            return "ed25519"
        raise api_key_invalid()

    def verify_ed25519(self, payload: str, signature: str) -> None:
        from cryptography.exceptions import InvalidSignature

        try:
            self.ed25519_key.verify(base64.b64decode(signature, validate=True), payload.encode())
        except (InvalidSignature, binascii.Error, ValueError):
            raise bad_signature() from None

    def check_signed(self, params: Mapping[str, str], payload: str, now_ms: int | None = None,
                     key: str | None = None) -> None:
        """Verify ``signature`` over ``payload`` (with the kind of API key ``key``: HMAC
        when None) and the timestamp window; raises `BinanceError`."""
        signature = params.get("signature")
        if not signature:
            raise missing("signature")
        timestamp = params.get("timestamp")
        if timestamp in (None, ""):
            raise missing("timestamp")
        if key is not None and self.check_api_key(key) == "ed25519":
            self.verify_ed25519(payload, str(signature))
        else:
            expected = sign(self.api_secret, payload)
            if not hmac.compare_digest(expected, str(signature).lower()):
                raise bad_signature()
        self.check_timestamp(params, now_ms)

    def check_timestamp(self, params: Mapping[str, str], now_ms: int | None = None) -> None:
        """The ``timestamp`` within ``recvWindow`` (and at most 1 s ahead); raises."""
        timestamp = params.get("timestamp")
        if timestamp in (None, ""):
            raise missing("timestamp")
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
