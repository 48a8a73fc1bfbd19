"""Kernel = reference on synthetic recordings: gaps, crossed books and resyncs, stale
bookTickers, late (out-of-order) trades, quiet stretches, L1 from the book, short
windows and small rings of Kyle/VPIN, a configured VPIN bucket."""
import math

import pytest

from rtaid.reference.indicators import Params
from rtaid.reference.pipeline import run_recording
from tests.helpers import (
    config_from_keys, exchange_info_with_ticks, kernel_tables, sort_by_symbol,
)
from tests.signals.compare import compare_tables
from tests.signals.synthetic import CONFIGURED_BUCKET, SHORT, make_recording

def reference(paths, keys, exchange_info=None):
    params = Params().with_keys(keys) if keys is not None else None
    return run_recording(paths, params=params, exchange_info=exchange_info)


def engine(paths, keys, exchange_info=None, engine_out=None):
    return kernel_tables(paths, config=config_from_keys(keys), exchange_info=exchange_info,
                         engine_out=engine_out)


@pytest.mark.parametrize("seed,with_bbo,params", [
    (1, True, SHORT), (2, True, CONFIGURED_BUCKET), (3, False, SHORT),
    (4, False, CONFIGURED_BUCKET), (5, True, None),
])
def test_synthetic_recording_matches_reference(tmp_path, seed, with_bbo, params):
    path = tmp_path / "rec.txt"
    counts = make_recording(path, seed=seed, n_events=4000, with_bbo=with_bbo)
    assert counts["gap"] + counts["crossed"] >= 2 and counts["snapshot"] >= 3
    want = reference(path, params)
    engines = []
    got = engine(path, params, engine_out=engines)
    compare_tables(want, got)
    ind = got["indicators"]
    # the interesting paths were taken
    assert sum(1 for e, d in zip(ind["event"], ind["di"]) if e == "depth" and math.isnan(d)) >= 2
    if params is not None:
        if with_bbo:
            assert len(got["signals"]["seq"]) >= 2
        assert any(not math.isnan(x) for x in ind["vpin_osc"])
        assert engines[0].signal_stats(0)["kyle_resyncs"] > 0


def test_l2_values_turn_nan_on_a_gap_and_windows_restart_after_resync(tmp_path):
    path = tmp_path / "rec.txt"
    make_recording(path, seed=7, n_events=4000, with_bbo=True)
    got = engine(path, SHORT)["indicators"]
    rows = list(zip(got["event"], got["di"], got["mlofi_sum"], got["wall_net"], got["obi"]))
    breaks = [i for i, (e, di, *_r) in enumerate(rows) if e == "depth" and math.isnan(di)]
    assert breaks
    for i in breaks:
        _, di, ml, wn, obi = rows[i]
        assert math.isnan(ml) and math.isnan(wn)
        # L1 values carry over the break
        assert not math.isnan(obi) or i == 0
        # the next applied diff starts the mlofi window afresh: e = 0, so the sum is 0
        j = next((k for k in range(i + 1, len(rows))
                  if rows[k][0] == "depth" and not math.isnan(rows[k][1])), None)
        if j is not None and not math.isnan(rows[j][2]):
            assert rows[j][2] == 0.0


def test_two_symbols_in_one_stream_with_exchange_info_tick(tmp_path):
    """Two recordings replayed as one stream (one snapshot per file, attributed to the
    file's symbol), a tick from exchangeInfo, per-symbol params."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    make_recording(a, seed=11, n_events=2500, symbol="AAAUSDT")
    make_recording(b, seed=12, n_events=2500, with_bbo=False, symbol="BBBUSDT")
    info = exchange_info_with_ticks({"AAAUSDT": "0.05"})
    want = run_recording([a, b], params={"AAAUSDT": Params().with_keys(SHORT),
                                         "BBBUSDT": Params().with_keys(CONFIGURED_BUCKET)},
                         exchange_info=info)
    got = kernel_tables([a, b], config=config_from_keys(per_symbol={
        "AAAUSDT": SHORT, "BBBUSDT": CONFIGURED_BUCKET}), exchange_info=info)
    compare_tables(sort_by_symbol(want), sort_by_symbol(got))
    assert set(got["indicators"]["symbol"]) == {"AAAUSDT", "BBBUSDT"}
