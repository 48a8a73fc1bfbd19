# Counted allocation for the kernels. Steady-state operation must allocate nothing;
# tests read these counters (allocations, frees, live bytes) around a replay to prove it.
from libc.stdint cimport int64_t

cdef void* rt_calloc(size_t count, size_t size) noexcept nogil
cdef void rt_free(void* ptr, size_t count, size_t size) noexcept nogil
