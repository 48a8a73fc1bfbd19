"""Straightforward pure-Python references of the kernels, written for clarity, not speed.

Tests run a kernel and its reference on the same input and compare the results.
"""
