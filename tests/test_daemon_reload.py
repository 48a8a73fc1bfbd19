"""SIGHUP in-process: the strategy thresholds reach the running signal kernels."""
import asyncio

import pytest

from rtaid.infra.config import load_config
from rtaid.daemon import Daemon
from rtaid.infra.sdnotify import Notifier


def make_daemon(tmp_path, text):
    path = tmp_path / "rtaid.toml"
    path.write_text(text)
    config = load_config(str(path), [f"storage.data_dir={tmp_path / 'data'}",
                                      'feed.symbols=["BTCUSDT","ETHUSDT"]'], env={})
    return path, Daemon(config, notifier=Notifier({}),
                        scales={"BTCUSDT": (2, 3), "ETHUSDT": (2, 3)})


def test_reload_applies_strategy_thresholds_per_symbol(tmp_path):
    async def scenario():
        path, daemon = make_daemon(tmp_path, "[strategy]\nentry_low = 10.0\n")
        assert daemon.engine.strategy_params(0)["entry_low"] == 10.0
        path.write_text("[strategy]\nentry_low = 20.0\nstop_bps = 30.0\n"
                        "[symbols.ETHUSDT.strategy]\nentry_low = 25.0\n")
        daemon.reload()
        btc, eth = daemon.engine.strategy_params(0), daemon.engine.strategy_params(1)
        assert (btc["entry_low"], btc["stop_bps"]) == (20.0, 30.0)
        assert (eth["entry_low"], eth["stop_bps"]) == (25.0, 30.0)
        # a key that needs a restart (strategy.order_qty): nothing is applied
        path.write_text("[strategy]\nentry_low = 5.0\norder_qty = 0.5\n")
        daemon.reload()
        assert daemon.engine.strategy_params(0)["entry_low"] == 20.0
        assert daemon.engine.strategy_params(0)["order_qty"] == 0.001
    asyncio.run(scenario())


def test_signals_wait_for_decimals_when_exchange_info_is_missing(tmp_path):
    """Without exchangeInfo the kernels start once the data showed the decimals."""
    async def scenario():
        path = tmp_path / "rtaid.toml"
        path.write_text("")
        config = load_config(str(path), [f"storage.data_dir={tmp_path / 'data'}"], env={})
        daemon = Daemon(config, notifier=Notifier({}))
        assert not daemon.engine.signals_enabled(0)
        frame = (b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":1,"s":"BTCUSDT",'
                 b'"b":"60000.10","B":"1.000","a":"60000.20","A":"2.000","T":1,"E":1}}')
        daemon.engine.feed(frame, 0, -1)
        daemon.enable_signals()
        assert daemon.engine.signals_enabled(0)
        assert daemon.engine.strategy_params(0)["entry_low"] == 10.0
    asyncio.run(scenario())


@pytest.mark.parametrize("strategy", ["none", "mean_reversion"])
def test_recorder_mode_computes_everything_and_trades_nothing(tmp_path, shared_data, strategy):
    """strategy.name = none: indicators and bars as usual, no target ever changes (the
    same stream with mean_reversion does trade: the test is not vacuous)."""
    from tests.helpers import BTC_RECORDING
    from tests.helpers import read_frames

    async def scenario():
        path = tmp_path / "rtaid.toml"
        path.write_text(f'[strategy]\nname = "{strategy}"\ntoxic_max = 100.0\n'
                        '[vpin]\ncalibration_ms = 10000\n[norm]\nwarmup = 20\n')
        config = load_config(str(path), [f"storage.data_dir={tmp_path / 'data'}"], env={})
        daemon = Daemon(config, notifier=Notifier({}), scales={"BTCUSDT": (2, 3)})
        frames = read_frames(BTC_RECORDING)
        snap = next(i for i, (_, p) in enumerate(frames) if b"lastUpdateId" in p)
        execution = asyncio.create_task(daemon._execution_task())
        for i, (_, payload) in enumerate(frames):
            daemon.engine.feed(payload, 0, 0 if i == snap else -1)
            if daemon.engine.exec_pending:   # as the listener does after a frame
                daemon._targets_wake.set()
                await asyncio.sleep(0)
                await asyncio.sleep(0)
        execution.cancel()
        state = daemon.engine.signal_state(0)
        assert state["rows"] == 93_949
        assert state["vpin_osc"] == state["vpin_osc"]          # computed (not NaN)
        if strategy == "none":
            assert daemon.target_changes == 0 and daemon.targets == {"BTCUSDT": 0}
        else:
            assert daemon.target_changes > 0
    asyncio.run(scenario())
