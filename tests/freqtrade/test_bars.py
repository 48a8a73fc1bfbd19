"""The frames' rows: bars_1m + the target at each bar's close, read back from the dataset."""
import math
import shutil

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from rtaid.freqtrade import bars as barlib
from rtaid.freqtrade.pairs import pair_to_symbol, symbol_to_pair
from rtaid.store.tables import TABLES

MINUTE = 60_000


def table_rows(root, table, symbol):
    t = ds.dataset(root / table, format="parquet", partitioning="hive").to_table()
    return [r for r in t.to_pylist() if r["symbol"] == symbol]


def same(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def expected_targets(signals, minutes):
    """The target of the last signals row before each bar's end (0 before any)."""
    signals = sorted(signals, key=lambda r: (r["ts_ms"], r["seq"]))
    out = []
    for m in minutes:
        before = [r["target"] for r in signals if r["ts_ms"] < m + MINUTE]
        out.append(before[-1] if before else 0)
    return out


def test_pairs_map_both_ways():
    assert symbol_to_pair("BTCUSDT") == "BTC/USDT:USDT"
    assert symbol_to_pair("ethusdc") == "ETH/USDC:USDC"
    assert pair_to_symbol("BTC/USDT:USDT") == "BTCUSDT"
    for bad in ("BTC/USDT", "BTC/USDT:BTC", "BTCUSD_PERP", "USDT"):
        with pytest.raises(ValueError, match="USD-M"):
            (pair_to_symbol if "/" in bad else symbol_to_pair)(bad)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_rows_are_the_datasets_bars_with_the_target_at_their_close(dataset, symbol):
    frame = barlib.read_bars(str(dataset), symbol)
    bars = sorted(table_rows(dataset, "bars_1m", symbol), key=lambda r: r["minute_ms"])
    signals = table_rows(dataset, "signals", symbol)
    assert len(signals) > 3, "the fast config makes the strategy trade"
    bar_columns = [c for c, *_ in TABLES["bars_1m"].columns]
    assert frame.columns == barlib.frame_columns(bar_columns)
    assert frame.columns[:6] == ["date", "open", "high", "low", "close", "volume"]
    assert frame.columns[-1] == "target" and len(frame.columns) == len(bar_columns) + 1
    assert len(frame) == len(bars) >= 6
    targets = expected_targets(signals, [b["minute_ms"] for b in bars])
    assert set(targets) != {0}
    for row, bar, target in zip(frame.rows(), bars, targets):
        want = {**bar, "date": bar["minute_ms"], "target": target}
        assert all(same(v, want[c]) for c, v in zip(frame.columns, row)), (row, want)
    # a window: half-open [start, end)
    start, end = bars[1]["minute_ms"], bars[4]["minute_ms"]
    part = barlib.read_bars(str(dataset), symbol, start, end)
    assert list(part.dates) == [b["minute_ms"] for b in bars[1:4]]
    assert list(part.arrays["target"]) == targets[1:4]


def test_a_minute_written_twice_keeps_the_row_written_last(dataset, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    part = sorted((root / "bars_1m" / "symbol=BTCUSDT").rglob("part-*.parquet"))[0]
    table = pq.read_table(part)
    first = table.column("minute_ms")[0].as_py()
    changed = table.set_column(table.column_names.index("close"), "close",
                               [[-1.0] * table.num_rows])
    start, seq = part.stem.split("-")[1:]
    pq.write_table(changed, part.with_name(f"part-{start}-{int(seq) + 1:04d}.parquet"))
    frame = barlib.read_bars(str(root), "BTCUSDT")
    assert list(frame.dates) == sorted(set(frame.dates))
    assert frame.arrays["close"][list(frame.dates).index(first)] == -1.0


def test_resampled_bars_aggregate_the_minutes(dataset):
    frame = barlib.read_bars(str(dataset), "BTCUSDT")
    five = barlib.resample(frame, 5 * MINUTE)
    rows = [dict(zip(frame.columns, r)) for r in frame.rows()]
    buckets = {}
    for r in rows:
        buckets.setdefault(r["date"] - r["date"] % (5 * MINUTE), []).append(r)
    assert list(five.dates) == sorted(buckets)
    for i, (start, part) in enumerate(sorted(buckets.items())):
        got = {c: five.arrays[c][i] for c in five.columns}
        opens = [r["open"] for r in part if not math.isnan(r["open"])]
        closes = [r["close"] for r in part if not math.isnan(r["close"])]
        assert same(got["open"], opens[0] if opens else math.nan)
        assert same(got["close"], closes[-1] if closes else math.nan)
        assert same(got["high"], max((r["high"] for r in part if not math.isnan(r["high"])), default=math.nan))
        assert got["volume"] == pytest.approx(sum(r["volume"] for r in part))
        assert got["trade_count"] == sum(r["trade_count"] for r in part)
        traded = [r for r in part if r["volume"] > 0]
        if traded:
            assert got["vwap"] == pytest.approx(sum(r["vwap"] * r["volume"] for r in traded)
                                                / sum(r["volume"] for r in traded))
        for c in ("mid_last", "vpin_osc_last", "dev_bps_z_last", "target"):
            assert same(got[c], part[-1][c])
    assert barlib.resample(frame, MINUTE) is frame
    assert barlib.timeframe_ms("1h") == 60 * MINUTE
    for bad in ("1M", "5s", "", "0m", "1w"):
        with pytest.raises(ValueError, match="timeframe"):
            barlib.timeframe_ms(bad)


def test_newest_bar_reads_only_the_newest_file(dataset, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    newest = max(r["minute_ms"] for r in table_rows(root, "bars_1m", "ETHUSDT"))
    cache = {}
    row = barlib.newest_bar(str(root), "ETHUSDT", cache)
    assert row["minute_ms"] == newest
    assert set(row) >= {c for c, *_ in TABLES["bars_1m"].columns}
    assert barlib.newest_bar(str(root), "ETHUSDT", cache) is row   # same file: cached
    assert barlib.newest_bar(str(root), "XRPUSDT", cache) is None
    # a part file still being written (dot file) is invisible; a new complete one is read
    last = sorted((root / "bars_1m" / "symbol=ETHUSDT").rglob("part-*.parquet"))[-1]
    table = pq.read_table(last)
    later = table.set_column(0, "minute_ms", [np.array(table.column("minute_ms")) + MINUTE])
    pq.write_table(later, last.parent / f".{last.name}.tmp")
    assert barlib.newest_bar(str(root), "ETHUSDT", cache)["minute_ms"] == newest
    start, seq = last.stem.split("-")[1:]
    pq.write_table(later, last.with_name(f"part-{start}-{int(seq) + 1:04d}.parquet"))
    assert barlib.newest_bar(str(root), "ETHUSDT", cache)["minute_ms"] == newest + MINUTE
