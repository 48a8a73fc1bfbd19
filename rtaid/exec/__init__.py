"""Execution: the strategy's target positions turned into orders, safely.

The engine queues execution events (target changes, paper fills) in a ring; the
daemon hands every drained event to :class:`rtaid.exec.service.ExecutionService`, which
reconciles each symbol's target with the venue's position and working orders
(:mod:`rtaid.exec.orders`, a synchronous core), checks every order before it leaves
(:mod:`rtaid.exec.risk`), keeps the trading state (:mod:`rtaid.exec.state`) and the
PnL (:mod:`rtaid.exec.pnl`), records the ``orders`` and ``fills`` tables
(:mod:`rtaid.exec.records`) and talks to one venue: ``paper`` (the engine's fill model,
:mod:`rtaid.exec.venues.paper`) or ``ccxt`` (Binance USD-M or rtaid-sim through
ccxt, :mod:`rtaid.exec.venues.ccxt`, with the user data stream of
:mod:`rtaid.exec.user_stream`).

Units inside: prices in the engine's integer price units (10**-price_decimals, the
``px_ticks`` of the tables), quantities in lots (10**-quantity_decimals);
:mod:`rtaid.exec.instruments` converts.
"""
