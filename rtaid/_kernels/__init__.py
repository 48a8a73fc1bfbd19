"""Cython kernels: the hot path (decode, book, signals). Each .pxd is the C-level API."""
