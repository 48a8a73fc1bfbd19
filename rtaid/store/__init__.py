"""Storage: record rings drained by a writer thread into a Hive-partitioned Parquet
dataset, the raw frame journal, and retention.

Layout (``date`` is the exchange-time day of each row)::

    <data_dir>/<table>/symbol=<SYMBOL>/date=<YYYY-MM-DD>/part-<first E ms>-<seq>.parquet
    <data_dir>/raw/symbol=<SYMBOL>/date=<YYYY-MM-DD>/<symbol>_<YYYYMMDDTHH>-<seq>.gz

Tables (declared once in the table registry, rtaid/_kernels/records.pyx; market-data
rows carry ``E``, ``T`` exchange times in ms and ``recv_ns`` local receive time;
``*_px``/``*_qty`` are float64 with exact ``*_px_ticks``/``*_qty_lots`` int64):

- ``trades``: trade_id, px, qty, buyer_maker, aggregate (aggTrade);
- ``bbo``: u, bid/ask px and qty of each bookTicker;
- ``depth``: one row per level of each depth event (U, u, pu, side, px, qty; qty 0
  deletes) and of each REST snapshot (``snapshot`` true, U = u = pu = lastUpdateId);
- ``book_top``: after each depth event applied to a synced book: u, best bid/ask px
  and qty, levels per side;
- ``book_events``: synced, gap, crossed (from the book), resync, reconnect (from the
  feed), with a reason text;
- ``mark_price``: px;
- ``indicators``: one row per applied bookTicker, trade and depth diff: every raw
  indicator, z-score and oscillator (indicators.md section 12), dated by ``ts_ms``;
- ``bars_1m``: one-minute bars with the last value of every indicator (``minute_ms``);
- ``signals``: every target change of the strategy, with its reason (``ts_ms``).

Read with DuckDB: ``SELECT * FROM read_parquet('<data_dir>/bbo/*/*/*.parquet',
hive_partitioning = true)``; pyarrow: ``pyarrow.dataset.dataset('<data_dir>/bbo',
partitioning='hive')``.

Wiring (the daemon): ``store = Store.from_config(engine, config.storage)``,
``store.start()`` before the feed, ``store.stop()`` after the feed has stopped.
Tests and benchmarks read an engine's tables from memory instead (``memory.py``).
"""
import os

# Before pyarrow is first imported (Arrow reads these once). Arrow's C++ default pool is
# what the Parquet writer's encoders allocate from, whatever pool Python sets later: make
# it glibc's, as the rest of the store (footprint.tune_allocator says why; with
# mimalloc, the encoders' buffers were given back and page-faulted in again at every
# row group: half the writer's page faults in bench/store.py). Where mimalloc is still
# used (pyarrow imported first), give its freed pages back at once.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")

from rtaid.store.memory import MemoryTables  # noqa: E402
from rtaid.store.service import Store, select_tables  # noqa: E402
from rtaid.store.tables import REASONS, TABLES, Table, reason_code  # noqa: E402
from rtaid.store.writer import StoreWriter  # noqa: E402

__all__ = ["MemoryTables", "REASONS", "Store", "StoreWriter", "TABLES", "Table", "reason_code",
           "select_tables"]
