"""``rtaid export freqtrade`` and integrations/freqtrade/RtaidOrderFlow.py with the pinned
freqtrade: freqtrade loads the exported files, the strategy merges rtaid's columns and
signals on them, FreqAI gets rtaid's columns as features, and ``freqtrade backtesting``
runs offline with rtaid-sim as its exchange (markets) and the exported candles."""
import json
import math
import subprocess
import sys
import zipfile

import pyarrow.feather as feather
import pytest

from rtaid.freqtrade import bars as barlib
from tests.helpers import ROOT
from tests.freqtrade.helpers import clean_env, ft_env
from tests.helpers import free_port, wait_port

pytestmark = pytest.mark.slow

HERE = __import__("pathlib").Path(__file__).parent
STRATEGY_DIR = ROOT / "integrations" / "freqtrade"
PAIRS = {"BTC/USDT:USDT": "BTCUSDT", "ETH/USDT:USDT": "ETHUSDT"}
MINUTE = 60_000
OHLCV = ["date", "open", "high", "low", "close", "volume"]


def export(dataset, datadir, *extra):
    done = subprocess.run([sys.executable, "-m", "rtaid", "export", "freqtrade", str(datadir),
                           "--set", f"storage.data_dir={dataset}", *extra], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def bars_by_date(dataset, symbol):
    frame = barlib.read_bars(str(dataset), symbol)
    return {row[0]: dict(zip(frame.columns, row)) for row in frame.rows()}


def nan(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def same(a, b):
    return (nan(a) and nan(b)) or a == b


# The thresholds the tests run the strategy with, in freqtrade's own parameter file
# (RtaidOrderFlow.json beside the strategy): the defaults (rtaid's: 10/90, toxic 80) see
# no bar extreme enough on the ~6 minutes of the shared recordings.
PARAMS = {"buy": {"entry_low": 35, "entry_high": 65, "toxic_max": 100},
          "sell": {"exit_mid": 50, "max_hold_minutes": 2}}


def strategy_dir(tmp_path):
    """The ready strategy with PARAMS in its parameter file."""
    import shutil
    where = tmp_path / "strategy"
    where.mkdir()
    shutil.copy(STRATEGY_DIR / "RtaidOrderFlow.py", where)
    (where / "RtaidOrderFlow.json").write_text(json.dumps(
        {"strategy_name": "RtaidOrderFlow", "params": PARAMS, "ft_stratparam_v": 1,
         "export_time": "2026-01-01 00:00:00.000000+00:00"}))
    return where


def expected_side(bar):
    """RtaidOrderFlow's entry rule with PARAMS."""
    dev, ofi, vpin = bar["dev_bps_osc_last"], bar["ofi_norm_osc_last"], bar["vpin_osc_last"]
    if any(nan(v) for v in (dev, ofi, vpin)) or vpin > PARAMS["buy"]["toxic_max"]:
        return None
    if dev <= PARAMS["buy"]["entry_low"] and ofi >= 50:
        return "long"
    if dev >= PARAMS["buy"]["entry_high"] and ofi <= 50:
        return "short"
    return None


def test_export_is_what_freqtrade_loads_and_the_strategy_trades_it(ft_python, dataset, tmp_path):
    datadir = tmp_path / "ftdata"
    out = export(dataset, datadir, "--timeframes", "1m,5m")
    assert f"{datadir}/futures/BTC_USDT_USDT-1m-futures.feather" in out
    table = feather.read_table(datadir / "futures" / "BTC_USDT_USDT-5m-futures.feather")
    assert table.column_names == OHLCV and str(table.schema.field("date").type) == "timestamp[ms, tz=UTC]"

    done = subprocess.run([str(ft_python), str(HERE / "ft_strategy_check.py"), str(datadir),
                           str(dataset), str(strategy_dir(tmp_path))], env=ft_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    sides = []
    for pair, symbol in PAIRS.items():
        bars = bars_by_date(dataset, symbol)
        traded = [b for d, b in sorted(bars.items()) if not nan(b["open"])]
        # freqtrade's own data handler reads exactly rtaid's traded bars
        stored = got["stored"][pair]
        assert stored["date"] == [b["date"] for b in traded]
        for c in OHLCV[1:]:
            assert stored[c] == [b[c] for b in traded], c
        # the strategy merged rtaid's columns (<column>_rtaid) and decided per bar
        signals = got["signals"][pair]
        columns = [c for c in next(iter(bars.values())) if c != "date"]
        for i, date in enumerate(signals["date"]):
            bar = bars[date]
            for c in columns:
                assert same(signals[f"{c}_rtaid"][i], bar[c]), (pair, date, c)
            side = expected_side(bar)
            sides.append(side)
            assert (signals["enter_long"][i] == 1) == (side == "long"), (pair, date)
            assert (signals["enter_short"][i] == 1) == (side == "short"), (pair, date)
            dev = bar["dev_bps_osc_last"]
            assert (signals["exit_long"][i] == 1) == (not nan(dev) and dev >= 50)
            assert (signals["exit_short"][i] == 1) == (not nan(dev) and dev <= 50)
        # FreqAI: every rtaid column but the OHLCV duplicates, as %-rtaid_<column>
        features = got["features"][pair]
        names = [c for c in columns if c not in OHLCV]
        assert sorted(features) == sorted(f"%-rtaid_{c}" for c in names)
        for c in names:
            assert all(same(v, bars[d][c]) for v, d in zip(features[f"%-rtaid_{c}"], signals["date"])), c
    assert any(s for s in sides), "the dataset has no entry at all: the check would be empty"


def test_freqtrade_backtesting_runs_offline_with_rtaid_sim_as_the_exchange(ft_python, dataset, tmp_path):
    datadir = tmp_path / "ftdata"
    export(dataset, datadir)
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "rtaid.sim", "--port", str(port), "--rate", "50"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        userdir = tmp_path / "user_data"
        freqtrade = str(ft_python.parent / "freqtrade")
        subprocess.run([freqtrade, "create-userdir", "--userdir", str(userdir)], env=ft_env(),
                       capture_output=True, check=True, timeout=120)
        config = tmp_path / "config.json"
        config.write_text(json.dumps(backtest_config(f"http://127.0.0.1:{port}", dataset)))
        done = subprocess.run([freqtrade, "backtesting", "--config", str(config), "--strategy",
                               "RtaidOrderFlow", "--strategy-path", str(strategy_dir(tmp_path)),
                               "--datadir",
                               str(datadir), "--userdir", str(userdir), "--export", "trades"],
                              env=ft_env(), capture_output=True, text=True, timeout=300)
    finally:
        sim.kill()
        sim.wait()
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    archive = max((userdir / "backtest_results").glob("*.zip"))
    with zipfile.ZipFile(archive) as z:
        name = next(n for n in z.namelist() if n.endswith(".json") and "_config" not in n)
        trades = json.loads(z.read(name))["strategy"]["RtaidOrderFlow"]["trades"]
    assert trades, "no trade"
    bars = {pair: bars_by_date(dataset, symbol) for pair, symbol in PAIRS.items()}
    for trade in trades:
        # freqtrade enters at the open of the candle after the signal candle
        opened = int(__import__("datetime").datetime.fromisoformat(trade["open_date"]).timestamp() * 1000)
        signal_bar = bars[trade["pair"]][opened - MINUTE]
        assert expected_side(signal_bar) == ("short" if trade["is_short"] else "long"), trade
        assert trade["enter_tag"] == "rtaid_mean_reversion"
        assert trade["exit_reason"] in ("rtaid_mid", "rtaid_max_hold", "stop_loss", "force_exit")
    log = done.stdout + done.stderr
    assert "No history for BTC/USDT:USDT, funding_rate" in log   # documented: no funding data


def backtest_config(rest_url, dataset):
    """freqtrade on rtaid-sim: ccxt's USD-M endpoints pointed at the sim, linear markets only."""
    api = {key: rest_url + path for key, path in {
        "fapiPublic": "/fapi/v1", "fapiPublicV2": "/fapi/v2", "fapiPublicV3": "/fapi/v3",
        "fapiPrivate": "/fapi/v1", "fapiPrivateV2": "/fapi/v2", "fapiPrivateV3": "/fapi/v3"}.items()}
    ccxt = {"urls": {"api": api},
            "options": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}}
    return {
        "trading_mode": "futures", "margin_mode": "isolated", "max_open_trades": 2,
        "stake_currency": "USDT", "stake_amount": 100, "dry_run": True, "dry_run_wallet": 1000,
        "timeframe": "1m", "dataformat_ohlcv": "feather",
        "exchange": {"name": "binance", "key": "", "secret": "", "ccxt_config": ccxt,
                     "ccxt_async_config": ccxt, "pair_whitelist": list(PAIRS)},
        "pairlists": [{"method": "StaticPairList"}],
        "entry_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "same", "use_order_book": True, "order_book_top": 1},
        "rtaid": {"data_dir": str(dataset)},
    }
