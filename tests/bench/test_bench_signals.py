"""Benchmark of the full pipeline (decode, book, every indicator, normalisers, bars,
strategy) over the real BTCUSDT recording, with the ACTIVE parameters so that VPIN,
bars and the strategy all work.

Run with ``scripts/test.sh tests/bench --benchmark-enable``; in the normal suite it runs
once as a test (benchmarks disabled) and still asserts the final state.
bench/signals.py reports messages/s, ns per family and the ratio to the reference.
"""
import math

import pytest

from rtaid._kernels.signals import (
    FAMILIES, SignalDriver, pack_frames, read_recording_frames, resolve_params,
)
from tests.conftest import BTC_RECORDING
from tests.signals.conftest import ACTIVE


@pytest.fixture(scope="module")
def btc(shared_data):
    params, l1_book, _ = resolve_params([BTC_RECORDING], ACTIVE)
    payloads = read_recording_frames(BTC_RECORDING)
    buf, offsets = pack_frames(payloads)
    return params, l1_book, buf, offsets


def test_bench_full_pipeline(benchmark, btc):
    params, l1_book, buf, offsets = btc
    driver = SignalDriver(["BTCUSDT"], params, l1_book, expected_rows=len(offsets))

    def run():
        # reset keeps every buffer: the timed region allocates nothing
        driver.reset()
        driver.run_frames(buf, offsets, 0)
        driver.finish()
        return driver

    d = benchmark(run)
    rows, bars, signals = d.counts
    assert (rows, bars) == (93_949, 7) and signals >= 4
    st = d.stats(0)
    assert st["book_synced"] and st["rows"] == rows
    assert all(v == 0 for k, v in st.items() if k.endswith("forced_evictions"))
    ind = d.arrays()["indicators"]
    for c in ("obi", "di", "ti", "ofi_norm", "mlofi_sum", "vpin", "kyle_lambda", "lpi",
              "wall_net", "dev_bps", "dev_bps_osc", "vpin_osc"):
        assert not math.isnan(ind[c][-1]), c


def test_profile_counts_each_family_on_its_driving_events(btc):
    """The in-kernel profile bench/signals.py reads: one section per family per event."""
    params, l1_book, buf, offsets = btc
    driver = SignalDriver(["BTCUSDT"], params, l1_book, expected_rows=len(offsets))
    driver.set_profile(True)
    driver.run_frames(buf, offsets, 0)
    driver.finish()
    prof = driver.profile(0)
    assert set(prof) == set(FAMILIES) | {"l2_copy"}
    events = driver.arrays()["indicators"]["event"]
    bbo, depth, trades = ((events == i).sum() for i in range(3))
    calls = {name: c for name, (_, c) in prof.items()}
    assert calls["tobi"] == calls["ofi"] == calls["dev"] == bbo
    assert calls["ti"] == calls["vpin"] == trades
    assert calls["di"] == calls["mlofi"] == calls["wall"] == calls["l2_copy"] == depth
    assert calls["kyle"] == calls["lpi"] == bbo + trades
    assert calls["strategy"] == bbo + depth + trades
    assert all(cycles > 0 for cycles, _ in prof.values())


def test_bench_daemon_engine(benchmark, btc):
    """The engine as the daemon runs it: decode, book, signal kernels, and the records
    of every table but depth (445k level rows) copied into the store's rings."""
    import numpy as np

    from rtaid._kernels.engine import Engine
    from rtaid._kernels.ring import RecordRings
    from rtaid._kernels.signals import SignalParams
    from rtaid.store.tables import TABLES

    params, l1_book, buf, offsets = btc
    names = [n for n in TABLES if n != "depth"]
    rings = RecordRings({n: (TABLES[n].ring, TABLES[n].dtype.itemsize) for n in names}, 1 << 17)
    sink = np.empty(rings.capacity * max(TABLES[n].dtype.itemsize for n in names), np.uint8)
    sig = {s: SignalParams(p) for s, p in params.items()}

    def setup():
        for n in names:
            rings.drain(n, sink)
        engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=rings,
                        signal_params=sig, l1_from_book=l1_book)
        return (engine,), {}

    def run(engine):
        engine.run_frames(buf, offsets, 0)
        return engine

    engine = benchmark.pedantic(run, setup=setup, rounds=5)
    assert engine.signal_state(0)["rows"] == 93_949
    assert engine.book_state(0) == "synced"
    assert all(rings.dropped(n) == 0 for n in names)
