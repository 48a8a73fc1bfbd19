"""The feature function: the same numbers in batch (training) and bar by bar (live)."""
import numpy as np
import pytest

from rtaid.ai.features import (BAR_COLUMNS, FEATURE_NAMES, LOOKBACK_MINUTES, MINUTE_MS,
                               BarHistory, feature_matrix, features_from_bars)
from rtaid.sim.record import record
from tests.ai.helpers import assert_batch_equals_incremental, bars_by_symbol, replay_cli


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    record(root / "a.gz", 45, 11, ofi_alpha_bps=2.0, symbol="SYNAUSDT")
    record(root / "b.gz", 45, 12, symbol="SYNBUSDT")
    return replay_cli([root / "a.gz", root / "b.gz"], root / "ds", "bars_1m")


def test_names_are_unique_and_cover_every_indicator_and_oscillator(synthetic_dataset):
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    table = next(iter(bars_by_symbol(synthetic_dataset).values()))
    lasts = {c for c in table.column_names if c.endswith("_last") and c != "mid_last"}
    assert lasts <= set(FEATURE_NAMES)
    assert {"ret_1m_bps", "ret_5m_bps", "ret_15m_bps", "vol_15m_bps"} <= set(FEATURE_NAMES)


def test_batch_equals_bar_by_bar_on_a_replayed_synthetic_dataset(synthetic_dataset):
    for sym, table in bars_by_symbol(synthetic_dataset).items():
        batch = assert_batch_equals_incremental(table)
        # the lookback really is used: late bars have every return and the volatility
        late = batch[LOOKBACK_MINUTES + 1:]
        for name in ("ret_1m_bps", "ret_5m_bps", "ret_15m_bps", "vol_15m_bps"):
            assert np.isfinite(late[:, FEATURE_NAMES.index(name)]).all(), (sym, name)


def test_batch_equals_bar_by_bar_on_the_replayed_shared_recordings(replayed):
    root, _ = replayed
    tables = bars_by_symbol(root)
    assert set(tables) == {"BTCUSDT", "ETHUSDT"}
    for table in tables.values():
        assert_batch_equals_incremental(table)


def test_values_are_the_bars_own(synthetic_dataset):
    table = bars_by_symbol(synthetic_dataset)["SYNAUSDT"]
    batch = feature_matrix(table)
    cols = {c: table.column(c).to_numpy() for c in table.column_names}
    i = LOOKBACK_MINUTES + 3
    f = dict(zip(FEATURE_NAMES, batch[i]))
    assert f["ofi_norm_last"] == cols["ofi_norm_last"][i]
    assert f["vpin_osc_last"] == cols["vpin_osc_last"][i] or np.isnan(cols["vpin_osc_last"][i])
    mid = cols["mid_last"]
    assert f["ret_5m_bps"] == pytest.approx(1e4 * (mid[i] / mid[i - 5] - 1))
    r1 = 1e4 * (mid[i - 14:i + 1] / mid[i - 15:i] - 1)
    assert f["vol_15m_bps"] == pytest.approx(np.std(r1, ddof=1))
    assert f["spread_bps"] == pytest.approx(1e4 * cols["spread_mean"][i] / mid[i])


def test_a_missing_minute_makes_the_returns_from_it_nan(synthetic_dataset):
    table = bars_by_symbol(synthetic_dataset)["SYNBUSDT"]
    cols = {c: table.column(c).to_numpy() for c in BAR_COLUMNS}
    gap = 20
    kept = {c: np.delete(v, gap) for c, v in cols.items()}
    batch = feature_matrix(kept)
    after = gap      # the bar of the minute after the removed one
    ret1, ret5 = FEATURE_NAMES.index("ret_1m_bps"), FEATURE_NAMES.index("ret_5m_bps")
    assert np.isnan(batch[after, ret1]) and np.isfinite(batch[after, ret5])
    assert np.isnan(batch[after + 4, ret5])          # 5 minutes after the removed one
    assert np.isfinite(batch[after + 1, ret1]) and np.isfinite(batch[after + 3, ret5])
    assert np.isfinite(batch[after + 5, ret5])


def test_ring_records_work_like_table_rows(synthetic_dataset):
    """The daemon holds bars as numpy records of the bars_1m dtype: same features."""
    from rtaid.store.tables import TABLES

    table = bars_by_symbol(synthetic_dataset)["SYNAUSDT"]
    records = np.zeros(table.num_rows, dtype=TABLES["bars_1m"].dtype)
    for name in records.dtype.names:
        if name in table.column_names:
            records[name] = table.column(name).to_numpy()
    history = BarHistory()
    batch = feature_matrix(table)
    for i in range(len(records)):
        history.append(records[i])
        assert history.features().tobytes() == batch[i].tobytes()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no column 'obi_last'"):
        feature_matrix({"minute_ms": [0], "mid_last": [1.0]})
    with pytest.raises(ValueError, match="sorted by minute_ms"):
        feature_matrix({c: [0.0, 0.0] for c in BAR_COLUMNS})
    with pytest.raises(ValueError, match="at least one bar"):
        features_from_bars([])
    history = BarHistory()
    history.append({c: 1.0 if c != "minute_ms" else MINUTE_MS for c in BAR_COLUMNS})
    with pytest.raises(ValueError, match="not after the last one"):
        history.append({c: 1.0 if c != "minute_ms" else MINUTE_MS for c in BAR_COLUMNS})
