"""Micro-benchmarks of the kernels over the real BTCUSDT recording.

Run with ``scripts/test.sh tests/bench --benchmark-enable``; in the normal suite they
run once as tests (benchmarks disabled) and still assert the final state.
bench/kernels.py reports the same measurements as ratios against baselines.
"""
import orjson
import pytest

from rtaid._kernels.decode import Decoder, decode_many
from rtaid._kernels.engine import Engine
from tests.helpers import BTC_RECORDING
from tests.helpers import pack, read_frames


@pytest.fixture(scope="module")
def btc_frames(shared_data):
    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    buf, offsets = pack(payloads)
    return payloads, buf, offsets


def test_bench_decode(benchmark, btc_frames):
    payloads, buf, offsets = btc_frames
    dec = Decoder()
    dec.add_symbol("BTCUSDT", 2, 3)
    ok = benchmark(decode_many, dec, buf, offsets, 0)
    assert ok == len(payloads)


def test_bench_orjson_baseline(benchmark, btc_frames):
    payloads, _, _ = btc_frames

    def load_all():
        return sum(1 for p in payloads if orjson.loads(p))

    assert benchmark(load_all) == len(payloads)


def test_bench_decode_and_book(benchmark, btc_frames):
    payloads, buf, offsets = btc_frames

    def run():
        engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
        engine.run_frames(buf, offsets, 0)
        return engine

    engine = benchmark(run)
    stats = engine.book_stats(0)
    assert engine.book_state(0) == "synced" and stats["gap"] == 0 and stats["crossed"] == 0
    assert stats["applied"] == 6546
