"""Micro-benchmarks of the store over the real BTCUSDT recording.

Run with ``scripts/test.sh tests/bench --benchmark-enable``; in the normal suite they run
once as tests. bench/store.py reports per-frame latency percentiles of the same cases.
"""
import numpy as np
import pytest

from rtaid._kernels.engine import Engine
from rtaid.store import Store
from tests.helpers import BTC_RECORDING
from tests.helpers import pack, read_frames

SCALES = {"BTCUSDT": (2, 3)}
RING_RECORDS = 1 << 20


@pytest.fixture(scope="module")
def btc(shared_data):
    frames = read_frames(BTC_RECORDING)
    buf, offsets = pack([p for _, p in frames])
    recv_ns = np.array([ns for ns, _ in frames], dtype=np.int64)
    return buf, offsets, recv_ns


def drain_all(store):
    for name, table in store.writer.tables.items():
        scratch = np.empty(store.rings.capacity, dtype=table.dtype).view(np.uint8)
        while store.rings.drain(name, scratch):
            pass


def test_bench_writer_rows_per_s(benchmark, btc, tmp_path):
    """drain + Arrow + zstd + Parquet files for one recording's records."""
    buf, offsets, recv_ns = btc
    counter = iter(range(1_000_000))

    def setup():
        engine = Engine(["BTCUSDT"], scales=SCALES)
        store = Store(engine, str(tmp_path / str(next(counter))), ring_records=RING_RECORDS,
                      row_group_s=None)
        engine.run_frames(buf, offsets, 0, recv_ns)
        return (store,), {}

    def write(store):
        store.writer.flush(final=True)
        return store

    store = benchmark.pedantic(write, setup=setup, rounds=3)
    rows = store.stats()["rows_written"]
    assert rows["bbo"] == 66_089 and rows["trades"] == 21_313
    benchmark.extra_info["rows"] = sum(rows.values())


@pytest.mark.parametrize("mode", ["no store", "rings", "rings + writer thread"])
def test_bench_hot_path(benchmark, btc, tmp_path, mode):
    """Engine.run_frames over the recording: no store, copying into rings, and with the
    writer thread draining concurrently (GIL released by run_frames)."""
    buf, offsets, recv_ns = btc
    engine = Engine(["BTCUSDT"], scales=SCALES)
    store = None
    if mode != "no store":
        store = Store(engine, str(tmp_path), ring_records=RING_RECORDS, flush_interval_ms=10,
                      row_group_s=0.0)
    if mode == "rings + writer thread":
        store.start()

    def setup():
        if mode == "rings":
            drain_all(store)  # outside the timing: the rings never fill
        return (), {}

    benchmark.pedantic(lambda: engine.run_frames(buf, offsets, 0, recv_ns), setup=setup,
                       rounds=5)
    assert engine.book_state(0) == "synced"
    if store is not None:
        store.stop()
        benchmark.extra_info["rows_dropped_ring"] = sum(store.stats()["rows_dropped_ring"].values())
