"""Reference tables of the shared recordings, computed once per session (~40 s)."""
import pytest

from rtaid.reference.indicators import Params
from rtaid.reference.pipeline import run_recording
from tests.helpers import ACTIVE_KEYS, BTC_RECORDING, ETH_RECORDING

RECORDINGS = {"btc": BTC_RECORDING, "eth": ETH_RECORDING}
# parameter sets by name: config keys over the defaults (tests/helpers.py ACTIVE_KEYS)
PARAMS = {"default": {}, "active": ACTIVE_KEYS}

_cache = {}


@pytest.fixture(scope="session")
def reference_tables(shared_data):
    """reference_tables(recording, params_name) -> the reference's tables (cached)."""

    def get(recording: str, params: str):
        key = (recording, params)
        if key not in _cache:
            _cache[key] = run_recording(RECORDINGS[recording],
                                        params=Params().with_keys(PARAMS[params]))
        return _cache[key]

    return get


@pytest.fixture(scope="session")
def recordings():
    return RECORDINGS


@pytest.fixture(scope="session")
def param_sets():
    return PARAMS
