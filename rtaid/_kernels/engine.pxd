# C-level API of the per-process engine: one entry point per received frame that
# runs decode -> book (-> signals and records, added by later kernels).
from libc.stdint cimport int64_t, int32_t
from rtaid._kernels.decode cimport Decoder, Msg
from rtaid._kernels.book cimport L2Book

cdef class Engine:
    cdef Decoder decoder
    cdef L2Book* books
    cdef int32_t n_books
    cdef Msg msg
    cdef Msg replayed
    cdef public int64_t frames
    cdef int64_t depth_status_counts[8]
    cdef int last_rc
    cdef int last_kind
    cdef int last_status

    cdef int on_frame(self, const char* data, Py_ssize_t n, int64_t recv_ns,
                      int32_t default_sym) noexcept nogil
    cdef int on_depth_status(self, int32_t sym, const Msg* m, int status) noexcept nogil
