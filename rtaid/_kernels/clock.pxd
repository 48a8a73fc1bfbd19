# Clock reads for the hot path (header-only). Monotonic for latency, realtime for
# receive stamps; logic never uses either (exchange time drives every window).
from libc.stdint cimport int64_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC, CLOCK_REALTIME


cdef inline int64_t clock_ns(int clock) noexcept nogil:
    cdef timespec ts
    clock_gettime(clock, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline int64_t monotonic_ns() noexcept nogil:
    return clock_ns(CLOCK_MONOTONIC)


cdef inline int64_t realtime_ns() noexcept nogil:
    return clock_ns(CLOCK_REALTIME)


# The TSC (x86): a few ns to read; Engine.set_timing calibrates it against the monotonic
# clock and uses it only when the CPU says it is invariant. 0 where there is none.
cdef extern from *:
    """
    #if defined(__x86_64__) || defined(__i386__)
    #include <x86intrin.h>
    static inline long long rtaid_ticks(void) { return (long long)__rdtsc(); }
    #else
    static inline long long rtaid_ticks(void) { return 0; }
    #endif
    """
    long long rtaid_ticks() noexcept nogil
