# C-level API of the L2 order book: per side, preallocated blocks of int64 ticks/lots
# (sorted, best last; see book.pyx) and the Binance USD-M sync state machine
# (binance.md, "Keeping a local book").
from libc.stdint cimport int64_t, int32_t, int8_t
from rtaid._kernels.decode cimport Msg, Level

# Status of one depth event (what happened to it)
cdef enum:
    BOOK_NONE = 0        # nothing (replay exhausted)
    BOOK_BUFFERED = 1    # kept until a snapshot arrives
    BOOK_STALE = 2       # u < lastUpdateId, or already applied: dropped
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

cdef enum:
    BLOCK_LEVELS = 64    # levels per block: an insert or delete moves at most one block
    # levels a side may hold beyond max_levels between book_on_depth_split and
    # book_finish (the inserts it applies early; their evictions wait for the rest)
    DEFER_ROOM = 256

# How book_on_depth_split applied one side's updates (book_finish does the rest)
cdef enum:
    REST_NONE = 0        # all applied
    REST_PREFIX = 1      # the list's first `split` applied; the rest later, in order
    REST_SUFFIX = 2      # the list's last ones applied (their evictions held back); the
                         # first `split` later, then the held-back evictions

# A run of levels, keys ascending (best last).
cdef struct Block:
    int32_t n            # first: on the keys' first cache line, not on one of its own
                         # after the sizes (not measured alone: with the listener's one
                         # clock read a frame, saturation rose ~10 %, ad hoc)
    int64_t key[BLOCK_LEVELS]
    int64_t qty[BLOCK_LEVELS]

# One side of the book: blocks in ascending key order, the best level last of the last
# block. Bids key = px, asks key = -px, so both sides share one code path.
cdef struct Side:
    Block* pool
    int32_t* order       # ids of the blocks in use, ascending keys
    int64_t* top_key     # top_key[j] = largest key of block order[j]
    int32_t* free_ids
    int64_t* scratch     # 2 * cap keys/qtys for compaction
    int32_t n_blocks
    int32_t n_free
    int32_t pool_cap
    int32_t n            # levels on this side
    int32_t cap          # at most this many levels (after each event)
    int32_t room         # levels the pool and scratch hold: cap + DEFER_ROOM
    int64_t compactions
    int32_t finger       # block of the last change (a search hint)

# One side's updates book_on_depth_split left for book_finish.
cdef struct SideRest:
    const Level* levels  # the event's list for this side (the decoder's: valid until
    int32_t n            # the next frame is decoded)
    int64_t sign         # key = sign * px (bids 1, asks -1)
    int32_t mode         # REST_*
    int32_t split        # index that divides the early and the late updates
    int32_t net          # REST_SUFFIX: levels the early updates added (- removed)
    int8_t ops[DEFER_ROOM]  # REST_SUFFIX: each early update's +1 insert / -1 delete / 0

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
    bint rest_pending        # book_on_depth_split left updates: call book_finish
    SideRest bid_rest
    SideRest ask_rest
    int64_t splits           # events applied in two parts (book_on_depth_split)

cdef int book_init(L2Book* b, int32_t max_levels, int32_t buffer_events,
                   int32_t buffer_levels) noexcept nogil
cdef void book_free(L2Book* b) noexcept nogil
cdef void book_reset(L2Book* b) noexcept nogil
cdef int book_on_depth(L2Book* b, const Msg* m) noexcept nogil
# book_on_depth for the latency path: applies first the updates that can change the k
# best levels of either side and leaves the others (b.rest_pending) for book_finish,
# which must run before the event's levels are overwritten (the next decode). After
# both, the book is exactly what book_on_depth makes of the event; in between, the k
# best levels, the state and the status already are.
cdef int book_on_depth_split(L2Book* b, const Msg* m, int32_t k) noexcept nogil
cdef void book_finish(L2Book* b) noexcept nogil
cdef void book_load_snapshot(L2Book* b, const Msg* m) noexcept nogil
cdef int book_replay_next(L2Book* b, Msg* out) noexcept nogil

# Level k (0 = the touch) of a side; valid for 0 <= k < side.n. O(1) at the touch,
# O(k / BLOCK_LEVELS) deeper; use side_copy_top to read many levels at once.
cdef inline const Block* side_block_of(const Side* s, int32_t* k) noexcept nogil:
    cdef int32_t j = s.n_blocks - 1
    cdef const Block* blk = &s.pool[s.order[j]]
    while k[0] >= blk.n:
        k[0] -= blk.n
        j -= 1
        blk = &s.pool[s.order[j]]
    return blk

cdef inline int64_t side_key(const Side* s, int32_t k) noexcept nogil:
    cdef const Block* blk = side_block_of(s, &k)
    return blk.key[blk.n - 1 - k]

cdef inline int64_t side_qty(const Side* s, int32_t k) noexcept nogil:
    cdef const Block* blk = side_block_of(s, &k)
    return blk.qty[blk.n - 1 - k]

cdef inline int64_t bid_px(const L2Book* b, int32_t k) noexcept nogil:
    return side_key(&b.bids, k)

cdef inline int64_t bid_qty(const L2Book* b, int32_t k) noexcept nogil:
    return side_qty(&b.bids, k)

cdef inline int64_t ask_px(const L2Book* b, int32_t k) noexcept nogil:
    return -side_key(&b.asks, k)

cdef inline int64_t ask_qty(const L2Book* b, int32_t k) noexcept nogil:
    return side_qty(&b.asks, k)

# Copy the n best levels of a side (keys as stored: asks negated) best first; returns
# how many were copied.
cdef int32_t side_copy_top(const Side* s, int32_t n, int64_t* keys, int64_t* qtys) noexcept nogil
# The n best levels of the book as prices (px) and sizes, best first.
cdef int32_t book_top_bids(const L2Book* b, int32_t n, int64_t* px, int64_t* qty) noexcept nogil
cdef int32_t book_top_asks(const L2Book* b, int32_t n, int64_t* px, int64_t* qty) noexcept nogil

cdef list top_levels(const L2Book* b, str side, int n)

cdef class Book:
    cdef L2Book book
    cdef Msg scratch
    cdef Level* levels
    cdef int32_t levels_cap
    cdef void _load(self, U, u, pu, bids, asks, E, T) except *

# Debug builds (RTAID_DEBUG=1) check every book's invariants after each applied event;
# a noexcept kernel cannot raise, so violations are counted here and the Python entry
# points raise after the frame (Engine.feed, run_frames*).
cdef int64_t book_invariant_violations() noexcept nogil
