# C-level API of the per-process engine: one entry point per received frame that
# runs decode -> book -> signals -> records into the store's rings, and queues the
# strategy's target changes for the execution task (the execution seam).
from libc.stdint cimport int64_t, int32_t
from rtaid._kernels.decode cimport Decoder, Msg, MAX_SYMBOLS
from rtaid._kernels.book cimport L2Book
from rtaid._kernels.records cimport TBL_N_ENGINE
from rtaid._kernels.ring cimport RecordRing, RecordRings, ByteRing, ByteRings
from rtaid._kernels.records cimport SignalRow, BarRow
from rtaid._kernels.signals cimport SymbolSignals
from rtaid._kernels.hist cimport Hist

cdef enum:
    EXEC_QUEUE = 1024    # execution events held until the execution task drains them
    MAX_STANDBY = 8      # connections being handed over at once
    PAPER_ORDERS = 256   # paper orders working at once (all symbols)
    PAPER_LEVELS = 64    # book levels a paper market order may walk

# Per-stage latency histograms (Engine.stage), for Prometheus: timed with the TSC (or
# the monotonic clock where the TSC is not invariant) only while Engine.timing is on
cdef enum:
    STAGE_DECODE = 0          # on_frame entry -> decoded (every frame)
    STAGE_BOOK = 1            # the book's update (depth and snapshot frames; the listener:
                              # its first part, book_on_depth_split)
    STAGE_SIGNALS = 2         # the signal kernels and their records (frames that ran them)
    STAGE_FRAME = 3           # receipt -> the engine done (the listener records it)
    STAGE_FRAME_TO_SIGNAL = 4 # receipt -> the signal kernels done (frames that ran them)
    STAGE_LAG = 5             # exchange event time E -> local receipt (decoded frames)
    N_STAGES = 6

# ExecEvent.type
cdef enum:
    EXEC_TARGET = 0      # the strategy changed a target (row)
    EXEC_FILL = 1        # a paper order filled (partly: remaining > 0)
    EXEC_DONE = 2        # a paper order left the book unfilled (remaining): a market
                         # order with no liquidity left, or a book that cannot be trusted
    EXEC_BAR = 3         # a one-minute bar closed (bar; queued with queue_bars only)

# One event on its way to the execution task, in the order the engine produced them, and
# when the frame that caused it was received (recv_ns: wall clock, as recorded; mono_ns:
# the listener's monotonic stamp, for tick-to-order latency; 0 outside the live feed).
cdef struct ExecEvent:
    int32_t type         # EXEC_*
    int32_t sym
    int64_t ts_ms        # exchange time of the event that caused it
    int64_t recv_ns
    int64_t mono_ns
    SignalRow row        # EXEC_TARGET
    BarRow bar           # EXEC_BAR
    int64_t order_id     # EXEC_FILL / EXEC_DONE: the paper order
    int32_t side         # +1 buy, -1 sell
    int32_t maker        # EXEC_FILL: 1 resting order filled by a trade, 0 taker
    int64_t px           # EXEC_FILL: price, ticks
    int64_t qty          # EXEC_FILL: lots filled
    int64_t remaining    # lots still working (0: the order is done)
    int32_t reason       # EXEC_DONE: PAPER_DONE_UNFILLED or PAPER_DONE_TIMEOUT

# A paper order working in the engine (the paper venue's fill model, on exchange time).
cdef struct PaperOrder:
    int64_t id
    int32_t sym
    int32_t side         # +1 buy, -1 sell
    int32_t limit        # 0 market, 1 limit
    int32_t state        # 0 free, 1 pending (until active_T), 2 resting (limit)
    int64_t px           # limit price, ticks
    int64_t qty          # lots remaining
    int64_t active_T     # exchange ms from which it works (submission + latency)
    int64_t expire_T     # exchange ms at which a resting rest is taken off (0: never)

# Why a paper order is done without filling completely (ExecEvent.reason)
cdef enum:
    PAPER_DONE_UNFILLED = 0   # a market order ran out of book, or the book was not synced
    PAPER_DONE_TIMEOUT = 1    # a resting limit order reached execution.order_timeout_ms

# Streams a handover tracks (Engine.ahead_key index) and their Engine.standby_behind bits
cdef enum:
    AHEAD_DEPTH_I = 0
    AHEAD_TRADE_I = 1
    AHEAD_BBO_I = 2
    AHEAD_MARK_I = 3
    N_AHEAD = 4
    AHEAD_DEPTH = 1 << AHEAD_DEPTH_I
    AHEAD_TRADE = 1 << AHEAD_TRADE_I
    AHEAD_BBO = 1 << AHEAD_BBO_I
    AHEAD_MARK = 1 << AHEAD_MARK_I
    AHEAD_ALL = (1 << N_AHEAD) - 1

cdef class ExecWaker:
    # What the feed's listener wakes after a frame that queued execution events, called
    # through the vtable (a C call: no Python call between the signals and a C order
    # path; cold, a Python-level call chain cost ~4 us a frame at the exec bench's rate)
    cdef int wake(self) except -1
    # after each decoded frame (the listener; its monotonic receive stamp): keep the
    # path warm (at its own pace)
    cdef int warm(self, int64_t now_ns) except -1


# A frame's stage times (Engine.times), recorded into the stage histograms by
# record_stages: at once, or for the listener's frame in record_tail, after its order
cdef struct StageTimes:
    int64_t t_in         # on_frame entry, decoded, book updated, done (Engine.ticks)
    int64_t t_dec
    int64_t t_book
    int64_t t_end
    int64_t start        # the listener's receipt (frame_ticks), else t_in
    int64_t lag_ns       # exchange event time to local receipt
    int32_t kind         # MSG_*
    bint decoded_pending # decode (and lag) to record
    bint has_lag
    bint end_pending     # book, signals and frame_to_signal to record
    bint signals         # the signal kernels ran

# One symbol's frame bookkeeping (Engine.syms): what on_frame reads and writes for the
# frame's symbol, in two cache lines
cdef struct SymbolFrame:
    int64_t last_E               # exchange times last seen (Python rows)
    int64_t last_T
    int64_t last_recv_ns         # local receive time of the last message
    int64_t last_trade_id
    int64_t last_bbo_u
    int64_t last_mark_E
    int32_t paper_orders         # working paper orders of the symbol
    int64_t kind_counts[8]       # decoded frames by MSG_* kind

cdef class Engine:
    # The fields every frame touches come first, the large arrays last: the frame after
    # an idle wait reads them from memory, and here they share a few cache lines (behind
    # the ~600 KB of arrays, each would be a page, a TLB miss, of its own).
    cdef Decoder decoder
    cdef L2Book* books
    cdef int32_t n_books
    cdef public int64_t frames
    cdef int last_rc
    cdef int last_kind
    cdef int last_status
    # store: rings the hot path copies records into (NULL pointers: not recording)
    cdef RecordRing* rec[TBL_N_ENGINE]
    cdef ByteRing* journal_rings     # one per symbol, then one for unknown symbols
    cdef int64_t recv_ns             # of the frame being processed
    cdef public int64_t frame_mono_ns  # the listener's monotonic receive stamp of it
    # signal kernels (enable_signals): one state per symbol, NULL until enabled
    cdef SymbolSignals* sig
    cdef bint* sig_enabled
    # the execution seam: a ring of execution events (target changes, paper fills) the
    # frame path fills and the execution task drains (both on the engine's thread);
    # nothing in Python per frame (the ring itself: exec_events, below)
    cdef public int64_t exec_head     # written by the frame path
    cdef public int64_t exec_tail     # written by drain_exec_events
    cdef public int64_t exec_woken    # head when the listener last woke the task
    cdef public int64_t exec_lost     # events that found the ring full (counted)
    cdef bint queue_exec              # a consumer is attached (the daemon, a paper replay)
    cdef public bint queue_bars       # also queue closed bars (the hybrid strategy's model)
    cdef int32_t paper_n              # paper order slots in use
    # stage timing (set_timing): histograms owned by LatencyHistogram objects
    cdef Hist* stage[N_STAGES]
    cdef public bint timing
    cdef bint use_tsc
    cdef double ns_per_tick              # clock ticks (TSC cycles, or ns) to ns
    cdef public int64_t frame_ticks      # the listener's clock at receipt (0: none)
    # make-before-break: while a connection hands over to a new one (overlap_begin) both
    # deliver the same events; each is taken once, from whichever delivers it first
    cdef public int32_t source        # connection of the frame being processed
    cdef int32_t overlaps             # handovers in progress (duplicates are dropped)
    # the listener's deferred recording (on_frame_first / record_tail): what on_frame
    # left to copy into the rings once the frame's order has gone out
    cdef bint defer_record            # set by on_frame_first for the one call
    cdef int tail_state               # TAIL_*: nothing, the journal, the journal and rows
    cdef int32_t tail_jsym
    cdef const char* tail_data        # the frame's bytes: valid in the listener's callback
    cdef Py_ssize_t tail_n
    # a depth event applied in two parts (book_on_depth_split): the symbol whose book
    # record_tail finishes (-1: none) and the event's status, for its book records
    cdef int32_t tail_book
    cdef int tail_book_status
    # the frame's signal rows (indicators, signals, a closed bar) alike: its symbol's
    # signal state holds them until record_tail copies them (SIG_* flags; 0: none)
    cdef SymbolSignals* tail_sig
    cdef int tail_sig_flags
    cdef StageTimes times
    cdef Msg msg
    cdef int64_t depth_status_counts[8]

    # --- less often, or larger
    cdef SymbolFrame syms[MAX_SYMBOLS]
    cdef Msg replayed
    cdef RecordRings rings
    cdef ByteRings journal
    cdef object stage_hists
    cdef public int64_t tail_journal_lost  # lines a missed record_tail could not journal
    cdef public int64_t paper_latency_ms
    cdef int32_t standby[MAX_STANDBY] # new connections not yet trusted to lead
    cdef int32_t n_standby
    cdef public int64_t overlap_duplicates
    cdef public int64_t overlap_ahead
    cdef int64_t ahead_key[MAX_SYMBOLS][N_AHEAD]  # furthest event a standby skipped
    # paper venue: working orders, matched against the book and the trades in on_frame
    cdef PaperOrder paper[PAPER_ORDERS]
    cdef int64_t paper_px[PAPER_LEVELS]
    cdef int64_t paper_qty[PAPER_LEVELS]
    cdef ExecEvent exec_events[EXEC_QUEUE]

    cdef int64_t ticks(self) noexcept nogil
    cdef void time_stages(self, const Msg* m, bint signals, int64_t t_book) noexcept nogil
    cdef void record_stages(self) noexcept nogil

    cdef int on_frame(self, const char* data, Py_ssize_t n, int64_t recv_ns,
                      int32_t default_sym) noexcept nogil
    cdef int on_frame_first(self, const char* data, Py_ssize_t n, int64_t recv_ns,
                            int32_t default_sym) noexcept nogil
    cdef void record_tail(self) noexcept nogil
    cdef void record_missed_tail(self) noexcept nogil
    cdef void record_signal_rows(self, SymbolSignals* st, int flags) noexcept nogil
    cdef int on_depth_status(self, int32_t sym, const Msg* m, int status) noexcept nogil
    cdef void depth_signals(self, int32_t sym, const Msg* m, int status) noexcept nogil
    cdef void depth_records(self, int32_t sym, const Msg* m, int status) noexcept nogil
    cdef bint overlap_drop(self, const Msg* m) noexcept nogil
    cdef bint standby_ahead(self, int32_t sym, int kind, int64_t key) noexcept nogil
    cdef void record_msg(self, const Msg* m) noexcept nogil
    cdef void emit_signals(self, SymbolSignals* st, int flags) noexcept nogil

    cdef void record_book_event(self, int32_t sym, int64_t E, int64_t T, int64_t u,
                                int event, int reason) noexcept nogil
    cdef int64_t min_free_slots(self) noexcept nogil
