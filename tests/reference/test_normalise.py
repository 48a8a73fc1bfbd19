"""Section 8: EWMA z-score / oscillator, hand-computed."""
import math

import pytest

from rtaid.reference.normalise import Normaliser, oscillator


def test_first_value_and_warmup_then_z_before_update():
    n = Normaliser(tau_ms=1000, warmup=2, sigma_floor=1e-12)
    assert all(map(math.isnan, n.update(1.0, 0)))          # k=1: mu=1, var=0, w=0
    assert (n.mu, n.var, n.w) == (1.0, 0.0, 0.0)
    z, osc = n.update(3.0, 1000)                           # k=2: w = 0 before -> NaN
    assert math.isnan(z) and math.isnan(osc)
    a = 1 - math.exp(-1.0)
    assert n.mu == pytest.approx(1 + 2 * a, rel=1e-15)
    assert n.var == pytest.approx((1 - a) * (a * 4), rel=1e-15)
    assert n.w == pytest.approx((1 - a) * a, rel=1e-15)   # the data's weight in var
    # k=3 at the same time (a=0): sigma = sqrt(var / w) = 2 (the one deviation seen);
    # x one sigma above mu -> z = 1, computed before the update
    mu, var, w = n.mu, n.var, n.w
    z, osc = n.update(mu + math.sqrt(var / w), 1000)
    assert z == pytest.approx(1.0, rel=1e-12)
    assert math.sqrt(var / w) == pytest.approx(2.0, rel=1e-12)
    assert osc == pytest.approx(84.13447460685429, rel=1e-12)
    assert (n.mu, n.var, n.w) == (mu, var, w)              # a = 0 leaves the state


def test_warmup_zero_first_z_still_nan_and_sigma_floor():
    n = Normaliser(tau_ms=1000, warmup=0, sigma_floor=0.5)
    assert math.isnan(n.update(1.0, 0)[0])
    assert math.isnan(n.update(1.0, 0)[0])     # dt = 0: a = 0, w stays 0: undefined
    assert math.isnan(n.update(1.0, 1000)[0])  # w was 0 before this update
    assert n.w > 0 and n.var == 0.0
    z, osc = n.update(2.0, 1000)               # sigma = 0 -> floor 0.5
    assert z == 2.0 and osc == pytest.approx(50 * math.erfc(-2 / math.sqrt(2)))


def test_sigma_has_its_size_from_the_start_with_events_milliseconds_apart():
    """indicators.md section 8 (w): a series alternating -1, +1 one ms apart, right after
    the warm-up: sigma is the size of the deviations seen (sqrt(2): the mean starts at
    the first value, -1, and moves slowly), so |z| <= sqrt(2), where the variance
    without w was a tiny fraction of it and |z| about 77 (the oscillators pinned at
    0/100 for about tau after every start)."""
    n = Normaliser(tau_ms=300_000, warmup=100)
    zs = []
    for k in range(200):
        z, osc = n.update(1.0 if k % 2 else -1.0, k)
        if not math.isnan(z):
            zs.append(abs(z))
    assert len(zs) == 100
    assert max(zs) == pytest.approx(math.sqrt(2), rel=1e-3)


def test_nan_input_skips_update_and_negative_dt_clamped():
    n = Normaliser(tau_ms=1000, warmup=0)
    n.update(1.0, 1000)
    n.update(3.0, 2000)
    state = (n.count, n.mu, n.var, n.w, n.t_prev)
    assert all(map(math.isnan, n.update(float("nan"), 3000)))
    assert (n.count, n.mu, n.var, n.w, n.t_prev) == state
    mu, var, w = n.mu, n.var, n.w
    n.update(10.0, 500)         # time went backwards: dt clamped to 0 -> a = 0
    assert (n.mu, n.var, n.w) == (mu, var, w)


def test_oscillator_clip_and_range():
    assert oscillator(0.0) == 50.0
    assert oscillator(1e9) == oscillator(20.0) <= 100.0
    assert oscillator(-1e9) == oscillator(-20.0) >= 0.0
    assert oscillator(-20.0) == pytest.approx(2.7536241186062337e-87, rel=1e-9)
    assert math.isnan(oscillator(float("nan")))
