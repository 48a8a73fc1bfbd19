"""Per-frame processing latency of the Engine, measured in C (benchmarks only).

Built in place with the kernels in a development checkout (setup.py adds bench/*.pyx
when building with --inplace), never installed: production kernels carry no timing.
"""
from libc.stdint cimport int64_t, int32_t
from posix.time cimport nanosleep, timespec
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


def time_cold_frames(Engine engine, const unsigned char[::1] buf, const int64_t[::1] offsets,
                     int default_sym, int every, unsigned char[::1] sweep,
                     int64_t[::1] cold_ns, int64_t[::1] hot_ns, int32_t[::1] kinds,
                     int64_t sleep_ns=0):
    """The listener's path (``on_frame_first``, then ``record_tail``) over the frames,
    timing the first part of every ``every``-th frame after a write to every cache line
    of ``sweep`` (larger than the caches: the frame finds its code's data and the page
    tables out of them, as after the host ran something else) into ``cold_ns`` and of
    the frame after it, back to back, into ``hot_ns``; ``kinds``: the cold frame's
    message kind (-1: not decoded). Returns the number of samples."""
    cdef Py_ssize_t i, j, k = 0, n = offsets.shape[0] - 1, m = sweep.shape[0]
    cdef const char* base = <const char*>&buf[0]
    cdef int64_t t0
    cdef int rc
    cdef timespec ts
    if every < 2 or cold_ns.shape[0] < n // every + 1 or hot_ns.shape[0] < n // every + 1 \
            or kinds.shape[0] < n // every + 1:
        raise ValueError("every < 2 or output arrays too short")
    with nogil:
        for i in range(n):
            if i % every == 0:
                for j in range(0, m, 64):
                    sweep[j] += 1
                if sleep_ns > 0:
                    ts.tv_sec = sleep_ns // 1000000000
                    ts.tv_nsec = sleep_ns % 1000000000
                    nanosleep(&ts, NULL)
                t0 = monotonic_ns()
                rc = engine.on_frame_first(base + offsets[i], offsets[i + 1] - offsets[i], t0, default_sym)
                cold_ns[k] = monotonic_ns() - t0
                kinds[k] = engine.msg.kind if rc == DEC_OK else -1
            elif i % every == 1:
                t0 = monotonic_ns()
                engine.on_frame_first(base + offsets[i], offsets[i + 1] - offsets[i], t0, default_sym)
                hot_ns[k] = monotonic_ns() - t0
                k += 1
            else:
                engine.on_frame_first(base + offsets[i], offsets[i + 1] - offsets[i], 0, default_sym)
            engine.record_tail()
    return k
