"""Runs in the freqtrade venv: freqtrade loads rtaid's exported files, and RtaidOrderFlow
runs populate_indicators / entry / exit and its FreqAI feature engineering on them.
Prints one JSON object.

    python ft_strategy_check.py FT_DATADIR RTAID_DATASET STRATEGY_DIR
"""
import json
import math
import sys
from pathlib import Path

from freqtrade.data.dataprovider import DataProvider
from freqtrade.data.history import get_datahandler, load_pair_history
from freqtrade.enums import CandleType, RunMode

PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def plain(v):
    if hasattr(v, "timestamp"):
        return int(v.timestamp() * 1000)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def table(df, columns):
    return {c: [plain(v) for v in df[c]] for c in columns}


def main():
    datadir, dataset, strategy_dir = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    from freqtrade.resolvers import StrategyResolver

    config = {"runmode": RunMode.BACKTEST, "timeframe": "1m", "candle_type_def": CandleType.FUTURES,
              "trading_mode": "futures", "stake_currency": "USDT", "dry_run": True,
              "rtaid": {"data_dir": dataset}, "strategy": "RtaidOrderFlow",
              "strategy_path": strategy_dir, "user_data_dir": datadir,
              "stake_amount": 100, "max_open_trades": 2, "exchange": {"name": "binance",
                                                                    "pair_whitelist": PAIRS}}
    # as freqtrade loads it: with the parameter file beside it (RtaidOrderFlow.json)
    strategy = StrategyResolver.load_strategy(config)
    strategy.ft_load_hyper_params()          # what ft_bot_start does: the file's values
    strategy.dp = DataProvider(config, None)
    out = {"stored": {}, "signals": {}, "features": {}}
    handler = get_datahandler(datadir, "feather")
    for pair in PAIRS:
        stored = handler.ohlcv_load(pair, "1m", CandleType.FUTURES, fill_missing=False)
        out["stored"][pair] = table(stored, list(stored.columns))
        df = load_pair_history(pair, "1m", datadir, candle_type=CandleType.FUTURES, data_format="feather")
        meta = {"pair": pair}
        analysed = strategy.ft_advise_signals(strategy.advise_indicators(df.copy(), meta), meta)
        out["signals"][pair] = table(analysed, list(analysed.columns))
        features = strategy.feature_engineering_standard(df.copy(), meta)
        out["features"][pair] = table(features, [c for c in features.columns if c.startswith("%")])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
