# C-level API of the L2 order book: flat preallocated arrays of int64 ticks/lots and
# the Binance USD-M sync state machine (binance.md, "Keeping a local book").
from libc.stdint cimport int64_t, int32_t
from rtaid._kernels.decode cimport Msg, Level

# Status of one depth event (what happened to it)
cdef enum:
    BOOK_NONE = 0        # nothing (replay exhausted)
    BOOK_BUFFERED = 1    # kept until a snapshot arrives
    BOOK_STALE = 2       # u < lastUpdateId: dropped
    BOOK_SYNCED = 3      # first event applied after a snapshot: the book is now synced
    BOOK_APPLIED = 4     # applied to a synced book
    BOOK_GAP = 5         # pu break (or no bracketing event): unsynced, resync needed
    BOOK_CROSSED = 6     # applied, then best bid >= best ask: unsynced, resync needed
    BOOK_N_STATUS = 7

# Sync state of a book
cdef enum:
    SYNC_UNSYNCED = 0    # buffering, waiting for a snapshot
    SYNC_AWAITING = 1    # snapshot loaded, waiting for the event that brackets it
    SYNC_SYNCED = 2

cdef struct Side:
    int64_t* key         # ascending, best level last: bids key = px, asks key = -px
    int64_t* qty
    int32_t n
    int32_t cap

cdef struct BufferedEvent:
    int64_t E
    int64_t T
    int64_t U
    int64_t u
    int64_t pu
    int32_t bid_off
    int32_t n_bids
    int32_t ask_off
    int32_t n_asks

cdef struct EventBuffer:
    BufferedEvent* events
    Level* levels
    int32_t n_events
    int32_t cap_events
    int32_t n_levels
    int32_t cap_levels

cdef struct L2Book:
    Side bids
    Side asks
    int32_t state
    int64_t last_update_id   # of the loaded snapshot
    int64_t prev_u           # u of the last applied event
    EventBuffer buf          # events waiting for a snapshot
    EventBuffer pending      # events being replayed after a snapshot
    int32_t pending_pos
    int64_t dropped_levels   # levels beyond max_levels, dropped
    int64_t buffer_overflows
    int64_t status_counts[BOOK_N_STATUS]
    int64_t resyncs_needed   # gap + crossed transitions

cdef int book_init(L2Book* b, int32_t max_levels, int32_t buffer_events,
                   int32_t buffer_levels) noexcept nogil
cdef void book_free(L2Book* b) noexcept nogil
cdef void book_reset(L2Book* b) noexcept nogil
cdef int book_on_depth(L2Book* b, const Msg* m) noexcept nogil
cdef void book_load_snapshot(L2Book* b, const Msg* m) noexcept nogil
cdef int book_replay_next(L2Book* b, Msg* out) noexcept nogil

# Level k (0 = the touch) of each side; valid for 0 <= k < side.n.
cdef inline int64_t bid_px(const L2Book* b, int32_t k) noexcept nogil:
    return b.bids.key[b.bids.n - 1 - k]

cdef inline int64_t bid_qty(const L2Book* b, int32_t k) noexcept nogil:
    return b.bids.qty[b.bids.n - 1 - k]

cdef inline int64_t ask_px(const L2Book* b, int32_t k) noexcept nogil:
    return -b.asks.key[b.asks.n - 1 - k]

cdef inline int64_t ask_qty(const L2Book* b, int32_t k) noexcept nogil:
    return b.asks.qty[b.asks.n - 1 - k]

cdef class Book:
    cdef L2Book book
    cdef Msg scratch
    cdef Level* levels
    cdef int32_t levels_cap
    cdef void _load(self, U, u, pu, bids, asks, E, T) except *
