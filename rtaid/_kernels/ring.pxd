# Single-producer / single-consumer rings in C memory, preallocated at start.
#
# RecordRing holds fixed-size records (rtaid/_kernels/records.pxd); ByteRing holds raw
# frames of any length for the journal. The producer is the thread running the engine
# (with or without the GIL), the consumer the store's writer thread.
#
# Ordering: head is written only by the producer, tail only by the consumer. The
# producer fills a slot, then publishes it with a release store of head; the consumer
# reads head with an acquire load, copies the slots, then frees them with a release
# store of tail, which the producer reads with an acquire load before reusing a slot.
# That is the whole protocol: no lock, so the hot path never waits for the writer, and
# it stays correct while Engine.run_frames runs without the GIL. A full ring drops the
# record and counts it.
from libc.stdint cimport int64_t, int32_t

cdef extern from *:
    """
    static inline int64_t rtaid_load_acquire(const int64_t* p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void rtaid_store_release(int64_t* p, int64_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    static inline int64_t rtaid_load_relaxed(const int64_t* p) {
        return __atomic_load_n(p, __ATOMIC_RELAXED);
    }
    """
    int64_t rtaid_load_acquire(const int64_t* p) noexcept nogil
    void rtaid_store_release(int64_t* p, int64_t v) noexcept nogil
    int64_t rtaid_load_relaxed(const int64_t* p) noexcept nogil

cdef struct RecordRing:
    char* buf
    int64_t rec_size
    int64_t cap          # records, a power of two
    int64_t mask
    int64_t tail_seen    # producer's cached copy of tail (saves a shared read per push)
    int64_t dropped      # producer only
    char _pad0[64]       # head and tail on their own cache lines
    int64_t head         # producer only (release store)
    char _pad1[64]
    int64_t tail         # consumer only (release store)
    char _pad2[64]

# Slot for the next record, or NULL (counted as dropped) when the ring is full.
cdef inline char* ring_reserve(RecordRing* r) noexcept nogil:
    if r.head - r.tail_seen >= r.cap:
        r.tail_seen = rtaid_load_acquire(&r.tail)
        if r.head - r.tail_seen >= r.cap:
            r.dropped += 1
            return NULL
    return r.buf + (r.head & r.mask) * r.rec_size

# Publish the slot returned by ring_reserve.
cdef inline void ring_commit(RecordRing* r) noexcept nogil:
    rtaid_store_release(&r.head, r.head + 1)

# Room for n records at once (a depth message's levels): True, or False with all n
# counted as dropped. Fill them with ring_slot(r, 0 .. n-1), publish with ring_commit_n.
cdef inline bint ring_reserve_n(RecordRing* r, int64_t n) noexcept nogil:
    if r.head + n - r.tail_seen > r.cap:
        r.tail_seen = rtaid_load_acquire(&r.tail)
        if r.head + n - r.tail_seen > r.cap:
            r.dropped += n
            return False
    return True

cdef inline char* ring_slot(RecordRing* r, int64_t k) noexcept nogil:
    return r.buf + ((r.head + k) & r.mask) * r.rec_size

cdef inline void ring_commit_n(RecordRing* r, int64_t n) noexcept nogil:
    rtaid_store_release(&r.head, r.head + n)

# Free slots now (producer side), to check room for a multi-record message.
cdef inline int64_t ring_free_slots(RecordRing* r) noexcept nogil:
    r.tail_seen = rtaid_load_acquire(&r.tail)
    return r.cap - (r.head - r.tail_seen)

cdef int ring_init(RecordRing* r, int64_t rec_size, int64_t cap) noexcept nogil
cdef void ring_free(RecordRing* r) noexcept nogil
cdef int64_t ring_drain(RecordRing* r, char* out, int64_t max_records) noexcept nogil

# Raw frames: 16-byte header (recv_ns, payload length, symbol) + payload, padded to 16.
cdef enum:
    BYTE_HDR = 16

cdef struct FrameHdr:
    int64_t recv_ns
    int32_t n            # payload bytes; -1: wrap marker, the next record is at offset 0
    int32_t sym

cdef struct ByteRing:
    char* buf
    int64_t cap          # bytes, a power of two
    int64_t mask
    int64_t tail_seen
    int64_t dropped      # frames
    char _pad0[64]
    int64_t head         # byte positions, monotonic
    char _pad1[64]
    int64_t tail
    char _pad2[64]

cdef int byte_ring_init(ByteRing* r, int64_t cap) noexcept nogil
cdef void byte_ring_free(ByteRing* r) noexcept nogil
cdef bint byte_ring_push(ByteRing* r, int64_t recv_ns, int32_t sym, const char* data,
                         int64_t n) noexcept nogil

cdef class RecordRings:
    cdef RecordRing rings[16]
    cdef int32_t n
    cdef readonly object names
    cdef RecordRing* _ring(self, str name) except NULL

cdef class ByteRings:
    cdef ByteRing* rings
    cdef int32_t n
