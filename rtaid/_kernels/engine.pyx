"""The engine: decode -> book -> store records for every symbol of one rtaid process.

``on_frame`` is the single C entry point of the hot path: the feed's listener (and
replay) hand it the frame's payload pointer and receive time, nothing else. It
allocates nothing: the decoder's and books' buffers are sized at construction, and
records are copied into the store's preallocated rings (``attach``), never waiting
for the writer thread: a full ring drops the record and counts it.
"""
from libc.stdint cimport int64_t, int32_t, int16_t, int8_t, INT64_MIN
from libc.string cimport memset
from rtaid._kernels.clock cimport monotonic_ns, rtaid_ticks
from rtaid._kernels.hist cimport Hist, LatencyHistogram, hist_record
from rtaid._kernels.mem cimport rt_calloc, rt_free
from rtaid._kernels.decode cimport (
    Decoder, Msg, Level, DEC_OK, MSG_DEPTH, MSG_SNAPSHOT, MSG_BBO, MSG_TRADE, MSG_AGGTRADE,
    MSG_MARK, MAX_SYMBOLS,
)
from rtaid._kernels.book cimport (
    L2Book, book_init, book_free, book_reset, book_on_depth, book_on_depth_split, book_finish,
    book_load_snapshot,
    book_replay_next, bid_px, bid_qty, ask_px, ask_qty, top_levels, book_invariant_violations,
    book_top_bids, book_top_asks,
    BOOK_NONE, BOOK_SYNCED, BOOK_APPLIED, BOOK_GAP, BOOK_CROSSED, SYNC_SYNCED, SYNC_UNSYNCED,
)
from rtaid._kernels.records cimport (
    TradeRec, BboRec, DepthRec, BookTopRec, BookEventRec, MarkRec,
    TBL_TRADES, TBL_BBO, TBL_DEPTH, TBL_BOOK_TOP, TBL_BOOK_EVENTS, TBL_MARK_PRICE,
    TBL_INDICATORS, TBL_BARS_1M, TBL_SIGNALS, TBL_N_ENGINE, BEV_SYNCED, BEV_GAP, BEV_CROSSED,
    BEV_N,
)
from rtaid._kernels.records cimport IndicatorRow, BarRow, SignalRow, N_RAW, N_NORM
from rtaid._kernels.signals cimport (
    SymbolSignals, SignalParams, sig_init, sig_free, sig_reset, sig_on_bbo, sig_on_trade,
    sig_on_depth, sig_on_snapshot, sig_on_reconnect, sig_on_timer, sig_finish, sig_set_model_p,
    SIG_ROW,
    SIG_BAR, SIG_SIGNAL, STRAT_NONE, N_PROF,
)
from rtaid._kernels.ring cimport (
    RecordRing, RecordRings, ByteRing, ByteRings, ring_reserve, ring_commit,
    ring_reserve_n, ring_slot, ring_commit_n, ring_free_slots, byte_ring_push,
)
from rtaid._kernels.book import DEBUG_BUILD, STATUS_NAMES, STATE_NAMES
from rtaid._kernels.decode import KIND_NAMES
from rtaid._kernels.records import (
    TABLES, RAW_COLUMNS, NORM_SERIES, EVENT_NAMES, REASON_NAMES, BOOK_EVENT_NAMES,
)
from rtaid._kernels.signals import FAMILIES, PROFILE_BUILD

STAGE_NAMES = ("decode", "book", "signals", "frame", "frame_to_signal", "lag")
# a paper order's "done" event: why it stopped working (index: PAPER_DONE_*)
PAPER_DONE_REASONS = ("unfilled", "timeout")


def calibrate_ticks(double seconds=0.02):
    """(use the TSC, ns per tick): the TSC where the CPU says it is invariant
    (constant_tsc and nonstop_tsc in /proc/cpuinfo), measured against the monotonic
    clock over ``seconds``; else the monotonic clock (1 ns per tick)."""
    import time
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        flags = []
    if not (rtaid_ticks() and "constant_tsc" in flags and "nonstop_tsc" in flags):
        return False, 1.0
    cdef int64_t c0 = rtaid_ticks()
    t0 = time.monotonic_ns()
    while time.monotonic_ns() - t0 < seconds * 1e9:
        pass
    cdef int64_t c1 = rtaid_ticks()
    t1 = time.monotonic_ns()
    return True, (t1 - t0) / <double>(c1 - c0)


# every table an engine fills (the registry's tables with an engine ring id)
RECORDED_TABLES = {name: t for name, t in TABLES.items() if t.ring < TBL_N_ENGINE}
# Engine.standby_behind kinds, by stream
AHEAD = {"depth": AHEAD_DEPTH, "trade": AHEAD_TRADE, "bbo": AHEAD_BBO, "mark": AHEAD_MARK}


# the execution ring and the paper venue's fill model (functions of an Engine)
include "engine_paper.pxi"


cdef dict bar_dict(const BarRow* b, str symbol):
    """A bars_1m row as a dict of its columns."""
    out = {"symbol": symbol, "minute_ms": b.minute_ms,
           "open": b.open, "high": b.high, "low": b.low, "close": b.close,
           "volume": b.volume, "buy_volume": b.buy_volume, "sell_volume": b.sell_volume,
           "trade_count": b.trade_count, "vwap": b.vwap, "spread_mean": b.spread_mean,
           "mid_last": b.mid_last}
    cdef int32_t k
    for k in range(N_RAW):
        out[RAW_COLUMNS[k] + "_last"] = b.raw[k]
    for k in range(N_NORM):
        out[NORM_SERIES[k] + "_z_last"] = b.z[k]
        out[NORM_SERIES[k] + "_osc_last"] = b.osc[k]
    return out


cdef int check_books(int64_t before) except -1:
    """Raise if the debug build's invariant check found a book broken since ``before``."""
    if book_invariant_violations() != before:
        raise AssertionError(f"book invariant broken ({book_invariant_violations() - before} "
                             f"time(s)): the debug build checks every book after each event")
    return 0


cdef enum:
    TAIL_NONE = 0      # record_tail has nothing to do
    TAIL_JOURNAL = 1   # the frame's journal line (it did not decode)
    TAIL_ROWS = 2      # its journal line and its rows


cdef class ExecWaker:
    """The listener's C-level wake-up (rtaid.exec.fastpath.FastOrderPath is one): a
    subclass overrides ``wake`` and ``warm``; the listener calls them through the vtable
    (engine.pxd), never as a Python callable."""
    cdef int wake(self) except -1:
        return 0

    cdef int warm(self, int64_t now_ns) except -1:
        return 0


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
    max_message_levels : int
        Most levels one message may carry.
    rings : RecordRings, optional
        Where to record rows (see ``attach``).
    journal : ByteRings, optional
        Where to copy every received frame (see ``attach``).
    signal_params : dict, optional
        ``{symbol: SignalParams}``: run the signal kernels for these symbols (see
        ``enable_signals``; decimals must be the decoder's).
    l1_from_book : collection of str
        Symbols without a bookTicker stream (their L1 is the top of the book).
    """

    def __cinit__(self, symbols, scales=None, int max_levels=5000, int buffer_events=4096,
                  int buffer_levels=1 << 20, int max_message_levels=8192, rings=None,
                  journal=None, signal_params=None, l1_from_book=()):
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
        cdef int32_t i, k
        for i in range(self.n_books):
            if book_init(&self.books[i], max_levels, buffer_events, buffer_levels):
                raise MemoryError()
        self.frames = 0
        memset(self.depth_status_counts, 0, sizeof(self.depth_status_counts))
        memset(self.rec, 0, sizeof(self.rec))
        memset(self.syms, 0, sizeof(self.syms))
        self.sig = <SymbolSignals*>rt_calloc(self.n_books, sizeof(SymbolSignals))
        self.sig_enabled = <bint*>rt_calloc(self.n_books, sizeof(bint))
        if self.sig == NULL or self.sig_enabled == NULL:
            raise MemoryError()
        self.exec_head = self.exec_tail = self.exec_woken = 0
        self.exec_lost = 0
        self.queue_exec = False
        self.queue_bars = False
        self.frame_mono_ns = 0
        memset(self.paper, 0, sizeof(self.paper))
        self.paper_n = 0
        self.paper_latency_ms = 0
        self.stage_hists = tuple(LatencyHistogram() for _ in range(N_STAGES))
        for k in range(N_STAGES):
            self.stage[k] = &(<LatencyHistogram>self.stage_hists[k]).h
        self.timing = False
        self.use_tsc = False
        self.ns_per_tick = 1.0       # the monotonic clock until set_timing calibrates
        self.frame_ticks = 0
        self.tail_book = -1
        self.source = 0
        self.overlaps = 0
        self.n_standby = 0
        self.overlap_duplicates = 0
        self.overlap_ahead = 0
        for i in range(MAX_SYMBOLS):
            self.syms[i].last_trade_id = INT64_MIN
            self.syms[i].last_bbo_u = INT64_MIN
            self.syms[i].last_mark_E = INT64_MIN
            for k in range(N_AHEAD):
                self.ahead_key[i][k] = INT64_MIN
        l1b = {s.upper() for s in l1_from_book}
        for name, params in (signal_params or {}).items():
            self.enable_signals(self.symbols.index(name.upper()), params, name.upper() in l1b)
        self.attach(rings, journal)

    def __dealloc__(self):
        cdef int32_t i
        if self.books != NULL:
            for i in range(self.n_books):
                book_free(&self.books[i])
            rt_free(self.books, self.n_books, sizeof(L2Book))
        if self.sig != NULL:
            for i in range(self.n_books):
                if self.sig_enabled[i]:
                    sig_free(&self.sig[i])
            rt_free(self.sig, self.n_books, sizeof(SymbolSignals))
        if self.sig_enabled != NULL:
            rt_free(self.sig_enabled, self.n_books, sizeof(bint))

    cdef int on_frame_first(self, const char* data, Py_ssize_t n, int64_t recv_ns,
                            int32_t default_sym) noexcept nogil:
        """:meth:`on_frame` with the frame's own records (its journal line, its trade,
        bbo or depth rows, its indicator, signal and bar rows, the rest of a depth event,
        its stage times) left for :meth:`record_tail`: the listener sends the order a
        target change calls for first, then records."""
        cdef int rc
        self.defer_record = True
        rc = self.on_frame(data, n, recv_ns, default_sym)
        self.defer_record = False
        return rc

    cdef void record_tail(self) noexcept nogil:
        """Record what :meth:`on_frame_first` left (call in the same listener callback:
        the journal copies the frame's bytes)."""
        cdef int state = self.tail_state
        cdef int32_t sym = self.tail_book
        if self.times.decoded_pending or self.times.end_pending:
            self.record_stages()
        if state == TAIL_NONE:
            return
        self.tail_state = TAIL_NONE
        if self.tail_sig_flags:
            self.record_signal_rows(self.tail_sig, self.tail_sig_flags)
            self.tail_sig_flags = 0
        if sym >= 0:
            # the depth event's updates that could not change what the signals read,
            # then its book records (they carry the whole book's level counts)
            self.tail_book = -1
            book_finish(&self.books[sym])
            self.depth_records(sym, &self.msg, self.tail_book_status)
        if self.journal_rings != NULL and self.tail_data != NULL:
            byte_ring_push(&self.journal_rings[self.tail_jsym], self.recv_ns, self.tail_jsym,
                           self.tail_data, self.tail_n)
        self.tail_data = NULL
        if state == TAIL_ROWS:
            self.record_msg(&self.msg)

    cdef void record_missed_tail(self) noexcept nogil:
        """A deferred frame whose tail was not recorded (its listener failed between the
        two calls): its rows go in now, before anything changes the message or the
        signal state; its bytes may be gone, so its journal line is counted lost."""
        self.tail_data = NULL
        if self.journal_rings != NULL:
            self.tail_journal_lost += 1
        self.record_tail()

    cdef int on_frame(self, const char* data, Py_ssize_t n, int64_t recv_ns,
                      int32_t default_sym) noexcept nogil:
        """Process one frame; returns the decoder's result (0 when decoded)."""
        cdef Msg* m = &self.msg
        if self.tail_state != TAIL_NONE:
            self.record_missed_tail()
        cdef L2Book* book
        cdef int64_t t_in = self.ticks() if self.timing else 0
        cdef StageTimes* times = &self.times
        cdef int rc = self.decoder.decode(data, n, default_sym, m)
        cdef int status = BOOK_NONE
        cdef int32_t jsym, depth_k
        cdef SymbolSignals* st
        cdef int64_t t_book = 0
        if self.timing:
            times.t_dec = self.ticks()
            times.t_in = t_in
            times.start = self.frame_ticks if self.frame_ticks else t_in
            times.has_lag = rc == DEC_OK and m.E > 0
            times.lag_ns = recv_ns - m.E * 1000000
            times.decoded_pending = True
            times.end_pending = False
            if not self.defer_record:
                self.record_stages()
        self.frames += 1
        self.last_rc = rc
        self.last_kind = m.kind if rc == DEC_OK else 0
        self.last_status = BOOK_NONE
        self.recv_ns = recv_ns
        if self.overlaps and rc == DEC_OK and self.overlap_drop(m):
            # a handover's duplicate: not journaled, not recorded, not applied
            self.last_kind = 0
            return rc
        # every received frame, decodable or not, in the journal ring of its symbol
        jsym = m.sym if rc == DEC_OK else default_sym
        if jsym < 0 or jsym >= self.n_books:
            jsym = self.n_books
        if self.defer_record:
            self.tail_state = TAIL_ROWS if rc == DEC_OK else TAIL_JOURNAL
            self.tail_jsym = jsym
            self.tail_data = data
            self.tail_n = n
        elif self.journal_rings != NULL:
            byte_ring_push(&self.journal_rings[jsym], recv_ns, jsym, data, n)
        if rc != DEC_OK:
            return rc
        self.syms[m.sym].last_E = m.E
        self.syms[m.sym].last_recv_ns = recv_ns
        self.syms[m.sym].kind_counts[m.kind] += 1
        self.syms[m.sym].last_T = m.T
        if not self.defer_record:
            self.record_msg(m)
        book = &self.books[m.sym]
        st = &self.sig[m.sym] if self.sig_enabled[m.sym] else NULL
        if m.kind == MSG_DEPTH:
            if self.defer_record and st != NULL:
                # the listener: the updates that can change the levels the signals (and
                # a paper order) read first, the others in record_tail, after the order
                depth_k = st.depth_n
                if self.syms[m.sym].paper_orders and depth_k < PAPER_LEVELS:
                    depth_k = PAPER_LEVELS
                status = book_on_depth_split(book, m, depth_k)
            else:
                status = book_on_depth(book, m)
            if self.timing:
                t_book = self.ticks()
            if book.rest_pending:
                self.depth_signals(m.sym, m, status)
                self.tail_book = m.sym
                self.tail_book_status = status
            else:
                self.on_depth_status(m.sym, m, status)
        elif m.kind == MSG_BBO:
            self.syms[m.sym].last_bbo_u = m.u
            if st != NULL:
                self.emit_signals(st, sig_on_bbo(st, m))
        elif m.kind == MSG_TRADE or m.kind == MSG_AGGTRADE:
            self.syms[m.sym].last_trade_id = m.trade_id
            if st != NULL:
                self.emit_signals(st, sig_on_trade(st, m))
        elif m.kind == MSG_MARK:
            self.syms[m.sym].last_mark_E = m.E
        elif m.kind == MSG_SNAPSHOT:
            book_load_snapshot(book, m)
            if st != NULL:
                sig_on_snapshot(st, book)
            while True:
                status = book_replay_next(book, &self.replayed)
                if status == BOOK_NONE:
                    break
                self.on_depth_status(m.sym, &self.replayed, status)
            if self.timing:
                t_book = self.ticks()
        if self.timing:
            self.time_stages(m, st != NULL, t_book)
        if self.syms[m.sym].paper_orders:
            paper_on_event(self, m)
        self.last_status = status
        return rc

    cdef inline int64_t ticks(self) noexcept nogil:
        return rtaid_ticks() if self.use_tsc else monotonic_ns()

    cdef void time_stages(self, const Msg* m, bint signals, int64_t t_book) noexcept nogil:
        """Note the end of the frame just done (its book, signals and frame-to-signal
        stages); recorded at once, or in record_tail for the listener's frame."""
        cdef StageTimes* times = &self.times
        times.t_end = self.ticks()
        times.t_book = t_book
        times.kind = m.kind
        times.signals = signals
        times.end_pending = True
        if not self.defer_record:
            self.record_stages()

    cdef void record_stages(self) noexcept nogil:
        """Record the noted stage times into the histograms (cold lines after an idle
        wait: the listener's frame records them after its order)."""
        cdef StageTimes* times = &self.times
        cdef bint depth = times.kind == MSG_DEPTH or times.kind == MSG_SNAPSHOT
        if times.decoded_pending:
            times.decoded_pending = False
            hist_record(self.stage[STAGE_DECODE],
                        <int64_t>((times.t_dec - times.t_in) * self.ns_per_tick))
            if times.has_lag:
                hist_record(self.stage[STAGE_LAG], times.lag_ns)
        if not times.end_pending:
            return
        times.end_pending = False
        if depth:
            hist_record(self.stage[STAGE_BOOK],
                        <int64_t>((times.t_book - times.t_dec) * self.ns_per_tick))
        if times.signals and times.kind != MSG_MARK:
            # depth: the kernels run after the book (to t_end); bbo/trade: after decode
            hist_record(self.stage[STAGE_SIGNALS],
                        <int64_t>((times.t_end - (times.t_book if depth else times.t_dec))
                                  * self.ns_per_tick))
            hist_record(self.stage[STAGE_FRAME_TO_SIGNAL],
                        <int64_t>((times.t_end - times.start) * self.ns_per_tick))

    def set_timing(self, bint on=True):
        """Time every frame's stages into the stage histograms (the daemon; benchmarks
        leave it off). The clock is the invariant TSC where the CPU has one, calibrated
        against the monotonic clock once, else the monotonic clock itself."""
        if on and not self.use_tsc:
            self.use_tsc, self.ns_per_tick = calibrate_ticks()
        self.timing = on

    def record_frame(self, int64_t receipt_ticks):
        """The listener's whole-frame sample (receipt to engine done), on the engine's
        clock (``ticks``)."""
        hist_record(self.stage[STAGE_FRAME],
                    <int64_t>((self.ticks() - receipt_ticks) * self.ns_per_tick))

    def now_ticks(self):
        return self.ticks()

    @property
    def stages(self):
        """``{stage: LatencyHistogram}``: decode, book, signals, frame, frame_to_signal,
        lag (ns; what each counts: engine.pxd STAGE_*)."""
        return dict(zip(STAGE_NAMES, self.stage_hists))

    cdef bint overlap_drop(self, const Msg* m) noexcept nogil:
        """During a handover: is this event one to skip (already taken, or a standby
        running ahead, whose events in between the old connection delivers)?

        Depth follows the pu chain; trades their ids (consecutive per symbol); bbo and
        mark price must move forward, and come from the old connection until the new
        one is promoted (a second bookTicker with an equal u, legitimate outside a
        handover, is taken as a duplicate here; the recordings have none).
        """
        cdef int32_t i, sym = m.sym
        cdef bint standby = False
        cdef L2Book* b
        for i in range(self.n_standby):
            if self.standby[i] == self.source:
                standby = True
        if m.kind == MSG_DEPTH:
            b = &self.books[sym]
            if b.state != SYNC_SYNCED:
                # the old connection fills the pre-snapshot buffer on its own
                return standby
            if m.u <= b.prev_u:
                self.overlap_duplicates += 1
                return True
            if standby and m.pu != b.prev_u:
                return self.standby_ahead(sym, AHEAD_DEPTH_I, m.u)
            return False
        if m.kind == MSG_TRADE or m.kind == MSG_AGGTRADE:
            if self.syms[sym].last_trade_id == INT64_MIN:
                return standby
            if m.trade_id <= self.syms[sym].last_trade_id:
                self.overlap_duplicates += 1
                return True
            if standby and m.trade_id != self.syms[sym].last_trade_id + 1:
                return self.standby_ahead(sym, AHEAD_TRADE_I, m.trade_id)
            return False
        if m.kind == MSG_BBO:
            if m.u <= self.syms[sym].last_bbo_u:
                self.overlap_duplicates += 1
                return True
            # no chain: taking it would make the old connection's earlier ones
            # look like duplicates
            return standby and self.standby_ahead(sym, AHEAD_BBO_I, m.u)
        if m.kind == MSG_MARK:
            if m.E <= self.syms[sym].last_mark_E:
                self.overlap_duplicates += 1
                return True
            return standby and self.standby_ahead(sym, AHEAD_MARK_I, m.E)
        return False

    cdef inline bint standby_ahead(self, int32_t sym, int kind, int64_t key) noexcept nogil:
        """Skip a standby's event the old connection has not delivered yet; remember it:
        the standby may lead only once the old connection has delivered up to it."""
        self.overlap_ahead += 1
        if key > self.ahead_key[sym][kind]:
            self.ahead_key[sym][kind] = key
        return True

    cdef int on_depth_status(self, int32_t sym, const Msg* m, int status) noexcept nogil:
        """Hook for what follows a depth event (signals, records)."""
        self.depth_signals(sym, m, status)
        self.depth_records(sym, m, status)
        return 0

    cdef void depth_signals(self, int32_t sym, const Msg* m, int status) noexcept nogil:
        """A depth event's signals (the book's best levels final)."""
        cdef SymbolSignals* st
        self.depth_status_counts[status] += 1
        if self.sig_enabled[sym]:
            # every status: the kernels track the book's sync state themselves
            st = &self.sig[sym]
            self.emit_signals(st, sig_on_depth(st, &self.books[sym], m, status))

    cdef void depth_records(self, int32_t sym, const Msg* m, int status) noexcept nogil:
        """A depth event's book_top and book_events rows (the whole event applied)."""
        cdef L2Book* b
        cdef RecordRing* r = self.rec[TBL_BOOK_TOP]
        cdef BookTopRec* top
        if (status == BOOK_SYNCED or status == BOOK_APPLIED) and r != NULL:
            # events replayed from the buffer after a snapshot carry the snapshot
            # frame's receive time: the book keeps no receive time per buffered event
            top = <BookTopRec*>ring_reserve(r)
            if top != NULL:
                b = &self.books[sym]
                top.E = m.E
                top.T = m.T
                top.recv_ns = self.recv_ns
                top.u = m.u
                top.sym = sym
                top.bid_levels = b.bids.n
                top.ask_levels = b.asks.n
                if b.bids.n > 0:
                    top.bid_px = bid_px(b, 0)
                    top.bid_qty = bid_qty(b, 0)
                else:
                    top.bid_px = 0
                    top.bid_qty = 0
                if b.asks.n > 0:
                    top.ask_px = ask_px(b, 0)
                    top.ask_qty = ask_qty(b, 0)
                else:
                    top.ask_px = 0
                    top.ask_qty = 0
                ring_commit(r)
        if status == BOOK_SYNCED:
            self.record_book_event(sym, m.E, m.T, m.u, BEV_SYNCED, 0)
        elif status == BOOK_GAP:
            self.record_book_event(sym, m.E, m.T, m.u, BEV_GAP, 0)
        elif status == BOOK_CROSSED:
            self.record_book_event(sym, m.E, m.T, m.u, BEV_CROSSED, 0)

    cdef void emit_signals(self, SymbolSignals* st, int flags) noexcept nogil:
        """Record what a signal kernel call produced (the listener's frame: in
        record_tail, after its order); queue target changes for the execution task."""
        cdef ExecEvent* ev
        if flags == 0:
            return
        if self.defer_record and self.msg.kind != MSG_SNAPSHOT:
            # one kernel call in the frame: its rows stay in st until record_tail (a
            # snapshot replays buffered events, each call overwriting the last's rows)
            self.tail_sig = st
            self.tail_sig_flags = flags
        else:
            self.record_signal_rows(st, flags)
        if flags & SIG_BAR and self.queue_exec and self.queue_bars:
            ev = exec_push(self, EXEC_BAR, st.sym, st.bar.minute_ms)
            if ev != NULL:
                ev.bar = st.bar
        if flags & SIG_SIGNAL and self.queue_exec:
            ev = exec_push(self, EXEC_TARGET, st.signal.sym, st.signal.ts_ms)
            if ev != NULL:
                ev.row = st.signal

    cdef void record_signal_rows(self, SymbolSignals* st, int flags) noexcept nogil:
        """Copy a signal kernel call's rows (st.bar, st.row, st.signal) into the rings."""
        cdef RecordRing* r
        cdef void* slot
        if flags & SIG_BAR:    # closed before the event: precedes its row
            r = self.rec[TBL_BARS_1M]
            if r != NULL:
                slot = ring_reserve(r)
                if slot != NULL:
                    (<BarRow*>slot)[0] = st.bar
                    ring_commit(r)
        if flags & SIG_ROW:
            r = self.rec[TBL_INDICATORS]
            if r != NULL:
                slot = ring_reserve(r)
                if slot != NULL:
                    (<IndicatorRow*>slot)[0] = st.row
                    ring_commit(r)
        if flags & SIG_SIGNAL:
            r = self.rec[TBL_SIGNALS]
            if r != NULL:
                slot = ring_reserve(r)
                if slot != NULL:
                    (<SignalRow*>slot)[0] = st.signal
                    ring_commit(r)

    cdef void record_book_event(self, int32_t sym, int64_t E, int64_t T, int64_t u,
                                int event, int reason) noexcept nogil:
        cdef RecordRing* r = self.rec[TBL_BOOK_EVENTS]
        cdef BookEventRec* ev
        if r == NULL:
            return
        ev = <BookEventRec*>ring_reserve(r)
        if ev == NULL:
            return
        ev.E = E
        ev.T = T
        ev.recv_ns = self.recv_ns
        ev.u = u
        ev.sym = sym
        ev.event = <int16_t>event
        ev.reason = <int16_t>reason
        ring_commit(r)

    cdef void record_msg(self, const Msg* m) noexcept nogil:
        """Copy a decoded message into its table's ring (depth: one row per level)."""
        cdef RecordRing* r
        cdef TradeRec* tr
        cdef BboRec* bb
        cdef DepthRec* d
        cdef MarkRec* mk
        cdef int32_t i, side, n_lv, k
        cdef const Level* lv
        if m.kind == MSG_BBO:
            r = self.rec[TBL_BBO]
            if r == NULL:
                return
            bb = <BboRec*>ring_reserve(r)
            if bb == NULL:
                return
            bb.E = m.E
            bb.T = m.T
            bb.recv_ns = self.recv_ns
            bb.u = m.u
            bb.bid_px = m.bid_px
            bb.bid_qty = m.bid_qty
            bb.ask_px = m.ask_px
            bb.ask_qty = m.ask_qty
            bb.sym = m.sym
            ring_commit(r)
        elif m.kind == MSG_TRADE or m.kind == MSG_AGGTRADE:
            r = self.rec[TBL_TRADES]
            if r == NULL:
                return
            tr = <TradeRec*>ring_reserve(r)
            if tr == NULL:
                return
            tr.E = m.E
            tr.T = m.T
            tr.recv_ns = self.recv_ns
            tr.trade_id = m.trade_id
            tr.px = m.px
            tr.qty = m.qty
            tr.sym = m.sym
            tr.buyer_maker = <int8_t>m.buyer_maker
            tr.aggregate = 1 if m.kind == MSG_AGGTRADE else 0
            ring_commit(r)
        elif m.kind == MSG_DEPTH or m.kind == MSG_SNAPSHOT:
            r = self.rec[TBL_DEPTH]
            if r == NULL:
                return
            # one room check and one publish for all the levels of the message
            if not ring_reserve_n(r, m.n_bids + m.n_asks):
                return
            k = 0
            for side in range(2):
                lv = m.bids if side == 0 else m.asks
                n_lv = m.n_bids if side == 0 else m.n_asks
                for i in range(n_lv):
                    d = <DepthRec*>ring_slot(r, k)
                    k += 1
                    d.E = m.E
                    d.T = m.T
                    d.recv_ns = self.recv_ns
                    d.px = lv[i].px
                    d.qty = lv[i].qty
                    d.sym = m.sym
                    d.side = <int8_t>side
                    if m.kind == MSG_SNAPSHOT:
                        d.U = m.u
                        d.u = m.u
                        d.pu = m.u
                        d.snapshot = 1
                    else:
                        d.U = m.U
                        d.u = m.u
                        d.pu = m.pu
                        d.snapshot = 0
            ring_commit_n(r, k)
        elif m.kind == MSG_MARK:
            r = self.rec[TBL_MARK_PRICE]
            if r == NULL:
                return
            mk = <MarkRec*>ring_reserve(r)
            if mk == NULL:
                return
            mk.E = m.E
            mk.T = m.T
            mk.recv_ns = self.recv_ns
            mk.px = m.px
            mk.sym = m.sym
            ring_commit(r)

    cdef int64_t min_free_slots(self) noexcept nogil:
        """Free slots of the fullest attached ring (-1: none attached)."""
        cdef int64_t best = -1, free
        cdef int32_t t
        for t in range(TBL_N_ENGINE):
            if self.rec[t] != NULL:
                free = ring_free_slots(self.rec[t])
                if best < 0 or free < best:
                    best = free
        return best

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
        cdef int64_t broken = book_invariant_violations()
        self.on_frame(ptr, data.shape[0], recv_ns, default_sym)
        check_books(broken)
        return self.last_rc, KIND_NAMES[self.last_kind], STATUS_NAMES[self.last_status]

    def feed_first(self, const unsigned char[::1] data, int64_t recv_ns=0, int default_sym=-1):
        """:meth:`feed` the way the daemon's listener does (tests): the frame's own records
        and the part of a depth event that cannot change what the signals read wait for
        :meth:`finish_frame`, which must follow before the next frame (``data`` must
        stay alive until then)."""
        cdef const char* ptr = <const char*>&data[0] if data.shape[0] else <const char*>""
        cdef int64_t broken = book_invariant_violations()
        self.on_frame_first(ptr, data.shape[0], recv_ns, default_sym)
        check_books(broken)
        return self.last_rc, KIND_NAMES[self.last_kind], STATUS_NAMES[self.last_status]

    def finish_frame(self):
        """What :meth:`feed_first` left (the listener's record_tail)."""
        cdef int64_t broken = book_invariant_violations()
        self.record_tail()
        check_books(broken)

    @property
    def book_rest_pending(self):
        """A depth event's late updates wait for :meth:`finish_frame`."""
        return self.tail_book >= 0

    def book_splits(self, int sym):
        """Depth events of a symbol's book applied in two parts (the listener path)."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        return self.books[sym].splits

    def run_frames(self, const unsigned char[::1] buf, const int64_t[::1] offsets,
                   int default_sym=-1, const int64_t[::1] recv_ns=None):
        """Process frames buf[offsets[i]:offsets[i+1]] in one C loop; returns how many decoded.

        ``recv_ns[i]`` is frame i's receive time (default 0).
        """
        cdef Py_ssize_t i, n = offsets.shape[0] - 1
        cdef int64_t ok = 0
        cdef const char* base = <const char*>&buf[0]
        cdef const int64_t* stamps = NULL
        if recv_ns is not None:
            if recv_ns.shape[0] < n:
                raise ValueError("recv_ns shorter than the frames")
            stamps = &recv_ns[0] if n > 0 else NULL
        cdef int64_t broken = book_invariant_violations()
        with nogil:
            for i in range(n):
                if self.on_frame(base + offsets[i], offsets[i + 1] - offsets[i],
                                 stamps[i] if stamps != NULL else 0, default_sym) == DEC_OK:
                    ok += 1
        check_books(broken)
        return ok

    def run_frames_paced(self, const unsigned char[::1] buf, const int64_t[::1] offsets,
                         const int64_t[::1] recv_ns, int default_sym, Py_ssize_t start,
                         int64_t reserve, bint stop_on_exec=False):
        """Process frames from ``start`` while every attached ring has ``reserve`` free slots.

        For offline replay, which must lose nothing: the caller drains the rings
        whenever this stops early and calls again from the returned index. With
        ``stop_on_exec`` it also stops after a frame that queued execution events (a
        target change, a paper fill), so that the order manager handles them before the
        next frame, as deterministically as the paper venue's exchange-time model needs.

        Returns
        -------
        int
            Index of the first frame not processed (``len(offsets) - 1`` when done).
        """
        cdef Py_ssize_t i = start, n = offsets.shape[0] - 1
        cdef const char* base = <const char*>&buf[0] if buf.shape[0] else <const char*>""
        if recv_ns.shape[0] < n:
            raise ValueError("recv_ns shorter than the frames")
        cdef int64_t broken = book_invariant_violations()
        cdef int64_t head
        with nogil:
            while i < n:
                if reserve > 0 and 0 <= self.min_free_slots() < reserve:
                    break
                head = self.exec_head
                self.on_frame(base + offsets[i], offsets[i + 1] - offsets[i], recv_ns[i],
                              default_sym)
                i += 1
                if stop_on_exec and self.exec_head != head:
                    break
        check_books(broken)
        return i

    # ---------------------------------------------------------------- store
    def attach(self, RecordRings rings=None, ByteRings journal=None):
        """Record into ``rings`` (the registry's tables, by name) and ``journal``.

        Either may be None (not recorded). ``journal`` needs one ring per symbol plus
        one for frames of no known symbol. Call from the engine's thread, between frames.
        """
        cdef int32_t t
        if journal is not None and len(journal) < self.n_books + 1:
            raise ValueError(f"journal needs {self.n_books + 1} rings, has {len(journal)}")
        memset(self.rec, 0, sizeof(self.rec))
        self.rings = rings
        if rings is not None:
            for name, layout in RECORDED_TABLES.items():
                if name in rings.names:
                    if rings.record_size(name) != layout.size:
                        raise ValueError(f"ring {name!r} holds records of another size")
                    self.rec[<int32_t>layout.ring] = &rings.rings[<int32_t>rings.names[name]]
        self.journal = journal
        self.journal_rings = journal.rings if journal is not None else NULL

    def push_book_event(self, int sym, str event, int reason=0, E=None, T=None, u=0,
                        int64_t recv_ns=0):
        """Record a book_events row from Python (the feed: reconnect, resync).

        Parameters
        ----------
        sym : int
            Symbol index.
        event : str
            One of ``BOOK_EVENT_NAMES``.
        reason : int
            Reason code, from ``rtaid.store.tables.reason_code(text)``.
        E, T : int, optional
            Exchange times (ms); default: the last ones seen for the symbol.
        u : int
            Update id the event refers to, if any.
        recv_ns : int
            Local time of the event.

        Notes
        -----
        Call from the thread that runs the engine (the rings have one producer).
        """
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        code = BOOK_EVENT_NAMES.index(event)
        self.recv_ns = recv_ns
        self.record_book_event(sym, self.syms[sym].last_E if E is None else E,
                               self.syms[sym].last_T if T is None else T, u, code, reason)

    @property
    def decoder(self):
        return self.decoder

    @property
    def symbols(self):
        return self.decoder.symbol_names

    def reset_book(self, int sym):
        """Forget a symbol's book (reconnect): it buffers until the next snapshot; its
        signal kernels drop the L2 state that must not carry over."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        book_reset(&self.books[sym])
        if self.sig_enabled[sym]:
            sig_on_reconnect(&self.sig[sym])

    # ---------------------------------------------------------------- handover
    def overlap_begin(self, int source):
        """A connection starts handing over to a new one, ``source`` (make-before-break).

        Until ``overlap_end``, events both deliver are taken once; until
        ``promote(source)``, the new connection only fills in events that continue the
        books' chains and the trade ids (anything ahead, the old one delivers).
        """
        if self.n_standby >= MAX_STANDBY:
            raise RuntimeError("too many handovers at once")
        cdef int32_t i, k
        self.standby[self.n_standby] = source
        self.n_standby += 1
        self.overlaps += 1
        for i in range(self.n_books):
            for k in range(N_AHEAD):
                self.ahead_key[i][k] = INT64_MIN

    def promote(self, int source):
        """The new connection leads from now on (call once ``standby_behind`` is 0 and
        before the old connection stops delivering)."""
        cdef int32_t i, j = 0
        for i in range(self.n_standby):
            if self.standby[i] != source:
                self.standby[j] = self.standby[i]
                j += 1
        self.n_standby = j

    def overlap_end(self):
        """The old connection is gone and the new one has caught up: stop deduplicating."""
        if self.overlaps > 0:
            self.overlaps -= 1

    def standby_behind(self, symbols, int kinds=AHEAD_ALL):
        """How many of ``symbols`` (indices) have an event a standby delivered ahead that
        the old connection has not delivered yet: promoting now would lose it.
        ``kinds``: ``AHEAD`` bits (depth, trade, bbo, mark)."""
        cdef int n = 0
        cdef int32_t i
        cdef L2Book* b
        for sym in symbols:
            i = sym
            if not 0 <= i < self.n_books:
                raise IndexError(i)
            b = &self.books[i]
            if ((kinds & AHEAD_DEPTH and b.state == SYNC_SYNCED
                    and self.ahead_key[i][AHEAD_DEPTH_I] > b.prev_u)
                    or (kinds & AHEAD_TRADE
                        and self.ahead_key[i][AHEAD_TRADE_I] > self.syms[i].last_trade_id)
                    or (kinds & AHEAD_BBO and self.ahead_key[i][AHEAD_BBO_I] > self.syms[i].last_bbo_u)
                    or (kinds & AHEAD_MARK
                        and self.ahead_key[i][AHEAD_MARK_I] > self.syms[i].last_mark_E)):
                n += 1
        return n

    def overlap_stats(self):
        return {"overlaps": self.overlaps, "standby": self.n_standby,
                "duplicates": self.overlap_duplicates, "ahead": self.overlap_ahead}

    # ---------------------------------------------------------------- signals
    def enable_signals(self, int sym, SignalParams params, bint l1_from_book=False):
        """Run the signal kernels for a symbol from its next event on.

        Parameters
        ----------
        sym : int
            Symbol index.
        params : SignalParams
            Its parameters; px_dec/qty_dec must be the decoder's decimals of the symbol.
        l1_from_book : bool
            The symbol has no bookTicker stream: L1 is the top of its book.

        Notes
        -----
        Call from the engine's thread between frames. A book already synced is taken
        as is (its first diff starts the L2 windows).
        """
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if self.sig_enabled[sym]:
            raise ValueError(f"signals already enabled for {self.symbols[sym]}")
        px_dec, qty_dec = self.decoder.scales(sym)
        if (px_dec, qty_dec) != (params.c.px_dec, params.c.qty_dec):
            raise ValueError(
                f"{self.symbols[sym]}: signal params have decimals "
                f"{(params.c.px_dec, params.c.qty_dec)}, the decoder {(px_dec, qty_dec)}")
        if sig_init(&self.sig[sym], &params.c, sym, l1_from_book):
            raise MemoryError()
        self.sig_enabled[sym] = True
        sig_on_snapshot(&self.sig[sym], &self.books[sym])

    def signals_enabled(self, int sym):
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        return bool(self.sig_enabled[sym])

    def update_strategy(self, int sym, SignalParams params):
        """Apply the live-reloadable strategy thresholds of ``params`` (SIGHUP)."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym]:
            return
        cdef SymbolSignals* st = &self.sig[sym]
        st.p.strategy_entry_low = params.c.strategy_entry_low
        st.p.strategy_entry_high = params.c.strategy_entry_high
        st.p.strategy_exit_mid = params.c.strategy_exit_mid
        st.p.strategy_toxic_max = params.c.strategy_toxic_max
        st.p.strategy_max_hold_ms = params.c.strategy_max_hold_ms
        st.p.strategy_stop_bps = params.c.strategy_stop_bps
        st.p.strategy_cooldown_ms = params.c.strategy_cooldown_ms
        st.p.strategy_stale_ms = params.c.strategy_stale_ms
        st.p.strategy_model_threshold = params.c.strategy_model_threshold

    def strategy_params(self, int sym):
        """The strategy thresholds a symbol's kernel uses now (None: signals off)."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym]:
            return None
        cdef SymbolSignals* st = &self.sig[sym]
        return {"entry_low": st.p.strategy_entry_low, "entry_high": st.p.strategy_entry_high,
                "exit_mid": st.p.strategy_exit_mid, "toxic_max": st.p.strategy_toxic_max,
                "max_hold_ms": st.p.strategy_max_hold_ms, "stop_bps": st.p.strategy_stop_bps,
                "cooldown_ms": st.p.strategy_cooldown_ms, "stale_ms": st.p.strategy_stale_ms,
                "order_qty": st.p.strategy_order_qty,
                "model_threshold": st.p.strategy_model_threshold}

    def queue_exec_events(self, bint on=True):
        """Queue execution events (target changes, paper fills) for ``drain_exec_events``
        from now on (the daemon's execution task; a paper replay); off (the default):
        target changes are only recorded."""
        self.queue_exec = on
        self.exec_head = self.exec_tail = self.exec_woken = 0

    @property
    def exec_pending(self):
        """Execution events queued and not yet drained."""
        return self.exec_head - self.exec_tail

    def drain_exec_events(self):
        """Take the queued execution events, oldest first, as dicts: ``type`` "target"
        (the signals table's columns, ``symbol`` and ``reason`` as names), "fill"
        (``order_id``, ``side``, ``maker``, ``px``/``qty`` in ticks/lots, ``remaining``)
        or "done" (a paper order left unfilled: ``remaining``); every event has
        ``symbol``, ``ts_ms`` (exchange time) and ``recv_ns``/``mono_ns`` of the frame
        that caused it. Call from the engine's thread."""
        cdef ExecEvent* ev
        cdef const SignalRow* s
        names = self.decoder.symbol_names
        out = []
        while self.exec_tail < self.exec_head:
            ev = &self.exec_events[self.exec_tail % EXEC_QUEUE]
            if ev.type == EXEC_TARGET:
                s = &ev.row
                out.append({"type": "target", "symbol": names[s.sym], "ts_ms": s.ts_ms,
                            "seq": s.seq, "prev_target": s.prev_target, "target": s.target,
                            "target_qty": s.target_qty, "reason": REASON_NAMES[s.reason],
                            "mid": s.mid, "dev_osc": s.dev_osc, "ofi_osc": s.ofi_osc,
                            "vpin_osc": s.vpin_osc, "model_p": s.model_p, "recv_ns": ev.recv_ns,
                            "mono_ns": ev.mono_ns})
            elif ev.type == EXEC_BAR:
                out.append(bar_dict(&ev.bar, names[ev.sym]) | {
                    "type": "bar", "ts_ms": ev.ts_ms, "recv_ns": ev.recv_ns,
                    "mono_ns": ev.mono_ns})
            else:
                out.append({"type": "fill" if ev.type == EXEC_FILL else "done",
                            "symbol": names[ev.sym], "ts_ms": ev.ts_ms, "order_id": ev.order_id,
                            "side": ev.side, "maker": bool(ev.maker), "px": ev.px, "qty": ev.qty,
                            "remaining": ev.remaining, "recv_ns": ev.recv_ns,
                            "mono_ns": ev.mono_ns}
                           | ({} if ev.type == EXEC_FILL else
                              {"reason": PAPER_DONE_REASONS[ev.reason]}))
            self.exec_tail += 1
        return out

    # ---------------------------------------------------------------- paper venue
    def paper_submit(self, int64_t order_id, int sym, int side, bint limit, int64_t px,
                     int64_t qty, int64_t submit_T, int64_t timeout_ms=0):
        """Work a paper order from exchange time ``submit_T + paper_latency_ms`` (see
        engine_paper.pxi); its fills arrive as execution events. ``side`` +1 buy, -1 sell;
        ``px`` (limit only) in ticks, ``qty`` in lots; a limit order's rest is taken off
        ("done", reason "timeout") at ``submit_T + timeout_ms`` (0: never)."""
        cdef int32_t i
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if side not in (1, -1) or qty <= 0 or (limit and px <= 0) or timeout_ms < 0:
            raise ValueError("paper order: side +1/-1, qty > 0, a limit needs a price > 0, "
                             "timeout_ms >= 0")
        for i in range(PAPER_ORDERS):
            if self.paper[i].state != 0 and self.paper[i].id == order_id:
                raise ValueError(f"paper order {order_id} is already working")
        for i in range(PAPER_ORDERS):
            if self.paper[i].state == 0:
                self.paper[i] = PaperOrder(id=order_id, sym=sym, side=side, limit=limit,
                                           state=1, px=px if limit else 0, qty=qty,
                                           active_T=submit_T + self.paper_latency_ms,
                                           expire_T=submit_T + timeout_ms
                                           if limit and timeout_ms else 0)
                self.paper_n += 1
                self.syms[sym].paper_orders += 1
                return
        raise OverflowError(f"more than {PAPER_ORDERS} paper orders working")

    def paper_cancel(self, int64_t order_id):
        """Take a working paper order off; returns the lots it had left (None: it is not
        working: filled, done, or never submitted)."""
        cdef int32_t i
        for i in range(PAPER_ORDERS):
            if self.paper[i].state != 0 and self.paper[i].id == order_id:
                self.paper[i].state = 0
                self.paper_n -= 1
                self.syms[self.paper[i].sym].paper_orders -= 1
                return self.paper[i].qty
        return None

    def paper_orders(self):
        """The working paper orders (dicts)."""
        cdef int32_t i
        return [{"order_id": self.paper[i].id, "symbol": self.decoder.symbol_names[self.paper[i].sym],
                 "side": self.paper[i].side, "limit": bool(self.paper[i].limit),
                 "px": self.paper[i].px, "qty": self.paper[i].qty,
                 "resting": self.paper[i].state == 2, "active_T": self.paper[i].active_T,
                 "expire_T": self.paper[i].expire_T or None}
                for i in range(PAPER_ORDERS) if self.paper[i].state != 0]

    def bar_timer(self, int64_t now_ms):
        """Live bar timer: close every symbol's bar whose minute ended a second before
        ``now_ms`` (exchange clock, ms) with no event to close it; returns bars closed."""
        cdef int32_t i
        cdef int flags, n = 0
        if self.tail_state != TAIL_NONE:
            self.record_missed_tail()        # (the last frame's rows precede the bars)
        for i in range(self.n_books):
            if self.sig_enabled[i]:
                flags = sig_on_timer(&self.sig[i], now_ms)
                self.emit_signals(&self.sig[i], flags)
                n += (flags & SIG_BAR) != 0
        return n

    def finish_signals(self):
        """End of input (replay): close every symbol's open bar; returns bars closed."""
        cdef int32_t i
        cdef int flags, n = 0
        if self.tail_state != TAIL_NONE:
            self.record_missed_tail()
        for i in range(self.n_books):
            if self.sig_enabled[i]:
                flags = sig_finish(&self.sig[i])
                self.emit_signals(&self.sig[i], flags)
                n += (flags & SIG_BAR) != 0
        return n

    def signal_state(self, int sym):
        """A symbol's latest indicator values, target and strategy state (status, demo);
        None when its signals are not enabled."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym]:
            return None
        cdef SymbolSignals* st = &self.sig[sym]
        cdef int32_t k
        out = {"rows": st.seq, "target": st.strat.target, "book_synced": bool(st.book_synced),
               "ts_ms": st.row.ts_ms, "event": EVENT_NAMES[st.row.event]}
        for k in range(N_RAW):
            out[RAW_COLUMNS[k]] = st.row.raw[k]
        for k in range(N_NORM):
            out[NORM_SERIES[k] + "_z"] = st.row.z[k]
            out[NORM_SERIES[k] + "_osc"] = st.row.osc[k]
        return out

    def debug_break_book(self, int sym):
        """Corrupt a symbol's book (its best bid's size set to 0): the debug build's
        invariant check must catch it at the next applied event (tests of the check)."""
        if not DEBUG_BUILD:
            raise RuntimeError("only a debug build (RTAID_DEBUG=1) checks book invariants")
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        cdef L2Book* b = &self.books[sym]
        if b.bids.n_blocks == 0:
            raise ValueError("the book has no bids")
        b.bids.pool[b.bids.order[b.bids.n_blocks - 1]].qty[0] = 0

    @property
    def tail_pending(self):
        """The last frame's own records wait for :meth:`record_tail` (the listener's
        wake-up of the execution task runs in between)."""
        return self.tail_state != TAIL_NONE

    def frame_counts(self):
        """Decoded frames by symbol and kind: ``{symbol: {kind: n}}`` (what the daemon
        took: a handover's duplicates are not counted)."""
        cdef int32_t i, k
        out = {}
        for i in range(self.n_books):
            out[self.decoder.symbol_names[i]] = {
                KIND_NAMES[k]: self.syms[i].kind_counts[k] for k in KIND_NAMES
                if k and self.syms[i].kind_counts[k]}
        return out

    def lag_ms(self, int sym):
        """Exchange event time to local receipt of the symbol's last message (ms), or
        None before its first (clock skew between the hosts included)."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if self.syms[sym].last_recv_ns == 0 or self.syms[sym].last_E == 0:
            return None
        return (self.syms[sym].last_recv_ns - self.syms[sym].last_E * 1_000_000) / 1e6

    def last_event_ms(self, int sym):
        """Exchange time E of the symbol's last message (ms), 0 before its first."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        return self.syms[sym].last_E

    def book_state(self, int sym):
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        return STATE_NAMES[self.books[sym].state]

    def top(self, int sym, str side, int n):
        """The n best (px, qty) levels of a symbol's book side, best first."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        return top_levels(&self.books[sym], side, n)

    def book_stats(self, int sym):
        """Counters of a symbol's book: statuses, dropped levels, overflows, depth."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        cdef L2Book* b = &self.books[sym]
        stats = {STATUS_NAMES[i]: b.status_counts[i] for i in range(1, 7)}
        stats.update(dropped_levels=b.dropped_levels, buffer_overflows=b.buffer_overflows,
                     bid_levels=b.bids.n, ask_levels=b.asks.n, resyncs_needed=b.resyncs_needed)
        return stats

    # ---------------------------------------------------------------- state
    def reset(self):
        """Forget every book, every signal state, the handover bookkeeping and the
        queued target changes (a fresh start on the same buffers: no allocation)."""
        cdef int32_t i, k
        for i in range(self.n_books):
            book_reset(&self.books[i])
            if self.sig_enabled[i]:
                sig_reset(&self.sig[i])
        for i in range(MAX_SYMBOLS):
            self.syms[i].last_trade_id = INT64_MIN
            self.syms[i].last_bbo_u = INT64_MIN
            self.syms[i].last_mark_E = INT64_MIN
            self.syms[i].last_E = 0
            self.syms[i].last_T = 0
            self.syms[i].last_recv_ns = 0
            self.syms[i].paper_orders = 0
            memset(self.syms[i].kind_counts, 0, sizeof(self.syms[i].kind_counts))
            for k in range(N_AHEAD):
                self.ahead_key[i][k] = INT64_MIN
        self.frames = 0
        memset(self.depth_status_counts, 0, sizeof(self.depth_status_counts))
        self.overlaps = self.n_standby = 0
        self.overlap_duplicates = self.overlap_ahead = 0
        self.exec_head = self.exec_tail = self.exec_woken = 0
        self.exec_lost = 0
        memset(self.paper, 0, sizeof(self.paper))
        self.paper_n = 0
        self.decoder.reset_counts()

    def signal_stats(self, int sym):
        """Counters of a symbol's signal state: window fill and high-water marks, forced
        evictions (a full window drops its oldest entry), Kyle re-syncs, VPIN buckets."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym]:
            return None
        cdef SymbolSignals* st = &self.sig[sym]
        return {
            "ti_window": st.ti.n, "ti_high_water": st.ti.high_water,
            "ti_capacity": st.ti.cap, "ti_forced_evictions": st.ti.forced_evictions,
            "ofi_window": st.ofi.n, "ofi_high_water": st.ofi.high_water,
            "ofi_capacity": st.ofi.cap, "ofi_forced_evictions": st.ofi.forced_evictions,
            "mlofi_window": st.mlofi.n, "mlofi_high_water": st.mlofi.high_water,
            "mlofi_capacity": st.mlofi.cap,
            "mlofi_forced_evictions": st.mlofi.forced_evictions,
            "lpi_pending": st.lpi.pend_n, "lpi_pending_high_water": st.lpi.pend_high_water,
            "lpi_pending_capacity": st.lpi.pend_cap,
            "lpi_forced_evictions": st.lpi.forced_evictions,
            "lpi_history": st.lpi.hist_n, "kyle_pairs": st.kyle.n,
            "kyle_resyncs": st.kyle.resyncs, "vpin_buckets_completed": st.vpin.completed,
            "book_synced": bool(st.book_synced), "target": st.strat.target,
            "rows": st.seq,
        }

    def mlofi_vec(self, int sym):
        """The multi-level OFI vector (ofi.levels values, base units) of a symbol."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym]:
            return None
        cdef SymbolSignals* st = &self.sig[sym]
        return [st.mlofi_vec[k] for k in range(st.p.ofi_levels)]

    def last_bar(self, int sym):
        """The last closed one-minute bar of a symbol (the bars_1m columns), or None."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym] or self.sig[sym].bar.minute_ms == 0:
            return None
        return bar_dict(&self.sig[sym].bar, self.decoder.symbol_names[sym])

    def set_model_p(self, int sym, double p, int64_t from_ms):
        """Hybrid strategy: the model's p_up (NaN: no entries) gates the symbol's entries
        from exchange time ``from_ms`` on (signals.pxd StrategyState). Call between
        frames, from the engine's thread."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym]:
            raise ValueError(f"signals are not enabled for {self.symbols[sym]}")
        sig_set_model_p(&self.sig[sym], p, from_ms)

    # ---------------------------------------------------------------- profiling
    def set_profile(self, bint on):
        """Count TSC cycles per indicator family from now on (benchmarks; needs a build
        with RTAID_PROFILE=1: otherwise the brackets are not compiled in)."""
        if not PROFILE_BUILD:
            raise RuntimeError("the kernels were built without RTAID_PROFILE=1")
        cdef int32_t i
        for i in range(self.n_books):
            if self.sig_enabled[i]:
                self.sig[i].profile = on
                memset(self.sig[i].prof_cycles, 0, sizeof(self.sig[i].prof_cycles))
                memset(self.sig[i].prof_calls, 0, sizeof(self.sig[i].prof_calls))

    def profile(self, int sym):
        """{section: (cycles, calls)} of a symbol since ``set_profile(True)``; sections:
        the ``FAMILIES`` names and ``l2_copy`` (reading the book's top levels)."""
        if not 0 <= sym < self.n_books:
            raise IndexError(sym)
        if not self.sig_enabled[sym]:
            return None
        cdef SymbolSignals* st = &self.sig[sym]
        names = list(FAMILIES) + ["l2_copy"]
        return {names[i]: (st.prof_cycles[i], st.prof_calls[i]) for i in range(N_PROF)}
