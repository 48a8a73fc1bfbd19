# Latency histograms in C: O(1) record on the hot path, read (percentiles, Prometheus
# buckets) only at scrape/report time. Log-linear buckets: every power of two of
# nanoseconds is split into HIST_SUB equal sub-buckets, so any value is kept within
# 1/HIST_SUB (6.25%) of its true size, from 1 ns to 2^HIST_OCTAVES ns (about 4.6 min).
from libc.stdint cimport int64_t, uint64_t

cdef enum:
    HIST_SUB_BITS = 4
    HIST_SUB = 16
    HIST_OCTAVES = 38
    HIST_BUCKETS = 624       # (HIST_OCTAVES + 1) * HIST_SUB

cdef struct Hist:
    uint64_t counts[HIST_BUCKETS]
    uint64_t total
    int64_t sum_ns
    int64_t max_ns

cdef inline int hist_bucket(int64_t ns) noexcept nogil:
    cdef int octave, sub
    if ns < HIST_SUB:
        return <int>(ns if ns > 0 else 0)
    octave = 63 - __builtin_clzll(<unsigned long long>ns)          # floor(log2 ns) >= 4
    sub = <int>((ns >> (octave - HIST_SUB_BITS)) & (HIST_SUB - 1))
    if octave - HIST_SUB_BITS + 1 >= HIST_OCTAVES:
        return HIST_BUCKETS - 1
    return (octave - HIST_SUB_BITS + 1) * HIST_SUB + sub

cdef inline void hist_record(Hist* h, int64_t ns) noexcept nogil:
    h.counts[hist_bucket(ns)] += 1
    h.total += 1
    h.sum_ns += ns
    if ns > h.max_ns:
        h.max_ns = ns

cdef extern from *:
    int __builtin_clzll(unsigned long long) noexcept nogil

cdef class LatencyHistogram:
    cdef Hist h
