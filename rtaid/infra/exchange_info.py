"""Read a Binance ``GET /fapi/v1/exchangeInfo`` answer: price/quantity scales, tick sizes,
the order filters (step size, quantity bounds, min notional).

The decoder turns "61800.30" into integer ticks at the symbol's price precision; with
exchangeInfo known those precisions are the exchange's own (``pricePrecision``,
``quantityPrecision``) instead of being inferred from the first message, and the tick
(``PRICE_FILTER.tickSize``) is the one the indicators use (mpd_ticks, wall distances).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TradingFilters:
    """What an order of a symbol must satisfy (exchangeInfo ``filters``), exact.

    ``tick``: PRICE_FILTER tickSize; ``step``/``min_qty``/``max_qty``: LOT_SIZE (limit
    orders); ``market_max_qty``: MARKET_LOT_SIZE maxQty; ``min_notional``:
    MIN_NOTIONAL notional (price times quantity). None where the answer has no value.
    """

    tick: Decimal | None = None
    step: Decimal | None = None
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    min_notional: Decimal | None = None


def trading_filters(info: dict, symbols=None) -> dict[str, TradingFilters]:
    """``{SYMBOL: TradingFilters}`` from each listed symbol's filters."""
    out = {}
    for sym, e in _entries(info, symbols).items():
        found = {}
        for f in e.get("filters", ()):
            kind = f.get("filterType")
            if kind == "PRICE_FILTER":
                found["tick"] = _dec(f.get("tickSize"))
            elif kind == "LOT_SIZE":
                found.update(step=_dec(f.get("stepSize")), min_qty=_dec(f.get("minQty")),
                             max_qty=_dec(f.get("maxQty")))
            elif kind == "MARKET_LOT_SIZE":
                found["market_max_qty"] = _dec(f.get("maxQty"))
            elif kind == "MIN_NOTIONAL":
                found["min_notional"] = _dec(f.get("notional", f.get("minNotional")))
        out[sym] = TradingFilters(**found)
    return out


def _dec(text) -> Decimal | None:
    """A positive exchangeInfo number, exact; None when absent or zero (no limit)."""
    if text is None:
        return None
    value = Decimal(str(text))
    return value if value > 0 else None


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
