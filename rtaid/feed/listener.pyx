"""The feed's WebSocket listener: picows frame -> Engine.on_frame, in C.

picows calls ``on_ws_frame`` with a frame whose payload is a pointer into its read
buffer. The listener hands that pointer, the size and the receive time straight to
the engine: no bytes object, no str, no dict per message. Python is called only for
rare things: a book changing sync state, bad frames (rate-limited by the caller),
connection open/close, and a wake-up for the execution task when the strategy queued
target changes in the engine (the execution seam: the changes themselves stay in the
engine's ring until the task drains them; nothing is built or logged here).
"""
from libc.stdint cimport int64_t, int32_t
from rtaid._kernels.clock cimport monotonic_ns, realtime_ns, rtaid_ticks
from picows.picows cimport WSListener, WSTransport, WSFrame, WSMsgType
from rtaid._kernels.decode cimport DEC_OK, MSG_DEPTH, MSG_SNAPSHOT, MAX_SYMBOLS
from rtaid._kernels.engine cimport Engine, ExecWaker
from rtaid._kernels.hist cimport LatencyHistogram, hist_record

from rtaid._kernels.book import STATE_NAMES

cdef enum:
    MONO_OFFSET_REFRESH_NS = 10000000    # 10 ms (on_ws_frame)


cdef class FeedListener(WSListener):
    """Feeds every text frame of one connection into a shared Engine.

    Parameters
    ----------
    engine : Engine
        The process's engine (shared by all connections: one event loop, one thread).
    on_book_state : callable(sym_index, state_name)
        Called when a symbol's book changes sync state (unsynced after a gap or a
        crossed book: the feed fetches a snapshot; synced: READY bookkeeping).
    on_bad_frame : callable(result_code)
        Called for a frame the decoder rejected, at most once per ``bad_frame_interval_ns``
        (the count is in ``bad_frames``).
    on_connected, on_disconnected : callable(listener)
    on_targets : callable() or ExecWaker, optional
        Wakes the execution task after a frame that queued target changes (once per
        batch: until it drains them, later frames do not call it again). An
        :class:`~rtaid._kernels.engine.ExecWaker` (a venue's C order path) is called
        through its vtable, not as a Python callable.
    latency : LatencyHistogram
        Records each frame's processing time (receive to engine done): the engine's
        ``frame`` stage histogram (the feed passes ``engine.stages["frame"]``).
    source : int
        This connection's id for the engine's handover deduplication.
    """
    cdef Engine engine
    cdef object on_book_state
    cdef object on_bad_frame
    cdef object on_connected_cb
    cdef object on_disconnected_cb
    cdef object on_targets
    cdef ExecWaker waker             # on_targets when it is one (a C call), else None
    cdef int32_t seen_state[MAX_SYMBOLS]
    cdef int64_t sym_last_mono_ns[MAX_SYMBOLS]
    cdef public LatencyHistogram latency
    cdef public object transport
    cdef public int64_t frames
    cdef public int64_t bad_frames
    cdef public int64_t last_frame_mono_ns
    cdef public int64_t connected_mono_ns
    cdef int64_t mono_offset          # CLOCK_REALTIME - CLOCK_MONOTONIC (on_ws_frame)
    cdef int64_t mono_offset_at       # the wall clock when it was read
    cdef int64_t last_bad_report_ns
    cdef public int64_t bad_frame_interval_ns
    cdef public int32_t source
    cdef public bint enabled         # False: a handed-over connection, closing; ignore it

    def __init__(self, Engine engine, on_book_state, on_bad_frame=None, on_connected=None,
                 on_disconnected=None, LatencyHistogram latency=None, int source=0,
                 on_targets=None):
        cdef int i
        self.engine = engine
        self.on_book_state = on_book_state
        self.on_bad_frame = on_bad_frame
        self.on_connected_cb = on_connected
        self.on_disconnected_cb = on_disconnected
        self.on_targets = on_targets
        self.waker = on_targets if isinstance(on_targets, ExecWaker) else None
        self.latency = latency if latency is not None else LatencyHistogram()
        for i in range(MAX_SYMBOLS):
            self.seen_state[i] = -1
            self.sym_last_mono_ns[i] = 0
        self.frames = 0
        self.bad_frames = 0
        self.bad_frame_interval_ns = 1000000000
        self.last_bad_report_ns = 0
        self.last_frame_mono_ns = 0
        self.connected_mono_ns = 0
        self.mono_offset = 0
        self.mono_offset_at = 0           # (read at the first frame)
        self.transport = None
        self.source = source
        self.enabled = True

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport
        cdef int i
        self.connected_mono_ns = monotonic_ns()
        self.last_frame_mono_ns = self.connected_mono_ns
        for i in range(MAX_SYMBOLS):
            self.sym_last_mono_ns[i] = self.connected_mono_ns
        if self.on_connected_cb is not None:
            self.on_connected_cb(self)

    cpdef on_ws_disconnected(self, WSTransport transport):
        if self.on_disconnected_cb is not None:
            self.on_disconnected_cb(self)
        self.transport = None

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        # One clock read a frame (at a million frames/s a read is ~3 % of the frame):
        # the receive stamp on the wall clock, and the monotonic stamp from it less the
        # two clocks' offset, which only a step of the wall clock changes (NTP's slewing
        # moves both alike). The offset is read again every MONO_OFFSET_REFRESH_NS, so a
        # step misplaces at most that long of monotonic stamps (tick-to-order, staleness).
        cdef int64_t r0 = realtime_ns()
        cdef int64_t t0
        if r0 - self.mono_offset_at >= MONO_OFFSET_REFRESH_NS or r0 < self.mono_offset_at:
            t0 = monotonic_ns()
            self.mono_offset = r0 - t0
            self.mono_offset_at = r0
        else:
            t0 = r0 - self.mono_offset
        # the engine's clock (the TSC where invariant, else t0 itself) for the frame stage
        cdef int64_t k0 = rtaid_ticks() if self.engine.use_tsc else t0
        cdef int64_t k1, k2
        cdef int rc, kind
        cdef int32_t sym, state
        self.last_frame_mono_ns = t0
        if frame.msg_type == WSMsgType.TEXT or frame.msg_type == WSMsgType.BINARY:
            if not self.enabled:
                return
            self.frames += 1
            self.engine.source = self.source
            self.engine.frame_mono_ns = t0
            self.engine.frame_ticks = k0
            # the frame's rows (its own and its signal kernels'), journal line and stage
            # times are recorded after the order its target change calls for
            # (record_tail, below)
            rc = self.engine.on_frame_first(frame.payload_ptr, frame.payload_size, r0, -1)
            k1 = self.engine.ticks()
            try:
                if rc == DEC_OK:
                    self.sym_last_mono_ns[self.engine.msg.sym] = t0
                    kind = self.engine.msg.kind
                    if kind == MSG_DEPTH or kind == MSG_SNAPSHOT:
                        sym = self.engine.msg.sym
                        state = self.engine.books[sym].state
                        if state != self.seen_state[sym]:
                            self.seen_state[sym] = state
                            self.on_book_state(sym, STATE_NAMES[state])
                elif rc < 0:
                    self.bad_frames += 1
                    if self.on_bad_frame is not None and t0 - self.last_bad_report_ns >= self.bad_frame_interval_ns:
                        self.last_bad_report_ns = t0
                        self.on_bad_frame(rc)
                if self.engine.exec_head != self.engine.exec_woken:
                    # a target changed or a paper order filled: wake the execution task
                    # (the binance venue's C order path writes the order from here)
                    self.engine.exec_woken = self.engine.exec_head
                    if self.waker is not None:
                        self.waker.wake()
                    elif self.on_targets is not None:
                        self.on_targets()
            finally:
                k2 = self.engine.ticks()
                self.engine.record_tail()
                # the frame stage: receipt to the engine done, its recording included,
                # the callbacks (book state, bad frame, the execution task's wake-up) not
                hist_record(&self.latency.h, <int64_t>(((k1 - k0) + (self.engine.ticks() - k2))
                                                       * self.engine.ns_per_tick))
            if self.waker is not None and rc == DEC_OK:
                # after the frame (not in its time): the order path, cold otherwise (it
                # keeps its own pace)
                self.waker.warm(t0)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def symbol_last_frame_ns(self, int sym):
        """Monotonic ns of the last decoded frame of a symbol on this connection (or of
        the connect, before its first frame)."""
        if not 0 <= sym < MAX_SYMBOLS:
            raise IndexError(sym)
        return self.sym_last_mono_ns[sym]

    def note_state(self, int sym, str state):
        """Tell the listener a state the feed itself caused (reset, snapshot load)."""
        self.seen_state[sym] = STATE_NAMES.index(state)


def book_last_update_id(Engine engine, int sym):
    """u of the last depth event applied to a symbol's book (tests, status)."""
    return engine.books[sym].prev_u
