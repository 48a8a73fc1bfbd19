"""Binance USD-M error answers mapped to what the order manager does about them.

ccxt maps Binance's error codes to exception classes only for URLs that start with
``https://fapi.binance.com/``; against its testnet under another host, or rtaid-sim,
every error would be a bare ``ExchangeError``. :func:`venue_error` reads the answer
itself (HTTP status, ``{"code", "msg"}``, ``Retry-After``) for every URL, and
:func:`classify` gives one outcome per error:

===========  =========================================================================
outcome      meaning, what follows
===========  =========================================================================
REJECT       the order was refused and never worked: recorded ``rejected``
BACKOFF      HTTP 429 (-1003, -1015): not processed; the venue is left alone for its
             ``Retry-After`` (at most ``execution.max_backoff_s``), the order rejected
HALT         the exchange will not take orders from us (418 ban, bad key or
             signature, hedge mode): trading halts, the operator must act
RETRY        refused before it was processed (-1021 timestamp): sent again, same id
UNKNOWN      5xx, -1000/-1001/-1006/-1007/-1008, a timeout, a broken connection: the
             order may or may not exist: once its recvWindow has passed (the
             exchange can no longer accept it) it is looked up by client id, and sent
             again with the same id only if the exchange does not have it
DUPLICATE    -4116: an open order has this client id (an earlier send got through):
             looked up and adopted
NOT_FOUND    -2011 / -2013: no such (open) order
===========  =========================================================================
"""
from __future__ import annotations

import asyncio

import ccxt.async_support as ccxt_async

REJECT, BACKOFF, HALT, RETRY, UNKNOWN, DUPLICATE, NOT_FOUND = (
    "reject", "backoff", "halt", "retry", "unknown", "duplicate", "not_found")

HALT_CODES = {-2014: "api key format invalid", -2015: "api key rejected (key, IP or permissions)",
              -1022: "signature rejected (wrong api secret)", -1002: "unauthorized",
              -4061: "position side mismatch (the account is in hedge mode)"}
UNKNOWN_CODES = {-1000, -1001, -1006, -1007, -1008}
BACKOFF_CODES = {-1003, -1015}
NOT_FOUND_CODES = {-2011, -2013}


class VenueError(ccxt_async.ExchangeError):
    """An error answer of the exchange, with what is needed to act on it."""

    def __init__(self, status: int, code: int | None, msg: str, retry_after_s: float | None):
        super().__init__(f"HTTP {status}" + (f" {code}" if code is not None else "") + f": {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.retry_after_s = retry_after_s


def venue_error(http_status: int, headers, response) -> VenueError | None:
    """The :class:`VenueError` of an answer, or None when it is not an error."""
    code = msg = None
    if isinstance(response, dict):
        raw = response.get("code")
        try:
            code = int(raw) if raw is not None else None
        except (TypeError, ValueError):
            code = None
        msg = response.get("msg")
    if http_status < 400 and (code is None or code >= 0):
        return None
    retry_after = None
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                retry_after = float(value)
            except ValueError:
                pass
    return VenueError(http_status, code, str(msg or ""), retry_after)


def classify(exc: BaseException) -> tuple[str, str]:
    """``(outcome, reason)`` of an exception raised by a ccxt call; the reason is the
    ``orders.reason`` text (``venue:<code>``, ``venue_http_<status>``, ``timeout``...)."""
    if isinstance(exc, VenueError):
        code, status = exc.code, exc.status
        reason = f"venue:{code}" if code is not None else f"venue_http_{status}"
        if status == 418:
            return HALT, "venue_banned"
        if code in HALT_CODES:
            return HALT, reason
        if status == 429 or code in BACKOFF_CODES:
            return BACKOFF, "venue_rate_limited"
        if code == -4116:
            return DUPLICATE, reason
        if code == -1021:
            return RETRY, reason
        if code in NOT_FOUND_CODES:
            return NOT_FOUND, reason
        if status >= 500 or code in UNKNOWN_CODES:
            return UNKNOWN, reason
        return REJECT, reason
    if isinstance(exc, (ccxt_async.RequestTimeout, asyncio.TimeoutError)):
        return UNKNOWN, "timeout"
    if isinstance(exc, ccxt_async.NetworkError):
        return UNKNOWN, "network"
    # ccxt refused before sending (bad arguments): nothing reached the exchange
    return REJECT, "venue_client_error"
