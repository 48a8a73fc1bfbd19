"""Per-frame processing latency of the Engine, measured in C (benchmarks only).

Built in place with the kernels in a development checkout (setup.py adds bench/*.pyx
when building with --inplace), never installed: production kernels carry no timing.
"""
from libc.stdint cimport int64_t
from rtaid._kernels.clock cimport monotonic_ns
from rtaid._kernels.decode cimport DEC_OK, MSG_DEPTH, MSG_BBO, MSG_TRADE, MSG_AGGTRADE
from rtaid._kernels.engine cimport Engine
from rtaid._kernels.hist cimport LatencyHistogram, hist_record


def time_frames(Engine engine, const unsigned char[::1] buf, const int64_t[::1] offsets,
                int default_sym, LatencyHistogram depth, LatencyHistogram bbo,
                LatencyHistogram trade, LatencyHistogram other):
    """Run frames through engine.on_frame, recording each call's latency by message kind.

    The two clock reads around each call cost ~20-40 ns themselves and are included.
    """
    cdef Py_ssize_t i, n = offsets.shape[0] - 1
    cdef const char* base = <const char*>&buf[0]
    cdef int64_t t0, t1
    cdef int rc, kind
    with nogil:
        for i in range(n):
            t0 = monotonic_ns()
            rc = engine.on_frame(base + offsets[i], offsets[i + 1] - offsets[i], t0, default_sym)
            t1 = monotonic_ns()
            kind = engine.msg.kind if rc == DEC_OK else -1
            if kind == MSG_DEPTH:
                hist_record(&depth.h, t1 - t0)
            elif kind == MSG_BBO:
                hist_record(&bbo.h, t1 - t0)
            elif kind == MSG_TRADE or kind == MSG_AGGTRADE:
                hist_record(&trade.h, t1 - t0)
            else:
                hist_record(&other.h, t1 - t0)
    return n


def run_frames_timed(Engine engine, const unsigned char[::1] buf, const int64_t[::1] offsets,
                     int default_sym, int64_t[::1] out_ns):
    """Like ``Engine.run_frames``, also writing each frame's ``on_frame`` time (ns) to
    out_ns (the hot path with and without the store's writer); the clock reads add
    about 20-40 ns per frame."""
    cdef Py_ssize_t i, n = offsets.shape[0] - 1
    cdef const char* base = <const char*>&buf[0]
    cdef int64_t t0
    if out_ns.shape[0] < n:
        raise ValueError("out_ns shorter than the frames")
    with nogil:
        for i in range(n):
            t0 = monotonic_ns()
            engine.on_frame(base + offsets[i], offsets[i + 1] - offsets[i], 0, default_sym)
            out_ns[i] = monotonic_ns() - t0
    return n
