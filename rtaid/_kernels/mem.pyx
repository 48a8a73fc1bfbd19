"""Counted allocation for the kernels (see mem.pxd)."""
from libc.stdlib cimport calloc, free
from libc.stdint cimport int64_t

cdef int64_t _allocations = 0
cdef int64_t _frees = 0
cdef int64_t _live_bytes = 0


cdef void* rt_calloc(size_t count, size_t size) noexcept nogil:
    global _allocations, _live_bytes
    cdef void* ptr = calloc(count if count > 0 else 1, size)
    if ptr != NULL:
        _allocations += 1
        _live_bytes += <int64_t>(count * size)
    return ptr


cdef void rt_free(void* ptr, size_t count, size_t size) noexcept nogil:
    global _frees, _live_bytes
    if ptr != NULL:
        free(ptr)
        _frees += 1
        _live_bytes -= <int64_t>(count * size)


def allocation_counts():
    """Return ``(allocations, frees, live_bytes)`` made by the kernels since import."""
    return _allocations, _frees, _live_bytes
