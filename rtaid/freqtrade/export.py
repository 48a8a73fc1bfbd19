"""``rtaid export freqtrade DATADIR``: rtaid's bars as freqtrade OHLCV data files.

freqtrade (checked against 2026.9, ``data/history/datahandlers``) reads futures candles
from ``<datadir>/futures/<pair with / : replaced by _>-<timeframe>-futures.<ext>``, e.g.
``futures/BTC_USDT_USDT-1m-futures.feather``, holding exactly the columns ``date``
(UTC timestamps, ms), ``open high low close volume``; its feather handler writes lz4
compression level 9, its parquet handler pandas' defaults. Extra columns would be
dropped on load, so rtaid's own columns reach a backtest through
:func:`rtaid.freqtrade.load_bars` instead.

Bars of minutes without a trade (OHLC NaN) are left out: freqtrade fills missing
candles on load with the previous close and zero volume, which is what such a minute
was. An existing file of the same pair and timeframe is replaced.
"""
from __future__ import annotations

import os
import sys

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq

from rtaid.freqtrade import bars as barlib
from rtaid.freqtrade.pairs import pair_to_symbol, symbol_to_pair

FORMATS = ("feather", "parquet")
OHLCV_COLUMNS = ["date", "open", "high", "low", "close", "volume"]


def pair_file(datadir: str, pair: str, timeframe: str, data_format: str = "feather") -> str:
    """freqtrade's file of a futures pair's candles (``timeframe`` as freqtrade spells it;
    ``1M`` would be written ``1Mo``, which rtaid never makes)."""
    name = pair
    for ch in "/ .@$+:":
        name = name.replace(ch, "_")
    return os.path.join(datadir, "futures", f"{name}-{timeframe}-futures.{data_format}")


def dataset_symbols(data_dir: str) -> list[str]:
    root = os.path.join(data_dir, "bars_1m")
    try:
        return sorted(n[7:] for n in os.listdir(root) if n.startswith("symbol="))
    except FileNotFoundError:
        return []


def ohlcv_table(frame: barlib.BarFrame) -> pa.Table:
    """The six OHLCV columns of the traded bars, as freqtrade stores them."""
    import numpy as np

    traded = ~np.isnan(frame.arrays["open"])
    arrays = [pa.array(frame.arrays["date"][traded], type=pa.timestamp("ms", tz="UTC"))]
    arrays += [pa.array(frame.arrays[c][traded].astype("float64")) for c in OHLCV_COLUMNS[1:]]
    return pa.Table.from_arrays(arrays, names=OHLCV_COLUMNS)


def export(data_dir: str, datadir: str, symbols: list[str], timeframes: list[str],
           data_format: str = "feather") -> dict[str, list[tuple[str, int]]]:
    """Write the files; returns ``{symbol: [(path, candles)]}`` (empty: no bars)."""
    written: dict[str, list[tuple[str, int]]] = {}
    for symbol in symbols:
        written[symbol] = []
        frame = barlib.read_bars(data_dir, symbol)
        if frame is None or not len(frame):
            continue
        pair = symbol_to_pair(symbol)
        for timeframe in timeframes:
            table = ohlcv_table(barlib.resample(frame, barlib.timeframe_ms(timeframe)))
            path = pair_file(datadir, pair, timeframe, data_format)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".tmp"
            if data_format == "feather":
                feather.write_feather(table, tmp, compression="lz4", compression_level=9)
            else:
                pq.write_table(table, tmp, compression="snappy")
            os.replace(tmp, path)
            written[symbol].append((path, table.num_rows))
    return written


def _symbol(name: str) -> str:
    """A pair (``BTC/USDT:USDT``) or a symbol (``btcusdt``) as the dataset's symbol."""
    if "/" in name:
        return pair_to_symbol(name)
    symbol_to_pair(name)          # a clear error for what is not a USD-M symbol
    return name.upper()


def main(args) -> int:
    """Handler of ``rtaid export freqtrade``."""
    from rtaid.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load_config_from_args

    config = load_config_from_args(args)
    data_dir = config.storage.data_dir
    try:
        timeframes = [t.strip() for t in args.timeframes.split(",") if t.strip()]
        for t in timeframes:
            barlib.timeframe_ms(t)
        if args.pairs:
            symbols = [_symbol(p.strip()) for p in args.pairs.split(",") if p.strip()]
        else:
            symbols = dataset_symbols(data_dir)
    except ValueError as exc:
        print(f"rtaid export freqtrade: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not timeframes:
        print("rtaid export freqtrade: --timeframes is empty", file=sys.stderr)
        return EXIT_USAGE
    if not symbols:
        print(f"rtaid export freqtrade: no bars_1m in {data_dir} (storage.data_dir; "
              f"--set storage.data_dir=DIR for another dataset)", file=sys.stderr)
        return EXIT_FAILURE
    try:
        written = export(data_dir, args.datadir, symbols, timeframes, args.data_format)
    except OSError as exc:
        print(f"rtaid export freqtrade: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    missing = [s for s, files in written.items() if not files]
    for files in written.values():
        for path, candles in files:
            print(f"{path}: {candles} candles")
    if missing:
        print(f"rtaid export freqtrade: no bars in {data_dir} for {', '.join(missing)}",
              file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
