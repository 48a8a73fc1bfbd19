"""Reference time-decayed EWMA z-score and [0, 100] oscillator (indicators.md section 8).

Exact float order of operations (the kernel reproduces it):

    first update (k = 1):  mu = x, var = 0, w = 0, z = NaN
    later updates (k >= 2), with dt = max(t - t_prev, 0):
        a     = 1.0 - math.exp(-dt / tau_ms)          # dt, tau_ms as floats
        sigma = math.sqrt(var_prev / w_prev)          # only when w_prev > 0
        z     = (x - mu_prev) / max(sigma, sigma_floor)   BEFORE the update
        d     = x - mu;  mu = mu + a * d;  var = (1.0 - a) * (var + a * d * d)
        w     = (1.0 - a) * (w + a)
    z is reported only when k - 1 >= warmup and w_prev > 0 (else NaN)
    osc   = 50.0 * math.erfc(-clip(z, -20, 20) / math.sqrt(2.0))

``w`` is the weight the data holds in ``var`` (the same recursion with d * d replaced
by 1): var / w is the exponentially weighted variance of the deviations seen so far,
so sigma has its full size from the second update on instead of growing over about
tau after every start (which pinned the oscillators at 0/100 through the warm-up).

Decision (N1): z needs a previous state, so the first update always gives NaN z even
when ``warmup == 0``; i.e. z is defined when k - 1 >= max(warmup, 1).
Decision (N2): ``t_prev`` is the exchange time T of this normaliser's previous update
(not of the previous row).
Decision (N4): the state is never reset (not even by an L2 resync).
Decision (N3): a NaN (or infinite) x never touches the state; the caller reports NaN
z and osc on that row (``update`` returns (nan, nan) and leaves the state alone).
"""
from __future__ import annotations

import math

NAN = float("nan")
SQRT2 = math.sqrt(2.0)


def oscillator(z: float) -> float:
    """100 * Phi(clip(z, -20, 20)) = 50 * erfc(-z / sqrt(2)); NaN for NaN z."""
    if math.isnan(z):
        return NAN
    zc = min(max(z, -20.0), 20.0)
    return 50.0 * math.erfc(-zc / SQRT2)


class Normaliser:
    """EWMA mean/variance over exchange time with z and oscillator (section 8)."""

    def __init__(self, tau_ms: float = 300_000.0, warmup: int = 100, sigma_floor: float = 1e-12):
        self.tau_ms = float(tau_ms)
        self.warmup = int(warmup)
        self.sigma_floor = float(sigma_floor)
        self.count = 0          # number of updates applied (k)
        self.mu = NAN
        self.var = NAN
        self.w = NAN            # the weight of the data in var
        self.t_prev = None
        self.z = NAN            # last reported z (carried on rows that do not update)
        self.osc = NAN

    def update(self, x: float, t: int) -> tuple[float, float]:
        """Feed raw value x at exchange time t (ms); returns (z, osc) for this row."""
        if x is None or not math.isfinite(x):
            return NAN, NAN
        self.count += 1
        if self.count == 1:
            self.mu = x
            self.var = 0.0
            self.w = 0.0
            self.t_prev = t
            self.z = NAN
            self.osc = NAN
            return self.z, self.osc
        dt = max(t - self.t_prev, 0)
        a = 1.0 - math.exp(-float(dt) / self.tau_ms)
        defined = self.w > 0.0
        z = NAN
        if defined:
            sigma = math.sqrt(self.var / self.w)
            z = (x - self.mu) / max(sigma, self.sigma_floor)
        d = x - self.mu
        self.mu = self.mu + a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.w = (1.0 - a) * (self.w + a)
        self.t_prev = t
        if defined and self.count - 1 >= max(self.warmup, 1):
            self.z = z
            self.osc = oscillator(z)
        else:
            self.z = NAN
            self.osc = NAN
        return self.z, self.osc
