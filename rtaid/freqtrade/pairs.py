"""Binance USD-M symbols and freqtrade's (ccxt's) futures pair names.

``BTCUSDT`` <-> ``BTC/USDT:USDT``: base, quote, and the settlement currency after the
colon, which for USD-M linear perpetuals is the quote.
"""
from __future__ import annotations

# USD-M margin assets, longest first so that e.g. FDUSD is not read as ...USD.
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD")


def symbol_to_pair(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT:USDT``.

    Raises
    ------
    ValueError
        If the symbol does not end in a USD-M quote asset.
    """
    sym = symbol.upper()
    for quote in QUOTE_ASSETS:
        if sym.endswith(quote) and len(sym) > len(quote):
            return f"{sym[:-len(quote)]}/{quote}:{quote}"
    raise ValueError(f"{symbol!r} is not a USD-M perpetual symbol (it must end in one of "
                     f"{', '.join(QUOTE_ASSETS)})")


def pair_to_symbol(pair: str) -> str:
    """``BTC/USDT:USDT`` -> ``BTCUSDT``.

    Raises
    ------
    ValueError
        If ``pair`` is not a linear futures pair of a USD-M quote asset.
    """
    base, slash, rest = pair.partition("/")
    quote, colon, settle = rest.partition(":")
    if not (base and slash and colon) or quote != settle or quote.upper() not in QUOTE_ASSETS:
        raise ValueError(f"{pair!r} is not a USD-M futures pair such as 'BTC/USDT:USDT'")
    return (base + quote).upper()
