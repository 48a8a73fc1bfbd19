"""The venues orders go to: ``paper`` (the engine's fill model) and ``ccxt`` (Binance
USD-M, its testnet or rtaid-sim through ccxt).

A venue executes the order manager's intents and reports back to the service through
these calls (the service forwards them to the manager and decides again):

- ``sent(order, ts_ms, recv_ns)``: handed to the transport;
- ``rejected(order, reason, ts_ms, recv_ns, venue=True)``: refused, never worked;
- ``update(order, status, filled, ts_ms, recv_ns, venue_id=0)``: its state at the venue;
- ``fill(order, ...)``: one execution (see ``OrderManager.fill``).
"""
