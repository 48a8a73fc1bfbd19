# C-level API of the Binance USD-M decoder: bytes in, a filled Msg struct out.
# No Python object is created per message; all buffers are preallocated.
from libc.stdint cimport int64_t, int32_t, uint8_t, uint32_t

# Message kinds (Msg.kind)
cdef enum:
    MSG_NONE = 0
    MSG_DEPTH = 1
    MSG_BBO = 2
    MSG_TRADE = 3
    MSG_AGGTRADE = 4
    MSG_MARK = 5
    MSG_SNAPSHOT = 6

# Decode results: 0 ok, > 0 skipped on purpose (counted), < 0 bad input (counted).
cdef enum:
    DEC_OK = 0
    DEC_SKIP_UNKNOWN_EVENT = 1
    DEC_SKIP_UNKNOWN_SYMBOL = 2
    DEC_SKIP_CONTROL = 3
    DEC_SKIP_NO_SCALE = 4
    DEC_ERR_SYNTAX = -1
    DEC_ERR_TRUNCATED = -2
    DEC_ERR_NUMBER = -3
    DEC_ERR_PRECISION = -4
    DEC_ERR_TOO_MANY_LEVELS = -5
    DEC_ERR_MISSING_FIELD = -6
    DEC_ERR_TYPE = -7

cdef enum:
    DEC_N_RESULTS = 12        # DEC_ERR_TYPE .. DEC_SKIP_NO_SCALE
    DEC_RESULT_OFFSET = 7     # counts[result + DEC_RESULT_OFFSET]
    MAX_SYMBOLS = 256
    SYMBOL_MAX_LEN = 31

cdef struct Level:
    int64_t px       # price in units of 10**-px_dec of the symbol
    int64_t qty      # size in lots, units of 10**-qty_dec

cdef struct Msg:
    int32_t kind
    int32_t sym          # symbol index (Decoder.add_symbol order)
    int64_t E            # event time, ms
    int64_t T            # transaction time, ms
    int64_t U            # depth: first update id
    int64_t u            # depth/bookTicker: last update id; snapshot: lastUpdateId
    int64_t pu           # depth: previous event's u
    int64_t trade_id     # trade: t; aggTrade: a
    int64_t px           # trade price; mark price rounded to the symbol's precision
    int64_t qty          # trade quantity
    int64_t bid_px
    int64_t bid_qty
    int64_t ask_px
    int64_t ask_qty
    int32_t buyer_maker  # trade: 1 when m == true (the aggressor sold)
    int32_t n_bids
    int32_t n_asks
    Level* bids          # depth/snapshot levels, owned by the Decoder
    Level* asks

# A decimal as read from the wire: mantissa and number of decimals ("61800.30" = 6180030, 2)
cdef struct RawDecimal:
    int64_t mant
    int32_t ndec

cdef struct RawLevel:
    RawDecimal px
    RawDecimal qty

cdef struct SymbolScale:
    char name[32]        # lowercase, NUL terminated
    int32_t name_len
    int32_t px_dec       # -1: infer from the first message that carries prices
    int32_t qty_dec

# Parser scratch state of one message (internal to Decoder)
cdef struct Parsed:
    uint32_t have      # bitmask of fields seen
    int32_t kind
    const char* sym_s
    Py_ssize_t sym_n
    const char* stream_s
    Py_ssize_t stream_n
    int64_t E
    int64_t T
    int64_t U
    int64_t u
    int64_t pu
    int64_t trade_id
    int64_t last_id
    RawDecimal b
    RawDecimal B
    RawDecimal a
    RawDecimal A
    RawDecimal p
    RawDecimal q
    int32_t m
    int32_t n_bids
    int32_t n_asks
    bint scale_levels_early  # levels may be scaled while read (else all raw)
    int32_t bids_scaled_for  # symbol the bids were scaled for while read, -1: raw
    int32_t asks_scaled_for

cdef class Decoder:
    # what every message touches first (a cold frame reads it from memory: a few lines of
    # one page), the tables after it
    cdef int32_t n_symbols
    cdef int32_t last_sym            # index the last lookup found, -1 none (tried first)
    cdef RawLevel* raw_bids
    cdef RawLevel* raw_asks
    cdef Level* bids
    cdef Level* asks
    cdef int32_t max_levels
    cdef public int64_t messages
    cdef int64_t _result_counts[DEC_N_RESULTS]
    cdef int64_t _kind_counts[7]
    cdef SymbolScale symbols[MAX_SYMBOLS]
    cdef int32_t slots[1024]         # open addressing: symbol hash -> index, -1 empty

    cdef int decode(self, const char* buf, Py_ssize_t n, int32_t default_sym, Msg* out) noexcept nogil
    cdef int32_t lookup(self, const char* name, Py_ssize_t n) noexcept nogil
    cdef const char* parse_object(self, const char* p, const char* e, Parsed* st, int depth,
                                  int* rc) noexcept nogil
    cdef const char* parse_levels(self, const char* p, const char* e, Parsed* st, bint asks,
                                  int* rc) noexcept nogil
    cdef int _decode(self, const char* buf, Py_ssize_t n, int32_t default_sym, Msg* out,
                     bint scale_levels_early) noexcept nogil
    cdef void infer_scales(self, int32_t sym, int32_t kind, Parsed* st) noexcept nogil
