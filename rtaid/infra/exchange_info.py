"""Read a Binance ``GET /fapi/v1/exchangeInfo`` answer: price/quantity scales, tick sizes.

The decoder turns "61800.30" into integer ticks at the symbol's price precision; with
exchangeInfo known those precisions are the exchange's own (``pricePrecision``,
``quantityPrecision``) instead of being inferred from the first message, and the tick
(``PRICE_FILTER.tickSize``) is the one the indicators use (mpd_ticks, wall distances).
"""
from __future__ import annotations

import json
from decimal import Decimal


def load(path) -> dict:
    """Parse an exchangeInfo file; ValueError with the file's name when it is not one."""
    with open(path, "rb") as fh:
        try:
            info = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from None
    if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
        raise ValueError(f"{path}: not an exchangeInfo answer (no 'symbols' list)")
    return info


def _entries(info: dict, symbols) -> dict:
    wanted = {s.upper() for s in symbols} if symbols is not None else None
    return {e["symbol"]: e for e in info["symbols"]
            if isinstance(e, dict) and "symbol" in e and (wanted is None or e["symbol"] in wanted)}


def scales(info: dict, symbols=None) -> dict[str, tuple[int, int]]:
    """``{SYMBOL: (price decimals, quantity decimals)}`` for the symbols it lists."""
    return {sym: (int(e["pricePrecision"]), int(e["quantityPrecision"]))
            for sym, e in _entries(info, symbols).items()
            if "pricePrecision" in e and "quantityPrecision" in e}


def tick_sizes(info: dict, symbols=None) -> dict[str, Decimal]:
    """``{SYMBOL: tickSize}`` from each symbol's PRICE_FILTER, exact."""
    out = {}
    for sym, e in _entries(info, symbols).items():
        for f in e.get("filters", ()):
            if f.get("filterType") == "PRICE_FILTER" and "tickSize" in f:
                out[sym] = Decimal(f["tickSize"])
    return out


def tick_units(tick, px_dec: int) -> float:
    """The tick in units of the last price decimal (``tickSize * 10**px_dec``), exactly:
    an integer when the tick is a whole number of units (0.10 at 2 decimals: 10.0),
    the nearest double otherwise; None (no exchangeInfo) is one unit."""
    if tick is None:
        return 1.0
    units = Decimal(str(tick)).scaleb(px_dec)
    if units <= 0:
        raise ValueError(f"tick size {tick} is not positive")
    return float(units)


def fetch(rest_url: str, timeout_s: float = 10.0) -> dict:
    """GET /fapi/v1/exchangeInfo (start-up only, before the event loop runs)."""
    import urllib.request

    url = rest_url.rstrip("/") + "/fapi/v1/exchangeInfo"
    with urllib.request.urlopen(url, timeout=timeout_s) as resp:
        info = json.loads(resp.read())
    if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
        raise ValueError(f"{url}: not an exchangeInfo answer")
    return info
