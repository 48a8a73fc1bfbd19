"""Reference tables of the shared recordings, computed once per session (~40 s)."""
import pytest

from rtaid.reference.indicators import Params
from rtaid.reference.pipeline import run_recording
from tests.conftest import BTC_RECORDING, ETH_RECORDING

# VPIN calibrates within 10 s and the normalisers warm up after 20 updates, so that
# vpin, its oscillator, the strategy (toxic_max = 100: vpin_osc never blocks) and bars
# all produce values on the 346 s recordings (as tests/reference/test_pipeline.py).
ACTIVE = Params().with_keys({"vpin.calibration_ms": 10_000, "vpin.buckets": 50,
                             "norm.warmup": 20, "kyle.min_intervals": 10,
                             "strategy.toxic_max": 100.0})

RECORDINGS = {"btc": BTC_RECORDING, "eth": ETH_RECORDING}
PARAMS = {"default": None, "active": ACTIVE}

_cache = {}


@pytest.fixture(scope="session")
def reference_tables(shared_data):
    """reference_tables(recording, params_name) -> the reference's tables (cached)."""

    def get(recording: str, params: str):
        key = (recording, params)
        if key not in _cache:
            _cache[key] = run_recording(RECORDINGS[recording], params=PARAMS[params])
        return _cache[key]

    return get
