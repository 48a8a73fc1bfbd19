"""Shared fixtures: the real recordings and a runner for coroutines on both loops."""
import asyncio
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(
    os.environ.get("RTAID_SHARED_DATA", ROOT.parent / "shared" / "data" / "binance-usdm")
)
BTC_RECORDING = SHARED_DATA / "btcusdt_20240808.gz"
ETH_RECORDING = SHARED_DATA / "ethusdt_20240808.gz"
EXCHANGE_INFO = SHARED_DATA / "exchangeInfo_2021.json"


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
