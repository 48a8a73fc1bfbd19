# Fixed-layout records the engine copies into the store's rings (one struct per table).
# rtaid/store/tables.py declares the matching numpy dtypes (same field order, aligned
# like C), and checks their itemsize against ring.record_size() at import.
# Naming rule the writer relies on: int64 fields named *px hold ticks, *qty hold lots.
from libc.stdint cimport int64_t, int32_t, int16_t, int8_t

# Table ids: the index of a table's ring in a RecordRings.
cdef enum:
    TBL_TRADES = 0
    TBL_BBO = 1
    TBL_DEPTH = 2
    TBL_BOOK_TOP = 3
    TBL_BOOK_EVENTS = 4
    TBL_MARK_PRICE = 5
    # rows of the signal kernels (records: signals.pxd IndicatorRow, BarRow, SignalRow)
    TBL_INDICATORS = 6
    TBL_BARS_1M = 7
    TBL_SIGNALS = 8
    TBL_N_ENGINE = 9     # tables the engine fills; later kernels add ids after these
    TBL_MAX = 16

# book_events.event codes
cdef enum:
    BEV_SYNCED = 0
    BEV_GAP = 1
    BEV_CROSSED = 2
    BEV_RESYNC = 3
    BEV_RECONNECT = 4
    BEV_N = 5

cdef struct TradeRec:
    int64_t E
    int64_t T
    int64_t recv_ns
    int64_t trade_id
    int64_t px
    int64_t qty
    int32_t sym
    int8_t buyer_maker
    int8_t aggregate     # 1: aggTrade, 0: trade

cdef struct BboRec:
    int64_t E
    int64_t T
    int64_t recv_ns
    int64_t u
    int64_t bid_px
    int64_t bid_qty
    int64_t ask_px
    int64_t ask_qty
    int32_t sym

cdef struct DepthRec:
    int64_t E
    int64_t T
    int64_t recv_ns
    int64_t U
    int64_t u
    int64_t pu
    int64_t px
    int64_t qty
    int32_t sym
    int8_t side          # 0 bid, 1 ask
    int8_t snapshot      # 1: a level of a REST snapshot (U = u = pu = lastUpdateId)

cdef struct BookTopRec:
    int64_t E
    int64_t T
    int64_t recv_ns
    int64_t u
    int64_t bid_px
    int64_t bid_qty
    int64_t ask_px
    int64_t ask_qty
    int32_t sym
    int32_t bid_levels
    int32_t ask_levels

cdef struct BookEventRec:
    int64_t E
    int64_t T
    int64_t recv_ns
    int64_t u
    int32_t sym
    int16_t event        # BEV_*
    int16_t reason       # index into rtaid.store.tables.REASONS

cdef struct MarkRec:
    int64_t E
    int64_t T
    int64_t recv_ns
    int64_t px
    int32_t sym
