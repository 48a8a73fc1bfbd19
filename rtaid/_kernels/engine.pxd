# C-level API of the per-process engine: one entry point per received frame that
# runs decode -> book -> records into the store's rings (-> signals, later kernels).
from libc.stdint cimport int64_t, int32_t
from rtaid._kernels.decode cimport Decoder, Msg, MAX_SYMBOLS
from rtaid._kernels.book cimport L2Book
from rtaid._kernels.records cimport TBL_N_ENGINE
from rtaid._kernels.ring cimport RecordRing, RecordRings, ByteRing, ByteRings
from rtaid._kernels.signals cimport SymbolSignals, SignalRow

cdef enum:
    SIGNAL_QUEUE = 64    # target changes held for Python between two deliveries

cdef class Engine:
    cdef Decoder decoder
    cdef L2Book* books
    cdef int32_t n_books
    cdef Msg msg
    cdef Msg replayed
    cdef public int64_t frames
    cdef int64_t depth_status_counts[8]
    cdef int last_rc
    cdef int last_kind
    cdef int last_status
    # store: rings the hot path copies records into (NULL pointers: not recording)
    cdef RecordRings rings
    cdef RecordRing* rec[TBL_N_ENGINE]
    cdef ByteRings journal
    cdef ByteRing* journal_rings     # one per symbol, then one for unknown symbols
    cdef int64_t recv_ns             # of the frame being processed
    cdef int64_t last_E[MAX_SYMBOLS] # exchange times last seen per symbol (Python rows)
    cdef int64_t last_T[MAX_SYMBOLS]
    # signal kernels (enable_signals): one state per symbol, NULL until enabled
    cdef SymbolSignals* sig
    cdef bint* sig_enabled
    # target changes since the last deliver_signals (the execution hook's input)
    cdef SignalRow signal_queue[SIGNAL_QUEUE]
    cdef public int32_t signal_queue_n
    cdef public int64_t signals_lost  # target changes that found the queue full
    cdef object signal_hook
    cdef bint queue_signals           # a hook is set: queue target changes for it

    cdef int on_frame(self, const char* data, Py_ssize_t n, int64_t recv_ns,
                      int32_t default_sym) noexcept nogil
    cdef int on_depth_status(self, int32_t sym, const Msg* m, int status) noexcept nogil
    cdef void record_msg(self, const Msg* m) noexcept nogil
    cdef void emit_signals(self, SymbolSignals* st, int flags) noexcept nogil
    cdef int deliver_signals(self) except -1
    cdef dict _signal_dict(self, const SignalRow* s)
    cdef void record_book_event(self, int32_t sym, int64_t E, int64_t T, int64_t u,
                                int event, int reason) noexcept nogil
    cdef int64_t min_free_slots(self) noexcept nogil
