"""Latency histograms kept in C (see hist.pxd) with Python read-out."""
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset


cdef int64_t bucket_lower(int b) noexcept nogil:
    """Smallest value (ns) that falls in bucket b."""
    cdef int octave, sub
    if b < HIST_SUB:
        return b
    octave = b // HIST_SUB + HIST_SUB_BITS - 1
    sub = b % HIST_SUB
    return (<int64_t>1 << octave) + (<int64_t>sub << (octave - HIST_SUB_BITS))


cdef int64_t bucket_upper(int b) noexcept nogil:
    """Largest value (ns) that falls in bucket b."""
    if b + 1 >= HIST_BUCKETS:
        return 9223372036854775807
    return bucket_lower(b + 1) - 1


cdef class LatencyHistogram:
    """A histogram of nanosecond latencies; ``record`` is O(1) and allocation-free.

    Percentiles are exact to within one bucket (6.25%): the upper edge of the bucket
    holding the requested rank is reported, so a percentile never understates.
    """

    def __cinit__(self):
        memset(&self.h, 0, sizeof(Hist))

    def record(self, int64_t ns):
        hist_record(&self.h, ns)

    def reset(self):
        memset(&self.h, 0, sizeof(Hist))

    @property
    def count(self):
        return self.h.total

    @property
    def sum_ns(self):
        return self.h.sum_ns

    @property
    def max_ns(self):
        return self.h.max_ns

    def percentile(self, double q):
        """The q-th percentile (0 < q <= 100) in ns; None when empty."""
        if self.h.total == 0:
            return None
        if not 0.0 < q <= 100.0:
            raise ValueError("q must be in (0, 100]")
        cdef uint64_t rank = <uint64_t>((q / 100.0) * self.h.total + 0.999999999)
        cdef uint64_t seen = 0
        cdef int b
        if rank < 1:
            rank = 1
        for b in range(HIST_BUCKETS):
            seen += self.h.counts[b]
            if seen >= rank:
                return min(bucket_upper(b), self.h.max_ns)
        return self.h.max_ns

    def cumulative(self, bounds_ns):
        """Counts of values <= each bound (Prometheus ``le`` buckets), exact at bucket
        edges; a bound inside a bucket counts that bucket only if the bound is its top."""
        out = []
        cdef uint64_t acc = 0
        cdef int b = 0
        for bound in sorted(bounds_ns):
            while b < HIST_BUCKETS and bucket_upper(b) <= bound:
                acc += self.h.counts[b]
                b += 1
            out.append((bound, acc))
        return out

    def merge(self, LatencyHistogram other):
        cdef int b
        for b in range(HIST_BUCKETS):
            self.h.counts[b] += other.h.counts[b]
        self.h.total += other.h.total
        self.h.sum_ns += other.h.sum_ns
        if other.h.max_ns > self.h.max_ns:
            self.h.max_ns = other.h.max_ns


def bucket_bounds(int b):
    """(lower, upper) ns of bucket b (tests)."""
    return bucket_lower(b), bucket_upper(b)


def bucket_of(int64_t ns):
    return hist_bucket(ns)
