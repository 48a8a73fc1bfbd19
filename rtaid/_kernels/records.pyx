"""The table registry: every table of the dataset, declared once.

Each table is a C record struct (records.pxd) and an entry of :data:`TABLES` here:
its name (the dataset's directory), its ring id, the time field that dates a row, and
the kinds of its columns (bool, enum). The layout (column order, byte offsets, sizes,
numpy formats) is read off the C structs, so the engine that fills the rings, the
rings themselves, the writer that turns records into Parquet (rtaid/store/tables.py)
and the config's ``storage.tables`` (rtaid/infra/config.py) all derive from this one
declaration. The partition columns of every table are :data:`PARTITION_COLUMNS`.

Column names of the signal tables follow indicators.md section 12.
"""
from libc.stdint cimport int64_t, int32_t, int16_t, int8_t
from rtaid._kernels.records cimport (
    TradeRec, BboRec, DepthRec, BookTopRec, BookEventRec, MarkRec, IndicatorRow, BarRow,
    SignalRow, OrderRec, FillRec, TBL_TRADES, TBL_BBO, TBL_DEPTH, TBL_BOOK_TOP,
    TBL_BOOK_EVENTS, TBL_MARK_PRICE, TBL_INDICATORS, TBL_BARS_1M, TBL_SIGNALS, TBL_ORDERS,
    TBL_FILLS, TBL_N_ENGINE, TBL_MAX, N_RAW, N_NORM, CLIENT_ID_BYTES,
)

# ---------------------------------------------------------------- names
# Hive partitions of every table: <data_dir>/<table>/symbol=<SYMBOL>/date=<YYYY-MM-DD>/
PARTITION_COLUMNS = ("symbol", "date")
SIDE_NAMES = ("bid", "ask")                                      # depth.side
BOOK_EVENT_NAMES = ("synced", "gap", "crossed", "resync", "reconnect")  # BEV_* order
EVENT_NAMES = ("bbo", "depth", "trade")                          # indicators.event, EV_*
REASON_NAMES = ("entry_long", "entry_short", "exit_mid", "max_hold", "stop_loss")  # RS_*
RAW_COLUMNS = (
    "obi", "di", "ti", "mpd_ticks", "mpd_bps", "ofi", "ofi_norm", "mlofi_sum", "vpin",
    "kyle_lambda", "lpi", "wall_bid", "wall_ask", "wall_net", "wall_dist_bid",
    "wall_dist_ask", "dev_bps",
)                                                                # RAW_* order
NORM_SERIES = (
    "obi", "di", "mpd_bps", "ofi_norm", "mlofi_sum", "vpin", "kyle_lambda", "lpi",
    "wall_net", "dev_bps",
)                                                                # NS_* order
NORM_COLUMNS = tuple(c for x in NORM_SERIES for c in (f"{x}_z", f"{x}_osc"))
assert len(RAW_COLUMNS) == N_RAW and len(NORM_SERIES) == N_NORM

# the execution tables' enums (orders, fills)
ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit")
ORDER_STATUSES = ("new", "sent", "accepted", "partially_filled", "filled", "canceled",
                  "rejected", "expired", "failed")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
VENUES = ("paper", "ccxt", "binance")
LIQUIDITY = ("maker", "taker")
# orders.reason: rejections (by risk check or by the venue) and cancel reasons; grows at
# run time like book_events.reason (order_reason_code registers a new text)
ORDER_REASONS = [""]
_ORDER_REASON_CODES = {"": 0}


def order_reason_code(str reason):
    """The ``orders.reason`` code of a text, registering a new one (the engine's thread)."""
    code = _ORDER_REASON_CODES.get(reason)
    if code is None:
        if len(ORDER_REASONS) >= MAX_REASONS - 1:
            return order_reason_code("other")
        code = len(ORDER_REASONS)
        ORDER_REASONS.append(reason)
        _ORDER_REASON_CODES[reason] = code
    return code


# book_events.reason: rows carry a code, files the text (a dictionary column). Codes are
# per process: the list starts with the kernel's own reasons and grows with each new
# reason text Python pushes (the feed's reconnect and resync reasons).
BOOK_EVENT_REASONS = [
    "",                  # 0: none (the kernel's own transitions say it all)
    "pu_gap",
    "crossed_book",
    "reconnect",
    "stale_feed",
    "snapshot_failed",
    "manual",
]
_REASON_CODES = {text: code for code, text in enumerate(BOOK_EVENT_REASONS)}
MAX_REASONS = 1 << 15


def reason_code(str reason):
    """The ``book_events.reason`` code of a reason text, registering a new text.

    Call from the engine's thread (where rows are pushed). Beyond ``MAX_REASONS``
    distinct texts, new ones are recorded as "other".
    """
    code = _REASON_CODES.get(reason)
    if code is None:
        if len(BOOK_EVENT_REASONS) >= MAX_REASONS - 1:
            return reason_code("other")
        code = len(BOOK_EVENT_REASONS)
        # append before publishing the code: the writer converts codes with this list
        BOOK_EVENT_REASONS.append(reason)
        _REASON_CODES[reason] = code
    return code


# ---------------------------------------------------------------- layouts
class TableLayout:
    """One table: its record layout and how its columns are written.

    Attributes
    ----------
    name : str
        Directory name of the table in the dataset.
    ring : int
        The table's ring index (TBL_* id) in a RecordRings.
    size : int
        ``sizeof`` of the C record.
    fields : tuple of (name, offset, numpy format)
        Every field in column order; ``sym`` is the symbol index, written as the
        ``symbol=`` partition, not as a column.
    time : str
        Exchange-time field (ms) that dates a row (``date=`` partition, part names).
    bools : tuple of str
        int8 fields written as bool columns.
    enums : dict
        ``{field: names by code}``: integer fields written as dictionary strings.
    """

    __slots__ = ("name", "ring", "size", "fields", "time", "bools", "enums")

    def __init__(self, name, ring, size, fields, time="E", bools=(), enums=None):
        self.name = name
        self.ring = ring
        self.size = size
        self.fields = tuple(fields)
        self.time = time
        self.bools = tuple(bools)
        self.enums = dict(enums or {})

    def __repr__(self):
        return f"TableLayout({self.name!r}, ring={self.ring}, size={self.size})"


cdef TradeRec _tr
cdef BboRec _bb
cdef DepthRec _dp
cdef BookTopRec _bt
cdef BookEventRec _be
cdef MarkRec _mk
cdef IndicatorRow _ir
cdef BarRow _br
cdef SignalRow _sr

cdef OrderRec _or
cdef FillRec _fl

_FORMATS = {("i", 8): "i8", ("i", 4): "i4", ("i", 2): "i2", ("i", 1): "i1", ("f", 8): "f8"}


cdef tuple _f(str name, const void* base, const void* field, size_t size, str kind):
    """(name, byte offset, numpy format) of one struct field (kind "S": a NUL-padded
    char array, written as a string column)."""
    fmt = f"S{size}" if kind == "S" else _FORMATS[(kind, size)]
    return (name, <const char*>field - <const char*>base, fmt)


def _trades():
    b = &_tr
    return [_f("E", b, &_tr.E, sizeof(_tr.E), "i"), _f("T", b, &_tr.T, sizeof(_tr.T), "i"),
            _f("recv_ns", b, &_tr.recv_ns, sizeof(_tr.recv_ns), "i"),
            _f("trade_id", b, &_tr.trade_id, sizeof(_tr.trade_id), "i"),
            _f("px", b, &_tr.px, sizeof(_tr.px), "i"), _f("qty", b, &_tr.qty, sizeof(_tr.qty), "i"),
            _f("sym", b, &_tr.sym, sizeof(_tr.sym), "i"),
            _f("buyer_maker", b, &_tr.buyer_maker, sizeof(_tr.buyer_maker), "i"),
            _f("aggregate", b, &_tr.aggregate, sizeof(_tr.aggregate), "i")]


def _bbo():
    b = &_bb
    return [_f("E", b, &_bb.E, sizeof(_bb.E), "i"), _f("T", b, &_bb.T, sizeof(_bb.T), "i"),
            _f("recv_ns", b, &_bb.recv_ns, sizeof(_bb.recv_ns), "i"),
            _f("u", b, &_bb.u, sizeof(_bb.u), "i"),
            _f("bid_px", b, &_bb.bid_px, sizeof(_bb.bid_px), "i"),
            _f("bid_qty", b, &_bb.bid_qty, sizeof(_bb.bid_qty), "i"),
            _f("ask_px", b, &_bb.ask_px, sizeof(_bb.ask_px), "i"),
            _f("ask_qty", b, &_bb.ask_qty, sizeof(_bb.ask_qty), "i"),
            _f("sym", b, &_bb.sym, sizeof(_bb.sym), "i")]


def _depth():
    b = &_dp
    return [_f("E", b, &_dp.E, sizeof(_dp.E), "i"), _f("T", b, &_dp.T, sizeof(_dp.T), "i"),
            _f("recv_ns", b, &_dp.recv_ns, sizeof(_dp.recv_ns), "i"),
            _f("U", b, &_dp.U, sizeof(_dp.U), "i"), _f("u", b, &_dp.u, sizeof(_dp.u), "i"),
            _f("pu", b, &_dp.pu, sizeof(_dp.pu), "i"), _f("px", b, &_dp.px, sizeof(_dp.px), "i"),
            _f("qty", b, &_dp.qty, sizeof(_dp.qty), "i"),
            _f("sym", b, &_dp.sym, sizeof(_dp.sym), "i"),
            _f("side", b, &_dp.side, sizeof(_dp.side), "i"),
            _f("snapshot", b, &_dp.snapshot, sizeof(_dp.snapshot), "i")]


def _book_top():
    b = &_bt
    return [_f("E", b, &_bt.E, sizeof(_bt.E), "i"), _f("T", b, &_bt.T, sizeof(_bt.T), "i"),
            _f("recv_ns", b, &_bt.recv_ns, sizeof(_bt.recv_ns), "i"),
            _f("u", b, &_bt.u, sizeof(_bt.u), "i"),
            _f("bid_px", b, &_bt.bid_px, sizeof(_bt.bid_px), "i"),
            _f("bid_qty", b, &_bt.bid_qty, sizeof(_bt.bid_qty), "i"),
            _f("ask_px", b, &_bt.ask_px, sizeof(_bt.ask_px), "i"),
            _f("ask_qty", b, &_bt.ask_qty, sizeof(_bt.ask_qty), "i"),
            _f("sym", b, &_bt.sym, sizeof(_bt.sym), "i"),
            _f("bid_levels", b, &_bt.bid_levels, sizeof(_bt.bid_levels), "i"),
            _f("ask_levels", b, &_bt.ask_levels, sizeof(_bt.ask_levels), "i")]


def _book_events():
    b = &_be
    return [_f("E", b, &_be.E, sizeof(_be.E), "i"), _f("T", b, &_be.T, sizeof(_be.T), "i"),
            _f("recv_ns", b, &_be.recv_ns, sizeof(_be.recv_ns), "i"),
            _f("u", b, &_be.u, sizeof(_be.u), "i"), _f("sym", b, &_be.sym, sizeof(_be.sym), "i"),
            _f("event", b, &_be.event, sizeof(_be.event), "i"),
            _f("reason", b, &_be.reason, sizeof(_be.reason), "i")]


def _mark_price():
    b = &_mk
    return [_f("E", b, &_mk.E, sizeof(_mk.E), "i"), _f("T", b, &_mk.T, sizeof(_mk.T), "i"),
            _f("recv_ns", b, &_mk.recv_ns, sizeof(_mk.recv_ns), "i"),
            _f("px", b, &_mk.px, sizeof(_mk.px), "i"), _f("sym", b, &_mk.sym, sizeof(_mk.sym), "i")]


def _indicators():
    b = &_ir
    cols = [_f("sym", b, &_ir.sym, sizeof(_ir.sym), "i"),
            _f("ts_ms", b, &_ir.ts_ms, sizeof(_ir.ts_ms), "i"),
            _f("event", b, &_ir.event, sizeof(_ir.event), "i"),
            _f("u", b, &_ir.u, sizeof(_ir.u), "i"), _f("seq", b, &_ir.seq, sizeof(_ir.seq), "i")]
    cols += [_f(c, b, &_ir.raw[k], sizeof(_ir.raw[k]), "f") for k, c in enumerate(RAW_COLUMNS)]
    for k, x in enumerate(NORM_SERIES):
        cols += [_f(f"{x}_z", b, &_ir.z[k], sizeof(_ir.z[k]), "f"),
                 _f(f"{x}_osc", b, &_ir.osc[k], sizeof(_ir.osc[k]), "f")]
    return cols


def _bars_1m():
    b = &_br
    cols = [_f("sym", b, &_br.sym, sizeof(_br.sym), "i"),
            _f("minute_ms", b, &_br.minute_ms, sizeof(_br.minute_ms), "i"),
            _f("open", b, &_br.open, sizeof(_br.open), "f"),
            _f("high", b, &_br.high, sizeof(_br.high), "f"),
            _f("low", b, &_br.low, sizeof(_br.low), "f"),
            _f("close", b, &_br.close, sizeof(_br.close), "f"),
            _f("volume", b, &_br.volume, sizeof(_br.volume), "f"),
            _f("buy_volume", b, &_br.buy_volume, sizeof(_br.buy_volume), "f"),
            _f("sell_volume", b, &_br.sell_volume, sizeof(_br.sell_volume), "f"),
            _f("trade_count", b, &_br.trade_count, sizeof(_br.trade_count), "i"),
            _f("vwap", b, &_br.vwap, sizeof(_br.vwap), "f"),
            _f("spread_mean", b, &_br.spread_mean, sizeof(_br.spread_mean), "f"),
            _f("mid_last", b, &_br.mid_last, sizeof(_br.mid_last), "f")]
    cols += [_f(f"{c}_last", b, &_br.raw[k], sizeof(_br.raw[k]), "f")
             for k, c in enumerate(RAW_COLUMNS)]
    for k, x in enumerate(NORM_SERIES):
        cols += [_f(f"{x}_z_last", b, &_br.z[k], sizeof(_br.z[k]), "f"),
                 _f(f"{x}_osc_last", b, &_br.osc[k], sizeof(_br.osc[k]), "f")]
    return cols


def _signals():
    b = &_sr
    return [_f("sym", b, &_sr.sym, sizeof(_sr.sym), "i"),
            _f("ts_ms", b, &_sr.ts_ms, sizeof(_sr.ts_ms), "i"),
            _f("seq", b, &_sr.seq, sizeof(_sr.seq), "i"),
            _f("prev_target", b, &_sr.prev_target, sizeof(_sr.prev_target), "i"),
            _f("target", b, &_sr.target, sizeof(_sr.target), "i"),
            _f("target_qty", b, &_sr.target_qty, sizeof(_sr.target_qty), "f"),
            _f("reason", b, &_sr.reason, sizeof(_sr.reason), "i"),
            _f("mid", b, &_sr.mid, sizeof(_sr.mid), "f"),
            _f("dev_osc", b, &_sr.dev_osc, sizeof(_sr.dev_osc), "f"),
            _f("ofi_osc", b, &_sr.ofi_osc, sizeof(_sr.ofi_osc), "f"),
            _f("vpin_osc", b, &_sr.vpin_osc, sizeof(_sr.vpin_osc), "f"),
            _f("model_p", b, &_sr.model_p, sizeof(_sr.model_p), "f")]


def _orders():
    b = &_or
    return [_f("ts_ms", b, &_or.ts_ms, sizeof(_or.ts_ms), "i"),
            _f("recv_ns", b, &_or.recv_ns, sizeof(_or.recv_ns), "i"),
            _f("sym", b, &_or.sym, sizeof(_or.sym), "i"),
            _f("client_id", b, &_or.client_id[0], CLIENT_ID_BYTES, "S"),
            _f("order_id", b, &_or.order_id, sizeof(_or.order_id), "i"),
            _f("side", b, &_or.side, sizeof(_or.side), "i"),
            _f("type", b, &_or.type, sizeof(_or.type), "i"),
            _f("tif", b, &_or.tif, sizeof(_or.tif), "i"),
            _f("px", b, &_or.px, sizeof(_or.px), "i"),
            _f("qty", b, &_or.qty, sizeof(_or.qty), "i"),
            _f("filled_qty", b, &_or.filled_qty, sizeof(_or.filled_qty), "i"),
            _f("status", b, &_or.status, sizeof(_or.status), "i"),
            _f("reason", b, &_or.reason, sizeof(_or.reason), "i"),
            _f("reduce_only", b, &_or.reduce_only, sizeof(_or.reduce_only), "i"),
            _f("venue", b, &_or.venue, sizeof(_or.venue), "i")]


def _fills():
    b = &_fl
    return [_f("ts_ms", b, &_fl.ts_ms, sizeof(_fl.ts_ms), "i"),
            _f("recv_ns", b, &_fl.recv_ns, sizeof(_fl.recv_ns), "i"),
            _f("sym", b, &_fl.sym, sizeof(_fl.sym), "i"),
            _f("client_id", b, &_fl.client_id[0], CLIENT_ID_BYTES, "S"),
            _f("trade_id", b, &_fl.trade_id, sizeof(_fl.trade_id), "i"),
            _f("side", b, &_fl.side, sizeof(_fl.side), "i"),
            _f("px", b, &_fl.px, sizeof(_fl.px), "i"),
            _f("qty", b, &_fl.qty, sizeof(_fl.qty), "i"),
            _f("fee", b, &_fl.fee, sizeof(_fl.fee), "f"),
            _f("liquidity", b, &_fl.liquidity, sizeof(_fl.liquidity), "i"),
            _f("realized_pnl", b, &_fl.realized_pnl, sizeof(_fl.realized_pnl), "f"),
            _f("venue", b, &_fl.venue, sizeof(_fl.venue), "i")]


# Every table, in the order of `rtaid config show` and of the writer's drains.
TABLES = {t.name: t for t in (
    TableLayout("trades", TBL_TRADES, sizeof(TradeRec), _trades(),
                bools=("buyer_maker", "aggregate")),
    TableLayout("bbo", TBL_BBO, sizeof(BboRec), _bbo()),
    TableLayout("depth", TBL_DEPTH, sizeof(DepthRec), _depth(), bools=("snapshot",),
                enums={"side": SIDE_NAMES}),
    TableLayout("book_top", TBL_BOOK_TOP, sizeof(BookTopRec), _book_top()),
    TableLayout("book_events", TBL_BOOK_EVENTS, sizeof(BookEventRec), _book_events(),
                enums={"event": BOOK_EVENT_NAMES, "reason": BOOK_EVENT_REASONS}),
    TableLayout("mark_price", TBL_MARK_PRICE, sizeof(MarkRec), _mark_price()),
    TableLayout("indicators", TBL_INDICATORS, sizeof(IndicatorRow), _indicators(),
                time="ts_ms", enums={"event": EVENT_NAMES}),
    TableLayout("bars_1m", TBL_BARS_1M, sizeof(BarRow), _bars_1m(), time="minute_ms"),
    TableLayout("signals", TBL_SIGNALS, sizeof(SignalRow), _signals(), time="ts_ms",
                enums={"reason": REASON_NAMES}),
    TableLayout("orders", TBL_ORDERS, sizeof(OrderRec), _orders(), time="ts_ms",
                bools=("reduce_only",),
                enums={"side": ORDER_SIDES, "type": ORDER_TYPES, "tif": TIME_IN_FORCE,
                       "status": ORDER_STATUSES, "reason": ORDER_REASONS, "venue": VENUES}),
    TableLayout("fills", TBL_FILLS, sizeof(FillRec), _fills(), time="ts_ms",
                enums={"side": ORDER_SIDES, "liquidity": LIQUIDITY, "venue": VENUES}),
)}
# tables the engine fills from the frames it processes (their ids are below this)
ENGINE_TABLE_IDS = TBL_N_ENGINE
MAX_TABLES = TBL_MAX


def _check():
    rings = set()
    for t in TABLES.values():
        names = [f[0] for f in t.fields]
        if len(set(names)) != len(names) or "sym" not in names or t.time not in names:
            raise ImportError(f"table {t.name}: duplicate fields, or no sym/{t.time}")
        if not 0 <= t.ring < TBL_MAX or t.ring in rings:
            raise ImportError(f"table {t.name}: ring id {t.ring} out of range or taken")
        rings.add(t.ring)
        end = 0
        for offset, name, size in sorted((f[1], f[0], int(f[2].lstrip("ifS"))) for f in t.fields):
            if offset < end:
                raise ImportError(f"table {t.name}: field {name} overlaps another")
            end = offset + size
        if end > t.size:
            raise ImportError(f"table {t.name}: fields run past the record")


_check()
