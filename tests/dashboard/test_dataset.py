"""rtaid.dashboard.dataset and .pnl on the replayed dataset: partition-pruned reads,
in-scan downsampling against pandas on the full table, footers, and PnL accounting."""
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtaid.dashboard import dataset
from rtaid.dashboard.pnl import pnl_curve
from tests.dashboard.helpers import DAYS, SYMBOL, read


def test_partitions(dataset_dir, tmp_path):
    assert dataset.symbols(str(dataset_dir)) == [SYMBOL]
    assert dataset.days(str(dataset_dir), SYMBOL) == list(DAYS)
    assert dataset.days(str(dataset_dir), SYMBOL, ["signals"]) == [DAYS[0]]
    assert {"bars_1m", "indicators", "signals", "book_events"} <= set(dataset.tables(str(dataset_dir)))
    refs = dataset.files(str(dataset_dir), "bars_1m", SYMBOL, DAYS)
    assert [r[0] for r in refs] == sorted(str(p) for p in dataset_dir.glob(
        f"bars_1m/symbol={SYMBOL}/date=*/part-*.parquet"))
    # a part file still being written (the writer's dot file) is not read
    partition = dataset_dir / "bars_1m" / f"symbol={SYMBOL}" / f"date={DAYS[0]}"
    in_progress = partition / ".part-1723161600000-0001.parquet.tmp"
    in_progress.write_bytes(b"half a file")
    try:
        assert len(dataset.files(str(dataset_dir), "bars_1m", SYMBOL, DAYS)) == len(refs)
    finally:
        in_progress.unlink()
    assert dataset.state(str(dataset_dir)) is None
    assert "does not exist" in dataset.state(str(tmp_path / "missing"))
    assert "holds no data yet" in dataset.state(str(tmp_path))


def test_read_filters_time_and_projects(dataset_dir):
    refs = dataset.files(str(dataset_dir), "indicators", SYMBOL, DAYS)
    start, end = 1723161300000, 1723161400000
    got = dataset.read(refs, ("ts_ms", "vpin", "no_such_column"), "ts_ms", start, end)
    assert got.column_names == ["ts_ms", "vpin"]
    full = read(dataset_dir, "indicators", ["ts_ms", "seq", "vpin"]).sort_by("seq").to_pandas()
    # rows in time order; rows of the same ms (a trade and a bbo) keep the recorded order
    want = full[(full.ts_ms >= start) & (full.ts_ms < end)].sort_values("ts_ms", kind="stable")
    assert got["ts_ms"].to_pylist() == want.ts_ms.tolist()
    np.testing.assert_array_equal(got["vpin"].to_numpy(), want.vpin.to_numpy())
    assert dataset.time_span(refs, "ts_ms") == (full.ts_ms.min(), full.ts_ms.max())


@pytest.mark.parametrize("width", [1, 250, 60_000])
def test_downsample_equals_pandas_on_every_row(dataset_dir, width):
    refs = dataset.files(str(dataset_dir), "indicators", SYMBOL, DAYS)
    columns = ("dev_bps_osc", "vpin_osc", "kyle_lambda")
    got = dataset.downsample(refs, "ts_ms", columns, width).to_pandas().set_index("bucket_ms")
    full = read(dataset_dir, "indicators", ["ts_ms", *columns]).to_pandas()
    want = full.groupby(full.ts_ms // width * width)
    assert list(got.index) == list(want.size().index)
    assert list(got["rows"]) == list(want.size())
    for c in columns:
        np.testing.assert_allclose(got[f"{c}_mean"], want[c].mean(), rtol=1e-9, err_msg=c)
        np.testing.assert_array_equal(got[f"{c}_min"], want[c].min())
        np.testing.assert_array_equal(got[f"{c}_max"], want[c].max())


def test_downsample_time_window(dataset_dir):
    refs = dataset.files(str(dataset_dir), "indicators", SYMBOL, DAYS)
    got = dataset.downsample(refs, "ts_ms", ("obi",), 1000, 1723161300000, 1723161310000)
    assert got["bucket_ms"].to_pylist() == list(range(1723161300000, 1723161310000, 1000))


def test_bucket_width():
    assert dataset.bucket_width(0, 2000) == 1
    assert dataset.bucket_width(346_000, 2000) == 200
    assert dataset.bucket_width(86_400_000, 2000) == 60_000
    assert dataset.bucket_width(30 * 86_400_000, 2000) == 1_800_000


def test_missing_columns_and_unreadable_files(tmp_path):
    part = tmp_path / "t" / "symbol=X" / "date=2024-01-01"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"ts_ms": [1, 2], "a": [1.0, 2.0]}), part / "part-1-0.parquet")
    refs = dataset.files(str(tmp_path), "t", "X", ["2024-01-01"])
    assert dataset.read(refs, ("ts_ms", "a", "b"), "ts_ms").column_names == ["ts_ms", "a"]
    summary = dataset.file_summary(refs[0], "ts_ms")
    assert (summary.rows, summary.first, summary.last, summary.error) == (2, 1, 2, None)
    (part / "part-2-0.parquet").write_bytes(b"garbage")
    refs = dataset.files(str(tmp_path), "t", "X", ["2024-01-01"])
    with pytest.raises(dataset.DatasetError, match="cannot read"):
        dataset.read(refs, ("ts_ms", "a"), "ts_ms")
    [partition] = dataset.inventory(str(tmp_path))
    assert (partition.files, partition.rows, partition.unreadable) == (2, 2, 1)


def test_pnl_average_cost_reversal_fees_and_marks():
    # buy 2 @100; sell 1 @110 (+10); buy 1 @120 (avg 110); sell 3 @100: closes 2 (-20),
    # opens short 1 @100; mark 90: unrealised +10. Fees 1 per fill.
    curve = pnl_curve([(1, 2, 100.0, 1.0), (2, -1, 110.0, 1.0), (3, 1, 120.0, 1.0),
                       (4, -3, 100.0, 1.0)], marks=[(5, 90.0), (6, math.nan)])
    assert curve.position == [2, 1, 2, -1, -1]
    assert curve.realised == [-1.0, 8.0, 7.0, -14.0, -14.0]
    assert curve.unrealised[-1] == 10.0 and curve.total[-1] == -4.0 and curve.fees[-1] == 4.0
    # the venue's realised PnL wins when given
    venue = pnl_curve([(1, 1, 100.0, 0.0), (2, -1, 101.0, 0.0)], realised_pnl=[0.0, 0.75])
    assert venue.realised[-1] == 0.75


def test_files_of_different_versions_and_nan(tmp_path):
    """A column one file lacks is left out, not an error; NaN is missing, not a value
    (pyarrow's statistics leave NaN out: the query must not trust them to exclude it)."""
    part = tmp_path / "t" / "symbol=X" / "date=2024-01-01"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"ts_ms": [1000, 1001, 1002], "a": [math.nan, 50.0, 52.0],
                             "b": [1.0, 2.0, 3.0]}), part / "part-1000-0.parquet")
    pq.write_table(pa.table({"ts_ms": [2000, 2001], "a": [math.nan, math.nan], "c": [5, 6]}),
                   part / "part-2000-0.parquet")
    refs = dataset.files(str(tmp_path), "t", "X", ["2024-01-01"])
    got = dataset.read(refs, ("ts_ms", "a", "b", "c"), "ts_ms")
    assert got.column_names == ["ts_ms", "a"] and got["ts_ms"].to_pylist() == [1000, 1001, 1002,
                                                                               2000, 2001]
    buckets = dataset.downsample(refs, "ts_ms", ("a", "b"), 1000).to_pylist()
    assert buckets == [
        {"bucket_ms": 1000, "rows": 3, "a_mean": 51.0, "a_min": 50.0, "a_max": 52.0},
        {"bucket_ms": 2000, "rows": 2, "a_mean": None, "a_min": None, "a_max": None},
    ]
