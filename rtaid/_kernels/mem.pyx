"""Counted allocation for the kernels (see mem.pxd).

Blocks of at least :data:`MAP_MIN_BYTES` get their own anonymous mapping: the kernel
hands out zero pages that cost no memory until written, which is what the windows,
event buffers and book pools sized for their worst case rely on. ``calloc`` only
gives that for blocks above glibc's mmap threshold, and that threshold moves (glibc
raises it to the size of the largest mapped block freed, up to 32 MiB): a block
carved from the heap instead is cleared by ``calloc`` at once, every page of it
resident (measured: enabling the signals of ten symbols went from +14 MB of RSS to
+1 MB).
"""
from libc.stdlib cimport calloc, free
from libc.stdint cimport int64_t, SIZE_MAX
from libc.stdlib cimport malloc
from posix.mman cimport (mmap, munmap, mincore, PROT_READ, PROT_WRITE, MAP_PRIVATE,
                         MAP_ANONYMOUS, MAP_FAILED)
from posix.unistd cimport sysconf, _SC_PAGESIZE

cdef int64_t _allocations = 0
cdef int64_t _frees = 0
cdef int64_t _live_bytes = 0
cdef int64_t _mapped_bytes = 0

cdef enum:
    _MAP_MIN_BYTES = 64 * 1024
    _MAX_TRACKED = 8192      # mapped blocks whose residency resident_bytes() reports

# the live mapped blocks (allocation is rare: at init and on reconfiguration)
cdef void* _blocks[_MAX_TRACKED]
cdef size_t _block_bytes[_MAX_TRACKED]
cdef int _n_blocks = 0


cdef void _track(void* ptr, size_t n) noexcept nogil:
    global _n_blocks
    if _n_blocks < _MAX_TRACKED:
        _blocks[_n_blocks] = ptr
        _block_bytes[_n_blocks] = n
        _n_blocks += 1


cdef void _untrack(void* ptr) noexcept nogil:
    global _n_blocks
    cdef int i
    for i in range(_n_blocks):
        if _blocks[i] == ptr:
            _n_blocks -= 1
            _blocks[i] = _blocks[_n_blocks]
            _block_bytes[i] = _block_bytes[_n_blocks]
            return

MAP_MIN_BYTES = _MAP_MIN_BYTES


cdef void* rt_calloc(size_t count, size_t size) noexcept nogil:
    global _allocations, _live_bytes, _mapped_bytes
    cdef void* ptr
    cdef size_t c = count if count > 0 else 1, n
    if size != 0 and c > SIZE_MAX // size:
        return NULL
    n = c * size
    if n >= _MAP_MIN_BYTES:
        ptr = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if ptr == MAP_FAILED:
            return NULL
        _mapped_bytes += <int64_t>n
        _track(ptr, n)
    else:
        ptr = calloc(c, size)
        if ptr == NULL:
            return NULL
    _allocations += 1
    _live_bytes += <int64_t>(count * size)
    return ptr


cdef void rt_free(void* ptr, size_t count, size_t size) noexcept nogil:
    """Free a block of rt_calloc; ``count`` and ``size`` must be those it was given."""
    global _frees, _live_bytes, _mapped_bytes
    cdef size_t n
    if ptr == NULL:
        return
    n = (count if count > 0 else 1) * size
    if n >= _MAP_MIN_BYTES:
        munmap(ptr, n)
        _mapped_bytes -= <int64_t>n
        _untrack(ptr)
    else:
        free(ptr)
    _frees += 1
    _live_bytes -= <int64_t>(count * size)


def allocation_counts():
    """Return ``(allocations, frees, live_bytes)`` made by the kernels since import."""
    return _allocations, _frees, _live_bytes


def mapped_bytes():
    """Bytes of the live blocks that have their own mapping (not counted by malloc)."""
    return _mapped_bytes


def resident_bytes():
    """Bytes of the live mapped blocks that are resident (pages written so far)."""
    cdef size_t page = <size_t>sysconf(_SC_PAGESIZE), pages, most = 0, total = 0, j
    cdef int i
    cdef unsigned char* vec
    for i in range(_n_blocks):
        pages = (_block_bytes[i] + page - 1) // page
        if pages > most:
            most = pages
    if most == 0:
        return 0
    vec = <unsigned char*>malloc(most)
    if vec == NULL:
        raise MemoryError()
    try:
        for i in range(_n_blocks):
            pages = (_block_bytes[i] + page - 1) // page
            if mincore(_blocks[i], _block_bytes[i], vec) != 0:
                continue
            for j in range(pages):
                total += vec[j] & 1
    finally:
        free(vec)
    return total * page
