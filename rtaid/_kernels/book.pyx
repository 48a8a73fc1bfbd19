"""L2 order book kernel: blocked sorted levels per side and the USD-M sync procedure.

Each side is a list of blocks of up to BLOCK_LEVELS (64) levels, keys ascending and the
best level last of the last block, with an index of each block's top key: a lookup is
a search over the block tops and a fixed three-step quaternary search within one block
(padded with INT64_MAX), so the touch is O(1) and an insert or delete moves at most one
block's levels. Asks are stored with key = -price so both sides share one code path. A
side holds at most ``max_levels`` levels: a new level worse than all of a full side is
dropped, a better one evicts the worst; both are counted. Debug builds (RTAID_DEBUG=1)
check every side's invariants after each applied event.

The sync procedure matches ``rtaid.reference.book.RefBook`` event by event (tests
compare them): buffer until a snapshot; drop u < lastUpdateId; the first applied event
brackets lastUpdateId; then every pu equals the previous u; a break or a crossed book
makes the book unsynced (events are buffered again until the next snapshot).
"""
from libc.stdint cimport int64_t, int32_t, uint32_t, uint64_t
from libc.string cimport memmove, memcpy, memset
from rtaid._kernels.mem cimport rt_calloc, rt_free
from rtaid._kernels.decode cimport Msg, Level, MSG_DEPTH, MSG_SNAPSHOT

cdef extern from *:
    """
    #ifdef RTAID_DEBUG
    #define RTAID_DEBUG_BUILD 1
    #else
    #define RTAID_DEBUG_BUILD 0
    #endif
    """
    const int RTAID_DEBUG_BUILD

DEBUG_BUILD = bool(RTAID_DEBUG_BUILD)
# books found broken by the debug build's invariant check (always 0 in a release build)
cdef int64_t _invariant_violations = 0


cdef int64_t book_invariant_violations() noexcept nogil:
    return _invariant_violations


def invariant_violations():
    """How many times the debug build's invariant check found a book broken (0 in a
    release build, which does not check)."""
    return _invariant_violations

cdef extern from *:
    """
    /* Branchless lower bound: index of the first a[i] >= key in a sorted array of n.
       The data-dependent choice compiles to a conditional move, so the ~log2(n) steps
       carry no branch mispredictions, which dominate a bisection on random updates. */
    static inline int32_t rtaid_lower_bound(const int64_t* a, int32_t n, int64_t key) {
        const int64_t* base = a;
        if (n <= 0) return 0;
        while (n > 1) {
            int32_t half = n >> 1;
            base = (base[half] < key) ? base + half : base;
            n -= half;
        }
        return (int32_t)(base - a) + (*base < key);
    }
    """
    int32_t rtaid_lower_bound(const int64_t* a, int32_t n, int64_t key) noexcept nogil

STATUS_NAMES = ("none", "buffered", "stale", "synced", "applied", "gap", "crossed")
STATE_NAMES = ("unsynced", "awaiting", "synced")


# ------------------------------------------------------------------ sides
cdef enum:
    SPLIT_AT = 32        # a full block splits in two halves
    COMPACT_FILL = 48    # levels per block after a compaction

# Unused key slots of a block (from blk.n up) hold KEY_PAD, which no key exceeds, so a
# search can always cover all BLOCK_LEVELS slots: a fixed sequence of steps, no loop.
cdef extern from *:
    """
    #define RTAID_KEY_PAD INT64_MAX
    """
    const int64_t KEY_PAD "RTAID_KEY_PAD"
if BLOCK_LEVELS != 64:
    raise ImportError("block_lower_bound is written for 64-level blocks")


cdef int side_init(Side* s, int32_t cap) noexcept nogil:
    cdef int32_t i
    memset(s, 0, sizeof(Side))
    s.cap = cap
    s.room = cap + DEFER_ROOM
    # Splits leave blocks at least half full; a compaction refills them to 3/4, so
    # room / 32 + 4 blocks always suffice.
    s.pool_cap = s.room // SPLIT_AT + 4
    s.pool = <Block*>rt_calloc(s.pool_cap, sizeof(Block))
    s.order = <int32_t*>rt_calloc(s.pool_cap, sizeof(int32_t))
    s.top_key = <int64_t*>rt_calloc(s.pool_cap, sizeof(int64_t))
    s.free_ids = <int32_t*>rt_calloc(s.pool_cap, sizeof(int32_t))
    s.scratch = <int64_t*>rt_calloc(2 * <size_t>s.room, sizeof(int64_t))
    if not (s.pool and s.order and s.top_key and s.free_ids and s.scratch):
        return -1
    side_clear(s)
    return 0


cdef void side_free(Side* s) noexcept nogil:
    rt_free(s.pool, s.pool_cap, sizeof(Block))
    rt_free(s.order, s.pool_cap, sizeof(int32_t))
    rt_free(s.top_key, s.pool_cap, sizeof(int64_t))
    rt_free(s.free_ids, s.pool_cap, sizeof(int32_t))
    rt_free(s.scratch, 2 * <size_t>s.room, sizeof(int64_t))
    memset(s, 0, sizeof(Side))


cdef inline void block_empty(Block* blk) noexcept nogil:
    cdef int32_t i
    blk.n = 0
    for i in range(BLOCK_LEVELS):
        blk.key[i] = KEY_PAD


cdef void side_clear(Side* s) noexcept nogil:
    # Free blocks are emptied when taken (side_new_block), not here: the pool is sized
    # for max_levels, a book uses a few of its blocks, and the free list hands out the
    # lowest ids first, so only the pages of blocks ever used become resident.
    cdef int32_t i
    s.n = 0
    s.n_blocks = 0
    s.n_free = s.pool_cap
    for i in range(s.pool_cap):
        s.free_ids[i] = s.pool_cap - 1 - i


cdef inline int32_t block_lower_bound(const Block* blk, int64_t key) noexcept nogil:
    """First index of blk whose key >= key (blk.n if none).

    Three quaternary steps over the 64 slots (padding included): each step's three
    probes are independent loads, so the chain of dependent loads is 4 long where a
    bisection's is 7, and the fixed step count leaves no loop branch to mispredict
    (block sizes vary)."""
    cdef const int64_t* k = &blk.key[0]     # (&...[0]: no non-const temporary in the C)
    cdef int32_t i = 16 * ((k[16] < key) + (k[32] < key) + (k[48] < key))
    i += 4 * ((k[i + 4] < key) + (k[i + 8] < key) + (k[i + 12] < key))
    i += (k[i + 1] < key) + (k[i + 2] < key) + (k[i + 3] < key)
    return i + (k[i] < key)


cdef inline int32_t side_find_block(const Side* s, int64_t key) noexcept nogil:
    """The block a key belongs in: the first whose top >= key, else the last one."""
    cdef int32_t last = s.n_blocks - 1
    # Most changes are near the touch, in the last block.
    if last == 0 or s.top_key[last - 1] < key:
        return last
    return rtaid_lower_bound(s.top_key, last, key)


cdef inline void side_remove_block(Side* s, int32_t j) noexcept nogil:
    s.free_ids[s.n_free] = s.order[j]
    s.n_free += 1
    memmove(&s.order[j], &s.order[j + 1], (s.n_blocks - j - 1) * sizeof(int32_t))
    memmove(&s.top_key[j], &s.top_key[j + 1], (s.n_blocks - j - 1) * sizeof(int64_t))
    s.n_blocks -= 1


cdef inline int32_t side_new_block(Side* s, int32_t j) noexcept nogil:
    """Take a free block and place it at position j of the order; returns its id."""
    cdef int32_t bid
    s.n_free -= 1
    bid = s.free_ids[s.n_free]
    block_empty(&s.pool[bid])
    memmove(&s.order[j + 1], &s.order[j], (s.n_blocks - j) * sizeof(int32_t))
    memmove(&s.top_key[j + 1], &s.top_key[j], (s.n_blocks - j) * sizeof(int64_t))
    s.order[j] = bid
    s.n_blocks += 1
    return bid


cdef void side_compact(Side* s) noexcept nogil:
    """Re-lay all levels in blocks of COMPACT_FILL (when fragmentation used up the pool)."""
    cdef int64_t* keys = s.scratch
    cdef int64_t* qtys = &s.scratch[s.room]    # (s.cap may be moved for a while: side_finish)
    cdef int32_t j, i, n = 0, bid, take
    cdef Block* blk
    s.compactions += 1
    for j in range(s.n_blocks):
        blk = &s.pool[s.order[j]]
        memcpy(&keys[n], blk.key, blk.n * sizeof(int64_t))
        memcpy(&qtys[n], blk.qty, blk.n * sizeof(int64_t))
        n += blk.n
    side_clear(s)
    i = 0
    while i < n:
        take = n - i if n - i < COMPACT_FILL else COMPACT_FILL
        bid = side_new_block(s, s.n_blocks)
        blk = &s.pool[bid]
        memcpy(blk.key, &keys[i], take * sizeof(int64_t))
        memcpy(blk.qty, &qtys[i], take * sizeof(int64_t))
        blk.n = take
        s.top_key[s.n_blocks - 1] = blk.key[take - 1]
        i += take
    s.n = n


cdef inline void side_delete_at(Side* s, int32_t j, Block* blk, int32_t i) noexcept nogil:
    memmove(&blk.key[i], &blk.key[i + 1], (blk.n - i - 1) * sizeof(int64_t))
    memmove(&blk.qty[i], &blk.qty[i + 1], (blk.n - i - 1) * sizeof(int64_t))
    blk.n -= 1
    blk.key[blk.n] = KEY_PAD
    s.n -= 1
    if blk.n == 0:
        side_remove_block(s, j)
    elif i == blk.n:
        s.top_key[j] = blk.key[blk.n - 1]


cdef inline int32_t side_find_block_near(const Side* s, int64_t key) noexcept nogil:
    """side_find_block, trying first the block of the previous change: the levels of
    one depth message come sorted by price, so consecutive changes are close."""
    cdef int32_t j = s.finger
    if 0 <= j < s.n_blocks and (j == 0 or s.top_key[j - 1] < key) and \
            (key <= s.top_key[j] or j == s.n_blocks - 1):
        return j
    return side_find_block(s, key)


cdef void side_start(Side* s, int64_t key, int64_t qty) noexcept nogil:
    """The first level of an empty side."""
    cdef int32_t nid = side_new_block(s, 0)
    s.pool[nid].key[0] = key
    s.pool[nid].qty[0] = qty
    s.pool[nid].n = 1
    s.top_key[0] = key
    s.n = 1


cdef void side_insert(Side* s, int32_t j, Block* blk, int32_t i, int64_t key, int64_t qty,
                      int64_t* dropped) noexcept nogil:
    """Insert a new level at index i of block j, its place as found by side_set."""
    cdef int32_t nid, i2
    cdef Block* upper
    if s.n == s.cap:
        dropped[0] += 1
        if j == 0 and i == 0:
            return                  # worse than every level of a full side
        # evict the worst level, then find the place again (blocks may have moved)
        side_delete_at(s, 0, &s.pool[s.order[0]], 0)
        side_set(s, key, qty, dropped)
        return
    if blk.n == BLOCK_LEVELS:
        if s.n_free == 0:
            side_compact(s)
            side_set(s, key, qty, dropped)
            return
        nid = side_new_block(s, j + 1)
        upper = &s.pool[nid]
        blk = &s.pool[s.order[j]]
        memcpy(upper.key, &blk.key[SPLIT_AT], (BLOCK_LEVELS - SPLIT_AT) * sizeof(int64_t))
        memcpy(upper.qty, &blk.qty[SPLIT_AT], (BLOCK_LEVELS - SPLIT_AT) * sizeof(int64_t))
        upper.n = BLOCK_LEVELS - SPLIT_AT
        blk.n = SPLIT_AT
        for i2 in range(SPLIT_AT, BLOCK_LEVELS):
            blk.key[i2] = KEY_PAD
        s.top_key[j] = blk.key[SPLIT_AT - 1]
        s.top_key[j + 1] = upper.key[upper.n - 1]
        if i > SPLIT_AT:
            j += 1
            blk = upper
            i -= SPLIT_AT
    memmove(&blk.key[i + 1], &blk.key[i], (blk.n - i) * sizeof(int64_t))
    memmove(&blk.qty[i + 1], &blk.qty[i], (blk.n - i) * sizeof(int64_t))
    blk.key[i] = key
    blk.qty[i] = qty
    blk.n += 1
    s.n += 1
    if i == blk.n - 1:
        s.top_key[j] = key


cdef inline void side_set(Side* s, int64_t key, int64_t qty, int64_t* dropped) noexcept nogil:
    """Set the size of the level at key; 0 deletes it. Inline for the common cases, a
    size change or a delete; inserts, which may have to make room, are a call."""
    cdef int32_t j, i
    cdef Block* blk
    if s.n_blocks == 0:
        if qty != 0:
            side_start(s, key, qty)
        return
    j = side_find_block_near(s, key)
    s.finger = j
    blk = &s.pool[s.order[j]]
    i = block_lower_bound(blk, key)
    if i < blk.n and blk.key[i] == key:
        if qty != 0:
            blk.qty[i] = qty
        else:
            side_delete_at(s, j, blk, i)
        return
    if qty == 0:
        return                      # deleting a level we never had: nothing to do
    side_insert(s, j, blk, i, key, qty, dropped)


cdef inline int64_t side_best_key(const Side* s) noexcept nogil:
    cdef const Block* blk = &s.pool[s.order[s.n_blocks - 1]]
    return blk.key[blk.n - 1]


cdef int32_t side_copy_top(const Side* s, int32_t n, int64_t* keys, int64_t* qtys) noexcept nogil:
    cdef int32_t j = s.n_blocks - 1, i, got = 0
    cdef const Block* blk
    while j >= 0 and got < n:
        blk = &s.pool[s.order[j]]
        i = blk.n - 1
        while i >= 0 and got < n:
            keys[got] = blk.key[i]
            qtys[got] = blk.qty[i]
            got += 1
            i -= 1
        j -= 1
    return got


cdef int32_t book_top_bids(const L2Book* b, int32_t n, int64_t* px, int64_t* qty) noexcept nogil:
    return side_copy_top(&b.bids, n, px, qty)


cdef int32_t book_top_asks(const L2Book* b, int32_t n, int64_t* px, int64_t* qty) noexcept nogil:
    cdef int32_t got = side_copy_top(&b.asks, n, px, qty), k
    for k in range(got):
        px[k] = -px[k]
    return got


cdef bint side_is_valid(const Side* s) noexcept nogil:
    """Debug invariant: keys strictly ascending, sizes positive, index consistent,
    unused key slots padded."""
    cdef int32_t j, i, total = 0
    cdef int64_t prev = 0
    cdef bint first = True
    cdef const Block* blk
    for j in range(s.n_blocks):
        blk = &s.pool[s.order[j]]
        if blk.n <= 0 or blk.n > BLOCK_LEVELS or s.top_key[j] != blk.key[blk.n - 1]:
            return False
        for i in range(blk.n):
            if blk.qty[i] <= 0 or (not first and blk.key[i] <= prev):
                return False
            prev = blk.key[i]
            first = False
        for i in range(blk.n, BLOCK_LEVELS):
            if blk.key[i] != KEY_PAD:
                return False
        total += blk.n
    return total == s.n and s.n <= s.cap and s.n_blocks + s.n_free == s.pool_cap


# ------------------------------------------------------------------ event buffer
cdef int buffer_init(EventBuffer* buf, int32_t events, int32_t levels) noexcept nogil:
    buf.events = <BufferedEvent*>rt_calloc(events, sizeof(BufferedEvent))
    buf.levels = <Level*>rt_calloc(levels, sizeof(Level))
    buf.cap_events = events
    buf.cap_levels = levels
    buf.n_events = 0
    buf.n_levels = 0
    return 0 if (buf.events != NULL and buf.levels != NULL) else -1


cdef void buffer_free(EventBuffer* buf) noexcept nogil:
    rt_free(buf.events, buf.cap_events, sizeof(BufferedEvent))
    rt_free(buf.levels, buf.cap_levels, sizeof(Level))
    buf.events = NULL
    buf.levels = NULL


cdef void buffer_push(L2Book* b, const Msg* m) noexcept nogil:
    cdef EventBuffer* buf = &b.buf
    cdef int32_t need = m.n_bids + m.n_asks
    cdef BufferedEvent* ev
    if buf.n_events == buf.cap_events or buf.n_levels + need > buf.cap_levels:
        # Out of room: forget the oldest events. If the snapshot needed them, the
        # bracket check fails and the book asks for another snapshot.
        buf.n_events = 0
        buf.n_levels = 0
        b.buffer_overflows += 1
        if need > buf.cap_levels:
            return
    ev = &buf.events[buf.n_events]
    ev.E = m.E
    ev.T = m.T
    ev.U = m.U
    ev.u = m.u
    ev.pu = m.pu
    ev.bid_off = buf.n_levels
    ev.n_bids = m.n_bids
    memcpy(&buf.levels[buf.n_levels], m.bids, m.n_bids * sizeof(Level))
    buf.n_levels += m.n_bids
    ev.ask_off = buf.n_levels
    ev.n_asks = m.n_asks
    memcpy(&buf.levels[buf.n_levels], m.asks, m.n_asks * sizeof(Level))
    buf.n_levels += m.n_asks
    buf.n_events += 1


# ------------------------------------------------------------------ book
cdef int book_init(L2Book* b, int32_t max_levels, int32_t buffer_events,
                   int32_t buffer_levels) noexcept nogil:
    memset(b, 0, sizeof(L2Book))
    if side_init(&b.bids, max_levels) or side_init(&b.asks, max_levels):
        return -1
    if buffer_init(&b.buf, buffer_events, buffer_levels):
        return -1
    if buffer_init(&b.pending, buffer_events, buffer_levels):
        return -1
    b.state = SYNC_UNSYNCED
    return 0


cdef void book_free(L2Book* b) noexcept nogil:
    side_free(&b.bids)
    side_free(&b.asks)
    buffer_free(&b.buf)
    buffer_free(&b.pending)


cdef void book_reset(L2Book* b) noexcept nogil:
    """Forget levels and buffers (a reconnect): buffer again until a snapshot."""
    b.rest_pending = False
    side_clear(&b.bids)
    side_clear(&b.asks)
    b.buf.n_events = 0
    b.buf.n_levels = 0
    b.pending.n_events = 0
    b.pending.n_levels = 0
    b.pending_pos = 0
    b.state = SYNC_UNSYNCED


cdef inline void apply_levels(L2Book* b, const Level* bids, int32_t nb,
                              const Level* asks, int32_t na) noexcept nogil:
    cdef int32_t i
    for i in range(nb):
        side_set(&b.bids, bids[i].px, bids[i].qty, &b.dropped_levels)
    for i in range(na):
        side_set(&b.asks, -asks[i].px, asks[i].qty, &b.dropped_levels)


# ------------------------------------------------------------------ early and late updates
cdef int side_plan(const Side* s, const Level* lv, int32_t n, int64_t sign, int32_t k,
                   int32_t* split) noexcept nogil:
    """How book_on_depth_split applies one side's updates (key = sign * px): REST_* and
    the index dividing the early updates from the late ones.

    T is the key of the side's (k + d)-th best level, d the list's deletes. Updates at
    keys >= T leave at least k levels at keys >= T, and the others (keys < T) cannot
    touch those: after the former, the side's k best levels are final. Every update
    removes at most one level (a delete or an eviction of the worst), so a side of more
    than k + d + n levels never loses a key >= T to an eviction, whatever the order.
    The early updates must be the list's head or its tail (Binance sends both sides in
    ascending price order: the asks' head, the bids' tail); anything else is applied
    whole, as book_on_depth does."""
    cdef int32_t i, d = 0
    cdef int64_t t
    if n == 0 or k <= 0:
        return REST_NONE
    for i in range(n):
        d += lv[i].qty == 0
    if s.n <= k + d + n:
        return REST_NONE
    t = side_key(s, k + d - 1)
    i = 0
    if sign * lv[0].px >= t:
        while i < n and sign * lv[i].px >= t:
            i += 1
        split[0] = i
        if i == n:
            return REST_NONE              # nothing is left for later
        while i < n:
            if sign * lv[i].px >= t:
                return REST_NONE
            i += 1
        return REST_PREFIX
    while i < n and sign * lv[i].px < t:
        i += 1
    split[0] = i
    if i == n:
        return REST_PREFIX                # nothing early: all of it later, in order
    if n - i > DEFER_ROOM:
        return REST_NONE
    while i < n:
        if sign * lv[i].px < t:
            return REST_NONE
        i += 1
    return REST_SUFFIX


cdef void side_apply_early(Side* s, const Level* lv, int32_t n, int64_t sign, int mode,
                           int32_t split, SideRest* rest, int64_t* dropped) noexcept nogil:
    """The early part of a side's updates (side_plan); side_finish does the rest."""
    cdef int32_t i, before, n0 = s.n
    rest.levels = lv
    rest.n = n
    rest.sign = sign
    rest.mode = mode
    rest.split = split
    if mode == REST_NONE:
        for i in range(n):
            side_set(s, sign * lv[i].px, lv[i].qty, dropped)
    elif mode == REST_PREFIX:
        for i in range(split):
            side_set(s, sign * lv[i].px, lv[i].qty, dropped)
    else:
        # The tail goes before the head it follows in the event. Its inserts could evict
        # (the side full), but in the event's order they come after the head: the side's
        # count then is not known yet, so they are applied beyond the cap (at most
        # DEFER_ROOM levels) and side_finish evicts what the event's order would have.
        s.cap += DEFER_ROOM
        for i in range(split, n):
            before = s.n
            side_set(s, sign * lv[i].px, lv[i].qty, dropped)
            rest.ops[i - split] = <int8_t>(s.n - before)
        s.cap -= DEFER_ROOM
        rest.net = s.n - n0


cdef void side_finish(Side* s, SideRest* rest, int64_t* dropped) noexcept nogil:
    """The late part of a side's updates: the side becomes what the event's order makes."""
    cdef int32_t i, cap = s.cap, count, evict = 0
    cdef const Level* lv = rest.levels
    cdef int64_t sign = rest.sign
    if rest.mode == REST_NONE:
        return
    if rest.mode == REST_PREFIX:
        for i in range(rest.split, rest.n):
            side_set(s, sign * lv[i].px, lv[i].qty, dropped)
    else:
        # the head, with the count it had in the event's order (before the tail)
        s.cap = cap + rest.net
        for i in range(rest.split):
            side_set(s, sign * lv[i].px, lv[i].qty, dropped)
        s.cap = cap
        # then the tail's inserts at a full side: each evicted the worst level
        count = s.n - rest.net
        for i in range(rest.n - rest.split):
            if rest.ops[i] > 0:
                if count == cap:
                    evict += 1
                else:
                    count += 1
            elif rest.ops[i] < 0:
                count -= 1
        dropped[0] += evict
        while evict > 0:
            side_delete_at(s, 0, &s.pool[s.order[0]], 0)
            evict -= 1
    rest.mode = REST_NONE


cdef inline bint book_crossed(const L2Book* b) noexcept nogil:
    return b.bids.n > 0 and b.asks.n > 0 and side_best_key(&b.bids) >= -side_best_key(&b.asks)


cdef inline void unsync(L2Book* b) noexcept nogil:
    b.state = SYNC_UNSYNCED
    b.buf.n_events = 0
    b.buf.n_levels = 0
    b.resyncs_needed += 1


cdef inline void check_sides(const L2Book* b) noexcept nogil:
    global _invariant_violations
    if RTAID_DEBUG_BUILD:
        if not (side_is_valid(&b.bids) and side_is_valid(&b.asks)):
            # a noexcept function cannot raise: the violation is counted, and the debug
            # build's Python entry points (Engine.feed, run_frames*) raise after the frame;
            # the test suite also checks the count after every test (tests/conftest.py)
            _invariant_violations += 1


cdef int process(L2Book* b, const Msg* m, int32_t k) noexcept nogil:
    """An event for a book that has a snapshot (AWAITING or SYNCED); k > 0: split as
    book_on_depth_split does."""
    cdef int status, bid_mode, ask_mode
    cdef int32_t bid_split = 0, ask_split = 0
    if b.state == SYNC_AWAITING:
        if m.u < b.last_update_id:
            return BOOK_STALE
        if not (m.U <= b.last_update_id and b.last_update_id <= m.u):
            # The snapshot is older than the stream can bridge; this event may still
            # bracket the next snapshot, so it is kept.
            unsync(b)
            buffer_push(b, m)
            return BOOK_GAP
        status = BOOK_SYNCED
    elif m.u <= b.prev_u:
        return BOOK_STALE          # already applied (a duplicate delivery)
    elif m.pu != b.prev_u:
        unsync(b)
        buffer_push(b, m)
        return BOOK_GAP
    else:
        status = BOOK_APPLIED
    if k > 0:
        # both plans before either side moves (the sides are independent: the order
        # of bids and asks does not matter, only each list's own)
        bid_mode = side_plan(&b.bids, m.bids, m.n_bids, 1, k, &bid_split)
        ask_mode = side_plan(&b.asks, m.asks, m.n_asks, -1, k, &ask_split)
        side_apply_early(&b.bids, m.bids, m.n_bids, 1, bid_mode, bid_split, &b.bid_rest,
                         &b.dropped_levels)
        side_apply_early(&b.asks, m.asks, m.n_asks, -1, ask_mode, ask_split, &b.ask_rest,
                         &b.dropped_levels)
        b.rest_pending = bid_mode != REST_NONE or ask_mode != REST_NONE
    else:
        apply_levels(b, m.bids, m.n_bids, m.asks, m.n_asks)
    b.prev_u = m.u
    if not b.rest_pending:
        check_sides(b)
    if book_crossed(b):
        book_finish(b)             # the whole event, as book_on_depth leaves it
        unsync(b)
        return BOOK_CROSSED
    b.state = SYNC_SYNCED
    return status


cdef int book_on_depth(L2Book* b, const Msg* m) noexcept nogil:
    """Process one depth diff; returns its BOOK_* status."""
    return book_on_depth_split(b, m, 0)


cdef int book_on_depth_split(L2Book* b, const Msg* m, int32_t k) noexcept nogil:
    """book_on_depth, the updates that cannot change the k best levels of either side
    left for book_finish (b.rest_pending): the latency path's signals read the k best
    levels between the two. k = 0: the whole event (book_on_depth)."""
    global _invariant_violations
    cdef int status
    if RTAID_DEBUG_BUILD and b.rest_pending:
        _invariant_violations += 1     # the last split event was never finished
    if b.state == SYNC_UNSYNCED:
        buffer_push(b, m)
        status = BOOK_BUFFERED
    else:
        status = process(b, m, k)
    b.status_counts[status] += 1
    return status


cdef void book_finish(L2Book* b) noexcept nogil:
    """Apply what book_on_depth_split left (nothing when nothing is pending)."""
    if not b.rest_pending:
        return
    b.rest_pending = False
    side_finish(&b.bids, &b.bid_rest, &b.dropped_levels)
    side_finish(&b.asks, &b.ask_rest, &b.dropped_levels)
    b.splits += 1
    check_sides(b)


cdef void book_load_snapshot(L2Book* b, const Msg* m) noexcept nogil:
    """Load a REST snapshot; then call book_replay_next until it returns BOOK_NONE."""
    cdef EventBuffer tmp
    b.rest_pending = False         # (the levels it would apply go with the sides)
    side_clear(&b.bids)
    side_clear(&b.asks)
    apply_levels(b, m.bids, m.n_bids, m.asks, m.n_asks)
    b.last_update_id = m.u
    b.state = SYNC_AWAITING
    # The buffered events become the pending list; new buffering goes to the other one.
    tmp = b.pending
    b.pending = b.buf
    b.buf = tmp
    b.buf.n_events = 0
    b.buf.n_levels = 0
    b.pending_pos = 0


cdef int book_replay_next(L2Book* b, Msg* out) noexcept nogil:
    """Process the next event buffered before the snapshot; BOOK_NONE when done.

    out receives the event (its levels point into the book's buffer, valid until the
    next call), so the caller can treat it exactly like a live depth event.
    """
    cdef BufferedEvent* ev
    if b.pending_pos >= b.pending.n_events:
        b.pending.n_events = 0
        b.pending.n_levels = 0
        return BOOK_NONE
    ev = &b.pending.events[b.pending_pos]
    b.pending_pos += 1
    out.kind = MSG_DEPTH
    out.E = ev.E
    out.T = ev.T
    out.U = ev.U
    out.u = ev.u
    out.pu = ev.pu
    out.n_bids = ev.n_bids
    out.bids = &b.pending.levels[ev.bid_off]
    out.n_asks = ev.n_asks
    out.asks = &b.pending.levels[ev.ask_off]
    # After a break inside the buffer, the rest is buffered for the next snapshot.
    return book_on_depth(b, out)


# ------------------------------------------------------------------ Python wrapper
cdef class Book:
    """One L2 book with the sync procedure (Python access for tests and tools).

    Parameters
    ----------
    max_levels : int
        Levels kept per side.
    buffer_events, buffer_levels : int
        Capacity of the pre-snapshot event buffer.
    """

    def __cinit__(self, int max_levels=5000, int buffer_events=4096, int buffer_levels=1 << 20):
        if max_levels < 1 or buffer_events < 1 or buffer_levels < 1:
            raise ValueError("capacities must be >= 1")
        if book_init(&self.book, max_levels, buffer_events, buffer_levels):
            book_free(&self.book)
            raise MemoryError()
        self.levels_cap = 0
        self.levels = NULL

    def __dealloc__(self):
        book_free(&self.book)
        rt_free(self.levels, self.levels_cap, sizeof(Level))

    cdef void _load(self, U, u, pu, bids, asks, E, T) except *:
        cdef int32_t nb = len(bids), na = len(asks), i
        if nb + na > self.levels_cap:
            rt_free(self.levels, self.levels_cap, sizeof(Level))
            self.levels_cap = nb + na
            self.levels = <Level*>rt_calloc(self.levels_cap, sizeof(Level))
            if self.levels == NULL:
                raise MemoryError()
        for i in range(nb):
            self.levels[i].px = bids[i][0]
            self.levels[i].qty = bids[i][1]
        for i in range(na):
            self.levels[nb + i].px = asks[i][0]
            self.levels[nb + i].qty = asks[i][1]
        self.scratch.kind = MSG_DEPTH
        self.scratch.E = E
        self.scratch.T = T
        self.scratch.U = U
        self.scratch.u = u
        self.scratch.pu = pu
        self.scratch.n_bids = nb
        self.scratch.n_asks = na
        self.scratch.bids = self.levels
        self.scratch.asks = &self.levels[nb]

    def apply(self, U, u, pu, bids=(), asks=(), E=0, T=0):
        """Apply a depth diff given as [(px, qty)] lists; returns its status name."""
        if self.book.rest_pending:
            raise RuntimeError("finish() the last split event first")
        self._load(U, u, pu, bids, asks, E, T)
        return STATUS_NAMES[book_on_depth(&self.book, &self.scratch)]

    def apply_split(self, U, u, pu, bids=(), asks=(), int k=1, E=0, T=0):
        """:meth:`apply` in two parts (book_on_depth_split): the k best levels and the
        status are final now, the rest waits for :meth:`finish` (tests)."""
        if k < 1:
            raise ValueError("k must be >= 1")
        if self.book.rest_pending:
            raise RuntimeError("finish() the last split event first")
        self._load(U, u, pu, bids, asks, E, T)
        return STATUS_NAMES[book_on_depth_split(&self.book, &self.scratch, k)]

    def finish(self):
        """Apply what :meth:`apply_split` left."""
        book_finish(&self.book)

    @property
    def rest_pending(self):
        return bool(self.book.rest_pending)

    @property
    def splits(self):
        """Events applied in two parts so far."""
        return self.book.splits

    def snapshot(self, last_update_id, bids, asks):
        """Load a snapshot and replay buffered events; returns [(status, u)] of those."""
        self._load(last_update_id, last_update_id, last_update_id, bids, asks, 0, 0)
        self.scratch.kind = MSG_SNAPSHOT
        book_load_snapshot(&self.book, &self.scratch)
        out = []
        cdef Msg ev
        cdef int status
        while True:
            status = book_replay_next(&self.book, &ev)
            if status == BOOK_NONE:
                return out
            out.append((STATUS_NAMES[status], ev.u))

    def reset(self):
        book_reset(&self.book)

    @property
    def state(self):
        return STATE_NAMES[self.book.state]

    @property
    def synced(self):
        return self.book.state == SYNC_SYNCED

    @property
    def dropped_levels(self):
        return self.book.dropped_levels

    @property
    def compactions(self):
        return self.book.bids.compactions + self.book.asks.compactions

    @property
    def buffer_overflows(self):
        return self.book.buffer_overflows

    def depth(self):
        """Number of levels on each side: (bids, asks)."""
        return self.book.bids.n, self.book.asks.n

    def best_bid(self):
        return (bid_px(&self.book, 0), bid_qty(&self.book, 0)) if self.book.bids.n else None

    def best_ask(self):
        return (ask_px(&self.book, 0), ask_qty(&self.book, 0)) if self.book.asks.n else None

    def top(self, str side, int n):
        """The n best (px, qty) levels of 'bid' or 'ask', best first."""
        return top_levels(&self.book, side, n)

    def status_counts(self):
        return {STATUS_NAMES[i]: self.book.status_counts[i]
                for i in range(1, BOOK_N_STATUS) if self.book.status_counts[i]}


cdef list top_levels(const L2Book* b, str side, int n):
    """The n best (px, qty) of a side as a list (Python access, not the hot path)."""
    from array import array
    if side not in ("bid", "ask"):
        raise ValueError("side must be 'bid' or 'ask'")
    n = max(0, min(n, b.bids.n if side == "bid" else b.asks.n))
    if n == 0:
        return []
    cdef int64_t[::1] px = array("q", bytes(8 * n))
    cdef int64_t[::1] qty = array("q", bytes(8 * n))
    cdef int32_t got = (book_top_bids(b, n, &px[0], &qty[0]) if side == "bid"
                        else book_top_asks(b, n, &px[0], &qty[0]))
    return [(px[k], qty[k]) for k in range(got)]
