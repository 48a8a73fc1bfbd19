"""L2 order book kernel: sorted flat arrays per side and the USD-M sync procedure.

Each side is a pair of int64 arrays (key, qty) sorted ascending with the best level
last, so the touch is O(1), the top N levels are contiguous, and the frequent changes
near the touch move few bytes. Asks are stored with key = -price so both sides share
one code path. A side holds at most ``max_levels`` levels: a new level worse than all
of a full side is dropped, a better one evicts the worst; both are counted.

The sync procedure matches ``rtaid.reference.book.RefBook`` event by event (tests
compare them): buffer until a snapshot; drop u < lastUpdateId; the first applied event
brackets lastUpdateId; then every pu equals the previous u; a break or a crossed book
makes the book unsynced (events are buffered again until the next snapshot).
"""
from libc.stdint cimport int64_t, int32_t
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

STATUS_NAMES = ("none", "buffered", "stale", "synced", "applied", "gap", "crossed")
STATE_NAMES = ("unsynced", "awaiting", "synced")


# ------------------------------------------------------------------ sides
cdef int side_init(Side* s, int32_t cap) noexcept nogil:
    s.key = <int64_t*>rt_calloc(cap, sizeof(int64_t))
    s.qty = <int64_t*>rt_calloc(cap, sizeof(int64_t))
    s.n = 0
    s.cap = cap
    return 0 if (s.key != NULL and s.qty != NULL) else -1


cdef void side_free(Side* s) noexcept nogil:
    rt_free(s.key, s.cap, sizeof(int64_t))
    rt_free(s.qty, s.cap, sizeof(int64_t))
    s.key = NULL
    s.qty = NULL
    s.n = 0


cdef inline int32_t side_lower_bound(const Side* s, int64_t key) noexcept nogil:
    """First index whose key >= key (n if none)."""
    cdef int32_t lo = 0, hi = s.n, mid
    # Most changes are near the touch (the end): look there before bisecting.
    if hi > 8 and s.key[hi - 8] < key:
        lo = hi - 7
        while lo < hi and s.key[lo] < key:
            lo += 1
        return lo
    while lo < hi:
        mid = (lo + hi) >> 1
        if s.key[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline void side_set(Side* s, int64_t key, int64_t qty, int64_t* dropped) noexcept nogil:
    cdef int32_t i = side_lower_bound(s, key)
    cdef int32_t n = s.n
    if i < n and s.key[i] == key:
        if qty != 0:
            s.qty[i] = qty
        else:
            memmove(&s.key[i], &s.key[i + 1], (n - i - 1) * sizeof(int64_t))
            memmove(&s.qty[i], &s.qty[i + 1], (n - i - 1) * sizeof(int64_t))
            s.n = n - 1
        return
    if qty == 0:
        return                      # deleting a level we never had: nothing to do
    if n == s.cap:
        dropped[0] += 1
        if i == 0:
            return                  # worse than every level of a full side
        # evict the worst level (index 0); the new one goes just below position i
        memmove(&s.key[0], &s.key[1], (i - 1) * sizeof(int64_t))
        memmove(&s.qty[0], &s.qty[1], (i - 1) * sizeof(int64_t))
        s.key[i - 1] = key
        s.qty[i - 1] = qty
        return
    memmove(&s.key[i + 1], &s.key[i], (n - i) * sizeof(int64_t))
    memmove(&s.qty[i + 1], &s.qty[i], (n - i) * sizeof(int64_t))
    s.key[i] = key
    s.qty[i] = qty
    s.n = n + 1


cdef bint side_is_valid(const Side* s) noexcept nogil:
    """Debug invariant: strictly ascending keys, positive sizes."""
    cdef int32_t i
    for i in range(s.n):
        if s.qty[i] <= 0:
            return False
        if i > 0 and s.key[i - 1] >= s.key[i]:
            return False
    return True


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
    b.bids.n = 0
    b.asks.n = 0
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


cdef inline bint book_crossed(const L2Book* b) noexcept nogil:
    return b.bids.n > 0 and b.asks.n > 0 and b.bids.key[b.bids.n - 1] >= -b.asks.key[b.asks.n - 1]


cdef inline void unsync(L2Book* b) noexcept nogil:
    b.state = SYNC_UNSYNCED
    b.buf.n_events = 0
    b.buf.n_levels = 0
    b.resyncs_needed += 1


cdef int process(L2Book* b, const Msg* m) noexcept nogil:
    """An event for a book that has a snapshot (AWAITING or SYNCED)."""
    cdef int status
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
    elif m.pu != b.prev_u:
        unsync(b)
        buffer_push(b, m)
        return BOOK_GAP
    else:
        status = BOOK_APPLIED
    apply_levels(b, m.bids, m.n_bids, m.asks, m.n_asks)
    b.prev_u = m.u
    if RTAID_DEBUG_BUILD:
        if not (side_is_valid(&b.bids) and side_is_valid(&b.asks)):
            with gil:
                raise AssertionError("book invariant broken")
    if book_crossed(b):
        unsync(b)
        return BOOK_CROSSED
    b.state = SYNC_SYNCED
    return status


cdef int book_on_depth(L2Book* b, const Msg* m) noexcept nogil:
    """Process one depth diff; returns its BOOK_* status."""
    cdef int status
    if b.state == SYNC_UNSYNCED:
        buffer_push(b, m)
        status = BOOK_BUFFERED
    else:
        status = process(b, m)
    b.status_counts[status] += 1
    return status


cdef void book_load_snapshot(L2Book* b, const Msg* m) noexcept nogil:
    """Load a REST snapshot; then call book_replay_next until it returns BOOK_NONE."""
    cdef EventBuffer tmp
    b.bids.n = 0
    b.asks.n = 0
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
        self._load(U, u, pu, bids, asks, E, T)
        return STATUS_NAMES[book_on_depth(&self.book, &self.scratch)]

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
        cdef int32_t k
        if side == "bid":
            return [(bid_px(&self.book, k), bid_qty(&self.book, k))
                    for k in range(min(n, self.book.bids.n))]
        if side == "ask":
            return [(ask_px(&self.book, k), ask_qty(&self.book, k))
                    for k in range(min(n, self.book.asks.n))]
        raise ValueError("side must be 'bid' or 'ask'")

    def status_counts(self):
        return {STATUS_NAMES[i]: self.book.status_counts[i]
                for i in range(1, BOOK_N_STATUS) if self.book.status_counts[i]}
