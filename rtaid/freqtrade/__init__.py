"""rtaid for freqtrade: the producer endpoint, a bar reader for strategies, the export.

- :mod:`rtaid.freqtrade.producer`: the WebSocket endpoint freqtrade's
  ``external_message_consumer`` reads (run by the daemon when ``freqtrade.enabled``);
- :func:`load_bars`: rtaid's bars as a pandas DataFrame with the producer's columns, for
  backtests and for a strategy that has no producer connected;
- ``rtaid export freqtrade``: rtaid's bars as freqtrade OHLCV data files
  (:mod:`rtaid.freqtrade.export`).

This package imports neither the kernels nor the daemon: freqtrade's own environment
can import :func:`load_bars` with numpy, pyarrow and pandas (all freqtrade dependencies)
and rtaid's source on its path.
"""
from __future__ import annotations

from rtaid.freqtrade.pairs import pair_to_symbol, symbol_to_pair

__all__ = ["load_bars", "pair_to_symbol", "symbol_to_pair"]


def load_bars(data_dir, pair: str, timeframe: str = "1m"):
    """rtaid's bars of one pair from a dataset, as freqtrade sees them.

    Parameters
    ----------
    data_dir : str or path
        rtaid's dataset (``storage.data_dir``, or the ``--out`` of ``rtaid replay``).
    pair : str
        freqtrade's pair (``BTC/USDT:USDT``) or the Binance symbol (``BTCUSDT``).
    timeframe : str
        ``1m`` (rtaid's bars), or a whole number of minutes, hours or days: bars are
        then aggregated (:func:`rtaid.freqtrade.bars.resample`).

    Returns
    -------
    pandas.DataFrame
        The columns of the producer's frames (``date`` as UTC datetimes, OHLCV, every
        ``bars_1m`` column, ``target``), oldest first, index 0..n-1; empty (with just
        ``date``) when the dataset has no bars for the pair.

    Raises
    ------
    ValueError
        For a pair or timeframe rtaid cannot serve.
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("rtaid.freqtrade.load_bars returns a pandas DataFrame: install pandas "
                          "(freqtrade's environment has it)") from None

    from rtaid.freqtrade import bars as barlib

    symbol = pair_to_symbol(pair) if "/" in pair else pair.upper()
    symbol_to_pair(symbol)  # a clear error for a non-USD-M symbol
    tf_ms = barlib.timeframe_ms(timeframe)
    frame = barlib.read_bars(str(data_dir), symbol)
    if frame is None:
        return pd.DataFrame({"date": pd.Series([], dtype="datetime64[ms, UTC]")})
    frame = barlib.resample(frame, tf_ms)
    df = pd.DataFrame({c: frame.arrays[c] for c in frame.columns})
    # freqtrade's candles: datetime64[ms, UTC]
    df["date"] = pd.to_datetime(df["date"], unit="ms", utc=True).dt.as_unit("ms")
    return df
