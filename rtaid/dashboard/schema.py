"""The dataset columns the dashboard reads, declared once.

The engine's tables (``bars_1m``, ``indicators``, ``signals``, ``book_events``) are
defined by the kernels (indicators.md sections 10 and 12, rtaid/store/tables.py); the
execution issue's ``orders`` and ``fills`` tables do not exist yet, so the names the
dashboard expects of them are here, in :data:`ORDERS` and :data:`FILLS`: align these
two mappings with the table registry when those tables land, nothing else changes.
"""
from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- engine tables

BARS = "bars_1m"
INDICATORS = "indicators"
SIGNALS = "signals"
BOOK_EVENTS = "book_events"

BAR_TIME = "minute_ms"
BAR_COLUMNS = ("minute_ms", "open", "high", "low", "close", "volume", "trade_count")
BAR_LAST_SUFFIX = "_last"  # bars_1m holds the last value in the minute of every indicator
INDICATOR_TIME = "ts_ms"
SIGNAL_TIME = "ts_ms"
SIGNAL_COLUMNS = ("ts_ms", "seq", "prev_target", "target", "target_qty", "reason", "mid",
                  "dev_osc", "ofi_osc", "vpin_osc")
ENTRY_REASONS = ("entry_long", "entry_short")
BOOK_EVENT_COLUMNS = ("E", "T", "recv_ns", "u", "event", "reason")


@dataclass(frozen=True)
class Oscillator:
    """One selectable row of the Market figure: an ``indicators`` column in [0, 100]."""

    label: str
    column: str


# indicators.md section 8: every normalised indicator has an ``<x>_osc`` column.
OSCILLATORS = (
    Oscillator("TOBI (top-of-book imbalance)", "obi_osc"),
    Oscillator("Depth imbalance", "di_osc"),
    Oscillator("OFI", "ofi_norm_osc"),
    Oscillator("Multi-level OFI", "mlofi_sum_osc"),
    Oscillator("MPD (micro-price divergence)", "mpd_bps_osc"),
    Oscillator("VPIN", "vpin_osc"),
    Oscillator("Kyle's lambda", "kyle_lambda_osc"),
    Oscillator("LPI (liquidity provider incentive)", "lpi_osc"),
    Oscillator("Wall ratio", "wall_net_osc"),
    Oscillator("Price deviation (strategy)", "dev_bps_osc"),
)
OSCILLATOR_BY_LABEL = {o.label: o for o in OSCILLATORS}
# The three the default strategy decides on (indicators.md section 9) and TOBI.
DEFAULT_OSCILLATORS = ("Price deviation (strategy)", "OFI", "VPIN", "TOBI (top-of-book imbalance)")

# indicators.md section 9: the strategy compares ofi_osc with a fixed 50 (no config key).
OFI_NEUTRAL = 50.0


def strategy_thresholds(strategy) -> dict[str, list[tuple[str, float]]]:
    """The strategy's thresholds per oscillator column, as ``(label, value)`` lines.

    Parameters
    ----------
    strategy : rtaid.infra.config.StrategyConfig
        The effective ``[strategy]`` section of the symbol.
    """
    if strategy.name == "none":
        return {}
    return {
        "dev_bps_osc": [("entry_low", strategy.entry_low), ("exit_mid", strategy.exit_mid),
                        ("entry_high", strategy.entry_high)],
        "ofi_norm_osc": [("ofi 50", OFI_NEUTRAL)],
        "vpin_osc": [("toxic_max", strategy.toxic_max)],
    }


# --------------------------------------------------------------------------- execution tables
# Logical name -> column of the (future) ``orders`` / ``fills`` tables of the execution
# issue. Only ``time`` is required; any other column missing is shown as absent.

ORDERS_TABLE = "orders"
FILLS_TABLE = "fills"

ORDERS = {
    "time": "ts_ms",            # exchange time of the state change, ms
    "client_id": "client_id",
    "side": "side",             # buy | sell
    "type": "type",             # limit | market
    "px": "px",
    "qty": "qty",
    "status": "status",         # new | partially_filled | filled | canceled | rejected | expired
    "reason": "reason",         # risk rejection reason (status rejected)
}
FILLS = {
    "time": "ts_ms",
    "client_id": "client_id",
    "side": "side",             # buy | sell (qty is positive); without it, qty is signed
    "px": "px",
    "qty": "qty",
    "fee": "fee",               # quote currency, positive = paid
    "liquidity": "liquidity",   # maker | taker
    "realised_pnl": "realized_pnl",  # the registry's column (rtaid/_kernels/records.pyx)
}
REJECTED_STATUS = "rejected"
BUY_SIDES = ("buy", "BUY", "long", "bid")
