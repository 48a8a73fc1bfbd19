"""`rtaid replay` writes the signal kernels' tables: in the Parquet files, the same rows,
bit for bit, as the engine produced (read from its rings in memory; the engine itself is
at parity with the pure-Python reference, test_parity_*)."""
import math

import pyarrow.parquet as pq

from rtaid.reference.pipeline import TABLE_COLUMNS
from rtaid.replay import replay
from rtaid.store.tables import TABLES
from tests.helpers import (
    ACTIVE_KEYS, BTC_RECORDING, ETH_RECORDING, SIGNAL_TABLES, active_config, config_from_keys,
    exchange_info_with_ticks, kernel_tables, read_table, sort_by_symbol,
)
from tests.signals.synthetic import make_recording


def dataset_tables(root):
    """The signal tables of a dataset as {table: {column: list}}, the reference's
    column order (the partition column ``symbol`` first)."""
    out = {}
    for name in SIGNAL_TABLES:
        columns = TABLE_COLUMNS[name]
        if not (root / name).exists():
            out[name] = {c: [] for c in columns}
            continue
        table = read_table(root, name)
        out[name] = {c: [str(v) for v in table.column(c).to_pylist()]
                     if c in ("symbol", "event", "reason") else table.column(c).to_pylist()
                     for c in columns}
    return out


def assert_identical(want, got):
    """Equal tables: same columns, same rows, floats bit-identical (NaN where NaN)."""
    for name in SIGNAL_TABLES:
        assert list(want[name]) == list(got[name]), name
        for col, values in want[name].items():
            have = got[name][col]
            assert len(have) == len(values), (name, col)
            for i, (x, y) in enumerate(zip(values, have)):
                if isinstance(x, float) and math.isnan(x):
                    same = isinstance(y, float) and math.isnan(y)
                else:
                    same = x == y and type(x) is type(y)
                assert same, f"{name}.{col} row {i}: engine {x!r}, file {y!r}"


def test_replay_files_equal_the_engine_with_signals_firing(shared_data, tmp_path):
    summary = replay([BTC_RECORDING], tmp_path, config=active_config())
    want = kernel_tables(BTC_RECORDING, config=active_config())
    got = dataset_tables(tmp_path)
    assert_identical(want, got)
    # not vacuous: the strategy traded, bars closed, every row was written
    assert len(got["signals"]["target"]) > 0
    assert len(got["bars_1m"]["minute_ms"]) >= 5
    assert summary.rows["indicators"] == len(want["indicators"]["seq"]) > 90_000
    assert not any(summary.dropped.values())


def test_two_recordings_chain_with_default_params(replayed):
    """The store tests' dataset (both recordings, one chain, default params)."""
    out, summary = replayed
    want = sort_by_symbol(kernel_tables([BTC_RECORDING, ETH_RECORDING]))
    assert_identical(want, dataset_tables(out))
    assert set(want["indicators"]["symbol"]) == {"BTCUSDT", "ETHUSDT"}


def test_book_only_symbol_and_exchange_info_tick(tmp_path):
    """A symbol without bookTicker (L1 from the book) beside one with it, a tick from
    exchangeInfo, per-symbol params: the files hold what the engine produced."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    make_recording(a, seed=21, n_events=2500, symbol="AAAUSDT")
    make_recording(b, seed=22, n_events=2500, with_bbo=False, symbol="BBBUSDT")
    config = config_from_keys(per_symbol={"AAAUSDT": ACTIVE_KEYS,
                                          "BBBUSDT": {**ACTIVE_KEYS, "wall.levels": 5}})
    info = exchange_info_with_ticks({"AAAUSDT": "0.05"})
    out = tmp_path / "out"
    replay([a, b], out, config=config, exchange_info=info)
    want = sort_by_symbol(kernel_tables([a, b], config=config, exchange_info=info))
    assert_identical(want, dataset_tables(out))
    ticks = want["indicators"]["mpd_ticks"]
    assert any(not math.isnan(x) for x in ticks)


def test_signal_table_files_have_the_contract_columns(replayed):
    out, _ = replayed
    for name in SIGNAL_TABLES:
        # indicators.md section 12 (and the bars/signals definitions): names and order
        assert TABLES[name].schema.names == list(TABLE_COLUMNS[name][1:])
        for path in (out / name).rglob("*.parquet"):
            assert pq.read_schema(path).remove_metadata() == TABLES[name].schema
    assert list((out / "indicators").rglob("*.parquet"))


def test_signals_off_writes_no_signal_tables(shared_data, tmp_path):
    replay([BTC_RECORDING], tmp_path, signals=False)
    assert not any((tmp_path / name).exists() for name in SIGNAL_TABLES)
    assert (tmp_path / "bbo").exists()
