"""Integer-grid instruments: parse and format wire prices/quantities without float drift."""
from __future__ import annotations

from decimal import Decimal

from rtaid.sim.config import SymbolSpec


class Instrument:
    """A symbol's grid: prices are integer ticks, quantities integer lots.

    Parameters
    ----------
    spec : SymbolSpec
        Grid and wire precision of the symbol.
    """

    __slots__ = (
        "spec", "symbol", "lower", "tick_units", "step_units", "price_scale", "qty_scale",
        "pp", "qp", "tick", "step", "zero_qty",
    )

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.symbol = spec.symbol
        self.lower = spec.symbol.lower()
        self.pp = spec.price_precision
        self.qp = spec.quantity_precision
        self.price_scale = 10**self.pp
        self.qty_scale = 10**self.qp
        # How many wire units (10**-precision) one tick / one lot spans.
        self.tick_units = int(Decimal(spec.tick_size) * self.price_scale)
        self.step_units = int(Decimal(spec.step_size) * self.qty_scale)
        self.tick = float(Decimal(spec.tick_size))
        self.step = float(Decimal(spec.step_size))
        self.zero_qty = self.fmt_qty(0)

    # -- formatting (hot path: called for every level of every event) --
    def fmt_price(self, ticks: int) -> str:
        units = ticks * self.tick_units
        if self.pp == 0:
            return str(units)
        whole, frac = divmod(units, self.price_scale)
        return f"{whole}.{frac:0{self.pp}d}"

    def fmt_qty(self, lots: int) -> str:
        units = lots * self.step_units
        if self.qp == 0:
            return str(units)
        whole, frac = divmod(units, self.qty_scale)
        return f"{whole}.{frac:0{self.qp}d}"

    # -- parsing (exact; raises ValueError when off-grid) --
    @staticmethod
    def _units(text: str, decimals: int) -> int:
        text = text.strip()
        if not text or text[0] == "-":
            raise ValueError(text)
        whole, _, frac = text.partition(".")
        frac = frac.rstrip("0")
        if len(frac) > decimals:
            raise ValueError(f"{text} has more than {decimals} decimals")
        return int(whole or "0") * 10**decimals + int((frac or "0").ljust(decimals, "0"))

    def parse_price(self, text: str) -> int:
        """Price string to ticks; ValueError if not on the tick grid."""
        ticks, rem = divmod(self._units(text, self.pp), self.tick_units)
        if rem:
            raise ValueError(f"{text} not on tick grid {self.spec.tick_size}")
        return ticks

    def parse_qty(self, text: str) -> int:
        """Quantity string to lots; ValueError if not on the step grid."""
        lots, rem = divmod(self._units(text, self.qp), self.step_units)
        if rem:
            raise ValueError(f"{text} not on step grid {self.spec.step_size}")
        return lots

    def price_float(self, ticks: int) -> float:
        return ticks * self.tick_units / self.price_scale

    def qty_float(self, lots: int) -> float:
        return lots * self.step_units / self.qty_scale


def exchange_symbol_entry(spec: SymbolSpec) -> dict:
    """An exchangeInfo ``symbols[]`` entry whose filters match ``spec``'s grid."""
    entry = {
        "symbol": spec.symbol,
        "pair": spec.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base_asset,
        "quoteAsset": spec.quote_asset,
        "marginAsset": spec.quote_asset,
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }
    min_price = Decimal(spec.tick_size)
    entry["filters"] = [
        {"filterType": "PRICE_FILTER", "minPrice": str(min_price), "maxPrice": "4529764", "tickSize": spec.tick_size},
        {"filterType": "LOT_SIZE", "stepSize": spec.step_size, "maxQty": "1000", "minQty": spec.step_size},
        {"filterType": "MARKET_LOT_SIZE", "stepSize": spec.step_size, "maxQty": "120", "minQty": spec.step_size},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "MIN_NOTIONAL", "notional": "5"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
    ]
    return entry
