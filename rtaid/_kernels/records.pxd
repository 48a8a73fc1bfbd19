# The table registry's C half: one fixed-layout record struct per table of the dataset,
# and the table ids (each table's ring in a RecordRings). records.pyx is the other half:
# it declares each table's name, time field and column kinds and derives its layout from
# these structs (offsets, sizes), so the engine, the rings, the writer and the config all
# read one declaration. Adding a table = a struct and a TBL_* id here, an entry in
# records.pyx's TABLES.
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
    # rows of the signal kernels
    TBL_INDICATORS = 6
    TBL_BARS_1M = 7
    TBL_SIGNALS = 8
    TBL_N_ENGINE = 9     # tables the engine fills from frames; the others come after
    # rows of the execution layer (rtaid/exec), pushed from the engine's thread
    TBL_ORDERS = 9
    TBL_FILLS = 10
    TBL_MAX = 16

cdef enum:
    CLIENT_ID_BYTES = 40 # Binance allows 36 characters; NUL-padded

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


# ---------------------------------------------------------------- signal tables
# Raw indicator columns, in the order of the indicators table (section 12).
cdef enum:
    RAW_OBI = 0
    RAW_DI = 1
    RAW_TI = 2
    RAW_MPD_TICKS = 3
    RAW_MPD_BPS = 4
    RAW_OFI = 5
    RAW_OFI_NORM = 6
    RAW_MLOFI_SUM = 7
    RAW_VPIN = 8
    RAW_KYLE_LAMBDA = 9
    RAW_LPI = 10
    RAW_WALL_BID = 11
    RAW_WALL_ASK = 12
    RAW_WALL_NET = 13
    RAW_WALL_DIST_BID = 14
    RAW_WALL_DIST_ASK = 15
    RAW_DEV_BPS = 16
    N_RAW = 17

# Normalised series (section 8), in table order; each has a z and an osc column.
cdef enum:
    NS_OBI = 0
    NS_DI = 1
    NS_MPD_BPS = 2
    NS_OFI_NORM = 3
    NS_MLOFI_SUM = 4
    NS_VPIN = 5
    NS_KYLE_LAMBDA = 6
    NS_LPI = 7
    NS_WALL_NET = 8
    NS_DEV_BPS = 9
    N_NORM = 10

# IndicatorRow.event
cdef enum:
    EV_BBO = 0
    EV_DEPTH = 1
    EV_TRADE = 2

# SignalRow.reason
cdef enum:
    RS_ENTRY_LONG = 0
    RS_ENTRY_SHORT = 1
    RS_EXIT_MID = 2
    RS_MAX_HOLD = 3
    RS_STOP_LOSS = 4

# One row of the indicators table (section 12); raw/z/osc indexed by RAW_* / NS_*.
cdef struct IndicatorRow:
    int64_t ts_ms
    int64_t u
    int64_t seq
    int32_t sym
    int32_t event                    # EV_*
    double raw[N_RAW]
    double z[N_NORM]
    double osc[N_NORM]

# One row of bars_1m (section 10, Decisions B0-B5).
cdef struct BarRow:
    int64_t minute_ms
    int64_t trade_count
    int32_t sym
    double open
    double high
    double low
    double close
    double volume
    double buy_volume
    double sell_volume
    double vwap
    double spread_mean
    double mid_last
    double raw[N_RAW]                # <raw>_last
    double z[N_NORM]                 # <x>_z_last
    double osc[N_NORM]               # <x>_osc_last

# One row of the signals table (Decision S8).
cdef struct SignalRow:
    int64_t ts_ms
    int64_t seq
    int32_t sym
    int32_t prev_target
    int32_t target
    int32_t reason                   # RS_*
    double target_qty
    double mid
    double dev_osc
    double ofi_osc
    double vpin_osc
    double model_p                   # hybrid: the model's p_up gating entries; NaN else


# ---------------------------------------------------------------- execution tables
# One row per state change of an order (rtaid/exec); enums by code: records.pyx.
cdef struct OrderRec:
    int64_t ts_ms                    # exchange time of the change (local ms without one)
    int64_t recv_ns                  # local time of the change
    int64_t order_id                 # the venue's order id (0: none yet)
    int64_t px                       # limit price, ticks (0: market)
    int64_t qty                      # order quantity, lots
    int64_t filled_qty               # lots filled so far
    int32_t sym
    int16_t side                     # ORDER_SIDES
    int16_t type                     # ORDER_TYPES
    int16_t status                   # ORDER_STATUSES
    int16_t reason                   # code into ORDER_REASONS (rejections, cancels)
    int16_t venue                    # VENUES
    int16_t tif                      # TIME_IN_FORCE
    int8_t reduce_only
    char client_id[CLIENT_ID_BYTES]

# One row per fill of an order.
cdef struct FillRec:
    int64_t ts_ms                    # exchange time of the fill
    int64_t recv_ns
    int64_t trade_id                 # the venue's trade id (paper: a counter)
    int64_t px                       # ticks
    int64_t qty                      # lots
    double fee                       # quote asset (USDT); negative: a rebate
    double realized_pnl              # quote asset, before fees: what this fill closed
    int32_t sym
    int16_t side                     # ORDER_SIDES
    int16_t liquidity                # LIQUIDITY
    int16_t venue                    # VENUES
    char client_id[CLIENT_ID_BYTES]
