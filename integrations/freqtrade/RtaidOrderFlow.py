"""RtaidOrderFlow: rtaid's order-flow mean reversion as a freqtrade strategy.

rtaid (a market-microstructure daemon) computes order-flow indicators from the full
Binance USD-M order book and trade tape, which freqtrade's candles cannot carry, and
publishes them, one row per closed one-minute bar, as a freqtrade *producer*. This
strategy merges those rows into its dataframe and trades rtaid's mean-reversion signal:
fade a price dislocation (the deviation oscillator at an extreme) while order flow no
longer pushes it (the OFI oscillator on the other side of 50) and flow is not toxic
(the VPIN oscillator below its cap); exit when the deviation is back at its middle.

Where rtaid's rows come from:
- live / dry-run: ``self.dp.get_producer_df(pair)`` from the producer named
  ``rtaid_producer`` (``external_message_consumer.producers`` in the config);
- otherwise (backtests, or no producer data yet): ``rtaid.freqtrade.load_bars`` over
  rtaid's dataset, ``rtaid.data_dir`` in the config (or ``$RTAID_DATA_DIR``).

Merged columns keep rtaid's names with the ``_rtaid`` suffix (freqtrade's
``merge_informative_pair(..., suffix=...)``): ``dev_bps_osc_last_rtaid``,
``vpin_osc_last_rtaid``, ``target_rtaid``, ... With FreqAI enabled, every rtaid column
is also a FreqAI feature ``%-rtaid_<column>`` (see ``feature_engineering_standard``).
See integrations/freqtrade/README.md.
"""
from __future__ import annotations

import os
from datetime import datetime

from pandas import DataFrame

from freqtrade.strategy import IStrategy, IntParameter, merge_informative_pair

PRODUCER = "rtaid"
SUFFIX = "rtaid"
# rtaid's own OHLCV (from its trades) duplicate the exchange's candles; not features
OHLCV = ("open", "high", "low", "close", "volume")


class RtaidOrderFlow(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"                 # rtaid publishes one-minute bars
    can_short = True
    # producer rows may arrive after freqtrade's own candle: analyse every loop
    process_only_new_candles = False
    startup_candle_count = 0
    minimal_roi = {"0": 1.0}         # exits come from the signal, the stop and the time limit
    stoploss = -0.0015               # rtaid's strategy.stop_bps = 15
    use_exit_signal = True
    exit_profit_only = False

    # rtaid's strategy thresholds (indicators.md section 9), on [0, 100] oscillators
    entry_low = IntParameter(1, 40, default=10, space="buy")
    entry_high = IntParameter(60, 99, default=90, space="buy")
    toxic_max = IntParameter(50, 100, default=80, space="buy")
    exit_mid = IntParameter(30, 70, default=50, space="sell")
    max_hold_minutes = IntParameter(1, 30, default=2, space="sell")   # strategy.max_hold_ms

    rtaid_producer = PRODUCER

    def __init__(self, config: dict) -> None:
        super().__init__(config)
        self._dataset_cache: dict[str, tuple[object, DataFrame]] = {}

    # ------------------------------------------------------------------ rtaid's rows
    def rtaid_bars(self, pair: str, newest: object = None) -> DataFrame:
        """rtaid's frame of ``pair``: the producer's when it has rows (never in backtests),
        else the dataset's."""
        if self.dp is not None:
            df, _ = self.dp.get_producer_df(pair, timeframe="1m", producer_name=self.rtaid_producer)
            if not df.empty:
                return df
        data_dir = (self.config.get("rtaid", {}) or {}).get("data_dir") or os.environ.get("RTAID_DATA_DIR")
        if not data_dir:
            return DataFrame()
        cached = self._dataset_cache.get(pair)
        if cached is not None and cached[0] == newest:
            return cached[1]
        try:
            from rtaid.freqtrade import load_bars
        except ImportError as exc:  # pragma: no cover - an installation problem
            raise ImportError(
                "RtaidOrderFlow reads rtaid's dataset with rtaid.freqtrade.load_bars: install "
                "rtaid into freqtrade's environment, or put rtaid's source directory on "
                "PYTHONPATH") from exc
        df = load_bars(data_dir, pair, "1m")
        self._dataset_cache[pair] = (newest, df)
        return df

    def merge_rtaid(self, dataframe: DataFrame, pair: str) -> DataFrame:
        """``dataframe`` with rtaid's columns (``<column>_rtaid``), NaN where rtaid has no row."""
        if f"target_{SUFFIX}" in dataframe.columns:
            return dataframe
        newest = dataframe["date"].iloc[-1] if len(dataframe) else None
        rtaid = self.rtaid_bars(pair, newest)
        if rtaid.empty or "date" not in rtaid.columns or len(rtaid.columns) < 2:
            return dataframe.assign(**{f"{c}_{SUFFIX}": float("nan")
                                       for c in ("dev_bps_osc_last", "ofi_norm_osc_last",
                                                 "vpin_osc_last", "target")})
        rtaid = rtaid.copy()
        rtaid["date"] = rtaid["date"].astype(dataframe["date"].dtype)
        return merge_informative_pair(dataframe, rtaid, self.timeframe, "1m", ffill=True,
                                      append_timeframe=False, suffix=SUFFIX)

    # ------------------------------------------------------------------ freqtrade
    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe = self.merge_rtaid(dataframe, metadata["pair"])
        if self.config.get("freqai", {}).get("enabled", False):
            dataframe = self.freqai.start(dataframe, metadata, self)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dev = dataframe[f"dev_bps_osc_last_{SUFFIX}"]
        ofi = dataframe[f"ofi_norm_osc_last_{SUFFIX}"]
        vpin = dataframe[f"vpin_osc_last_{SUFFIX}"]
        calm = vpin <= self.toxic_max.value
        long = (dev <= self.entry_low.value) & (ofi >= 50) & calm
        short = (dev >= self.entry_high.value) & (ofi <= 50) & calm
        if "&-rtaid_return" in dataframe.columns and "do_predict" in dataframe.columns:
            # FreqAI: also ask the model to agree on the direction
            long &= (dataframe["do_predict"] == 1) & (dataframe["&-rtaid_return"] > 0)
            short &= (dataframe["do_predict"] == 1) & (dataframe["&-rtaid_return"] < 0)
        dataframe.loc[long, ["enter_long", "enter_tag"]] = (1, "rtaid_mean_reversion")
        dataframe.loc[short, ["enter_short", "enter_tag"]] = (1, "rtaid_mean_reversion")
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dev = dataframe[f"dev_bps_osc_last_{SUFFIX}"]
        dataframe.loc[dev >= self.exit_mid.value, ["exit_long", "exit_tag"]] = (1, "rtaid_mid")
        dataframe.loc[dev <= self.exit_mid.value, ["exit_short", "exit_tag"]] = (1, "rtaid_mid")
        return dataframe

    def custom_exit(self, pair: str, trade, current_time: datetime, current_rate: float,
                    current_profit: float, **kwargs):
        # rtaid's strategy.max_hold_ms: a reversion that has not come within the limit will not
        if (current_time - trade.open_date_utc).total_seconds() >= 60 * self.max_hold_minutes.value:
            return "rtaid_max_hold"
        return None

    # ------------------------------------------------------------------ FreqAI
    def feature_engineering_standard(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        """Every rtaid column as a FreqAI feature ``%-rtaid_<column>`` (once, on the base
        timeframe: rtaid's bars are one-minute bars)."""
        dataframe = self.merge_rtaid(dataframe, metadata["pair"])
        for column in list(dataframe.columns):
            if column.endswith(f"_{SUFFIX}") and not column.startswith("date"):
                name = column[: -len(SUFFIX) - 1]
                if name not in OHLCV:
                    dataframe[f"%-rtaid_{name}"] = dataframe[column]
        return dataframe

    def set_freqai_targets(self, dataframe: DataFrame, metadata: dict, **kwargs) -> DataFrame:
        """The mean return over the next ``label_period_candles`` candles."""
        horizon = self.freqai_info["feature_parameters"]["label_period_candles"]
        dataframe["&-rtaid_return"] = (
            dataframe["close"].shift(-horizon).rolling(horizon).mean() / dataframe["close"] - 1)
        return dataframe
