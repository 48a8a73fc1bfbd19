"""The dashboard app under Streamlit's AppTest, against a dataset made by ``rtaid replay``
of the real BTC recording: every page runs, the figures carry the dataset's values."""
import numpy as np
import pyarrow.compute as pc
import pytest

from tests.dashboard.helpers import (DAYS, OVERRIDES, PAGES, SYMBOL, dataframe, figure, ms, read, trace,
                                      values)

HEADERS = {"market": "Market", "trading": "Trading", "health": "Health", "data": "Data"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs(dataset_dir, open_app, page):
    at = open_app(dataset_dir, page)
    assert not at.exception, at.exception
    assert [h.value for h in at.header][:1] == [HEADERS[page]]
    assert at.sidebar.selectbox(key="symbol").value == SYMBOL
    assert at.sidebar.select_slider(key=f"days_{SYMBOL}").value == DAYS


def test_market_candles_and_signals_are_the_datasets(dataset_dir, open_app):
    at = open_app(dataset_dir, "market")
    fig = figure(at)
    bars = read(dataset_dir, "bars_1m").sort_by("minute_ms")
    candles = trace(fig, "1m bars")
    assert candles["type"] == "candlestick"
    assert (values(candles["x"]) == ms(bars["minute_ms"].to_numpy())).all()
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(values(candles[column]), bars[column].to_numpy(), column)
    assert bars.num_rows == 7  # 23:54 .. 00:00, both days

    signals = read(dataset_dir, "signals").sort_by("ts_ms")
    reasons = np.array(signals["reason"].to_pylist(), dtype=object)
    assert len(reasons) >= 2          # the strategy traded: the markers are not vacuous
    for name, mask in (("entry long", reasons == "entry_long"),
                       ("entry short", reasons == "entry_short"),
                       ("exit", ~np.isin(reasons, ["entry_long", "entry_short"]))):
        if not mask.any():        # no such decision: no marker trace either
            assert name not in [t.get("name") for t in fig["data"]], name
            continue
        marker = trace(fig, name)
        assert (values(marker["x"]) == ms(signals["ts_ms"].to_numpy()[mask])).all(), name
        np.testing.assert_array_equal(values(marker["y"]), signals["mid"].to_numpy()[mask])

    # the target position: a step at each signal to its target_qty
    target = trace(fig, "target position")
    assert target["line"]["shape"] == "hv"
    tx, ty = values(target["x"]), values(target["y"])
    for t, qty in zip(signals["ts_ms"].to_pylist(), signals["target_qty"].to_pylist()):
        assert ty[list(tx).index(ms([t])[0])] == qty
    assert tx[0] == ms([bars["minute_ms"][0].as_py()])[0] and ty[0] == 0.0
    assert [m.value for m in at.metric][:1] == ["7"]


def test_market_oscillators_are_bucket_means_of_the_indicators(dataset_dir, open_app):
    at = open_app(dataset_dir, "market")
    fig = figure(at)
    width = fig["layout"]["meta"]["bucket_ms"]
    ind = read(dataset_dir, "indicators", ["ts_ms", "dev_bps_osc", "vpin_osc", "ofi_norm_osc",
                                           "obi_osc"]).to_pandas()
    span = ind.ts_ms.max() - ind.ts_ms.min()
    assert span // width + 1 <= 2000 and (width < 1000)  # ~6 minutes: sub-second buckets
    ind["bucket"] = ind.ts_ms // width * width
    # NaN (warm-up) is missing, not a value: pandas skips it too
    expected = ind.groupby("bucket").agg(["mean", "min", "max"])
    for label, column in (("Price deviation (strategy)", "dev_bps_osc"), ("VPIN", "vpin_osc"),
                          ("OFI", "ofi_norm_osc"), ("TOBI (top-of-book imbalance)", "obi_osc")):
        mean, hi, lo = trace(fig, label), trace(fig, f"{label} max"), trace(fig, f"{label} min")
        assert (values(mean["x"]) == ms(expected.index.to_numpy())).all(), label
        np.testing.assert_allclose(values(mean["y"]), expected[(column, "mean")], rtol=1e-9,
                                   err_msg=label)
        np.testing.assert_array_equal(values(hi["y"]), expected[(column, "max")].to_numpy())
        np.testing.assert_array_equal(values(lo["y"]), expected[(column, "min")].to_numpy())
        assert lo["fill"] == "tonexty"
    # the caption counts every indicator row (all went through the aggregation)
    assert any(f"of {len(ind):,} indicator rows" in c.value for c in at.caption)


def test_market_thresholds_are_the_configs(dataset_dir, open_app):
    fig = figure(open_app(dataset_dir, "market"))
    shapes = fig["layout"]["shapes"]
    # rows: 1 price, 2 dev, 3 ofi, 4 vpin, 5 obi, 6 position
    lines = sorted((s["yref"], s["y0"]) for s in shapes)
    assert lines == sorted([("y2", 10.0), ("y2", 50.0), ("y2", 90.0), ("y3", 50.0),
                            ("y4", 100.0)])  # toxic_max=100 from the --set overrides


def test_thresholds_follow_the_symbols_own_strategy(dataset_dir, open_app):
    overrides = (*OVERRIDES, "symbols.BTCUSDT.strategy.entry_low=5",
                 "symbols.BTCUSDT.strategy.toxic_max=70")
    fig = figure(open_app(dataset_dir, "market", overrides=overrides))
    lines = sorted((s["yref"], s["y0"]) for s in fig["layout"]["shapes"])
    assert lines == sorted([("y2", 5.0), ("y2", 50.0), ("y2", 90.0), ("y3", 50.0), ("y4", 70.0)])


def test_invalid_config_is_shown_not_a_traceback(dataset_dir, open_app):
    at = open_app(dataset_dir, "market", overrides=("strategy.entry_low=500",))
    assert not at.exception, at.exception
    assert any("invalid configuration" in e.value and "strategy.entry_low" in e.value
               for e in at.sidebar.error)
    assert any("Thresholds not drawn" in c.value for c in at.caption)
    assert "shapes" not in figure(at)["layout"] or not figure(at)["layout"]["shapes"]


def test_market_oscillator_picker(dataset_dir, open_app):
    at = open_app(dataset_dir, "market")
    at.multiselect(key="oscillators").set_value(["Kyle's lambda", "Wall ratio"]).run()
    assert not at.exception
    fig = figure(at)
    names = {t.get("name") for t in fig["data"]}
    assert {"Kyle's lambda", "Wall ratio", "Kyle's lambda max", "Wall ratio min"} <= names
    assert "VPIN" not in names
    assert "shapes" not in fig["layout"] or not fig["layout"]["shapes"]  # no thresholds there
    ind = read(dataset_dir, "indicators", ["ts_ms", "kyle_lambda_osc"]).to_pandas()
    width = fig["layout"]["meta"]["bucket_ms"]
    expected = ind.groupby(ind.ts_ms // width * width).kyle_lambda_osc.mean()
    np.testing.assert_allclose(values(trace(fig, "Kyle's lambda")["y"]), expected, rtol=1e-9)


def test_one_day_of_the_range(dataset_dir, open_app):
    at = open_app(dataset_dir, "market", query={"symbol": SYMBOL, "from": DAYS[0], "to": DAYS[0]})
    fig = figure(at)
    bars = read(dataset_dir, "bars_1m")
    day = bars.filter(pc.equal(pc.cast(bars["date"], "string"), DAYS[0])).sort_by("minute_ms")
    assert (values(trace(fig, "1m bars")["x"]) == ms(day["minute_ms"].to_numpy())).all()
    assert day.num_rows == 6
    # the slider moves the range: the last day alone has the midnight bar only
    at.sidebar.select_slider(key=f"days_{SYMBOL}").set_range(DAYS[1], DAYS[1]).run()
    assert len(values(trace(figure(at), "1m bars")["x"])) == 1


def test_trading_falls_back_to_the_signals(dataset_dir, open_app):
    at = open_app(dataset_dir, "trading")
    assert not at.exception
    assert any("no orders or fills tables" in i.value for i in at.info)
    signals = read(dataset_dir, "signals").sort_by("ts_ms")
    shown = dataframe(at, "target_qty")
    assert list(shown["seq"]) == signals["seq"].to_pylist()
    assert list(shown["target_qty"]) == signals["target_qty"].to_pylist()
    assert list(shown["reason"].astype(str)) == [str(r) for r in signals["reason"].to_pylist()]
    # realised PnL: each round trip (entry at mid, exit at mid) of the target quantity
    expected, position, entry = 0.0, 0.0, None
    for qty, mid in zip(signals["target_qty"].to_pylist(), signals["mid"].to_pylist()):
        if position and entry is not None:
            expected += position * (mid - entry)
        position, entry = qty, (mid if qty else None)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Realised PnL"] == f"{expected:,.4f}"
    assert metrics["Fees"] == "0.0000" and metrics["Position"] == "0"
    fig = figure(at)
    assert values(trace(fig, "realised")["y"])[-1] == pytest.approx(expected, abs=1e-9)


def test_data_page_inventory_is_the_datasets(dataset_dir, open_app):
    import pyarrow.parquet as pq

    at = open_app(dataset_dir, "data")
    partitions = dataframe(at, "first (UTC)")
    files = sorted(dataset_dir.glob("*/symbol=*/date=*/part-*.parquet"))
    assert len(partitions) == len({f.parent for f in files})
    for row in partitions.itertuples():
        parts = list((dataset_dir / row.table / f"symbol={row.symbol}" / f"date={row.date}")
                     .glob("part-*.parquet"))
        assert row.files == len(parts)
        assert row.rows == sum(pq.read_metadata(p).num_rows for p in parts)
        assert row.MB == round(sum(p.stat().st_size for p in parts) / 1e6, 3)
    indicators = partitions[(partitions.table == "indicators") & (partitions.date == DAYS[0])]
    ts = read(dataset_dir, "indicators", ["ts_ms", "date"]).to_pandas()
    first = ts[ts.date.astype(str) == DAYS[0]].ts_ms.min()
    from rtaid.dashboard.ui import fmt_ms

    assert indicators.iloc[0]["first (UTC)"] == fmt_ms(int(first))
    total_rows = sum(pq.read_metadata(f).num_rows for f in files)
    assert {m.label: m.value for m in at.metric}["Rows"] == f"{total_rows:,}"
    assert any("storage.retention_days = 30" in m.value for m in at.markdown)


@pytest.mark.parametrize("page", PAGES)
def test_missing_data_dir_says_so(tmp_path, open_app, page):
    missing = tmp_path / "nowhere"
    at = open_app(missing, page)
    assert not at.exception, at.exception
    texts = [w.value for w in at.warning]
    assert any(f"The data directory {missing} does not exist" in t for t in texts), texts


@pytest.mark.parametrize("page", PAGES)
def test_empty_data_dir_says_so(tmp_path, open_app, page):
    empty = tmp_path / "empty"
    (empty / "bars_1m").mkdir(parents=True)  # a table directory, no partitions yet
    at = open_app(empty, page)
    assert not at.exception, at.exception
    texts = [w.value for w in at.warning]
    assert any(f"The data directory {empty} holds no data yet" in t for t in texts), texts


def test_unreadable_file_is_named_not_a_traceback(dataset_dir, tmp_path, open_app):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset_dir, copy)
    part = next((copy / "bars_1m" / f"symbol={SYMBOL}" / f"date={DAYS[0]}").glob("part-*.parquet"))
    part.write_bytes(b"not parquet")
    at = open_app(copy, "market")
    assert not at.exception, at.exception
    assert any("could not be read" in e.value for e in at.error)
    at = open_app(copy, "data")
    assert not at.exception
    assert any("1 part file(s) could not be read" in e.value for e in at.error)


def test_time_window_narrows_every_row(dataset_dir, open_app):
    import datetime as dt

    at = open_app(dataset_dir, "market")
    window = at.slider(key=f"window_{SYMBOL}_{DAYS[0]}_{DAYS[1]}")
    assert window.value == (dt.datetime(2024, 8, 8, 23, 54), dt.datetime(2024, 8, 9, 0, 1))
    window.set_range(dt.datetime(2024, 8, 8, 23, 56), dt.datetime(2024, 8, 8, 23, 58)).run()
    assert not at.exception, at.exception
    start, end = 1723161360000, 1723161480000
    fig = figure(at)
    assert (values(trace(fig, "1m bars")["x"]) == ms([start, start + 60_000])).all()
    signals = read(dataset_dir, "signals").to_pandas()
    inside = signals[(signals.ts_ms >= start) & (signals.ts_ms < end)]
    shown = np.concatenate([values(t["x"]) for t in fig["data"]
                            if t.get("name") in ("entry long", "entry short", "exit")])
    assert sorted(shown) == sorted(ms(inside.ts_ms))
    width = fig["layout"]["meta"]["bucket_ms"]
    assert width == 100  # 2 minutes in <= 2,000 buckets
    ind = read(dataset_dir, "indicators", ["ts_ms", "vpin_osc"]).to_pandas()
    ind = ind[(ind.ts_ms >= start) & (ind.ts_ms < end)]
    expected = ind.groupby(ind.ts_ms // width * width).vpin_osc.mean()
    np.testing.assert_allclose(values(trace(fig, "VPIN")["y"]), expected, rtol=1e-9)


def test_long_windows_use_the_engines_minute_values(dataset_dir, tmp_path, open_app):
    """Five hours of bars (the recording's bars tiled): the oscillator rows are the
    bars' last values per minute, not a scan of the per-event table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    bars = read(dataset_dir, "bars_1m").filter(pc.equal(pc.cast(
        read(dataset_dir, "bars_1m")["date"], "string"), DAYS[0])).drop_columns(["symbol", "date"])
    tiles = []
    for k in range(50):  # 50 x 6 minutes
        shifted = pc.add(bars["minute_ms"], k * 360_000 - 1723161240000 + 1723075200000)
        tiles.append(bars.set_column(0, "minute_ms", shifted))
    day = pa.concat_tables(tiles).sort_by("minute_ms")
    part = tmp_path / "data" / "bars_1m" / f"symbol={SYMBOL}" / "date=2024-08-08"
    part.mkdir(parents=True)
    pq.write_table(day, part / "part-1723075200000-0000.parquet")
    at = open_app(tmp_path / "data", "market", query={"symbol": SYMBOL})
    assert not at.exception, at.exception
    fig = figure(at)
    names = [t.get("name") for t in fig["data"]]
    assert "VPIN max" not in names  # no band: one value per minute
    line = trace(fig, "VPIN")
    assert (values(line["x"]) == ms(day["minute_ms"].to_numpy())).all()
    np.testing.assert_array_equal(values(line["y"]), day["vpin_osc_last"].to_numpy())
    assert any("last value of each minute" in c.value for c in at.caption)
