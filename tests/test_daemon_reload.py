"""SIGHUP in-process: the strategy thresholds reach the running signal kernels."""
import asyncio

from rtaid.config import load_config
from rtaid.daemon import Daemon
from rtaid.sdnotify import Notifier


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
