# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Rewrite the decimal numbers of pre-encoded frames for another loop of the timeline
(bench/wire/recorded.py): value = base + loop * steps[kind], written right-aligned in
exactly ``width`` digits at ``pos``."""
from libc.stdint cimport int64_t


def patch_numbers(unsigned char[::1] buf, const int64_t[::1] pos, const int64_t[::1] width,
                  const int64_t[::1] base, const int64_t[::1] kind, const int64_t[::1] steps,
                  int64_t loop):
    cdef Py_ssize_t i, n = pos.shape[0]
    cdef int64_t v, p, pow10[19]
    cdef int j, w
    pow10[0] = 1
    for j in range(1, 19):
        pow10[j] = pow10[j - 1] * 10
    for i in range(n):
        v = base[i] + loop * steps[kind[i]]
        w = <int>width[i]
        if w < 1 or w > 18 or v < pow10[w - 1] or v >= pow10[w]:
            raise ValueError(f"loop {loop}: {v} does not have {w} digits (the timeline cannot loop this often)")
        p = pos[i] + w - 1
        while w:
            buf[p] = <unsigned char>(48 + v % 10)
            v = v // 10
            p -= 1
            w -= 1
