"""How big the record rings are: sized from the rates they must absorb.

Each table has one ring shared by all symbols. The writer thread drains every ring each
``storage.flush_interval_ms`` and between its own writes, so a ring only has to hold
what arrives while the writer is busy elsewhere. A ring holds :data:`RING_SECONDS` of
every symbol at a busy symbol's peak rate (:data:`PEAK_ROWS_PER_S`: per table, the
1-second peak of the BTCUSDT recording or of rtaid-sim at 2000 events/s, whichever is
higher), at least :data:`MIN_RECORDS`, rounded up to a power of two.

Drop policy: the engine never waits for the writer. When a ring is full the newest
record is dropped and counted per table (``stats()["rows_dropped_ring"]``), and the
writer logs ``store_ring_full`` (rate-limited). A ring only fills when the writer
cannot keep up (a disk stalled for longer than the ring's seconds); the records it
already holds are then written first. ``storage.ring_records`` set to a power of two
gives every ring that many records instead.
"""
from __future__ import annotations

from typing import Iterable, Mapping

# Records per second of one busy symbol at its peak (see module docstring).
PEAK_ROWS_PER_S: Mapping[str, float] = {
    "depth": 9000.0,        # BTCUSDT: bursts of ~450-level diffs, 20 per second
    "indicators": 3200.0,   # rtaid-sim 2000 ev/s: one row per applied message
    "book_top": 2100.0,     # rtaid-sim: one row per depth event
    "trades": 1700.0,       # BTCUSDT: 1,649 in the busiest second
    "bbo": 1000.0,          # BTCUSDT: 807 in the busiest second
    "book_events": 16.0,    # a resync or reconnect: a few rows per symbol at once
    "signals": 16.0,
    "mark_price": 2.0,
    "bars_1m": 1.0,
}
DEFAULT_PEAK_ROWS_PER_S = 1000.0   # a table added later without a rate of its own
RING_SECONDS = 0.5
MIN_RECORDS = 1024
MAX_RECORDS = 1 << 24
# Raw journal: one ring per symbol; frames of a busy symbol peak near 1 MB/s (a burst
# of 450-level depth diffs and 1,600 trades in a second), a REST snapshot line is
# ~50 kB. Two seconds of that.
JOURNAL_RING_BYTES = 1 << 21


def pow2_at_least(n: float) -> int:
    p = 1
    while p < n:
        p <<= 1
    return p


def ring_records(table: str, n_symbols: int, drain_s: float = 0.1) -> int:
    """Capacity of a table's ring for ``n_symbols`` symbols drained every ``drain_s``:
    :data:`RING_SECONDS` or two drain intervals at the peak rate, whichever is longer."""
    seconds = max(RING_SECONDS, 2 * drain_s)
    want = n_symbols * PEAK_ROWS_PER_S.get(table, DEFAULT_PEAK_ROWS_PER_S) * seconds
    return min(MAX_RECORDS, pow2_at_least(max(MIN_RECORDS, want)))


def ring_sizes(tables: Iterable[str], n_symbols: int, fixed: int = 0,
               drain_s: float = 0.1) -> dict[str, int]:
    """Records per ring of each table: ``fixed`` if given (> 0), else from the rates."""
    return {name: fixed if fixed > 0 else ring_records(name, n_symbols, drain_s)
            for name in tables}
