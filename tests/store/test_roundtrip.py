"""Replay both real recordings, read the dataset back, check it against the recordings."""
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rtaid.replay import replay
from rtaid.store.tables import TABLES
from tests.helpers import BTC_RECORDING, ETH_RECORDING
from tests.helpers import read_table

SYMBOLS = ("BTCUSDT", "ETHUSDT")


def rows_by_symbol(table):
    return {s: table.filter(pc.equal(table["symbol"], s)) for s in SYMBOLS}


def test_row_counts_match_the_recordings(replayed, recording_facts):
    out, summary = replayed
    trades = rows_by_symbol(read_table(out, "trades"))
    bbo = rows_by_symbol(read_table(out, "bbo"))
    depth = rows_by_symbol(read_table(out, "depth"))
    for sym in SYMBOLS:
        facts = recording_facts[sym]
        assert trades[sym].num_rows == facts["trade"]
        assert bbo[sym].num_rows == facts["bbo"]
        assert depth[sym].num_rows == facts["depth_levels"]
        assert trades[sym]["trade_id"].to_pylist() == facts["trade_ids"]
    assert not any(summary.dropped.values())
    assert summary.rows["bbo"] == sum(f["bbo"] for f in recording_facts.values())


def test_book_top_equals_book_ticker_at_equal_u(replayed, recording_facts):
    out, _ = replayed
    tops = rows_by_symbol(read_table(out, "book_top"))
    for sym in SYMBOLS:
        by_u = recording_facts[sym]["bbo_by_u"]
        top = tops[sym].to_pydict()
        matched = 0
        for i, u in enumerate(top["u"]):
            if u not in by_u:
                continue
            b, bq, a, aq = by_u[u]
            assert (top["bid_px"][i], top["bid_qty"][i], top["ask_px"][i], top["ask_qty"][i]) \
                == (float(b), float(bq), float(a), float(aq))
            # the exact columns agree with the decimal strings
            assert Decimal(b) == Decimal(top["bid_px_ticks"][i]) / 10 ** 2
            matched += 1
        assert matched > 500, sym  # 629 for BTCUSDT
        # after each applied event: one row per synced/applied depth event
        assert len(top["u"]) == len(set(top["u"]))


def test_book_events_and_partitions_use_exchange_time(replayed):
    out, summary = replayed
    events = read_table(out, "book_events").to_pydict()
    assert sorted(zip(events["symbol"], events["event"])) == [
        ("BTCUSDT", "synced"), ("ETHUSDT", "synced")]
    assert summary.books["BTCUSDT"]["gap"] == 0
    # the recordings straddle midnight UTC by exchange time: two date partitions
    depth = read_table(out, "depth")
    for date in ("2024-08-08", "2024-08-09"):
        part = depth.filter(pc.equal(depth["date"], date))
        E = part["E"].to_numpy()
        assert len(E) and (E.astype("datetime64[ms]").astype("datetime64[D]")
                           == np.datetime64(date)).all()


def test_every_file_has_the_table_schema_and_no_temporaries(replayed):
    out, _ = replayed
    for path in out.rglob("*"):
        if path.is_file():
            assert path.name.startswith("part-") and path.suffix == ".parquet", path
            table = path.relative_to(out).parts[0]
            assert pq.read_schema(path).remove_metadata() == TABLES[table].schema


def tables_equal(a, b):
    """Same schema and values; NaN equals NaN (the indicators have warm-up NaNs)."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        if pa.types.is_floating(x.type):
            if not np.array_equal(x.to_numpy(), y.to_numpy(), equal_nan=True):
                return False
        elif pa.types.is_dictionary(x.type):
            # the values, not the dictionaries: the reason list grows as texts appear
            if x.to_pylist() != y.to_pylist():
                return False
        elif not x.equals(y):
            return False
    return True


def test_replay_is_deterministic(replayed, tmp_path):
    out, _ = replayed
    again = tmp_path / "again"
    replay([BTC_RECORDING, ETH_RECORDING], again)
    # (signals: none at the default params; tests/signals/test_replay_tables.py has
    # replays with trades equal to the driver's rows)
    for table in ("trades", "bbo", "depth", "book_top", "book_events", "indicators",
                  "bars_1m"):
        assert tables_equal(read_table(again, table), read_table(out, table)), table
    files = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
    assert files == sorted(p.relative_to(again) for p in again.rglob("*.parquet"))
