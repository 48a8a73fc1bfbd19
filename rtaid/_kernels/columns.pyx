"""Records -> columns for the store's writer, without the GIL.

numpy's strided field copies (``records["px"]``) hold the GIL for the whole copy; on
a large batch that would stall the event loop for milliseconds, so the writer
transposes with this instead.
"""
from libc.stdint cimport int64_t, int32_t, int16_t, int8_t
from libc.string cimport memcpy


def take_field(const unsigned char[::1] records, Py_ssize_t rec_size, Py_ssize_t offset,
               Py_ssize_t itemsize, unsigned char[::1] out):
    """Copy one field of every record into ``out`` (contiguous, ``itemsize`` bytes each).

    Parameters
    ----------
    records : bytes-like
        ``n * rec_size`` bytes of records.
    rec_size, offset, itemsize : int
        Record size, the field's offset in it, and its size (1, 2, 4 or 8).
    out : writable bytes-like
        At least ``n * itemsize`` bytes.
    """
    cdef Py_ssize_t i, n = records.shape[0] // rec_size if rec_size > 0 else 0
    if offset < 0 or offset + itemsize > rec_size or out.shape[0] < n * itemsize:
        raise ValueError("field outside the record or output too small")
    if n == 0:
        return 0
    cdef const unsigned char* src = &records[0] + offset
    cdef unsigned char* dst = &out[0]
    with nogil:
        if itemsize == 8:
            for i in range(n):
                memcpy(dst + 8 * i, src + i * rec_size, 8)
        elif itemsize == 4:
            for i in range(n):
                memcpy(dst + 4 * i, src + i * rec_size, 4)
        elif itemsize == 2:
            for i in range(n):
                memcpy(dst + 2 * i, src + i * rec_size, 2)
        else:
            for i in range(n):
                memcpy(dst + itemsize * i, src + i * rec_size, itemsize)
    return n
