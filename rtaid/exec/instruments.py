"""A symbol's grids for orders: the engine's integer units, the exchange's tick, step
and limits, and exact conversions to and from the decimal strings venues speak.

Prices are integers in units of 10**-price_decimals (the engine's ``px`` ticks),
quantities in units of 10**-quantity_decimals (lots); the exchange's tick and step
are whole multiples of those units (exchangeInfo's precisions express its grids).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from rtaid.infra.exchange_info import TradingFilters


@dataclass(frozen=True)
class Instrument:
    """One symbol's order grid.

    Parameters
    ----------
    symbol : str
    sym : int
        The engine's symbol index.
    px_dec, qty_dec : int
        Price and quantity decimals (the engine's scales).
    tick, step : int
        Tick and step in units (1 when exchangeInfo is not known).
    min_qty, max_qty, market_max_qty : int
        Lot bounds (0: no bound).
    min_notional : float
        Smallest price times quantity of an order that does not only reduce (0: none).
    """

    symbol: str
    sym: int
    px_dec: int
    qty_dec: int
    tick: int = 1
    step: int = 1
    min_qty: int = 0
    max_qty: int = 0
    market_max_qty: int = 0
    min_notional: float = 0.0

    @classmethod
    def from_filters(cls, symbol: str, sym: int, px_dec: int, qty_dec: int,
                     filters: TradingFilters | None) -> "Instrument":
        """The grid of ``filters`` (exchangeInfo) at the engine's decimals."""
        f = filters or TradingFilters()

        def units(value, dec):
            if value is None:
                return 0
            scaled = value.scaleb(dec)
            return int(scaled) if scaled == scaled.to_integral_value() and scaled >= 1 else 0

        return cls(symbol, sym, px_dec, qty_dec, tick=units(f.tick, px_dec) or 1,
                   step=units(f.step, qty_dec) or 1, min_qty=units(f.min_qty, qty_dec),
                   max_qty=units(f.max_qty, qty_dec),
                   market_max_qty=units(f.market_max_qty, qty_dec),
                   min_notional=float(f.min_notional) if f.min_notional else 0.0)

    # ------------------------------------------------------------------ numbers
    def price(self, px: int) -> float:
        return px / 10 ** self.px_dec

    def qty(self, lots: int) -> float:
        return lots / 10 ** self.qty_dec

    def notional(self, px: int, lots: int) -> float:
        return self.price(px) * self.qty(lots)

    def price_text(self, px: int) -> str:
        """Exact decimal string of a price (``"61800.30"``)."""
        return _text(px, self.px_dec)

    def qty_text(self, lots: int) -> str:
        """Exact decimal string of a quantity (``"0.003"``)."""
        return _text(lots, self.qty_dec)

    def lots(self, value) -> int:
        """Lots of a quantity given as a venue string, Decimal or float (nearest unit)."""
        return _units(value, self.qty_dec)

    def units(self, value) -> int:
        """Price units of a price given as a venue string, Decimal or float."""
        return _units(value, self.px_dec)

    # ------------------------------------------------------------------ grids
    def floor_qty(self, lots: int) -> int:
        """Lots rounded down to the step."""
        return lots - lots % self.step

    def tick_floor(self, px: int) -> int:
        return px - px % self.tick

    def tick_ceil(self, px: int) -> int:
        return -((-px) // self.tick) * self.tick

    def max_lots(self, market: bool) -> int:
        """The largest quantity one order may have (0: no bound)."""
        return (self.market_max_qty or self.max_qty) if market else self.max_qty


def _text(n: int, dec: int) -> str:
    if dec <= 0:
        return str(n * 10 ** -dec)
    sign = "-" if n < 0 else ""
    whole, frac = divmod(abs(n), 10 ** dec)
    return f"{sign}{whole}.{frac:0{dec}d}"


def _units(value, dec: int) -> int:
    if value.__class__ is float and abs(value) < 1e9:
        # exact for every float that is a decimal of <= 15 significant digits
        return round(value * 10 ** dec)
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return int(d.scaleb(dec).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
