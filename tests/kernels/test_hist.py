"""Latency histogram: bucket bounds, percentiles vs numpy, Prometheus buckets."""
import numpy as np
from hypothesis import given, settings, strategies as st

from rtaid._kernels.hist import LatencyHistogram, bucket_bounds, bucket_of


@given(st.integers(0, 2**40))
def test_every_value_falls_inside_its_bucket_within_6_percent(ns):
    lo, hi = bucket_bounds(bucket_of(ns))
    assert lo <= ns <= hi
    assert hi - lo <= max(0, ns) / 16 + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=400), st.sampled_from([50, 90, 99, 99.9, 100]))
def test_percentiles_never_understate_and_stay_within_one_bucket(values, q):
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    true = float(np.percentile(np.array(values), q, method="inverted_cdf"))
    got = h.percentile(q)
    assert true <= got <= true * (1 + 1 / 16) + 1
    assert h.count == len(values) and h.sum_ns == sum(values) and h.max_ns == max(values)


def test_cumulative_buckets_for_prometheus():
    h = LatencyHistogram()
    for v in [100, 200, 1000, 5000, 5000, 10**6]:
        h.record(v)
    assert h.cumulative([1023, 5119, 10**7]) == [(1023, 3), (5119, 5), (10**7, 6)]


def test_merge_and_empty():
    a, b = LatencyHistogram(), LatencyHistogram()
    assert a.percentile(99) is None
    a.record(10)
    b.record(1000)
    a.merge(b)
    assert a.count == 2 and a.max_ns == 1000 and a.percentile(50) == 10
