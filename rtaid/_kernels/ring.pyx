"""Preallocated SPSC rings for the store (protocol in ring.pxd).

The hot path only ever calls the inline ``ring_reserve``/``ring_commit`` and
``byte_ring_push``; everything here with a Python signature belongs to the writer
thread (``drain*``, which copy out without the GIL) or to setup and tests.
"""
from libc.stdint cimport int64_t, int32_t
from libc.string cimport memcpy, memset
from rtaid._kernels.mem cimport rt_calloc, rt_free
from rtaid._kernels.records cimport TBL_MAX

from rtaid._kernels.records import TABLES as _REGISTRY

MAX_TABLES = TBL_MAX


cdef int64_t pow2_at_least(int64_t n) noexcept nogil:
    cdef int64_t p = 1
    while p < n:
        p <<= 1
    return p


cdef int ring_init(RecordRing* r, int64_t rec_size, int64_t cap) noexcept nogil:
    memset(r, 0, sizeof(RecordRing))
    r.cap = pow2_at_least(cap)
    r.mask = r.cap - 1
    r.rec_size = rec_size
    r.buf = <char*>rt_calloc(r.cap, rec_size)
    if r.buf == NULL:
        return -1
    # touch every page now: a large calloc maps zero pages lazily, and the first write
    # to each would be a page fault on the hot path
    memset(r.buf, 1, r.cap * rec_size)
    memset(r.buf, 0, r.cap * rec_size)
    return 0


cdef void ring_free(RecordRing* r) noexcept nogil:
    if r.buf != NULL:
        rt_free(r.buf, r.cap, r.rec_size)
        r.buf = NULL


cdef int64_t ring_drain(RecordRing* r, char* out, int64_t max_records) noexcept nogil:
    """Consumer: copy up to max_records published records to out, then free them."""
    cdef int64_t tail = r.tail
    cdef int64_t n = rtaid_load_acquire(&r.head) - tail
    cdef int64_t first, start
    if n > max_records:
        n = max_records
    if n <= 0:
        return 0
    start = tail & r.mask
    first = r.cap - start
    if first > n:
        first = n
    memcpy(out, r.buf + start * r.rec_size, first * r.rec_size)
    if n > first:
        memcpy(out + first * r.rec_size, r.buf, (n - first) * r.rec_size)
    rtaid_store_release(&r.tail, tail + n)
    return n


cdef class RecordRings:
    """One preallocated ring of fixed-size records per table.

    Parameters
    ----------
    tables : iterable of str, or dict
        Table names of the registry (rtaid/_kernels/records.pyx: each table's ring
        index and record size come from there), or ``{name: (index, record_size)}`` /
        ``{name: (index, record_size, capacity)}`` for rings of records that are not
        tables (tests) or rings sized per table; indices below ``MAX_TABLES``.
    capacity : int
        Records per ring of the tables that give none (rounded up to a power of two).

    Notes
    -----
    Single producer, single consumer per ring: ``push`` (Python) must be called from
    the thread that runs the engine, ``drain`` from the writer thread only.
    """

    def __cinit__(self, tables, int64_t capacity):
        cdef int32_t idx
        memset(self.rings, 0, sizeof(self.rings))
        self.names = {}
        self.n = 0
        if not isinstance(tables, dict):
            tables = {name: (_REGISTRY[name].ring, _REGISTRY[name].size) for name in tables}
        for name, spec in tables.items():
            idx, size = spec[0], spec[1]
            if not 0 <= idx < TBL_MAX or self.rings[idx].buf != NULL:
                raise ValueError(f"bad or duplicate ring index {idx} for {name!r}")
            if ring_init(&self.rings[idx], size, spec[2] if len(spec) > 2 else capacity):
                raise MemoryError()
            self.names[name] = idx
            self.n = max(self.n, idx + 1)

    def __dealloc__(self):
        cdef int32_t i
        for i in range(TBL_MAX):
            ring_free(&self.rings[i])

    cdef RecordRing* _ring(self, str name) except NULL:
        return &self.rings[<int32_t>self.names[name]]

    def drain(self, str name, unsigned char[::1] out):
        """Move up to ``len(out) // record_size`` records into ``out``; returns how many."""
        cdef RecordRing* r = self._ring(name)
        cdef int64_t n, max_records = out.shape[0] // r.rec_size
        if max_records == 0:
            return 0
        with nogil:
            n = ring_drain(r, <char*>&out[0], max_records)
        return n

    def push(self, str name, const unsigned char[::1] record):
        """Push one record from Python (producer thread only); False when full (counted)."""
        cdef RecordRing* r = self._ring(name)
        if record.shape[0] != r.rec_size:
            raise ValueError(f"{name} records are {r.rec_size} bytes, got {record.shape[0]}")
        cdef char* slot = ring_reserve(r)
        if slot == NULL:
            return False
        memcpy(slot, &record[0], r.rec_size)
        ring_commit(r)
        return True

    def record_size(self, str name):
        return self._ring(name).rec_size

    def pending(self, str name):
        """Records published and not yet drained."""
        cdef RecordRing* r = self._ring(name)
        return rtaid_load_acquire(&r.head) - rtaid_load_acquire(&r.tail)

    def dropped(self, str name):
        """Records dropped because the ring was full (read racily: a metric)."""
        return rtaid_load_relaxed(&self._ring(name).dropped)

    def pushed(self, str name):
        return rtaid_load_acquire(&self._ring(name).head)

    @property
    def capacity(self):
        """Records of the smallest ring (all rings, when built with one capacity)."""
        return min([self.rings[<int32_t>idx].cap for idx in self.names.values()] or [0])

    def capacity_of(self, str name):
        """Records of one table's ring."""
        return self._ring(name).cap

    @property
    def min_free(self):
        """Free slots of the fullest ring (consumer view; replay uses it to pace)."""
        cdef int32_t i
        cdef int64_t best = -1, free
        for i in range(TBL_MAX):
            if self.rings[i].buf != NULL:
                free = self.rings[i].cap - (rtaid_load_acquire(&self.rings[i].head)
                                            - rtaid_load_acquire(&self.rings[i].tail))
                if best < 0 or free < best:
                    best = free
        return best


# ------------------------------------------------------------------ raw frames
cdef int byte_ring_init(ByteRing* r, int64_t cap) noexcept nogil:
    memset(r, 0, sizeof(ByteRing))
    r.cap = pow2_at_least(cap if cap > 4096 else 4096)
    r.mask = r.cap - 1
    r.buf = <char*>rt_calloc(r.cap, 1)
    if r.buf == NULL:
        return -1
    memset(r.buf, 1, r.cap)   # prefault, as ring_init
    memset(r.buf, 0, r.cap)
    return 0


cdef void byte_ring_free(ByteRing* r) noexcept nogil:
    if r.buf != NULL:
        rt_free(r.buf, r.cap, 1)
        r.buf = NULL


cdef bint byte_ring_push(ByteRing* r, int64_t recv_ns, int32_t sym, const char* data,
                         int64_t n) noexcept nogil:
    """Producer: copy one frame; False (counted) when there is no room."""
    cdef int64_t need = BYTE_HDR + ((n + BYTE_HDR - 1) & ~(<int64_t>BYTE_HDR - 1))
    cdef int64_t head = r.head
    cdef int64_t off = head & r.mask
    cdef int64_t to_end = r.cap - off
    cdef int64_t total = need + (to_end if to_end < need else 0)
    cdef FrameHdr* h
    if total > r.cap or n > 0x7fffffff:
        r.dropped += 1
        return False
    if head + total - r.tail_seen > r.cap:
        r.tail_seen = rtaid_load_acquire(&r.tail)
        if head + total - r.tail_seen > r.cap:
            r.dropped += 1
            return False
    if to_end < need:
        # records never straddle the end: a marker sends the reader back to offset 0
        h = <FrameHdr*>(r.buf + off)
        h.n = -1
        head += to_end
        off = 0
    h = <FrameHdr*>(r.buf + off)
    h.recv_ns = recv_ns
    h.n = <int32_t>n
    h.sym = sym
    memcpy(r.buf + off + BYTE_HDR, data, n)
    rtaid_store_release(&r.head, head + need)
    return True


cdef inline Py_ssize_t write_int(char* p, int64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef Py_ssize_t k = 0, i
    if v < 0:
        p[0] = b'-'
        return 1 + write_int(p + 1, -v)
    while True:
        tmp[k] = <char>(48 + v % 10)
        k += 1
        v //= 10
        if v == 0:
            break
    for i in range(k):
        p[i] = tmp[k - 1 - i]
    return k


cdef class ByteRings:
    """One ring of raw frames per symbol (plus one for frames of no known symbol).

    Parameters
    ----------
    n : int
        Number of rings.
    capacity_bytes : int
        Bytes per ring (rounded up to a power of two).
    """

    def __cinit__(self, int32_t n, int64_t capacity_bytes):
        cdef int32_t i
        self.n = n
        self.rings = <ByteRing*>rt_calloc(n, sizeof(ByteRing))
        if self.rings == NULL:
            raise MemoryError()
        for i in range(n):
            if byte_ring_init(&self.rings[i], capacity_bytes):
                raise MemoryError()

    def __dealloc__(self):
        cdef int32_t i
        if self.rings != NULL:
            for i in range(self.n):
                byte_ring_free(&self.rings[i])
            rt_free(self.rings, self.n, sizeof(ByteRing))

    def __len__(self):
        return self.n

    def push(self, int i, const unsigned char[::1] data, int64_t recv_ns, int sym=-1):
        """Push one frame from Python (producer thread only); False when full."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        cdef const char* p = <const char*>&data[0] if data.shape[0] else <const char*>""
        return byte_ring_push(&self.rings[i], recv_ns, sym, p, data.shape[0])

    def drain_lines(self, int i, unsigned char[::1] out, int64_t[::1] stamps,
                    int64_t[::1] ends):
        """Move frames of ring i into ``out`` as ``<recv_ns> <payload>\\n`` lines.

        Stops when ``out`` or ``stamps``/``ends`` is full. ``stamps[k]`` is the receive
        time of line k and ``ends[k]`` the offset just past it.

        Returns
        -------
        int
            Number of lines written.
        """
        if not 0 <= i < self.n:
            raise IndexError(i)
        cdef ByteRing* r = &self.rings[i]
        cdef int64_t tail, head, off, need
        cdef Py_ssize_t pos = 0, cap = out.shape[0], k = 0
        cdef Py_ssize_t kmax = min(stamps.shape[0], ends.shape[0])
        cdef FrameHdr* h
        cdef char* dst = <char*>&out[0] if cap else NULL
        with nogil:
            tail = r.tail
            head = rtaid_load_acquire(&r.head)
            while tail < head and k < kmax:
                off = tail & r.mask
                h = <FrameHdr*>(r.buf + off)
                if h.n < 0:
                    tail += r.cap - off
                    continue
                if pos + h.n + 22 > cap:
                    break
                pos += write_int(dst + pos, h.recv_ns)
                dst[pos] = b' '
                pos += 1
                memcpy(dst + pos, r.buf + off + BYTE_HDR, h.n)
                pos += h.n
                dst[pos] = b'\n'
                pos += 1
                stamps[k] = h.recv_ns
                ends[k] = pos
                k += 1
                tail += BYTE_HDR + ((h.n + BYTE_HDR - 1) & ~(<int64_t>BYTE_HDR - 1))
            rtaid_store_release(&r.tail, tail)
        return k

    def dropped(self, int i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return rtaid_load_relaxed(&self.rings[i].dropped)

    def pending_bytes(self, int i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return rtaid_load_acquire(&self.rings[i].head) - rtaid_load_acquire(&self.rings[i].tail)
