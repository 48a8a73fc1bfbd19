"""Property checks of the windowed/bucketed state against brute-force definitions."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rtaid.reference.indicators import Ofi, TradeImbalance, Vpin, ofi_e

times = st.lists(st.integers(0, 50), min_size=1, max_size=60).map(
    lambda ds: [sum(ds[: i + 1]) for i in range(len(ds))])


@settings(max_examples=150, deadline=None)
@given(times, st.data())
def test_ofi_matches_brute_force_window(ts, data):
    states = [(data.draw(st.integers(98, 102)), data.draw(st.integers(0, 9)),
               data.draw(st.integers(103, 107)), data.draw(st.integers(0, 9))) for _ in ts]
    o = Ofi(100, qty_dec=0)
    for n, (t, s) in enumerate(zip(ts, states)):
        ofi, norm = o.on_l1(t, *s)
        es = [0] + [ofi_e(states[i - 1], states[i]) for i in range(1, n + 1)]
        inside = [i for i in range(n + 1) if t - 100 < ts[i] <= t]
        sum_e = sum(es[i] for i in inside)
        ad = sum((states[i][1] + states[i][3]) / 2 for i in inside) / len(inside)
        assert ofi == sum_e
        if ad == 0:
            assert math.isnan(norm)
        else:
            assert math.isclose(norm, sum_e / ad, rel_tol=1e-12)


@settings(max_examples=150, deadline=None)
@given(times, st.data())
def test_ti_matches_brute_force_window(ts, data):
    trades = [(data.draw(st.sampled_from([1, -1])), data.draw(st.integers(0, 20))) for _ in ts]
    ti = TradeImbalance(100)
    for n, t in enumerate(ts):
        got = ti.on_trade(t, *trades[n])
        inside = [trades[i] for i in range(n + 1) if t - 100 < ts[i] <= t]
        vb = sum(q for d, q in inside if d > 0)
        vs = sum(q for d, q in inside if d < 0)
        assert (math.isnan(got) and vb + vs == 0) or got == (vb - vs) / (vb + vs)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]), st.integers(0, 40)), max_size=80),
       st.integers(1, 25), st.integers(1, 5))
def test_vpin_conserves_volume_and_matches_definition(trades, cap, n):
    v = Vpin(buckets=n, qty_dec=0, bucket_volume=cap)
    ois = []
    fb = fs = 0
    for t, (d, q) in enumerate(trades):
        value, done = v.on_trade(t, d, q)
        # brute force: split lot by lot
        for _ in range(q):
            fb, fs = (fb + 1, fs) if d > 0 else (fb, fs + 1)
            if fb + fs == cap:
                ois.append(abs(fb - fs))
                fb = fs = 0
        assert v.completed == len(ois) and (v.fill_buy, v.fill_sell) == (fb, fs)
        if len(ois) >= n:
            assert value == sum(ois[-n:]) / (n * cap) and 0 <= value <= 1
        else:
            assert math.isnan(value)
