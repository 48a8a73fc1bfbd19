"""freqtrade's producer/consumer messages, as freqtrade writes and reads them.

Checked against freqtrade 2026.9 (``rpc/api_server/api_ws.py``, ``ws/serializer.py``,
``ws_schemas.py``, ``misc.py``): every message is one JSON text frame written by
``orjson.dumps`` (no spaces), ``{"type": ..., "data": ...}``;

- whitelist: ``{"type":"whitelist","data":["BTC/USDT:USDT",...]}``
- analyzed_df: ``{"type":"analyzed_df","data":{"key":[pair,timeframe,candle_type],
  "df":{"__type__":"dataframe","__value__":DF},"la":ISO-8601}}`` where ``DF`` is a JSON
  *string*: pandas' ``to_json(orient="split")`` of the frame
  (``{"columns":[...],"index":[...],"data":[[...],...]}``) with datetime columns first
  turned into int64 epoch milliseconds; NaN is ``null``;
- new_candle: ``{"type":"new_candle","data":[pair,timeframe,candle_type]}``;
- errors: ``{"type":"exception","data":"..."}``.

The consumer reads ``DF`` back with ``pandas.read_json(..., orient="split")`` and converts
``date`` with ``unit="ms", utc=True``. Frames here are byte for byte what freqtrade's
producer sends for the same dataframe with one difference: floats are written as their
shortest round-trip text (Python's ``repr``), where pandas rounds to 10 decimals (a
1e-12 becomes ``0.0``). The consumer parses both the same way.

Rows are serialised once, when they are made (:func:`row_text`); a frame is then a join
of row texts. Row texts hold only numbers and ``null``, so embedding them in the
``__value__`` string needs no escaping.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Iterable, Sequence

TIMEFRAME = "1m"
CANDLE_TYPE = "futures"   # freqtrade's CandleType.FUTURES: USD-M perpetuals
# freqtrade's RPCMessageType values: what a consumer may subscribe to
MESSAGE_TYPES = frozenset({
    "status", "warning", "exception", "startup", "entry", "entry_fill", "entry_cancel",
    "exit", "exit_fill", "exit_cancel", "protection_trigger", "protection_trigger_global",
    "liquidation_warning", "strategy_msg", "whitelist", "analyzed_df", "new_candle",
})
# freqtrade's RPCRequestType values
REQUEST_TYPES = frozenset({"subscribe", "whitelist", "analyzed_df"})
MAX_LIMIT = 1500          # freqtrade answers at most this many rows per request

_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def value_text(value) -> str:
    """One cell: ints as ints, finite floats as their shortest round-trip text, else null."""
    if value is None:
        return "null"
    if isinstance(value, float):
        return float.__repr__(value) if math.isfinite(value) else "null"
    if isinstance(value, bool):          # numpy/arrow bools come as Python bools
        return "true" if value else "false"
    return str(int(value))


def row_text(values: Iterable) -> str:
    """One row of the ``data`` array: ``[1723075200000,61800.3,...,null]``."""
    return "[" + ",".join(map(value_text, values)) + "]"


def _escaped(text: str) -> str:
    """``text`` as it appears inside a JSON string (without the quotes)."""
    return _compact(text)[1:-1]


class FrameHeader:
    """The fixed part of a dataframe's split JSON for one column list."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)
        # escaped once: the frame is embedded in a JSON string
        self.escaped_columns = _escaped(_compact(list(self.columns)))

    def escaped_frame(self, rows: Sequence[str]) -> str:
        """The split JSON of ``rows`` (row texts), escaped for a JSON string."""
        index = "[" + ",".join(map(str, range(len(rows)))) + "]"
        return (r"{\"columns\":" + self.escaped_columns + r",\"index\":" + index
                + r",\"data\":[" + ",".join(rows) + "]}")


def iso_time(epoch_s: float) -> str:
    """``la``: how orjson writes an aware UTC datetime (``2024-08-08T00:01:00.5+00:00``
    style, microseconds only when non-zero)."""
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat()


def analyzed_df(pair: str, header: FrameHeader, rows: Sequence[str], last_analyzed_s: float,
                timeframe: str = TIMEFRAME, candle_type: str = CANDLE_TYPE) -> str:
    """An ``analyzed_df`` message for ``rows`` of one pair."""
    key = _compact([pair, timeframe, candle_type])
    return ('{"type":"analyzed_df","data":{"key":' + key
            + ',"df":{"__type__":"dataframe","__value__":"' + header.escaped_frame(rows)
            + '"},"la":"' + iso_time(last_analyzed_s) + '"}}')


def whitelist(pairs: Sequence[str]) -> str:
    return _compact({"type": "whitelist", "data": list(pairs)})


def new_candle(pair: str, timeframe: str = TIMEFRAME, candle_type: str = CANDLE_TYPE) -> str:
    return _compact({"type": "new_candle", "data": [pair, timeframe, candle_type]})


def error(text: str) -> str:
    return _compact({"type": "exception", "data": text})


class BadRequest(ValueError):
    """A consumer request freqtrade's producer would refuse; ``str()`` is the answer."""


def parse_request(text: str) -> tuple[str, object]:
    """``(type, data)`` of a consumer request, validated like freqtrade's
    ``WSRequestSchema`` (type one of subscribe/whitelist/analyzed_df, data anything).

    Raises
    ------
    BadRequest
        With freqtrade's answer text (``Invalid request type: ...``).
    """
    try:
        message = json.loads(text)
    except ValueError:
        raise BadRequest("Invalid request type: None") from None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind not in REQUEST_TYPES:
        raise BadRequest(f"Invalid request type: {kind}")
    return kind, message.get("data")


def analyzed_df_request(data) -> tuple[int | None, str | None]:
    """``(limit, pair)`` of an analyzed_df request: freqtrade takes ``min(limit, 1500)``
    rows (all it has when data or the limit is absent) of ``pair`` (every whitelisted
    pair when absent or null).

    Raises
    ------
    BadRequest
        For a limit that is not a number or a pair that is not a string.
    """
    if not data:
        return None, None
    if not isinstance(data, dict):
        raise BadRequest("Error processing request")
    limit = data.get("limit", MAX_LIMIT)
    pair = data.get("pair")
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not math.isfinite(limit):
        raise BadRequest("Error processing request")
    if pair is not None and not isinstance(pair, str):
        raise BadRequest("Error processing request")
    limit = int(min(limit, MAX_LIMIT))
    return (limit if limit > 0 else None), pair
