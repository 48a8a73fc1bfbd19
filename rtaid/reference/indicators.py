"""Pure-Python reference of the rtaid indicators (docs: /work/shared/docs/indicators.md).

This module is the executable specification the Cython kernels must match event by
event: integers exactly, floats to a relative 1e-9.  It is written to be obviously
right, not fast.  Every place where indicators.md leaves a choice open is marked
``Decision (Xn)`` and listed in docs/indicator-decisions.md.

Units and representations (Decision (U0))
-----------------------------------------
* Prices are ints in units of ``10**-px_dec`` ("px units"), sizes ints in lots
  (``10**-qty_dec`` base units).  ``m2 = Pb + Pa`` (an int) is twice the mid in px
  units; the mid in price units is ``M = m2 / (2 * 10**px_dec)`` (Python int/int true
  division, i.e. correctly rounded; a C kernel gets the identical double from
  ``(double)m2 / (double)(2*10**px_dec)`` because both operands are exact doubles).
* Integer quantities (OFI e_n, volumes, VPIN buckets, signed notional) stay Python ints;
  a float appears only in the last step of each formula, documented at the formula.
* ``tick_units`` = tick expressed in px units (``tick * 10**px_dec``, snapped to the
  nearest integer when it is within 1e-9 of one) -- Decision (U1).

Public API
----------
``Params``        every config key of indicators.md section 11 + strategy keys, + tick,
                  px_dec, qty_dec.
``SymbolState``   per-symbol state; ``on_bbo``, ``on_depth``, ``on_trade`` each return the
                  indicators row (a dict) or None (no row); bars and signals are appended
                  to ``state.bars_out`` / ``state.signals_out``; ``finish()`` flushes the
                  open bar.
The component classes (``TradeImbalance``, ``Ofi``, ``MultiLevelOfi``, ``Vpin``,
``KyleLambda``, ``Lpi``, ``DevEma``) and functions (``tobi``, ``depth_imbalance``,
``mpd``, ``ofi_e``, ``wall``) are usable on their own (the unit tests do).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import field, fields, make_dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any, Optional

from rtaid.infra.config import LPI_HISTORY, signal_keys, signal_values

from .bars import BarBuilder
from .normalise import Normaliser
from .strategy import make_strategy

NAN = float("nan")

RAW_COLUMNS = [
    "obi", "di", "ti", "mpd_ticks", "mpd_bps", "ofi", "ofi_norm", "mlofi_sum", "vpin",
    "kyle_lambda", "lpi", "wall_bid", "wall_ask", "wall_net", "wall_dist_bid",
    "wall_dist_ask", "dev_bps",
]
NORM_SERIES = [
    "obi", "di", "mpd_bps", "ofi_norm", "mlofi_sum", "vpin", "kyle_lambda", "lpi",
    "wall_net", "dev_bps",
]
NORM_COLUMNS = [c for x in NORM_SERIES for c in (f"{x}_z", f"{x}_osc")]
ID_COLUMNS = ["symbol", "ts_ms", "event", "u", "seq"]
INDICATOR_COLUMNS = ID_COLUMNS + RAW_COLUMNS + NORM_COLUMNS


# --------------------------------------------------------------------------- params
# config key -> Params field, and every default: the config schema declares them once
# (rtaid/infra/config.py); the reference and the kernels are both built from it.
CONFIG_KEYS = signal_keys()
_DEFAULTS = signal_values()


def _with_keys(self, overrides: dict) -> "Params":
    """Copy with config-key overrides, e.g. ``{'tobi.levels': 5}``."""
    kw = {}
    for key, value in overrides.items():
        name = CONFIG_KEYS.get(key, key.replace(".", "_"))
        if name not in {f.name for f in fields(self)}:
            raise KeyError(f"unknown config key {key!r}")
        kw[name] = value
    return replace(self, **kw)


@classmethod
def _from_config(cls, cfg, **extra) -> "Params":
    """From a Config or SymbolConfig of rtaid.infra.config; ``extra`` sets tick /
    px_dec / qty_dec."""
    kw = signal_values(cfg)
    kw.update(extra)
    return cls(**kw)


def _tick_value(self) -> float:
    return self.tick if self.tick is not None else 10.0 ** -self.px_dec


def _tick_units(self) -> float:
    """Tick in px units.  Decision (U1): ``tick * 10**px_dec`` snapped to the nearest
    integer when within 1e-9 of it (so 0.01 with px_dec 2 is exactly 1.0)."""
    raw = self.tick_value * 10**self.px_dec
    near = round(raw)
    return float(near) if near > 0 and abs(raw - near) <= 1e-9 * max(1.0, abs(raw)) else raw


# Per-symbol parameters; field names are the config keys with '.' -> '_' (strategy.order_qty:
# Decision (S9), the config's default). Beyond the config keys: lpi_history (Decision (L1):
# indicators.md's "at least 4096", exactly config.LPI_HISTORY, as the kernels keep), and
# the symbol's precision (tick None -> 10**-px_dec).
Params = make_dataclass(
    "Params",
    [(name, Any, field(default=value)) for name, value in _DEFAULTS.items()]
    + [("lpi_history", int, field(default=LPI_HISTORY)),
       ("tick", Optional[float], field(default=None)),
       ("px_dec", int, field(default=2)),
       ("qty_dec", int, field(default=3))],
    namespace={"with_keys": _with_keys, "from_config": _from_config,
               "tick_value": property(_tick_value), "tick_units": property(_tick_units)},
)
Params.__doc__ = "Per-symbol parameters; field names are the config keys with '.' -> '_'."
Params.__module__ = __name__


# --------------------------------------------------------------------------- section 1
def tobi(qb: int, qa: int) -> float:
    """obi = (Qb - Qa) / (Qb + Qa), one int/int division; NaN when Qb + Qa == 0."""
    den = qb + qa
    if den == 0:
        return NAN
    return (qb - qa) / den


def depth_imbalance(bids: list, asks: list, levels: int, decay: float) -> float:
    """di over levels 1..L, a missing level counting as size 0.

    Float order: w_k = decay ** (k - 1) (Python float pow, w_1 = 1.0); for k = 1..L in
    order: num += w_k * float(qb_k - qa_k); den += w_k * float(qb_k + qa_k); di = num/den.
    NaN when den == 0 (both sides empty within L levels).
    """
    num = 0.0
    den = 0.0
    for k in range(1, levels + 1):
        qb = bids[k - 1][1] if k <= len(bids) else 0
        qa = asks[k - 1][1] if k <= len(asks) else 0
        w = decay ** (k - 1)
        num += w * float(qb - qa)
        den += w * float(qb + qa)
    if den == 0.0:
        return NAN
    return num / den


class TradeImbalance:
    """ti over trades with T in (t - window_ms, t], recomputed on each trade.

    Decision (W1), all windows: entries are kept in arrival order and evicted from the
    front while ``entry.T <= t - window_ms``, t = the T of the event being processed
    (the window is evicted only on events that drive the indicator).
    Float: ti = (Vbuy - Vsell) / (Vbuy + Vsell) on int lots; NaN when the sum is 0.
    Decision (T1): ti is recomputed on trade rows only (it carries on bbo/depth rows,
    even if the window would have emptied meanwhile); same for ofi/ofi_norm (L1 rows)
    and mlofi (applied depth rows).
    """

    def __init__(self, window_ms: int):
        self.window_ms = window_ms
        self.q = deque()  # (T, d, qty_lots)
        self.vbuy = 0
        self.vsell = 0

    def on_trade(self, T: int, d: int, qty: int) -> float:
        self.q.append((T, d, qty))
        if d > 0:
            self.vbuy += qty
        else:
            self.vsell += qty
        while self.q and self.q[0][0] <= T - self.window_ms:
            _, d0, q0 = self.q.popleft()
            if d0 > 0:
                self.vbuy -= q0
            else:
                self.vsell -= q0
        tot = self.vbuy + self.vsell
        return (self.vbuy - self.vsell) / tot if tot else NAN


# --------------------------------------------------------------------------- section 2
def mpd(pb: int, qb: int, pa: int, qa: int, px_dec: int, tick_units: float) -> tuple:
    """(mpd_ticks, mpd_bps) with W - M computed as (S/2) * obi.

    Float order:  obi = tobi(qb, qa)
                  half_s = (pa - pb) / 2            (int / int, px units)
                  wm = half_s * obi                 (W - M in px units)
                  mpd_ticks = wm / tick_units
                  mpd_bps = 1e4 * wm / (m2 / 2)  computed as (1e4 * wm) / ((pb + pa) / 2)
    (the 10**px_dec scale cancels in the bps ratio, so it is never applied).
    NaN when Qb + Qa == 0.
    """
    obi = tobi(qb, qa)
    if math.isnan(obi):
        return NAN, NAN
    half_s = (pa - pb) / 2
    wm = half_s * obi
    mid_units = (pb + pa) / 2
    return wm / tick_units, (1e4 * wm) / mid_units


# --------------------------------------------------------------------------- section 3
def ofi_e(prev: tuple, cur: tuple) -> int:
    """Cont-Kukanov-Stoikov e_n for L1 states (Pb, Qb, Pa, Qa), non-strict inequalities.
    Exact int (lots)."""
    pb0, qb0, pa0, qa0 = prev
    pb1, qb1, pa1, qa1 = cur
    e = 0
    if pb1 >= pb0:
        e += qb1
    if pb1 <= pb0:
        e -= qb0
    if pa1 <= pa0:
        e -= qa1
    if pa1 >= pa0:
        e += qa0
    return e


class Ofi:
    """ofi and ofi_norm over L1 events with T in (t - window_ms, t].

    Window entries: (T, e_n, Qb + Qa) in lots; the first event after a (re)sync (or the
    first ever) has e = 0 but still enters the window (it counts for AD).
    Float order: ofi = sum_e / 10**qty_dec  (int / int)
                 ofi_norm = (2 * n * sum_e) / sum_q  (int / int), i.e. ofi / AD with
                 AD = sum_q / (2 n) (units cancel). NaN when sum_q == 0.
    """

    def __init__(self, window_ms: int, qty_dec: int):
        self.window_ms = window_ms
        self.scale = 10**qty_dec
        self.prev = None
        self.q = deque()
        self.sum_e = 0
        self.sum_q = 0

    def reset(self) -> None:
        self.prev = None
        self.q.clear()
        self.sum_e = 0
        self.sum_q = 0

    def on_l1(self, T: int, pb: int, qb: int, pa: int, qa: int) -> tuple:
        cur = (pb, qb, pa, qa)
        e = 0 if self.prev is None else ofi_e(self.prev, cur)
        self.prev = cur
        self.q.append((T, e, qb + qa))
        self.sum_e += e
        self.sum_q += qb + qa
        while self.q and self.q[0][0] <= T - self.window_ms:
            _, e0, s0 = self.q.popleft()
            self.sum_e -= e0
            self.sum_q -= s0
        n = len(self.q)
        ofi = self.sum_e / self.scale
        ofi_norm = (2 * n * self.sum_e) / self.sum_q if self.sum_q else NAN
        return ofi, ofi_norm


class MultiLevelOfi:
    """Multi-level OFI over applied depth diffs with T in (t - window_ms, t].

    Decision (M1): e_k is 0 when level k is missing on the bid or the ask side in the
    current or the previous book state (the whole e_k, not one side's terms).
    The first diff after a (re)sync has e = 0 for every k but enters the window (AD10).
    Decision (M2): K = ofi.levels levels are averaged in AD10, a missing level as 0.
    Float order: mlofi[k] = sum_e_k / 10**qty_dec (int / int)
                 mlofi_sum = (2 * K * n * sum_all_e) / sum_depth  (int / int), where
                 sum_depth = sum over window diffs and k = 1..K of (qb_k + qa_k), missing = 0;
                 i.e. (sum_k mlofi_k) / AD10 with AD10 = sum_depth / (2 K n). NaN when 0.
    """

    def __init__(self, levels: int, window_ms: int, qty_dec: int):
        self.levels = levels
        self.window_ms = window_ms
        self.scale = 10**qty_dec
        self.reset()

    def reset(self) -> None:
        self.prev = None  # (bids_top, asks_top)
        self.q = deque()  # (T, [e_k], depth_sum)
        self.sum_e = [0] * self.levels
        self.sum_depth = 0

    def on_book(self, T: int, bids: list, asks: list) -> tuple:
        K = self.levels
        e = [0] * K
        if self.prev is not None:
            pbids, pasks = self.prev
            for k in range(K):
                if k < len(bids) and k < len(asks) and k < len(pbids) and k < len(pasks):
                    e[k] = ofi_e((pbids[k][0], pbids[k][1], pasks[k][0], pasks[k][1]),
                                 (bids[k][0], bids[k][1], asks[k][0], asks[k][1]))
        self.prev = (list(bids[:K]), list(asks[:K]))
        depth = sum(q for _, q in bids[:K]) + sum(q for _, q in asks[:K])
        self.q.append((T, e, depth))
        for k in range(K):
            self.sum_e[k] += e[k]
        self.sum_depth += depth
        while self.q and self.q[0][0] <= T - self.window_ms:
            _, e0, d0 = self.q.popleft()
            for k in range(K):
                self.sum_e[k] -= e0[k]
            self.sum_depth -= d0
        n = len(self.q)
        vec = [s / self.scale for s in self.sum_e]
        total = sum(self.sum_e)
        msum = (2 * K * n * total) / self.sum_depth if self.sum_depth else NAN
        return vec, msum


# --------------------------------------------------------------------------- section 4
class Vpin:
    """VPIN with exact integer bucket arithmetic.

    Volumes are measured in "units" = lots * scale, the bucket capacity C in units:
    * configured V (base units): Decision (V1) C = round(Decimal(repr(V)) * 10**qty_dec)
      lots, scale = 1 (ValueError if C < 1);
    * calibrated, Decision (V3): V = cal_lots / n, so scale = n and C = cal_lots
      (exact, no division, no rounding).
    Calibration: T0 = T of the first trade; the trades with T < T0 + calibration_ms are
    summed; the first trade with T >= T0 + calibration_ms fixes C and is the first trade
    bucketed.  Decision (V2): a calibration total of 0 lots leaves VPIN NaN forever.
    vpin = sum(oi of last n buckets) / (n * C)   (int / int).
    ``on_trade`` returns (vpin, completed) where completed = number of buckets this trade
    completed; Decision (V4): the normaliser updates once per trade with completed > 0.
    """

    def __init__(self, buckets: int, qty_dec: int, bucket_volume: Optional[float] = None,
                 calibration_ms: int = 600_000):
        self.n = buckets
        self.calibration_ms = calibration_ms
        if bucket_volume is not None:
            lots = int((Decimal(repr(float(bucket_volume))) * 10**qty_dec).to_integral_value())
            if lots < 1:
                raise ValueError("vpin.bucket_volume is below one lot")
            self.capacity = lots
            self.scale = 1
            self.calibrating = False
        else:
            self.capacity = None
            self.scale = buckets
            self.calibrating = True
        self.t0 = None
        self.cal_lots = 0
        self.fill_buy = 0
        self.fill_sell = 0
        self.ois = deque(maxlen=buckets)
        self.completed = 0
        self.value = NAN

    def on_trade(self, T: int, d: int, qty: int) -> tuple:
        if self.calibrating:
            if self.t0 is None:
                self.t0 = T
            if T < self.t0 + self.calibration_ms:
                self.cal_lots += qty
                return NAN, 0
            self.calibrating = False
            self.capacity = self.cal_lots
        if not self.capacity:
            return NAN, 0
        rem = qty * self.scale
        done = 0
        while rem > 0:
            room = self.capacity - self.fill_buy - self.fill_sell
            take = min(room, rem)
            if d > 0:
                self.fill_buy += take
            else:
                self.fill_sell += take
            rem -= take
            if self.fill_buy + self.fill_sell == self.capacity:
                self.ois.append(abs(self.fill_buy - self.fill_sell))
                self.fill_buy = self.fill_sell = 0
                self.completed += 1
                done += 1
        if done and self.completed >= self.n:
            self.value = sum(self.ois) / (self.n * self.capacity)
        return self.value, done


# --------------------------------------------------------------------------- section 5
class KyleLambda:
    """Kyle's lambda: exact OLS slope over the last W interval pairs, rounded once.

    Decision (K0): interval i = [i*dt, (i+1)*dt).  ``advance(T)`` is called for every L1 update and
    trade BEFORE the event is applied: if T >= end of the open interval it closes the
    open interval (x = its signed notional, M_end = the current L1 mid, i.e. the mid of
    the last L1 state applied while it was open or before) and every empty interval up
    to T's interval (x = 0, same M_end, hence y = 0); then opens T's interval.  Events
    with T before the open interval's start count in the open interval.
    Decision (K3): "M_end_i = mid of the last L1 state with time < (i+1)*dt" is read
    together with the late-event rule: once interval i is closed (by ANY L1 update or
    trade with T >= its end), a later-arriving L1 state with T < (i+1)*dt counts in the
    open interval, not in M_end_i.
    Decision (K1): of a run of empty intervals only the last W + 1 are materialised
    (older ones would be evicted from the W-window anyway; identical results).
    A pair (x_i, y_i) enters the window when M_end_i and M_end_{i-1} exist, with
      X_i = sum d * p * q  (exact int, units 10**-(px_dec+qty_dec) quote) so
      x_i = X_i / (10**(px_dec+qty_dec) * 1e6),
      y_i = (10000 * (m2_i - m2_{i-1})) / m2_{i-1}   (int / int, correctly rounded float).
    Decision (K2): lambda = s * (n*S_Xy - S_X*S_y) / (n*S_XX - S_X**2) evaluated EXACTLY
    with Fractions over (X_i, y_i as the exact values of those doubles), s =
    10**(px_dec+qty_dec) * 10**6, then rounded once to a float.  A kernel using
    Welford/West updates agrees to far better than 1e-9 unless ill-conditioned.
    Var(x) = 0 is tested exactly (n*S_XX == S_X**2) -> NaN.
    Decision (K4): the window is the last W pairs that ENTERED; NaN while fewer than
    min_intervals pairs; the normaliser is updated once per event entering >= 1 pair.
    Returns from ``advance``: True when at least one pair entered (lambda recomputed).
    """

    def __init__(self, interval_ms: int, window: int, min_intervals: int, px_dec: int, qty_dec: int):
        self.dt = interval_ms
        self.W = window
        self.min_n = min_intervals
        self.s = 10 ** (px_dec + qty_dec) * 10**6
        self.open_i = None
        self.open_x = 0
        self.cur_m2 = None        # mid of the current L1 state (2*M in px units)
        self.prev_m2 = None       # M_end of the last closed interval (None = undefined)
        self.closed_any = False
        self.pairs = deque(maxlen=window)  # (X_int, y_float)
        self.value = NAN

    def _close(self, x: int) -> bool:
        m_end = self.cur_m2
        entered = False
        if self.closed_any and m_end is not None and self.prev_m2 is not None:
            y = (10000 * (m_end - self.prev_m2)) / self.prev_m2
            self.pairs.append((x, y))
            entered = True
        self.closed_any = True
        self.prev_m2 = m_end
        return entered

    def advance(self, T: int) -> bool:
        i = T // self.dt
        if self.open_i is None:
            self.open_i = i
            return False
        if i <= self.open_i:
            return False
        entered = self._close(self.open_x)
        n_empty = i - self.open_i - 1
        for _ in range(min(n_empty, self.W + 1)):
            entered = self._close(0) or entered
        self.open_i = i
        self.open_x = 0
        if entered:
            self.value = self.compute()
        return entered

    def on_l1(self, m2: int) -> None:
        self.cur_m2 = m2

    def on_trade(self, d: int, px: int, qty: int) -> None:
        self.open_x += d * px * qty

    def compute(self) -> float:
        n = len(self.pairs)
        if n < self.min_n:
            return NAN
        sx = sum(x for x, _ in self.pairs)
        sxx = sum(x * x for x, _ in self.pairs)
        den = n * sxx - sx * sx
        if den == 0:
            return NAN
        sy = sum(Fraction(y) for _, y in self.pairs)
        sxy = sum(x * Fraction(y) for x, y in self.pairs)
        return float(self.s * (n * sxy - sx * sy) / den)


# --------------------------------------------------------------------------- section 6
class Lpi:
    """LPI: volume-weighted EWMA of matured realized spreads minus the maker fee.

    * history: the last ``history`` L1 states (T, m2) in arrival order (Decision (L1):
      exactly ``history`` states; a state older than that is not searched).
    * trade: m_i = the newest state in the history with T_state <= T_i (scan newest
      first); none -> the trade never enters lpi (Decision (L2): it is not even queued).
    * L1 event at time t (``on_l1``, called after the L1 state is updated and appended):
      every pending trade with T_i + h <= t matures at this mid, scanning pending trades
      in arrival order (Decision (L3): not only a FIFO prefix).
    * rs_i = (10000 * d * (2 p - m2_h)) / m2_i  (int / int; = 1e4 d (p - m_h) / m_i).
    * Decision (L4) EWMA: f = math.exp(-math.log(2) * float(max(T_i - T_prev, 0)) / half_life) where
      T_prev is the T of the previously matured trade (first trade: no decay);
      q_i = qty_lots / 10**qty_dec; SW = f*SW + q_i; SWX = f*SWX + q_i*rs_i;
      lpi = SWX / SW - maker_fee_bps (NaN when SW == 0).
    ``on_l1`` returns (lpi, matured_count).
    """

    def __init__(self, horizon_ms: int, half_life_ms: int, maker_fee_bps: float,
                 qty_dec: int, history: int = 4096):
        self.h = horizon_ms
        self.half_life = float(half_life_ms)
        self.fee = maker_fee_bps
        self.scale = 10**qty_dec
        self.history = deque(maxlen=history)
        self.pending = []  # (T, d, px, qty, m2_i)
        self.sw = 0.0
        self.swx = 0.0
        self.t_prev = None
        self.value = NAN

    def on_trade(self, T: int, d: int, px: int, qty: int) -> None:
        m2_i = None
        for t_s, m2 in reversed(self.history):
            if t_s <= T:
                m2_i = m2
                break
        if m2_i is None:
            return
        self.pending.append((T, d, px, qty, m2_i))

    def on_l1(self, T: int, m2: int) -> tuple:
        self.history.append((T, m2))
        matured = 0
        keep = []
        for tr in self.pending:
            t_i, d, px, qty, m2_i = tr
            if t_i + self.h <= T:
                rs = (10000 * d * (2 * px - m2)) / m2_i
                if self.t_prev is None:
                    f = 1.0
                else:
                    f = math.exp(-math.log(2) * float(max(t_i - self.t_prev, 0)) / self.half_life)
                q = qty / self.scale
                self.sw = f * self.sw + q
                self.swx = f * self.swx + q * rs
                self.t_prev = t_i
                matured += 1
            else:
                keep.append(tr)
        self.pending = keep
        if matured:
            self.value = self.swx / self.sw - self.fee if self.sw != 0.0 else NAN
        return self.value, matured


# --------------------------------------------------------------------------- section 7
def wall_side(levels: list, tick_units: float) -> tuple:
    """(wall_s, wall_dist_s) for one side's levels (best first, already cut to L).

    Decision (WL1): wall_s = (max_q * n) / sum_q (int / int), n = levels present;
    ties -> the level nearest the touch
    (first in best-first order, strict '>' when scanning); wall_dist_s =
    abs(px_k - px_1) / tick_units (float).  Empty side -> (NaN, NaN).
    """
    if not levels:
        return NAN, NAN
    best_k = 0
    for k in range(1, len(levels)):
        if levels[k][1] > levels[best_k][1]:
            best_k = k
    total = sum(q for _, q in levels)
    if total == 0:
        return NAN, NAN
    w = (levels[best_k][1] * len(levels)) / total
    dist = abs(levels[best_k][0] - levels[0][0]) / tick_units
    return w, dist


def wall(bids: list, asks: list, levels: int, tick_units: float) -> tuple:
    """(wall_bid, wall_ask, wall_net, wall_dist_bid, wall_dist_ask);
    wall_net = math.log(wall_bid / wall_ask), NaN if either side is empty."""
    wb, db = wall_side(bids[:levels], tick_units)
    wa, da = wall_side(asks[:levels], tick_units)
    net = math.log(wb / wa) if not (math.isnan(wb) or math.isnan(wa)) else NAN
    return wb, wa, net, db, da


# --------------------------------------------------------------------------- section 9 (dev)
class DevEma:
    """ema_M and dev_bps on each L1 event (M in price units as a float).

    a = 1.0 - math.exp(-float(max(t - t_prev, 0)) / ema_ms); ema = ema + a * (M - ema)
    (first: ema = M); dev_bps = 1e4 * (M - ema) / ema.  t_prev = previous L1 event's T.
    """

    def __init__(self, ema_ms: int):
        self.ema_ms = float(ema_ms)
        self.ema = None
        self.t_prev = None

    def on_l1(self, T: int, M: float) -> float:
        if self.ema is None:
            self.ema = M
        else:
            a = 1.0 - math.exp(-float(max(T - self.t_prev, 0)) / self.ema_ms)
            self.ema = self.ema + a * (M - self.ema)
        self.t_prev = T
        return 1e4 * (M - self.ema) / self.ema


# --------------------------------------------------------------------------- the state
class SymbolState:
    """All indicator, bar and strategy state of one symbol.

    Event methods (each returns the indicators row dict, or None when the event gets no
    row; a row holds every column of ``INDICATOR_COLUMNS``):

    * ``on_bbo(T, u, pb, qb, pa, qa)``: a bookTicker (ints).  Stale (u < last applied u)
      -> None.  Decision (E1): u equal to the last applied u is NOT stale (applied).
    * ``on_depth(T, u, status, book)``: a depth diff after ``RefBook`` processed it, with
      its status; ``book`` is the RefBook (read with ``book.top``).  'synced'/'applied'
      -> L2 indicators recomputed (and, when ``l1_from_book``, the L1 update from the
      top of book); 'gap'/'crossed' -> L2 values NaN, L2 windows cleared; other -> None.
    * ``on_trade(T, trade_id, px, qty, buyer_is_maker)``.
    * ``set_book_synced(flag)``: book sync state after a snapshot (no row).
    * ``finish()``: emit the open bar (end of input).
    Bars go to ``self.bars_out`` and strategy signals to ``self.signals_out``.
    """

    def __init__(self, symbol: str, params: Params, l1_from_book: bool = False):
        p = params
        self.symbol = symbol
        self.p = p
        self.l1_from_book = l1_from_book
        self.tick_units = p.tick_units
        self.pscale = 10**p.px_dec
        self.qscale = 10**p.qty_dec
        self.seq = 0
        self.l1 = None            # (Pb, Qb, Pa, Qa)
        self.l1_T = None          # T of the last applied L1 update
        self.last_bbo_u = None
        self.book_synced = False
        self.ti = TradeImbalance(p.tobi_trade_window_ms)
        self.ofi = Ofi(p.ofi_window_ms, p.qty_dec)
        self.mlofi = MultiLevelOfi(p.ofi_levels, p.ofi_window_ms, p.qty_dec)
        self.mlofi_vec = [NAN] * p.ofi_levels
        self.vpin = Vpin(p.vpin_buckets, p.qty_dec, p.vpin_bucket_volume, p.vpin_calibration_ms)
        self.kyle = KyleLambda(p.kyle_interval_ms, p.kyle_window, p.kyle_min_intervals,
                               p.px_dec, p.qty_dec)
        self.lpi = Lpi(p.lpi_horizon_ms, p.lpi_half_life_ms, p.lpi_maker_fee_bps, p.qty_dec,
                       p.lpi_history)
        self.dev = DevEma(p.dev_ema_ms)
        self.values = {c: NAN for c in RAW_COLUMNS}
        self.norms = {x: Normaliser(p.norm_tau_ms, p.norm_warmup, p.norm_sigma_floor)
                      for x in NORM_SERIES}
        self.zosc = {c: NAN for c in NORM_COLUMNS}
        self.bars = BarBuilder(symbol, p.px_dec, p.qty_dec)
        self.strategy = make_strategy(p)
        self.bars_out: list = []
        self.signals_out: list = []

    # -- helpers -------------------------------------------------------------
    @property
    def mid(self) -> float:
        """Current L1 mid in price units (NaN without an L1 state)."""
        if self.l1 is None:
            return NAN
        return (self.l1[0] + self.l1[2]) / (2 * self.pscale)

    def _begin(self, T: int) -> None:
        bar = self.bars.advance(T)
        if bar is not None:
            self.bars_out.append(bar)

    def _norm(self, series: str, T: int) -> None:
        """Update the normaliser of a series whose raw value was just recomputed."""
        z, osc = self.norms[series].update(self.values[series], T)
        self.zosc[f"{series}_z"] = z
        self.zosc[f"{series}_osc"] = osc

    def _row(self, T: int, event: str, u: int) -> dict:
        # Section 8: a NaN raw value gives NaN z and osc on its row (carried NaN too).
        for x in NORM_SERIES:
            if math.isnan(self.values[x]):
                self.zosc[f"{x}_z"] = NAN
                self.zosc[f"{x}_osc"] = NAN
        # Decision (R1): seq is 0-based and counts this symbol's rows only.
        row = {"symbol": self.symbol, "ts_ms": T, "event": event, "u": u, "seq": self.seq}
        row.update(self.values)
        row.update(self.zosc)
        self.seq += 1
        self.bars.on_row(row, self.mid)
        sig = self.strategy.on_row(row, mid=self.mid, l1_T=self.l1_T,
                                   book_synced=self.book_synced)
        if sig is not None:
            self.signals_out.append(sig)
        return row

    def _l1_update(self, T: int, pb: int, qb: int, pa: int, qa: int) -> None:
        """Apply an L1 state and recompute every L1-driven indicator (+ normalisers)."""
        if self.kyle.advance(T):  # closes intervals with the mid BEFORE this update
            self.values["kyle_lambda"] = self.kyle.value
            self._norm("kyle_lambda", T)
        self.l1 = (pb, qb, pa, qa)
        self.l1_T = T
        v = self.values
        m2 = pb + pa
        v["obi"] = tobi(qb, qa)
        v["mpd_ticks"], v["mpd_bps"] = mpd(pb, qb, pa, qa, self.p.px_dec, self.tick_units)
        v["ofi"], v["ofi_norm"] = self.ofi.on_l1(T, pb, qb, pa, qa)
        v["dev_bps"] = self.dev.on_l1(T, m2 / (2 * self.pscale))
        self.kyle.on_l1(m2)
        lpi, matured = self.lpi.on_l1(T, m2)
        v["lpi"] = lpi
        self.bars.on_l1(pa - pb)
        for x in ("obi", "mpd_bps", "ofi_norm", "dev_bps"):
            self._norm(x, T)
        if matured:
            self._norm("lpi", T)

    # -- events --------------------------------------------------------------
    def on_bbo(self, T: int, u: int, pb: int, qb: int, pa: int, qa: int):
        if self.last_bbo_u is not None and u < self.last_bbo_u:
            return None
        self.last_bbo_u = u
        self._begin(T)
        self._l1_update(T, pb, qb, pa, qa)
        return self._row(T, "bbo", u)

    def set_model_p(self, p: float, from_ms: int) -> None:
        """Hybrid strategy: the model's p_up from exchange time ``from_ms`` on."""
        self.strategy.set_model_p(p, from_ms)

    def set_book_synced(self, flag: bool) -> None:
        self.book_synced = bool(flag)

    def on_depth(self, T: int, u: int, status: str, book):
        self.book_synced = book.synced
        if status not in ("synced", "applied", "gap", "crossed"):
            return None
        self._begin(T)
        v = self.values
        if status in ("gap", "crossed"):
            # Decision (E4): the break clears the L2 windows and predecessor (mlofi) and
            # sets di/mlofi_sum/wall_* to NaN until the next applied diff; normaliser
            # states are NOT reset (Decision N4) -- their z/osc read NaN while the raw
            # value is NaN.  In L1-from-book mode the L1 values (obi, mpd, ofi, dev, ...)
            # carry their last values; only the OFI predecessor and window are cleared.
            self.mlofi.reset()
            self.mlofi_vec = [NAN] * self.p.ofi_levels
            for c in ("di", "mlofi_sum", "wall_bid", "wall_ask", "wall_net",
                      "wall_dist_bid", "wall_dist_ask"):
                v[c] = NAN
            if self.l1_from_book:
                self.ofi.reset()
            return self._row(T, "depth", u)
        if status == "synced":
            # Decision (E2): 'synced' is the first diff after a (re)sync: L2 windows
            # (and, for L1 from the book, the OFI predecessor/window) start afresh.
            self.mlofi.reset()
            if self.l1_from_book:
                self.ofi.reset()
        p = self.p
        depth_n = max(p.tobi_levels, p.ofi_levels, p.wall_levels)
        bids = book.top("bid", depth_n)
        asks = book.top("ask", depth_n)
        v["di"] = depth_imbalance(bids, asks, p.tobi_levels, p.tobi_decay)
        self.mlofi_vec, v["mlofi_sum"] = self.mlofi.on_book(T, bids[:p.ofi_levels], asks[:p.ofi_levels])
        (v["wall_bid"], v["wall_ask"], v["wall_net"],
         v["wall_dist_bid"], v["wall_dist_ask"]) = wall(bids, asks, p.wall_levels, self.tick_units)
        for x in ("di", "mlofi_sum", "wall_net"):
            self._norm(x, T)
        if self.l1_from_book and bids and asks:
            # Decision (E3): L1 from the book needs both sides; otherwise no L1 update.
            self._l1_update(T, bids[0][0], bids[0][1], asks[0][0], asks[0][1])
        return self._row(T, "depth", u)

    def on_trade(self, T: int, trade_id: int, px: int, qty: int, buyer_is_maker: bool):
        d = -1 if buyer_is_maker else 1
        self._begin(T)
        v = self.values
        if self.kyle.advance(T):
            v["kyle_lambda"] = self.kyle.value
            self._norm("kyle_lambda", T)
        self.kyle.on_trade(d, px, qty)
        v["ti"] = self.ti.on_trade(T, d, qty)
        vpin, completed = self.vpin.on_trade(T, d, qty)
        v["vpin"] = vpin
        if completed:
            self._norm("vpin", T)
        self.lpi.on_trade(T, d, px, qty)
        self.bars.on_trade(px, qty, d)
        return self._row(T, "trade", trade_id)

    def finish(self) -> None:
        bar = self.bars.flush()
        if bar is not None:
            self.bars_out.append(bar)
