"""Shared fixtures: the real recordings, a runner for coroutines on both loops, an
rtaid-sim process. Shared helpers (paths, parameter sets, processes) are in helpers.py."""
import asyncio

import pytest

from tests.helpers import BTC_RECORDING, ETH_RECORDING, SHARED_DATA, free_port, start_sim


@pytest.fixture(scope="session")
def shared_data():
    if not BTC_RECORDING.exists():
        pytest.fail(f"shared recordings not found at {SHARED_DATA} (set RTAID_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """Run a coroutine to completion on a fresh asyncio or uvloop event loop."""

    def runner(coro, timeout=60.0):
        async def bounded():
            return await asyncio.wait_for(coro, timeout)

        if request.param == "uvloop":
            import uvloop

            return uvloop.run(bounded())
        return asyncio.run(bounded())

    runner.loop_name = request.param
    return runner


@pytest.fixture(scope="session")
def replayed(shared_data, tmp_path_factory):
    """Both recordings replayed once (one chain, default config) into a dataset:
    ``(root, ReplaySummary)``."""
    from rtaid.replay import replay

    out = tmp_path_factory.mktemp("replay")
    summary = replay([BTC_RECORDING, ETH_RECORDING], out)
    return out, summary


@pytest.fixture
def sim_port():
    """An rtaid-sim process (synthetic market, 200 events/s per symbol): its port."""
    port = free_port()
    proc = start_sim(port, "--rate", "200")
    try:
        yield port
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(autouse=True)
def _book_invariants(request):
    """A debug build (RTAID_DEBUG=1) checks every book after each event; a violation in a
    kernel that cannot raise is counted, and fails the test that caused it here."""
    from rtaid._kernels.book import invariant_violations

    before = invariant_violations()
    yield
    if request.node.get_closest_marker("breaks_book_invariants") is None:
        assert invariant_violations() == before, "a book invariant was broken during this test"


@pytest.fixture(autouse=True)
def _logging_restored():
    """A command run in-process configures logging as its config says; the next test
    starts from the defaults again."""
    yield
    from rtaid.infra.log import reset_logging
    reset_logging()
