"""Pipeline smoke runs over the real BTCUSDT / ETHUSDT recordings (first lines only)."""
import gzip
import math

import pytest

from rtaid.reference.book import RefBook
from rtaid.reference.decode import depth_event, read_recording, snapshot_event
from rtaid.reference.indicators import NORM_COLUMNS, Params
from rtaid.reference.pipeline import BAR_COLUMNS, SIGNAL_COLUMNS, run_recording, tick_sizes
from tests.helpers import BTC_RECORDING, ETH_RECORDING, EXCHANGE_INFO

N_LINES = 20_000
# Short VPIN calibration and warm-up so that every indicator is exercised in 20k lines.
# toxic_max = 100: over such a short sample vpin_osc stays above 80, which would block
# every entry; the transitions are checked against the rows below.
SMOKE = Params().with_keys({"vpin.calibration_ms": 10_000, "vpin.buckets": 50,
                            "norm.warmup": 20, "kyle.min_intervals": 10,
                            "strategy.toxic_max": 100.0, "strategy.entry_low": 30.0,
                            "strategy.entry_high": 70.0})


def independent_counts(path, n_lines):
    """Rows expected from the raw lines, without the pipeline: non-stale bbo, trades,
    and depth diffs whose RefBook status gets a row."""
    bbo = trades = depth = 0
    last_u = None
    book = RefBook()
    bbo_spread = {}
    for i, (_, msg) in enumerate(read_recording(path)):
        if i >= n_lines:
            break
        data = msg.get("data", msg)
        if "stream" not in msg:
            pending, book.buffer = book.buffer, []
            book.on_snapshot(snapshot_event(msg, 2, 3))
            depth += sum(book.on_depth(ev) in ("synced", "applied", "gap", "crossed")
                         for ev in pending)
        elif data["e"] == "bookTicker":
            if last_u is None or data["u"] >= last_u:
                last_u = data["u"]
                bbo += 1
                bbo_spread[data["u"]] = float(data["a"]) - float(data["b"])
        elif data["e"] in ("trade", "aggTrade"):
            trades += 1
        elif data["e"] == "depthUpdate":
            depth += book.on_depth(depth_event(data, 2, 3)) in ("synced", "applied", "gap", "crossed")
    return bbo, trades, depth, bbo_spread


@pytest.fixture(scope="module")
def btc(shared_data):
    stats = {}
    tables = run_recording(BTC_RECORDING, params=SMOKE, max_lines=N_LINES, stats=stats)
    return tables, stats


def nonnan(xs):
    return [x for x in xs if not math.isnan(x)]


def test_row_counts_and_identity(btc):
    tables, stats = btc
    ind = tables["indicators"]
    bbo, trades, depth, _ = independent_counts(BTC_RECORDING, N_LINES)
    assert len(ind["seq"]) == bbo + trades + depth
    assert ind["event"].count("bbo") == bbo
    assert ind["event"].count("trade") == trades
    assert ind["event"].count("depth") == depth
    assert ind["seq"] == list(range(len(ind["seq"])))
    assert set(ind["symbol"]) == {"BTCUSDT"}
    assert stats["depth_buffered"] > 0 and stats["depth_synced"] == 1


def test_value_ranges(btc):
    tables, _ = btc
    ind = tables["indicators"]
    obi = nonnan(ind["obi"])
    assert len(obi) == len(ind["obi"]) and all(-1 <= x <= 1 for x in obi)
    assert all(-1 <= x <= 1 for x in nonnan(ind["di"]) + nonnan(ind["ti"]))
    vpin = nonnan(ind["vpin"])
    assert vpin and all(0 <= x <= 1 for x in vpin)
    assert nonnan(ind["kyle_lambda"]) and nonnan(ind["lpi"]) and nonnan(ind["mlofi_sum"])
    assert all(x >= 1 for x in nonnan(ind["wall_bid"]) + nonnan(ind["wall_ask"]))
    assert all(x <= 20 for x in nonnan(ind["wall_bid"]) + nonnan(ind["wall_ask"]))
    for c in NORM_COLUMNS:
        if c.endswith("_osc"):
            vals = nonnan(ind[c])
            assert vals, c
            assert all(0 <= x <= 100 for x in vals), c
        else:
            assert len(nonnan(ind[c])) == len(nonnan(ind[c[:-2] + "_osc"]))


def test_mpd_bounded_by_half_spread(btc):
    tables, _ = btc
    ind = tables["indicators"]
    *_, spread = independent_counts(BTC_RECORDING, N_LINES)
    tick = 0.01   # 10**-2: no exchangeInfo
    n = 0
    for ev, u, m in zip(ind["event"], ind["u"], ind["mpd_ticks"]):
        if ev == "bbo":
            assert abs(m * tick) <= spread[u] / 2 + 1e-9
            n += 1
    assert n > 10_000


def test_bars_and_signals(btc):
    tables, _ = btc
    bars, ind = tables["bars_1m"], tables["indicators"]
    assert list(bars) == BAR_COLUMNS and list(tables["signals"]) == SIGNAL_COLUMNS
    assert all(m % 60_000 == 0 for m in bars["minute_ms"])
    assert bars["minute_ms"] == sorted(set(bars["minute_ms"]))
    assert sum(bars["trade_count"]) == ind["event"].count("trade")
    for i, m in enumerate(bars["minute_ms"]):
        assert bars["low"][i] <= bars["vwap"][i] <= bars["high"][i]
        assert bars["volume"][i] == pytest.approx(bars["buy_volume"][i] + bars["sell_volume"][i])
    sig = tables["signals"]
    assert len(sig["seq"]) >= 2 and sig["target"][0] != 0 and sig["target"][1] == 0
    assert sig["prev_target"] == [0] + sig["target"][:-1]
    last_exit = None
    entry_ts = None
    for k in range(len(sig["seq"])):
        i = sig["seq"][k]                               # seq == row index (one symbol)
        T, reason = ind["ts_ms"][i], sig["reason"][k]
        dev, ofi = ind["dev_bps_osc"][i], ind["ofi_norm_osc"][i]
        assert (sig["ts_ms"][k], sig["dev_osc"][k], sig["ofi_osc"][k]) == (T, dev, ofi)
        assert sig["target_qty"][k] == sig["target"][k] * SMOKE.strategy_order_qty
        if reason == "entry_long":
            assert sig["prev_target"][k] == 0 and dev <= 30 and ofi >= 50
        elif reason == "entry_short":
            assert sig["prev_target"][k] == 0 and dev >= 70 and ofi <= 50
        else:
            assert sig["target"][k] == 0
            if reason == "max_hold":
                assert T - entry_ts > 120_000
        if sig["target"][k] != 0:
            assert last_exit is None or T >= last_exit + 30_000
            entry_ts = T
        else:
            last_exit = T


def test_l1_from_book_matches_bookticker(tmp_path, shared_data):
    """Without bookTicker lines, L1 comes from the book; the README says each bookTicker
    whose u equals a depth u matches the rebuilt top of book, so obi must agree."""
    src = tmp_path / "nobbo.gz"
    with gzip.open(BTC_RECORDING, "rt") as fin, gzip.open(src, "wt") as fout:
        for i, line in enumerate(fin):
            if i >= N_LINES:
                break
            if "@bookTicker" not in line:
                fout.write(line)
    t_book = run_recording(src, params=Params(strategy_name="none"))["indicators"]
    t_bbo = run_recording(BTC_RECORDING, params=Params(strategy_name="none"),
                          max_lines=N_LINES)["indicators"]
    assert set(t_book["event"]) == {"depth", "trade"}
    bbo_obi = {u: o for e, u, o in zip(t_bbo["event"], t_bbo["u"], t_bbo["obi"]) if e == "bbo"}
    matched = 0
    for e, u, o in zip(t_book["event"], t_book["u"], t_book["obi"]):
        if e == "depth" and u in bbo_obi:
            assert o == bbo_obi[u]
            matched += 1
    assert matched > 100


def test_two_files_one_stream_and_exchange_info(shared_data):
    both = run_recording([BTC_RECORDING, ETH_RECORDING], max_lines=3000,
                         exchange_info=EXCHANGE_INFO)
    ind = both["indicators"]
    assert set(ind["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    single = run_recording(ETH_RECORDING, max_lines=3000,
                           exchange_info=str(EXCHANGE_INFO))["indicators"]
    sel = [i for i, s in enumerate(ind["symbol"]) if s == "ETHUSDT"]
    for c in ("seq", "u", "obi", "mpd_ticks", "ofi_norm", "wall_dist_bid"):
        a = [ind[c][i] for i in sel]
        assert [x for x in a if x == x] == [x for x in single[c] if x == x], c
    assert tick_sizes(EXCHANGE_INFO)["BTCUSDT"] == 0.01
