"""Benchmark of the daemon's Engine with the full signal pipeline (decode, book, every
indicator, normalisers, bars, strategy) over the real BTCUSDT recording, with the
tests' active parameters (tests/helpers.py ACTIVE_KEYS) so that VPIN, bars and the
strategy all work.

Run with ``scripts/test.sh tests/bench --benchmark-enable``; in the normal suite it runs
once as a test (benchmarks disabled) and still asserts the final state.
bench/signals.py reports messages/s, ns per family and the ratios.
"""
import math

import pytest

from rtaid._kernels.engine import Engine
from rtaid._kernels.signals import PROFILE_BUILD, SignalParams
from rtaid.store.memory import MemoryTables
from rtaid.store.tables import TABLES
from tests.helpers import BTC_RECORDING, SIGNAL_TABLES, active_config, pack, read_frames


@pytest.fixture(scope="module")
def btc(shared_data):
    params = SignalParams.from_config(active_config().for_symbol("BTCUSDT"), 2, 3)
    buf, offsets = pack(p for _, p in read_frames(BTC_RECORDING))
    return {"BTCUSDT": params}, buf, offsets


def test_bench_signal_pipeline(benchmark, btc):
    """The engine with its signal tables' rows into rings, drained after each run."""
    params, buf, offsets = btc
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, signal_params=params)
    memory = MemoryTables(engine, SIGNAL_TABLES, ring_records=1 << 17, expected_rows=1 << 17)

    def run():
        # reset keeps every buffer: the timed region allocates nothing
        engine.reset()
        memory.clear()
        engine.run_frames(buf, offsets, 0)
        engine.finish_signals()
        memory.drain()
        return engine

    engine = benchmark(run)
    arrays = memory.arrays()
    assert (len(arrays["indicators"]), len(arrays["bars_1m"])) == (93_949, 7)
    assert len(arrays["signals"]) >= 4
    st = engine.signal_stats(0)
    assert st["book_synced"] and st["rows"] == 93_949
    assert all(v == 0 for k, v in st.items() if k.endswith("forced_evictions"))
    ind = arrays["indicators"]
    for c in ("obi", "di", "ti", "ofi_norm", "mlofi_sum", "vpin", "kyle_lambda", "lpi",
              "wall_net", "dev_bps", "dev_bps_osc", "vpin_osc"):
        assert not math.isnan(ind[c][-1]), c


def test_profiling_is_compiled_out_of_a_release_build(btc):
    """The per-family TSC brackets exist only in an RTAID_PROFILE=1 build (bench/signals.py
    --families makes one in a temporary directory)."""
    if PROFILE_BUILD:
        pytest.skip("this is a profile build")
    params, _, _ = btc
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, signal_params=params)
    with pytest.raises(RuntimeError, match="RTAID_PROFILE"):
        engine.set_profile(True)


def test_bench_daemon_engine(benchmark, btc):
    """The engine as the daemon runs it: decode, book, signal kernels, and the records
    of every table but depth (445k level rows) copied into the store's rings."""
    params, buf, offsets = btc
    names = [n for n in TABLES if n != "depth"]
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, signal_params=params)
    memory = MemoryTables(engine, names, ring_records=1 << 17)

    def setup():
        memory.drain()
        memory.clear()
        engine.reset()
        return (engine,), {}

    def run(engine):
        engine.run_frames(buf, offsets, 0)
        return engine

    engine = benchmark.pedantic(run, setup=setup, rounds=5)
    assert engine.signal_state(0)["rows"] == 93_949
    assert engine.book_state(0) == "synced"
    assert all(v == 0 for v in memory.dropped().values())
