# cython: language_level=3, boundscheck=False, wraparound=False
"""The floor of bench/latency.py: a picows listener that receives frames and discards
them. It reads no payload byte; per frame it counts and reads CLOCK_REALTIME once (the
receive time of the last ``ring`` frames is kept for the latency of the wire)."""
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME
from picows.picows cimport WSListener, WSTransport, WSFrame, WSMsgType

import numpy as np


cdef inline int64_t realtime_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef class FloorListener(WSListener):
    cdef public int64_t frames
    cdef public int64_t payload_bytes
    cdef int64_t* stamps
    cdef int64_t ring

    def __cinit__(self, int64_t ring=0):
        self.ring = ring
        self.stamps = <int64_t*>calloc(ring if ring > 0 else 1, sizeof(int64_t))
        if self.stamps == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.stamps)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if frame.msg_type == WSMsgType.TEXT or frame.msg_type == WSMsgType.BINARY:
            if self.ring:
                self.stamps[self.frames % self.ring] = realtime_ns()
            self.frames += 1
            self.payload_bytes += frame.payload_size
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def recv_stamps(self):
        """(frame numbers, receive times in ns) of the last ``ring`` frames, in order."""
        cdef int64_t first = self.frames - self.ring if self.frames > self.ring else 0
        frame = np.arange(first, self.frames, dtype=np.int64)
        out = np.empty(self.frames - first, dtype=np.int64)
        cdef int64_t i
        for i in range(first, self.frames):
            out[i - first] = self.stamps[i % self.ring] if self.ring else 0
        return frame, out
