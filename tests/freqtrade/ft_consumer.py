"""Runs in the freqtrade venv: freqtrade's real ExternalMessageConsumer + DataProvider,
set up as freqtrade's own tests do (no exchange), driven by JSON commands on stdin.

    python ft_consumer.py '<producers JSON>'

Commands (one JSON object a line; one JSON answer a line on stdout):
- ``{"cmd": "wait", "producer": NAME, "pair": P, "last_date": MS, "timeout": S}``: wait
  until get_producer_df(P) ends at MS (or, without last_date, has any rows); answers
  ``{"columns": [...], "rows": [[...]], "la": ISO, "pairs": [...]}`` with dates in epoch
  ms and NaN as null, floats exact;
- ``{"cmd": "pairs", "producer": NAME}``: get_producer_pairs;
- ``{"cmd": "strategy", "strategy_dir": DIR, "pair": P}``: RtaidOrderFlow (dry-run, this
  DataProvider) analyses candles made of the producer's own OHLCV rows; answers its
  dataframe like ``wait`` does;
- ``{"cmd": "quit"}``.
freqtrade's log goes to stderr.
"""
import json
import logging
import math
import sys
import time

import pandas as pd
from freqtrade.data.dataprovider import DataProvider
from freqtrade.enums import CandleType
from freqtrade.rpc.external_message_consumer import ExternalMessageConsumer


def dump(df, la, pairs):
    rows = []
    for values in df.itertuples(index=False):
        row = []
        for c, v in zip(df.columns, values):
            if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
                row.append(None)
            elif hasattr(v, "timestamp"):       # date, and date_rtaid after a merge
                row.append(int(v.timestamp() * 1000))
            elif hasattr(v, "item"):
                row.append(v.item())
            else:
                row.append(v)
        rows.append(row)
    return {"columns": list(df.columns), "rows": rows, "la": la.isoformat(), "pairs": pairs,
            "dtypes": {c: str(t) for c, t in df.dtypes.items()}}


def run_strategy(cmd, config, dp):
    from freqtrade.enums import RunMode

    sys.path.insert(0, cmd["strategy_dir"])
    from RtaidOrderFlow import RtaidOrderFlow

    strategy = RtaidOrderFlow({**config, "runmode": RunMode.DRY_RUN, "dry_run": True,
                               "stake_currency": "USDT"})
    strategy.dp = dp
    produced, la = dp.get_producer_df(cmd["pair"], producer_name=strategy.rtaid_producer)
    # the exchange's candles of the same minutes (freqtrade's own dtype: ms)
    candles = produced[["date", "open", "high", "low", "close", "volume"]].copy()
    candles["date"] = candles["date"].dt.as_unit("ms")
    meta = {"pair": cmd["pair"]}
    analysed = strategy.ft_advise_signals(strategy.advise_indicators(candles, meta), meta)
    return dump(analysed, la, dp.get_producer_pairs(strategy.rtaid_producer))


def main():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    producers = json.loads(sys.argv[1])
    config = {
        "timeframe": "1m", "candle_type_def": CandleType.FUTURES, "trading_mode": "futures",
        "external_message_consumer": {"enabled": True, "producers": producers,
                                      "wait_timeout": 5, "ping_timeout": 5, "sleep_time": 1},
    }
    dp = DataProvider(config, None)
    emc = ExternalMessageConsumer(config, dp)
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            name = cmd.get("producer", "default")
            if cmd["cmd"] == "quit":
                break
            if cmd["cmd"] == "strategy":
                answer = run_strategy(cmd, config, dp)
            elif cmd["cmd"] == "pairs":
                deadline = time.time() + cmd.get("timeout", 0)
                while not dp.get_producer_pairs(name) and time.time() < deadline:
                    time.sleep(0.05)
                answer = {"pairs": dp.get_producer_pairs(name)}
            else:
                deadline = time.time() + cmd.get("timeout", 30)
                while True:
                    df, la = dp.get_producer_df(cmd["pair"], producer_name=name)
                    last = int(df["date"].iloc[-1].timestamp() * 1000) if len(df) else None
                    if last is not None and cmd.get("last_date") in (None, last):
                        break
                    if time.time() > deadline:
                        break
                    time.sleep(0.05)
                answer = dump(df, la, dp.get_producer_pairs(name))
            print(json.dumps(answer), flush=True)
    finally:
        emc.shutdown()


if __name__ == "__main__":
    main()
