"""The engine: decode -> book for every symbol of one rtaid process.

``on_frame`` is the single C entry point of the hot path: the feed's listener (and
replay) hand it the frame's payload pointer and receive time, nothing else. It
allocates nothing: the decoder's and books' buffers are sized at construction.
"""
from libc.stdint cimport int64_t, int32_t
from libc.string cimport memset
from rtaid._kernels.mem cimport rt_calloc, rt_free
from rtaid._kernels.decode cimport (
    Decoder, Msg, DEC_OK, MSG_DEPTH, MSG_SNAPSHOT, MSG_BBO, MSG_TRADE, MSG_AGGTRADE,
)
from rtaid._kernels.book cimport (
    L2Book, book_init, book_free, book_reset, book_on_depth, book_load_snapshot,
    book_replay_next, bid_px, bid_qty, ask_px, ask_qty,
    BOOK_NONE, SYNC_SYNCED, SYNC_UNSYNCED,
)
from rtaid._kernels.book import STATUS_NAMES, STATE_NAMES
from rtaid._kernels.decode import KIND_NAMES


cdef class Engine:
    """Decode frames and keep one L2 book per symbol.

    Parameters
    ----------
    symbols : sequence of str
        Symbols in index order (the decoder's symbol indices).
    scales : dict, optional
        ``{symbol: (px_decimals, qty_decimals)}`` from exchangeInfo; symbols missing
        here get their decimals inferred from their first message.
    max_levels : int
        Levels kept per book side.
    buffer_events, buffer_levels : int
        Capacity of each book's pre-snapshot buffer.
    """

    def __cinit__(self, symbols, scales=None, int max_levels=5000, int buffer_events=4096,
                  int buffer_levels=1 << 20, int max_message_levels=8192):
        symbols = list(symbols)
        if not symbols:
            raise ValueError("at least one symbol")
        self.decoder = Decoder(max_message_levels)
        scales = scales or {}
        for name in symbols:
            px_dec, qty_dec = scales.get(name.upper(), (-1, -1))
            self.decoder.add_symbol(name, px_dec, qty_dec)
        self.n_books = len(symbols)
        self.books = <L2Book*>rt_calloc(self.n_books, sizeof(L2Book))
        if self.books == NULL:
            raise MemoryError()
        cdef int32_t i
        for i in range(self.n_books):
            if book_init(&self.books[i], max_levels, buffer_events, buffer_levels):
                raise MemoryError()
        self.frames = 0
        memset(self.depth_status_counts, 0, sizeof(self.depth_status_counts))

    def __dealloc__(self):
        cdef int32_t i
        if self.books != NULL:
            for i in range(self.n_books):
                book_free(&self.books[i])
            rt_free(self.books, self.n_books, sizeof(L2Book))

    cdef int on_frame(self, const char* data, Py_ssize_t n, int64_t recv_ns,
                      int32_t default_sym) noexcept nogil:
        """Process one frame; returns the decoder's result (0 when decoded)."""
        cdef Msg* m = &self.msg
        cdef L2Book* book
        cdef int rc = self.decoder.decode(data, n, default_sym, m)
        cdef int status = BOOK_NONE
        self.frames += 1
        self.last_rc = rc
        self.last_kind = m.kind if rc == DEC_OK else 0
        self.last_status = BOOK_NONE
        if rc != DEC_OK:
            return rc
        book = &self.books[m.sym]
        if m.kind == MSG_DEPTH:
            status = book_on_depth(book, m)
            self.on_depth_status(m.sym, m, status)
        elif m.kind == MSG_SNAPSHOT:
            book_load_snapshot(book, m)
            while True:
                status = book_replay_next(book, &self.replayed)
                if status == BOOK_NONE:
                    break
                self.on_depth_status(m.sym, &self.replayed, status)
        self.last_status = status
        return rc

    cdef int on_depth_status(self, int32_t sym, const Msg* m, int status) noexcept nogil:
        """Hook for what follows a depth event (signals, records)."""
        self.depth_status_counts[status] += 1
        return 0

    # ---------------------------------------------------------------- Python API
    def feed(self, const unsigned char[::1] data, int64_t recv_ns=0, int default_sym=-1):
        """Process one frame from Python (tests, tools).

        Returns
        -------
        (int, str, str)
            Decoder result code, message kind name and the book status name of the
            frame (for a snapshot: of the last event it replayed).
        """
        cdef const char* ptr = <const char*>&data[0] if data.shape[0] else <const char*>""
        self.on_frame(ptr, data.shape[0], recv_ns, default_sym)
        return self.last_rc, KIND_NAMES[self.last_kind], STATUS_NAMES[self.last_status]

    def run_frames(self, const unsigned char[::1] buf, const int64_t[::1] offsets,
                   int default_sym=-1):
        """Process frames buf[offsets[i]:offsets[i+1]] in one C loop; returns how many decoded."""
        cdef Py_ssize_t i, n = offsets.shape[0] - 1
        cdef int64_t ok = 0
        cdef const char* base = <const char*>&buf[0]
        with nogil:
            for i in range(n):
                if self.on_frame(base + offsets[i], offsets[i + 1] - offsets[i], 0,
                                 default_sym) == DEC_OK:
                    ok += 1
        return ok

    @property
    def decoder(self):
        return self.decoder

    @property
    def symbols(self):
        return self.decoder.symbol_names

    def reset_book(self, int sym):
        """Forget a symbol's book (reconnect): it buffers until the next snapshot."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        book_reset(&self.books[sym])

    def book_state(self, int sym):
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        return STATE_NAMES[self.books[sym].state]

    def top(self, int sym, str side, int n):
        """The n best (px, qty) levels of a symbol's book side, best first."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        cdef L2Book* b = &self.books[sym]
        cdef int32_t k
        if side == "bid":
            return [(bid_px(b, k), bid_qty(b, k)) for k in range(min(n, b.bids.n))]
        if side == "ask":
            return [(ask_px(b, k), ask_qty(b, k)) for k in range(min(n, b.asks.n))]
        raise ValueError("side must be 'bid' or 'ask'")

    def book_stats(self, int sym):
        """Counters of a symbol's book: statuses, dropped levels, overflows, depth."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        cdef L2Book* b = &self.books[sym]
        stats = {STATUS_NAMES[i]: b.status_counts[i] for i in range(1, 7)}
        stats.update(dropped_levels=b.dropped_levels, buffer_overflows=b.buffer_overflows,
                     bid_levels=b.bids.n, ask_levels=b.asks.n, resyncs_needed=b.resyncs_needed)
        return stats
