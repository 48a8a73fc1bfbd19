"""Reference tables of the shared recordings, computed once per session: the four
cases at once, one process per core (the pure-Python reference takes ~20 s a case)."""
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

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
        if not _cache:
            cases = [(r, p) for r in RECORDINGS for p in PARAMS]
            workers = min(len(cases), len(os.sched_getaffinity(0)))
            # spawned, not forked: the test process may have threads (sims, writers)
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
                futures = {case: pool.submit(_reference, *case) for case in cases}
                _cache.update((case, f.result()) for case, f in futures.items())
        return _cache[(recording, params)]

    return get


@pytest.fixture(scope="session")
def recordings():
    return RECORDINGS


@pytest.fixture(scope="session")
def param_sets():
    return PARAMS


def _reference(recording: str, params: str) -> dict:
    return run_recording(RECORDINGS[recording], params=Params().with_keys(PARAMS[params]))
