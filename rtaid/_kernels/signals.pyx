"""Signal kernels: the indicators of indicators.md, normalisers, bars and strategy.

Each function reproduces the float order of operations of the pure-Python reference
(rtaid/reference/indicators.py, normalise.py, bars.py, strategy.py); the decisions it
implements are tagged ``Decision (Xn)`` as there (docs/indicator-decisions.md).
Integer quantities stay int64 until the final division of a formula, which is done by
``ratio`` so that it rounds exactly like Python's int / int.
"""
from libc.stdint cimport int64_t, int32_t, INT64_MIN
from libc.string cimport memset, memcpy
from libc.math cimport exp, log, sqrt, erfc, pow, isnan, isfinite, NAN
from rtaid._kernels.mem cimport rt_calloc, rt_free
from rtaid._kernels.records cimport TBL_INDICATORS, TBL_BARS_1M, TBL_SIGNALS
from rtaid._kernels.decode cimport (
    Decoder, Msg, DEC_OK, MSG_DEPTH, MSG_SNAPSHOT, MSG_BBO, MSG_TRADE, MSG_AGGTRADE,
)
from rtaid._kernels.book cimport (
    L2Book, book_init, book_free, book_reset, book_on_depth, book_load_snapshot,
    book_replay_next, book_top_bids, book_top_asks,
    BOOK_NONE, BOOK_SYNCED, BOOK_APPLIED, BOOK_GAP, BOOK_CROSSED, SYNC_SYNCED,
)

import numpy as np
from decimal import Decimal

# Profiling clock: the TSC on x86 (cheap enough to bracket every family section)
cdef extern from *:
    """
    #if defined(__x86_64__) || defined(__i386__)
    #include <x86intrin.h>
    static inline long long rtaid_cycles(void) { return (long long)__rdtsc(); }
    #else
    #include <time.h>
    static inline long long rtaid_cycles(void) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    #endif
    """
    long long rtaid_cycles() noexcept nogil

RAW_COLUMNS = (
    "obi", "di", "ti", "mpd_ticks", "mpd_bps", "ofi", "ofi_norm", "mlofi_sum", "vpin",
    "kyle_lambda", "lpi", "wall_bid", "wall_ask", "wall_net", "wall_dist_bid",
    "wall_dist_ask", "dev_bps",
)
NORM_SERIES = (
    "obi", "di", "mpd_bps", "ofi_norm", "mlofi_sum", "vpin", "kyle_lambda", "lpi",
    "wall_net", "dev_bps",
)
NORM_COLUMNS = tuple(c for x in NORM_SERIES for c in (f"{x}_z", f"{x}_osc"))
EVENT_NAMES = ("bbo", "depth", "trade")
REASON_NAMES = ("entry_long", "entry_short", "exit_mid", "max_hold", "stop_loss")
INDICATOR_COLUMNS = ("symbol", "ts_ms", "event", "u", "seq") + RAW_COLUMNS + NORM_COLUMNS
BAR_COLUMNS = (("symbol", "minute_ms", "open", "high", "low", "close", "volume",
                "buy_volume", "sell_volume", "trade_count", "vwap", "spread_mean", "mid_last")
               + tuple(f"{c}_last" for c in RAW_COLUMNS + NORM_COLUMNS))
SIGNAL_COLUMNS = ("symbol", "ts_ms", "seq", "prev_target", "target", "target_qty", "reason",
                  "mid", "dev_osc", "ofi_osc", "vpin_osc")


# ------------------------------------------------------------------ dataset tables
# The rows the engine copies into the store's rings are the structs themselves; the
# store builds each table's numpy dtype from these offsets (columns in table order,
# "sym" the partition), so the files follow the C layout by construction.
cdef IndicatorRow _ir
cdef BarRow _br
cdef SignalRow _sr

SIGNAL_TABLES = {
    "indicators": (TBL_INDICATORS, sizeof(IndicatorRow)),
    "bars_1m": (TBL_BARS_1M, sizeof(BarRow)),
    "signals": (TBL_SIGNALS, sizeof(SignalRow)),
}


def _ind_layout():
    base = <char*>&_ir
    cols = [("sym", <char*>&_ir.sym - base, "i4"), ("ts_ms", <char*>&_ir.ts_ms - base, "i8"),
            ("event", <char*>&_ir.event - base, "i4"), ("u", <char*>&_ir.u - base, "i8"),
            ("seq", <char*>&_ir.seq - base, "i8")]
    cols += [(c, <char*>&_ir.raw[k] - base, "f8") for k, c in enumerate(RAW_COLUMNS)]
    for k, x in enumerate(NORM_SERIES):
        cols += [(f"{x}_z", <char*>&_ir.z[k] - base, "f8"),
                 (f"{x}_osc", <char*>&_ir.osc[k] - base, "f8")]
    return cols


def _bar_layout():
    base = <char*>&_br
    cols = [("sym", <char*>&_br.sym - base, "i4"),
            ("minute_ms", <char*>&_br.minute_ms - base, "i8"),
            ("open", <char*>&_br.open - base, "f8"), ("high", <char*>&_br.high - base, "f8"),
            ("low", <char*>&_br.low - base, "f8"), ("close", <char*>&_br.close - base, "f8"),
            ("volume", <char*>&_br.volume - base, "f8"),
            ("buy_volume", <char*>&_br.buy_volume - base, "f8"),
            ("sell_volume", <char*>&_br.sell_volume - base, "f8"),
            ("trade_count", <char*>&_br.trade_count - base, "i8"),
            ("vwap", <char*>&_br.vwap - base, "f8"),
            ("spread_mean", <char*>&_br.spread_mean - base, "f8"),
            ("mid_last", <char*>&_br.mid_last - base, "f8")]
    cols += [(f"{c}_last", <char*>&_br.raw[k] - base, "f8") for k, c in enumerate(RAW_COLUMNS)]
    for k, x in enumerate(NORM_SERIES):
        cols += [(f"{x}_z_last", <char*>&_br.z[k] - base, "f8"),
                 (f"{x}_osc_last", <char*>&_br.osc[k] - base, "f8")]
    return cols


def _signal_layout():
    base = <char*>&_sr
    return [("sym", <char*>&_sr.sym - base, "i4"), ("ts_ms", <char*>&_sr.ts_ms - base, "i8"),
            ("seq", <char*>&_sr.seq - base, "i8"),
            ("prev_target", <char*>&_sr.prev_target - base, "i4"),
            ("target", <char*>&_sr.target - base, "i4"),
            ("target_qty", <char*>&_sr.target_qty - base, "f8"),
            ("reason", <char*>&_sr.reason - base, "i4"),
            ("mid", <char*>&_sr.mid - base, "f8"), ("dev_osc", <char*>&_sr.dev_osc - base, "f8"),
            ("ofi_osc", <char*>&_sr.ofi_osc - base, "f8"),
            ("vpin_osc", <char*>&_sr.vpin_osc - base, "f8")]


# {table: [(column, byte offset, numpy type)]}, "sym" first, then the table's columns
SIGNAL_LAYOUTS = {"indicators": _ind_layout(), "bars_1m": _bar_layout(),
                  "signals": _signal_layout()}

cdef enum:
    MINUTE_MS = 60000

# raw column of each normalised series
cdef int32_t NS_RAW[N_NORM]
NS_RAW[:] = [RAW_OBI, RAW_DI, RAW_MPD_BPS, RAW_OFI_NORM, RAW_MLOFI_SUM, RAW_VPIN,
             RAW_KYLE_LAMBDA, RAW_LPI, RAW_WALL_NET, RAW_DEV_BPS]

cdef double SQRT2 = sqrt(2.0)
cdef double LN2 = log(2.0)
cdef int64_t EXACT_LIMIT = (<int64_t>1) << 53


# ------------------------------------------------------------------ profiling
cdef inline long long prof_begin(const SymbolSignals* st) noexcept nogil:
    # one predictable branch when not profiling
    return rtaid_cycles() if st.profile else 0


cdef inline void prof_end(SymbolSignals* st, int32_t section, long long t0) noexcept nogil:
    if st.profile:
        st.prof_cycles[section] += rtaid_cycles() - t0
        st.prof_calls[section] += 1


# ------------------------------------------------------------------ arithmetic helpers
cdef inline double ratio(int64_t a, int64_t b) noexcept nogil:
    """a / b rounded like Python's int / int (correctly rounded).

    Both operands are exact doubles below 2**53, and IEEE division of exact operands
    is correctly rounded. Beyond that (never on real data) long double keeps 64 bits.
    """
    if -EXACT_LIMIT <= a <= EXACT_LIMIT and -EXACT_LIMIT <= b <= EXACT_LIMIT:
        return <double>a / <double>b
    return <double>(<long double>a / <long double>b)


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    # cdivision truncates toward zero; Python's // floors (times before 1970 are negative)
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef inline int64_t ofi_e(int64_t pb0, int64_t qb0, int64_t pa0, int64_t qa0,
                          int64_t pb1, int64_t qb1, int64_t pa1, int64_t qa1) noexcept nogil:
    """Cont-Kukanov-Stoikov e_n, non-strict inequalities, exact lots."""
    cdef int64_t e = 0
    if pb1 >= pb0:
        e += qb1
    if pb1 <= pb0:
        e -= qb0
    if pa1 <= pa0:
        e -= qa1
    if pa1 >= pa0:
        e += qa0
    return e


cdef inline double tobi(int64_t qb, int64_t qa) noexcept nogil:
    cdef int64_t den = qb + qa
    if den == 0:
        return NAN
    return ratio(qb - qa, den)


cdef inline int32_t ring_slot(int32_t head, int32_t i, int32_t cap) noexcept nogil:
    cdef int32_t j = head + i
    if j >= cap:
        j -= cap
    return j


# ------------------------------------------------------------------ ti
cdef inline void ti_pop(TradeWindow* w) noexcept nogil:
    cdef int64_t q0 = w.qty[w.head]
    if q0 > 0:
        w.vbuy -= q0
    else:
        w.vsell += q0
    w.head = ring_slot(w.head, 1, w.cap)
    w.n -= 1


cdef inline double ti_on_trade(TradeWindow* w, int64_t T, int32_t d, int64_t qty,
                               int64_t window_ms) noexcept nogil:
    cdef int32_t j
    if w.n == w.cap:
        # full: first what the time window drops anyway, then force out the oldest
        while w.n > 0 and w.T[w.head] <= T - window_ms:
            ti_pop(w)
        if w.n == w.cap:
            ti_pop(w)
            w.forced_evictions += 1
    j = ring_slot(w.head, w.n, w.cap)
    w.T[j] = T
    # a zero-size trade never happens on Binance; stored as a sell of 0 it changes nothing
    w.qty[j] = qty if d > 0 else -qty
    w.n += 1
    if w.n > w.high_water:
        w.high_water = w.n
    if d > 0:
        w.vbuy += qty
    else:
        w.vsell += qty
    # Decision (W1): evict from the front while entry.T <= t - window_ms
    while w.n > 0 and w.T[w.head] <= T - window_ms:
        ti_pop(w)
    cdef int64_t tot = w.vbuy + w.vsell
    if tot == 0:
        return NAN
    return ratio(w.vbuy - w.vsell, tot)


# ------------------------------------------------------------------ ofi
cdef inline void ofi_reset(OfiWindow* w) noexcept nogil:
    w.head = 0
    w.n = 0
    w.sum_e = 0
    w.sum_q = 0
    w.has_prev = False


cdef inline void ofi_pop(OfiWindow* w) noexcept nogil:
    w.sum_e -= w.e[w.head]
    w.sum_q -= w.q[w.head]
    w.head = ring_slot(w.head, 1, w.cap)
    w.n -= 1


cdef inline void ofi_on_l1(OfiWindow* w, int64_t T, int64_t pb, int64_t qb, int64_t pa,
                           int64_t qa, const SigParams* p, double* ofi,
                           double* ofi_norm) noexcept nogil:
    cdef int64_t e = 0
    cdef int32_t j
    if w.has_prev:
        e = ofi_e(w.prev_pb, w.prev_qb, w.prev_pa, w.prev_qa, pb, qb, pa, qa)
    w.has_prev = True
    w.prev_pb = pb
    w.prev_qb = qb
    w.prev_pa = pa
    w.prev_qa = qa
    if w.n == w.cap:
        while w.n > 0 and w.T[w.head] <= T - p.ofi_window_ms:
            ofi_pop(w)
        if w.n == w.cap:
            ofi_pop(w)
            w.forced_evictions += 1
    j = ring_slot(w.head, w.n, w.cap)
    w.T[j] = T
    w.e[j] = e
    w.q[j] = qb + qa
    w.n += 1
    if w.n > w.high_water:
        w.high_water = w.n
    w.sum_e += e
    w.sum_q += qb + qa
    while w.n > 0 and w.T[w.head] <= T - p.ofi_window_ms:
        ofi_pop(w)
    ofi[0] = ratio(w.sum_e, p.qscale)
    ofi_norm[0] = ratio(2 * <int64_t>w.n * w.sum_e, w.sum_q) if w.sum_q != 0 else NAN


# ------------------------------------------------------------------ multi-level ofi
cdef inline void mlofi_reset(MlofiWindow* w) noexcept nogil:
    cdef int32_t k
    w.head = 0
    w.n = 0
    w.sum_depth = 0
    w.has_prev = False
    for k in range(w.K):
        w.sum_e[k] = 0


cdef inline void mlofi_pop(MlofiWindow* w) noexcept nogil:
    cdef int32_t k
    cdef int64_t* e0 = &w.e[<int64_t>w.head * w.K]
    for k in range(w.K):
        w.sum_e[k] -= e0[k]
    w.sum_depth -= w.depth[w.head]
    w.head = ring_slot(w.head, 1, w.cap)
    w.n -= 1


cdef double mlofi_on_book(MlofiWindow* w, int64_t T, const int64_t* bpx, const int64_t* bqty,
                          int32_t nb, const int64_t* apx, const int64_t* aqty, int32_t na,
                          const SigParams* p, double* vec) noexcept nogil:
    """Multi-level OFI; fills vec (K values) and returns mlofi_sum."""
    cdef int32_t K = w.K, k, j
    cdef int64_t* e
    cdef int64_t depth = 0, total = 0
    if nb > K:
        nb = K
    if na > K:
        na = K
    if w.n == w.cap:
        while w.n > 0 and w.T[w.head] <= T - p.ofi_window_ms:
            mlofi_pop(w)
        if w.n == w.cap:
            mlofi_pop(w)
            w.forced_evictions += 1
    j = ring_slot(w.head, w.n, w.cap)
    e = &w.e[<int64_t>j * K]
    for k in range(K):
        # Decision (M1): e_k = 0 when level k is missing on either side, now or before
        if w.has_prev and k < nb and k < na and k < w.prev_nb and k < w.prev_na:
            e[k] = ofi_e(w.prev_bpx[k], w.prev_bqty[k], w.prev_apx[k], w.prev_aqty[k],
                         bpx[k], bqty[k], apx[k], aqty[k])
        else:
            e[k] = 0
    w.has_prev = True
    w.prev_nb = nb
    w.prev_na = na
    for k in range(nb):
        w.prev_bpx[k] = bpx[k]
        w.prev_bqty[k] = bqty[k]
        depth += bqty[k]
    for k in range(na):
        w.prev_apx[k] = apx[k]
        w.prev_aqty[k] = aqty[k]
        depth += aqty[k]
    w.T[j] = T
    w.depth[j] = depth
    w.n += 1
    if w.n > w.high_water:
        w.high_water = w.n
    for k in range(K):
        w.sum_e[k] += e[k]
    w.sum_depth += depth
    while w.n > 0 and w.T[w.head] <= T - p.ofi_window_ms:
        mlofi_pop(w)
    for k in range(K):
        vec[k] = ratio(w.sum_e[k], p.qscale)
        total += w.sum_e[k]
    if w.sum_depth == 0:
        return NAN
    return ratio(2 * <int64_t>K * w.n * total, w.sum_depth)


# ------------------------------------------------------------------ depth imbalance, wall
cdef inline double depth_imbalance(const int64_t* bqty, int32_t nb, const int64_t* aqty,
                                   int32_t na, int32_t levels,
                                   const double* weights) noexcept nogil:
    """di; float order as the reference: num += w*float(qb-qa); den += w*float(qb+qa)."""
    cdef double num = 0.0, den = 0.0, w
    cdef int64_t qb, qa
    cdef int32_t k
    for k in range(levels):
        qb = bqty[k] if k < nb else 0
        qa = aqty[k] if k < na else 0
        w = weights[k]
        num += w * <double>(qb - qa)
        den += w * <double>(qb + qa)
    if den == 0.0:
        return NAN
    return num / den


cdef inline void wall_side(const int64_t* px, const int64_t* qty, int32_t n,
                           double tick_units, double* wall, double* dist) noexcept nogil:
    """Decision (WL1): first largest level in best-first order; n = levels present."""
    cdef int32_t k, best = 0
    cdef int64_t total = 0
    if n <= 0:
        wall[0] = NAN
        dist[0] = NAN
        return
    for k in range(n):
        total += qty[k]
        if qty[k] > qty[best]:
            best = k
    if total == 0:
        wall[0] = NAN
        dist[0] = NAN
        return
    wall[0] = ratio(qty[best] * <int64_t>n, total)
    dist[0] = <double>(px[best] - px[0] if px[best] >= px[0] else px[0] - px[best]) / tick_units


# ------------------------------------------------------------------ vpin
cdef inline void vpin_push(VpinState* v, int64_t oi, int32_t n) noexcept nogil:
    cdef int32_t j
    if v.ois_n == n:
        v.ois_sum -= v.ois[v.ois_head]
        v.ois_head = ring_slot(v.ois_head, 1, n)
        v.ois_n -= 1
    j = ring_slot(v.ois_head, v.ois_n, n)
    v.ois[j] = oi
    v.ois_n += 1
    v.ois_sum += oi
    v.completed += 1


cdef int64_t vpin_on_trade(VpinState* v, int64_t T, int32_t d, int64_t qty,
                           const SigParams* p, double* value) noexcept nogil:
    """Feed one trade; sets value and returns the number of buckets it completed."""
    cdef int64_t rem, room, take, done = 0, full, skip
    cdef int32_t n = p.vpin_buckets
    if v.calibrating:
        if not v.has_t0:
            v.has_t0 = True
            v.t0 = T
        if T < v.t0 + p.vpin_calibration_ms:
            v.cal_lots += qty
            value[0] = NAN
            return 0
        # Decision (V2/V3): this trade fixes C = cal_lots (units lots * n) and is bucketed
        v.calibrating = False
        v.capacity = v.cal_lots
    if v.capacity == 0:
        value[0] = NAN
        return 0
    rem = qty * v.scale
    while rem > 0:
        room = v.capacity - v.fill_buy - v.fill_sell
        take = room if room < rem else rem
        if d > 0:
            v.fill_buy += take
        else:
            v.fill_sell += take
        rem -= take
        if v.fill_buy + v.fill_sell == v.capacity:
            vpin_push(v, v.fill_buy - v.fill_sell if v.fill_buy >= v.fill_sell
                      else v.fill_sell - v.fill_buy, n)
            v.fill_buy = 0
            v.fill_sell = 0
            done += 1
            # whole one-sided buckets (oi = C) beyond the last n leave no trace: skip them
            full = rem // v.capacity
            if full > n:
                skip = full - n
                v.completed += skip
                done += skip
                rem -= skip * v.capacity
    if done and v.completed >= n:
        v.value = ratio(v.ois_sum, <int64_t>n * v.capacity)
    value[0] = v.value
    return done


# ------------------------------------------------------------------ kyle's lambda
cdef inline void kyle_add(KyleState* k, long double x, long double y) noexcept nogil:
    # Welford/West centred update with weight +1 (k.n already counts the new pair)
    cdef long double n1 = <long double>k.n
    cdef long double dx = x - k.mx
    k.mx += dx / n1
    k.my += (y - k.my) / n1
    k.cxx += dx * (x - k.mx)
    k.cxy += dx * (y - k.my)


cdef inline void kyle_remove(KyleState* k, long double x, long double y) noexcept nogil:
    # West's update with weight -1 (k.n already excludes the removed pair)
    cdef long double n1 = <long double>k.n
    cdef long double dx
    if k.n == 0:
        k.mx = 0.0
        k.my = 0.0
        k.cxx = 0.0
        k.cxy = 0.0
        return
    dx = x - k.mx
    k.mx -= dx / n1
    k.my -= (y - k.my) / n1
    k.cxx -= dx * (x - k.mx)
    k.cxy -= dx * (y - k.my)


cdef void kyle_resync(KyleState* k, int32_t W) noexcept nogil:
    """Recompute the centred moments from the window (two passes): bounds the drift of
    the add/remove updates."""
    cdef int32_t i, j
    cdef long double sx = 0.0, sy = 0.0, mx, my, dx
    cdef long double cxx = 0.0, cxy = 0.0
    k.updates = 0
    k.resyncs += 1
    if k.n == 0:
        k.mx = k.my = k.cxx = k.cxy = 0.0
        return
    for i in range(k.n):
        j = ring_slot(k.head, i, W)
        sx += <long double>k.X[j]
        sy += <long double>k.y[j]
    mx = sx / k.n
    my = sy / k.n
    for i in range(k.n):
        j = ring_slot(k.head, i, W)
        dx = <long double>k.X[j] - mx
        cxx += dx * dx
        cxy += dx * (<long double>k.y[j] - my)
    k.mx = mx
    k.my = my
    k.cxx = cxx
    k.cxy = cxy


cdef inline void kyle_push(KyleState* k, int64_t X, double y, int32_t W) noexcept nogil:
    cdef int32_t j, last
    if k.n == W:
        k.n -= 1
        kyle_remove(k, <long double>k.X[k.head], <long double>k.y[k.head])
        k.head = ring_slot(k.head, 1, W)
        k.updates += 1
    if k.n > 0:
        last = ring_slot(k.head, k.n - 1, W)
        k.run_len = k.run_len + 1 if k.X[last] == X else 1
        k.y_run_len = k.y_run_len + 1 if k.y[last] == y else 1
    else:
        k.run_len = 1
        k.y_run_len = 1
    j = ring_slot(k.head, k.n, W)
    k.X[j] = X
    k.y[j] = y
    k.n += 1
    kyle_add(k, <long double>X, <long double>y)
    k.updates += 1
    if k.updates >= W:
        kyle_resync(k, W)


cdef inline bint kyle_close(KyleState* k, int64_t x, int32_t W) noexcept nogil:
    """Close one interval with signed notional x (Decision K0)."""
    cdef bint entered = False
    cdef double y
    if k.closed_any and k.has_cur and k.has_prev:
        y = ratio(10000 * (k.cur_m2 - k.prev_m2), k.prev_m2)
        kyle_push(k, x, y, W)
        entered = True
    k.closed_any = True
    k.has_prev = k.has_cur
    k.prev_m2 = k.cur_m2
    return entered


cdef inline double kyle_compute(KyleState* k, const SigParams* p) noexcept nogil:
    if k.n < p.kyle_min_intervals:
        return NAN
    # Var(x) = 0 exactly when every X of the window is equal (reference: n*SXX == SX^2)
    if k.run_len >= k.n or k.cxx == 0.0:
        return NAN
    # Cov(x, y) = 0 exactly when every y is equal (a mid that did not move over the
    # window): the reference's exact slope is 0, the float updates would leave dust
    if k.y_run_len >= k.n:
        return 0.0
    # lambda = s * Cov(X, y) / Var(X), s = 10**(px_dec+qty_dec) * 1e6 (Decision K2)
    return <double>((<long double>p.pscale * <long double>p.qscale * 1e6) * (k.cxy / k.cxx))


cdef bint kyle_advance(KyleState* k, int64_t T, const SigParams* p) noexcept nogil:
    """Called before each L1 update / trade; True when >= 1 pair entered (Decision K4)."""
    cdef int64_t i, n_empty, r
    cdef int32_t W = p.kyle_window
    cdef bint entered
    # T before the open interval's end (late events too) stays in it: no division
    if k.has_open and T < k.open_end:
        return False
    i = floor_div(T, p.kyle_interval_ms)
    if not k.has_open:
        k.has_open = True
        k.open_i = i
        k.open_end = (i + 1) * p.kyle_interval_ms
        return False
    entered = kyle_close(k, k.open_x, W)
    n_empty = i - k.open_i - 1
    # Decision (K1): of a run of empty intervals only the last W + 1 matter
    if n_empty > W + 1:
        n_empty = W + 1
    for r in range(n_empty):
        if kyle_close(k, 0, W):
            entered = True
    k.open_i = i
    k.open_end = (i + 1) * p.kyle_interval_ms
    k.open_x = 0
    if entered:
        k.value = kyle_compute(k, p)
    return entered


# ------------------------------------------------------------------ lpi
cdef inline void lpi_pop_pending(LpiState* s) noexcept nogil:
    cdef int32_t nxt
    if s.pend_n >= 2:
        nxt = ring_slot(s.pend_head, 1, s.pend_cap)
        if s.pend_T[nxt] < s.pend_T[s.pend_head]:
            s.pend_inversions -= 1
    s.pend_head = ring_slot(s.pend_head, 1, s.pend_cap)
    s.pend_n -= 1


cdef inline void lpi_on_trade(LpiState* s, int64_t T, int32_t d, int64_t px, int64_t qty,
                              const SigParams* p) noexcept nogil:
    cdef int32_t i, j, H = p.lpi_history
    cdef int64_t m2_i = 0
    cdef bint found = False
    # Decision (L2): the most recently received state with T_state <= T (newest first)
    i = s.hist_n - 1
    while i >= 0:
        j = ring_slot(s.hist_head, i, H)
        if s.hist_T[j] <= T:
            m2_i = s.hist_m2[j]
            found = True
            break
        i -= 1
    if not found:
        return
    if s.pend_n == s.pend_cap:
        lpi_pop_pending(s)
        s.forced_evictions += 1
    if s.pend_n > 0:
        j = ring_slot(s.pend_head, s.pend_n - 1, s.pend_cap)
        if T < s.pend_T[j]:
            s.pend_inversions += 1
    j = ring_slot(s.pend_head, s.pend_n, s.pend_cap)
    s.pend_T[j] = T
    s.pend_d[j] = d
    s.pend_px[j] = px
    s.pend_qty[j] = qty
    s.pend_m2[j] = m2_i
    s.pend_n += 1
    if s.pend_n > s.pend_high_water:
        s.pend_high_water = s.pend_n


cdef inline void lpi_mature(LpiState* s, int32_t j, int64_t m2, const SigParams* p) noexcept nogil:
    # Decision (L4): rs = (10000*d*(2p - m2_h)) / m2_i; decay by the trades' own times
    cdef int64_t t_i = s.pend_T[j], dt
    cdef double rs = ratio(10000 * s.pend_d[j] * (2 * s.pend_px[j] - m2), s.pend_m2[j])
    cdef double f, q
    if not s.has_t_prev:
        f = 1.0
    else:
        dt = t_i - s.t_prev
        if dt < 0:
            dt = 0
        f = exp(-LN2 * <double>dt / <double>p.lpi_half_life_ms)
    q = ratio(s.pend_qty[j], p.qscale)
    s.sw = f * s.sw + q
    s.swx = f * s.swx + q * rs
    s.has_t_prev = True
    s.t_prev = t_i


cdef int64_t INT64_SENTINEL = INT64_MIN   # marks a matured pending trade


cdef inline void lpi_copy_pending(LpiState* s, int32_t dst, int32_t src) noexcept nogil:
    s.pend_T[dst] = s.pend_T[src]
    s.pend_d[dst] = s.pend_d[src]
    s.pend_px[dst] = s.pend_px[src]
    s.pend_qty[dst] = s.pend_qty[src]
    s.pend_m2[dst] = s.pend_m2[src]


cdef int32_t lpi_on_l1(LpiState* s, int64_t T, int64_t m2, const SigParams* p) noexcept nogil:
    """Append the L1 state, mature the due trades (Decision L3); returns how many."""
    cdef int32_t H = p.lpi_history, j, r, w, matured = 0, n
    cdef int64_t cutoff = T - p.lpi_horizon_ms
    if s.hist_n == H:
        s.hist_head = ring_slot(s.hist_head, 1, H)
        s.hist_n -= 1
    j = ring_slot(s.hist_head, s.hist_n, H)
    s.hist_T[j] = T
    s.hist_m2[j] = m2
    s.hist_n += 1
    if s.pend_inversions == 0:
        # pending trades in time order: the due ones are a prefix
        while s.pend_n > 0 and s.pend_T[s.pend_head] <= cutoff:
            lpi_mature(s, s.pend_head, m2, p)
            lpi_pop_pending(s)
            matured += 1
    elif s.pend_n > 0:
        # out-of-order trade times: scan every pending trade in arrival order, keep the
        # others in order (compacted toward the tail) and recount the inversions
        n = s.pend_n
        w = n - 1
        r = n - 1
        # first mature in arrival order (front to back) ...
        for r in range(n):
            j = ring_slot(s.pend_head, r, s.pend_cap)
            if s.pend_T[j] <= cutoff:
                lpi_mature(s, j, m2, p)
                s.pend_T[j] = INT64_SENTINEL
                matured += 1
        # ... then compact the survivors (back to front, so nothing is overwritten)
        if matured:
            w = n - 1
            r = n - 1
            while r >= 0:
                j = ring_slot(s.pend_head, r, s.pend_cap)
                if s.pend_T[j] != INT64_SENTINEL:
                    if r != w:
                        lpi_copy_pending(s, ring_slot(s.pend_head, w, s.pend_cap), j)
                    w -= 1
                r -= 1
            s.pend_head = ring_slot(s.pend_head, w + 1, s.pend_cap)
            s.pend_n = n - matured
            s.pend_inversions = 0
            for r in range(1, s.pend_n):
                if (s.pend_T[ring_slot(s.pend_head, r, s.pend_cap)]
                        < s.pend_T[ring_slot(s.pend_head, r - 1, s.pend_cap)]):
                    s.pend_inversions += 1
    if matured:
        s.value = s.swx / s.sw - p.lpi_maker_fee_bps if s.sw != 0.0 else NAN
    return matured


# ------------------------------------------------------------------ normaliser
cdef inline double decay_weight(const double* table, int64_t dt, int64_t tau_ms) noexcept nogil:
    """1 - exp(-dt / tau) for dt >= 0: the table holds the very same libm results."""
    if dt < DECAY_TABLE:
        return table[dt]
    return 1.0 - exp(-<double>dt / <double>tau_ms)


cdef inline void norm_update(NormState* s, double x, int64_t t, const SigParams* p,
                             const double* decay, double* z_out,
                             double* osc_out) noexcept nogil:
    """Section 8 / reference normalise.py, same float order (Decisions N1-N3)."""
    cdef int64_t dt
    cdef double a, sigma, z, d, zc, floor_
    if not isfinite(x):
        z_out[0] = NAN
        osc_out[0] = NAN
        return
    s.count += 1
    if s.count == 1:
        s.mu = x
        s.var = 0.0
        s.t_prev = t
        z_out[0] = NAN
        osc_out[0] = NAN
        return
    dt = t - s.t_prev
    if dt < 0:
        dt = 0
    a = decay_weight(decay, dt, p.norm_tau_ms)
    sigma = sqrt(s.var)
    floor_ = p.norm_sigma_floor
    z = (x - s.mu) / (sigma if sigma >= floor_ else floor_)
    d = x - s.mu
    s.mu = s.mu + a * d
    s.var = (1.0 - a) * (s.var + a * d * d)
    s.t_prev = t
    if s.count - 1 >= (p.norm_warmup if p.norm_warmup > 1 else 1):
        z_out[0] = z
        zc = z
        if zc < -20.0:
            zc = -20.0
        elif zc > 20.0:
            zc = 20.0
        osc_out[0] = 50.0 * erfc(-zc / SQRT2)
    else:
        z_out[0] = NAN
        osc_out[0] = NAN


cdef inline void norm_series(SymbolSignals* st, int32_t s, int64_t T) noexcept nogil:
    cdef long long t0
    if st.p.disabled_families & FAM_NORM:
        return
    t0 = prof_begin(st)
    norm_update(&st.norms[s], st.row.raw[NS_RAW[s]], T, &st.p, st.norm_decay, &st.row.z[s],
                &st.row.osc[s])
    prof_end(st, 10, t0)


# ------------------------------------------------------------------ bars
cdef inline void bar_reset(BarState* b) noexcept nogil:
    b.has_row = False
    b.has_trade = False
    b.vol = 0
    b.buy = 0
    b.sell = 0
    b.count = 0
    b.pq = 0
    b.spread_sum = 0
    b.spread_n = 0


cdef inline double st_mid(const SymbolSignals* st) noexcept nogil:
    if not st.has_l1:
        return NAN
    return ratio(st.pb + st.pa, 2 * st.p.pscale)


cdef void bar_emit(SymbolSignals* st) noexcept nogil:
    """Fill st.bar from the open bar; the last row's values are st.row (Decision B5)."""
    cdef BarState* b = &st.bars
    cdef BarRow* out = &st.bar
    cdef int64_t ps = st.p.pscale, qs = st.p.qscale
    out.minute_ms = b.start
    out.sym = st.sym
    if b.has_trade:
        out.open = ratio(b.o, ps)
        out.high = ratio(b.h, ps)
        out.low = ratio(b.l, ps)
        out.close = ratio(b.c, ps)
    else:
        out.open = out.high = out.low = out.close = NAN
    out.volume = ratio(b.vol, qs)
    out.buy_volume = ratio(b.buy, qs)
    out.sell_volume = ratio(b.sell, qs)
    out.trade_count = b.count
    out.vwap = ratio(b.pq, b.vol * ps) if b.vol else NAN
    out.spread_mean = ratio(b.spread_sum, b.spread_n * ps) if b.spread_n else NAN
    # Decision (B4): the mid when the bar is closed; nothing changed since its last row
    out.mid_last = st_mid(st)
    memcpy(out.raw, st.row.raw, sizeof(out.raw))
    memcpy(out.z, st.row.z, sizeof(out.z))
    memcpy(out.osc, st.row.osc, sizeof(out.osc))


cdef inline int bar_advance_impl(SymbolSignals* st, int64_t T) noexcept nogil:
    cdef BarState* b = &st.bars
    if st.p.disabled_families & FAM_BARS:
        return 0
    if not b.has_start:
        b.has_start = True
        b.start = floor_div(T, MINUTE_MS) * MINUTE_MS
        if b.has_closed_by_timer and b.start < b.timer_closed_end:
            # a late event for a minute the timer already emitted counts in the next one
            b.start = b.timer_closed_end
        return 0
    if T >= b.start + MINUTE_MS:
        bar_emit(st)
        b.start = floor_div(T, MINUTE_MS) * MINUTE_MS
        bar_reset(b)
        return SIG_BAR
    return 0


cdef inline int bar_advance(SymbolSignals* st, int64_t T) noexcept nogil:
    """Decision (B0): called before each row-producing event changes anything."""
    cdef long long t0 = prof_begin(st)
    cdef int flags = bar_advance_impl(st, T)
    prof_end(st, 11, t0)
    return flags


cdef inline void bar_on_trade(BarState* b, int64_t px, int64_t qty, int32_t d) noexcept nogil:
    if not b.has_trade:
        b.has_trade = True
        b.o = px
        b.h = px
        b.l = px
    if px > b.h:
        b.h = px
    if px < b.l:
        b.l = px
    b.c = px
    b.vol += qty
    if d > 0:
        b.buy += qty
    else:
        b.sell += qty
    b.count += 1
    b.pq += px * qty


# ------------------------------------------------------------------ strategy
cdef inline int strategy_signal(SymbolSignals* st, int32_t new_target, int32_t reason,
                                double mid) noexcept nogil:
    cdef SignalRow* s = &st.signal
    s.ts_ms = st.row.ts_ms
    s.seq = st.row.seq
    s.sym = st.sym
    s.prev_target = st.strat.target
    s.target = new_target
    s.target_qty = new_target * st.p.strategy_order_qty
    s.reason = reason
    s.mid = mid
    s.dev_osc = st.row.osc[NS_DEV_BPS]
    s.ofi_osc = st.row.osc[NS_OFI_NORM]
    s.vpin_osc = st.row.osc[NS_VPIN]
    st.strat.target = new_target
    return SIG_SIGNAL


cdef int strategy_on_row(SymbolSignals* st) noexcept nogil:
    """Mean reversion (section 9, Decisions S1-S8) on the row just made."""
    cdef const SigParams* p = &st.p
    cdef StrategyState* s = &st.strat
    cdef int64_t T = st.row.ts_ms
    cdef double dev = st.row.osc[NS_DEV_BPS]
    cdef double ofi = st.row.osc[NS_OFI_NORM]
    cdef double vpin = st.row.osc[NS_VPIN]
    cdef double mid = st_mid(st), loss
    cdef bint dev_exit
    cdef int32_t reason
    if p.strategy_kind == STRAT_NONE or p.disabled_families & FAM_STRATEGY:
        return 0
    if s.target == 0:
        if s.has_exit and T < s.exit_T + p.strategy_cooldown_ms:
            return 0
        if (not st.book_synced or not st.has_l1 or T - st.l1_T > p.strategy_stale_ms
                or isnan(mid)):
            return 0
        if dev <= p.strategy_entry_low and ofi >= 50.0 and vpin <= p.strategy_toxic_max:
            s.entry_T = T
            s.entry_mid = mid
            return strategy_signal(st, 1, RS_ENTRY_LONG, mid)
        if dev >= p.strategy_entry_high and ofi <= 50.0 and vpin <= p.strategy_toxic_max:
            s.entry_T = T
            s.entry_mid = mid
            return strategy_signal(st, -1, RS_ENTRY_SHORT, mid)
        return 0
    if s.target == 1:
        loss = 1e4 * (s.entry_mid - mid) / s.entry_mid
        dev_exit = dev >= p.strategy_exit_mid
    else:
        loss = 1e4 * (mid - s.entry_mid) / s.entry_mid
        dev_exit = dev <= p.strategy_exit_mid
    if dev_exit:
        reason = RS_EXIT_MID
    elif T - s.entry_T > p.strategy_max_hold_ms:
        reason = RS_MAX_HOLD
    elif loss > p.strategy_stop_bps:
        reason = RS_STOP_LOSS
    else:
        return 0
    s.has_exit = True
    s.exit_T = T
    return strategy_signal(st, 0, reason, mid)


# ------------------------------------------------------------------ the symbol state
cdef int sig_init(SymbolSignals* st, const SigParams* p, int32_t sym,
                  bint l1_from_book) noexcept nogil:
    """Allocate every ring from the params and reset; 0 on success, -1 out of memory
    (call sig_free either way)."""
    cdef int32_t K = p.ofi_levels, dn, k
    memset(st, 0, sizeof(SymbolSignals))
    st.p = p[0]
    st.sym = sym
    st.l1_from_book = l1_from_book
    dn = p.tobi_levels
    if p.ofi_levels > dn:
        dn = p.ofi_levels
    if p.wall_levels > dn:
        dn = p.wall_levels
    st.depth_n = dn
    st.ti.cap = p.trade_window_cap
    st.ti.T = <int64_t*>rt_calloc(p.trade_window_cap, sizeof(int64_t))
    st.ti.qty = <int64_t*>rt_calloc(p.trade_window_cap, sizeof(int64_t))
    st.ofi.cap = p.l1_window_cap
    st.ofi.T = <int64_t*>rt_calloc(p.l1_window_cap, sizeof(int64_t))
    st.ofi.e = <int64_t*>rt_calloc(p.l1_window_cap, sizeof(int64_t))
    st.ofi.q = <int64_t*>rt_calloc(p.l1_window_cap, sizeof(int64_t))
    st.mlofi.K = K
    st.mlofi.cap = p.depth_window_cap
    st.mlofi.T = <int64_t*>rt_calloc(p.depth_window_cap, sizeof(int64_t))
    st.mlofi.e = <int64_t*>rt_calloc(<size_t>p.depth_window_cap * K, sizeof(int64_t))
    st.mlofi.depth = <int64_t*>rt_calloc(p.depth_window_cap, sizeof(int64_t))
    st.mlofi.sum_e = <int64_t*>rt_calloc(K, sizeof(int64_t))
    st.mlofi.prev_bpx = <int64_t*>rt_calloc(K, sizeof(int64_t))
    st.mlofi.prev_bqty = <int64_t*>rt_calloc(K, sizeof(int64_t))
    st.mlofi.prev_apx = <int64_t*>rt_calloc(K, sizeof(int64_t))
    st.mlofi.prev_aqty = <int64_t*>rt_calloc(K, sizeof(int64_t))
    st.vpin.ois = <int64_t*>rt_calloc(p.vpin_buckets, sizeof(int64_t))
    st.kyle.X = <int64_t*>rt_calloc(p.kyle_window, sizeof(int64_t))
    st.kyle.y = <double*>rt_calloc(p.kyle_window, sizeof(double))
    st.lpi.hist_T = <int64_t*>rt_calloc(p.lpi_history, sizeof(int64_t))
    st.lpi.hist_m2 = <int64_t*>rt_calloc(p.lpi_history, sizeof(int64_t))
    st.lpi.pend_cap = p.lpi_pending_cap
    st.lpi.pend_T = <int64_t*>rt_calloc(p.lpi_pending_cap, sizeof(int64_t))
    st.lpi.pend_d = <int64_t*>rt_calloc(p.lpi_pending_cap, sizeof(int64_t))
    st.lpi.pend_px = <int64_t*>rt_calloc(p.lpi_pending_cap, sizeof(int64_t))
    st.lpi.pend_qty = <int64_t*>rt_calloc(p.lpi_pending_cap, sizeof(int64_t))
    st.lpi.pend_m2 = <int64_t*>rt_calloc(p.lpi_pending_cap, sizeof(int64_t))
    st.di_weights = <double*>rt_calloc(p.tobi_levels, sizeof(double))
    st.norm_decay = <double*>rt_calloc(DECAY_TABLE, sizeof(double))
    st.dev_decay = <double*>rt_calloc(DECAY_TABLE, sizeof(double))
    st.mlofi_vec = <double*>rt_calloc(K, sizeof(double))
    st.top_bpx = <int64_t*>rt_calloc(dn, sizeof(int64_t))
    st.top_bqty = <int64_t*>rt_calloc(dn, sizeof(int64_t))
    st.top_apx = <int64_t*>rt_calloc(dn, sizeof(int64_t))
    st.top_aqty = <int64_t*>rt_calloc(dn, sizeof(int64_t))
    if (st.ti.T == NULL or st.ti.qty == NULL or st.ofi.T == NULL or st.ofi.e == NULL
            or st.ofi.q == NULL or st.mlofi.T == NULL or st.mlofi.e == NULL
            or st.mlofi.depth == NULL or st.mlofi.sum_e == NULL or st.mlofi.prev_bpx == NULL
            or st.mlofi.prev_bqty == NULL or st.mlofi.prev_apx == NULL
            or st.mlofi.prev_aqty == NULL or st.vpin.ois == NULL or st.kyle.X == NULL
            or st.kyle.y == NULL or st.lpi.hist_T == NULL or st.lpi.hist_m2 == NULL
            or st.lpi.pend_T == NULL or st.lpi.pend_d == NULL or st.lpi.pend_px == NULL
            or st.lpi.pend_qty == NULL or st.lpi.pend_m2 == NULL or st.di_weights == NULL
            or st.norm_decay == NULL or st.dev_decay == NULL
            or st.mlofi_vec == NULL or st.top_bpx == NULL or st.top_bqty == NULL
            or st.top_apx == NULL or st.top_aqty == NULL):
        return -1
    for k in range(p.tobi_levels):
        # the reference evaluates decay ** (k - 1) per call: the same libm pow
        st.di_weights[k] = pow(p.tobi_decay, <double>k) if k > 0 else 1.0
    for k in range(DECAY_TABLE):
        # the expressions of the reference, evaluated once per dt
        st.norm_decay[k] = 1.0 - exp(-<double>k / <double>p.norm_tau_ms)
        st.dev_decay[k] = 1.0 - exp(-<double>k / <double>p.dev_ema_ms)
    sig_reset(st)
    return 0


cdef void sig_free(SymbolSignals* st) noexcept nogil:
    cdef const SigParams* p = &st.p
    cdef int32_t K = p.ofi_levels
    rt_free(st.ti.T, p.trade_window_cap, sizeof(int64_t))
    rt_free(st.ti.qty, p.trade_window_cap, sizeof(int64_t))
    rt_free(st.ofi.T, p.l1_window_cap, sizeof(int64_t))
    rt_free(st.ofi.e, p.l1_window_cap, sizeof(int64_t))
    rt_free(st.ofi.q, p.l1_window_cap, sizeof(int64_t))
    rt_free(st.mlofi.T, p.depth_window_cap, sizeof(int64_t))
    rt_free(st.mlofi.e, <size_t>p.depth_window_cap * K, sizeof(int64_t))
    rt_free(st.mlofi.depth, p.depth_window_cap, sizeof(int64_t))
    rt_free(st.mlofi.sum_e, K, sizeof(int64_t))
    rt_free(st.mlofi.prev_bpx, K, sizeof(int64_t))
    rt_free(st.mlofi.prev_bqty, K, sizeof(int64_t))
    rt_free(st.mlofi.prev_apx, K, sizeof(int64_t))
    rt_free(st.mlofi.prev_aqty, K, sizeof(int64_t))
    rt_free(st.vpin.ois, p.vpin_buckets, sizeof(int64_t))
    rt_free(st.kyle.X, p.kyle_window, sizeof(int64_t))
    rt_free(st.kyle.y, p.kyle_window, sizeof(double))
    rt_free(st.lpi.hist_T, p.lpi_history, sizeof(int64_t))
    rt_free(st.lpi.hist_m2, p.lpi_history, sizeof(int64_t))
    rt_free(st.lpi.pend_T, p.lpi_pending_cap, sizeof(int64_t))
    rt_free(st.lpi.pend_d, p.lpi_pending_cap, sizeof(int64_t))
    rt_free(st.lpi.pend_px, p.lpi_pending_cap, sizeof(int64_t))
    rt_free(st.lpi.pend_qty, p.lpi_pending_cap, sizeof(int64_t))
    rt_free(st.lpi.pend_m2, p.lpi_pending_cap, sizeof(int64_t))
    rt_free(st.di_weights, p.tobi_levels, sizeof(double))
    rt_free(st.norm_decay, DECAY_TABLE, sizeof(double))
    rt_free(st.dev_decay, DECAY_TABLE, sizeof(double))
    rt_free(st.mlofi_vec, K, sizeof(double))
    rt_free(st.top_bpx, st.depth_n, sizeof(int64_t))
    rt_free(st.top_bqty, st.depth_n, sizeof(int64_t))
    rt_free(st.top_apx, st.depth_n, sizeof(int64_t))
    rt_free(st.top_aqty, st.depth_n, sizeof(int64_t))
    st.ti.T = st.ti.qty = NULL
    st.ofi.T = st.ofi.e = st.ofi.q = NULL
    st.mlofi.T = st.mlofi.e = st.mlofi.depth = st.mlofi.sum_e = NULL
    st.mlofi.prev_bpx = st.mlofi.prev_bqty = st.mlofi.prev_apx = st.mlofi.prev_aqty = NULL
    st.vpin.ois = NULL
    st.kyle.X = NULL
    st.kyle.y = NULL
    st.lpi.hist_T = st.lpi.hist_m2 = NULL
    st.lpi.pend_T = st.lpi.pend_d = st.lpi.pend_px = st.lpi.pend_qty = st.lpi.pend_m2 = NULL
    st.di_weights = NULL
    st.norm_decay = NULL
    st.dev_decay = NULL
    st.mlofi_vec = NULL
    st.top_bpx = st.top_bqty = st.top_apx = st.top_aqty = NULL


cdef void sig_reset(SymbolSignals* st) noexcept nogil:
    """Back to the state of a fresh symbol, keeping every buffer (no allocation)."""
    cdef const SigParams* p = &st.p
    cdef int32_t k
    st.seq = 0
    st.has_l1 = False
    st.l1_T = 0
    st.has_bbo_u = False
    st.book_synced = False
    st.ti.head = st.ti.n = 0
    st.ti.vbuy = st.ti.vsell = 0
    st.ti.forced_evictions = 0
    st.ti.high_water = 0
    ofi_reset(&st.ofi)
    st.ofi.forced_evictions = 0
    st.ofi.high_water = 0
    mlofi_reset(&st.mlofi)
    st.mlofi.forced_evictions = 0
    st.mlofi.high_water = 0
    # VPIN: Decision (V1) a configured V is C lots at scale 1; (V3) calibrated: scale n
    st.vpin.capacity = p.vpin_capacity_lots
    st.vpin.scale = 1 if p.vpin_capacity_lots > 0 else p.vpin_buckets
    st.vpin.calibrating = p.vpin_capacity_lots <= 0
    st.vpin.has_t0 = False
    st.vpin.cal_lots = 0
    st.vpin.fill_buy = st.vpin.fill_sell = 0
    st.vpin.ois_head = st.vpin.ois_n = 0
    st.vpin.ois_sum = 0
    st.vpin.completed = 0
    st.vpin.value = NAN
    st.kyle.has_open = False
    st.kyle.open_x = 0
    st.kyle.has_cur = False
    st.kyle.has_prev = False
    st.kyle.closed_any = False
    st.kyle.head = st.kyle.n = 0
    st.kyle.run_len = 0
    st.kyle.y_run_len = 0
    st.kyle.updates = 0
    st.kyle.mx = st.kyle.my = st.kyle.cxx = st.kyle.cxy = 0.0
    st.kyle.value = NAN
    st.kyle.resyncs = 0
    st.lpi.hist_head = st.lpi.hist_n = 0
    st.lpi.pend_head = st.lpi.pend_n = 0
    st.lpi.pend_inversions = 0
    st.lpi.sw = st.lpi.swx = 0.0
    st.lpi.has_t_prev = False
    st.lpi.value = NAN
    st.lpi.forced_evictions = 0
    st.lpi.pend_high_water = 0
    st.has_ema = False
    memset(st.norms, 0, sizeof(st.norms))
    st.bars.has_start = False
    st.bars.has_closed_by_timer = False
    bar_reset(&st.bars)
    st.strat.target = 0
    st.strat.has_exit = False
    for k in range(p.ofi_levels):
        st.mlofi_vec[k] = NAN
    st.row.sym = st.sym
    for k in range(N_RAW):
        st.row.raw[k] = NAN
    for k in range(N_NORM):
        st.row.z[k] = NAN
        st.row.osc[k] = NAN


cdef inline int row_finish(SymbolSignals* st, int64_t T, int32_t event, int64_t u) noexcept nogil:
    """Complete st.row after an event, then run the strategy on it (Decision S1)."""
    cdef int32_t s
    cdef long long t0
    cdef int flags
    # section 8: a NaN raw value gives NaN z and osc on its row (carried NaN too, N3)
    for s in range(N_NORM):
        if isnan(st.row.raw[NS_RAW[s]]):
            st.row.z[s] = NAN
            st.row.osc[s] = NAN
    st.row.ts_ms = T
    st.row.event = event
    st.row.u = u
    # Decision (R1): 0-based, per symbol
    st.row.seq = st.seq
    st.seq += 1
    st.bars.has_row = True
    t0 = prof_begin(st)
    flags = strategy_on_row(st)
    prof_end(st, 12, t0)
    return SIG_ROW | flags


cdef void l1_update(SymbolSignals* st, int64_t T, int64_t pb, int64_t qb, int64_t pa,
                    int64_t qa) noexcept nogil:
    """Apply an L1 state; recompute every L1-driven indicator and its normaliser."""
    cdef const SigParams* p = &st.p
    cdef double* v = st.row.raw
    cdef double obi, wm, M, a
    cdef int64_t m2 = pb + pa, dt
    cdef int32_t matured = 0
    cdef int32_t off = p.disabled_families
    cdef long long t0
    cdef bint entered
    # Kyle intervals close with the mid BEFORE this update (Decision K0)
    if not (off & FAM_KYLE):
        t0 = prof_begin(st)
        entered = kyle_advance(&st.kyle, T, p)
        prof_end(st, 3, t0)
        if entered:
            v[RAW_KYLE_LAMBDA] = st.kyle.value
            norm_series(st, NS_KYLE_LAMBDA, T)
    st.has_l1 = True
    st.pb = pb
    st.qb = qb
    st.pa = pa
    st.qa = qa
    st.l1_T = T
    if not (off & FAM_TOBI):
        t0 = prof_begin(st)
        obi = tobi(qb, qa)
        v[RAW_OBI] = obi
        if isnan(obi):
            v[RAW_MPD_TICKS] = NAN
            v[RAW_MPD_BPS] = NAN
        else:
            # W - M = (S / 2) * obi in px units; the 10**px_dec scale cancels in bps
            wm = ratio(pa - pb, 2) * obi
            v[RAW_MPD_TICKS] = wm / p.tick_units
            v[RAW_MPD_BPS] = (1e4 * wm) / ratio(m2, 2)
        prof_end(st, 0, t0)
    if not (off & FAM_OFI):
        t0 = prof_begin(st)
        ofi_on_l1(&st.ofi, T, pb, qb, pa, qa, p, &v[RAW_OFI], &v[RAW_OFI_NORM])
        prof_end(st, 1, t0)
    if not (off & FAM_DEV):
        t0 = prof_begin(st)
        M = ratio(m2, 2 * p.pscale)
        if not st.has_ema:
            st.has_ema = True
            st.ema = M
        else:
            dt = T - st.ema_t_prev
            if dt < 0:
                dt = 0
            a = decay_weight(st.dev_decay, dt, p.dev_ema_ms)
            st.ema = st.ema + a * (M - st.ema)
        st.ema_t_prev = T
        v[RAW_DEV_BPS] = 1e4 * (M - st.ema) / st.ema
        prof_end(st, 2, t0)
    st.kyle.has_cur = True
    st.kyle.cur_m2 = m2
    if not (off & FAM_LPI):
        t0 = prof_begin(st)
        matured = lpi_on_l1(&st.lpi, T, m2, p)
        v[RAW_LPI] = st.lpi.value
        prof_end(st, 4, t0)
    st.bars.spread_sum += pa - pb
    st.bars.spread_n += 1
    if not (off & FAM_TOBI):
        norm_series(st, NS_OBI, T)
        norm_series(st, NS_MPD_BPS, T)
    if not (off & FAM_OFI):
        norm_series(st, NS_OFI_NORM, T)
    if not (off & FAM_DEV):
        norm_series(st, NS_DEV_BPS, T)
    if matured:
        norm_series(st, NS_LPI, T)


cdef int sig_on_bbo(SymbolSignals* st, const Msg* m) noexcept nogil:
    """A decoded bookTicker; returns SIG_* flags (0: stale, no row)."""
    cdef int flags
    # Decision (E1): only a strictly lower u is stale
    if st.has_bbo_u and m.u < st.last_bbo_u:
        return 0
    st.has_bbo_u = True
    st.last_bbo_u = m.u
    flags = bar_advance(st, m.T)
    l1_update(st, m.T, m.bid_px, m.bid_qty, m.ask_px, m.ask_qty)
    return flags | row_finish(st, m.T, EV_BBO, m.u)


cdef int sig_on_trade(SymbolSignals* st, const Msg* m) noexcept nogil:
    """A decoded trade or aggTrade; returns SIG_* flags."""
    cdef const SigParams* p = &st.p
    cdef double* v = st.row.raw
    cdef int32_t d = -1 if m.buyer_maker else 1
    cdef int64_t T = m.T, done
    cdef int32_t off = p.disabled_families
    cdef int flags = bar_advance(st, T)
    cdef long long t0
    cdef bint entered
    if not (off & FAM_KYLE):
        t0 = prof_begin(st)
        entered = kyle_advance(&st.kyle, T, p)
        st.kyle.open_x += d * m.px * m.qty
        prof_end(st, 3, t0)
        if entered:
            v[RAW_KYLE_LAMBDA] = st.kyle.value
            norm_series(st, NS_KYLE_LAMBDA, T)
    if not (off & FAM_TI):
        t0 = prof_begin(st)
        v[RAW_TI] = ti_on_trade(&st.ti, T, d, m.qty, p.tobi_trade_window_ms)
        prof_end(st, 5, t0)
    if not (off & FAM_VPIN):
        t0 = prof_begin(st)
        done = vpin_on_trade(&st.vpin, T, d, m.qty, p, &v[RAW_VPIN])
        prof_end(st, 6, t0)
        if done:
            # Decision (V4): once per trade that completes >= 1 bucket
            norm_series(st, NS_VPIN, T)
    if not (off & FAM_LPI):
        t0 = prof_begin(st)
        lpi_on_trade(&st.lpi, T, d, m.px, m.qty, p)
        prof_end(st, 4, t0)
    t0 = prof_begin(st)
    bar_on_trade(&st.bars, m.px, m.qty, d)
    prof_end(st, 11, t0)
    return flags | row_finish(st, T, EV_TRADE, m.trade_id)


cdef inline void l2_break(SymbolSignals* st) noexcept nogil:
    """Decision (E4): clear the L2 windows, L2 values NaN until the next applied diff;
    normaliser states are kept (N4). L1 from the book: only OFI's window goes."""
    cdef double* v = st.row.raw
    cdef int32_t k
    mlofi_reset(&st.mlofi)
    for k in range(st.p.ofi_levels):
        st.mlofi_vec[k] = NAN
    v[RAW_DI] = NAN
    v[RAW_MLOFI_SUM] = NAN
    v[RAW_WALL_BID] = NAN
    v[RAW_WALL_ASK] = NAN
    v[RAW_WALL_NET] = NAN
    v[RAW_WALL_DIST_BID] = NAN
    v[RAW_WALL_DIST_ASK] = NAN
    if st.l1_from_book:
        ofi_reset(&st.ofi)


cdef int sig_on_depth(SymbolSignals* st, const L2Book* b, const Msg* m, int status) noexcept nogil:
    """A depth diff after the book processed it with ``status``; returns SIG_* flags."""
    cdef const SigParams* p = &st.p
    cdef double* v = st.row.raw
    cdef int flags
    cdef int32_t nb, na
    cdef int32_t off = p.disabled_families
    cdef int64_t T = m.T
    cdef long long t0
    st.book_synced = b.state == SYNC_SYNCED
    if status != BOOK_SYNCED and status != BOOK_APPLIED and status != BOOK_GAP \
            and status != BOOK_CROSSED:
        return 0
    flags = bar_advance(st, T)
    if status == BOOK_GAP or status == BOOK_CROSSED:
        l2_break(st)
        return flags | row_finish(st, T, EV_DEPTH, m.u)
    if status == BOOK_SYNCED:
        # Decision (E2): the first diff after a (re)sync starts the L2 windows afresh
        mlofi_reset(&st.mlofi)
        if st.l1_from_book:
            ofi_reset(&st.ofi)
    t0 = prof_begin(st)
    nb = book_top_bids(b, st.depth_n, st.top_bpx, st.top_bqty)
    na = book_top_asks(b, st.depth_n, st.top_apx, st.top_aqty)
    prof_end(st, PROF_L2_COPY, t0)
    if not (off & FAM_DI):
        t0 = prof_begin(st)
        v[RAW_DI] = depth_imbalance(st.top_bqty, nb, st.top_aqty, na, p.tobi_levels,
                                    st.di_weights)
        prof_end(st, 7, t0)
        norm_series(st, NS_DI, T)
    if not (off & FAM_MLOFI):
        t0 = prof_begin(st)
        v[RAW_MLOFI_SUM] = mlofi_on_book(&st.mlofi, T, st.top_bpx, st.top_bqty, nb,
                                         st.top_apx, st.top_aqty, na, p, st.mlofi_vec)
        prof_end(st, 8, t0)
        norm_series(st, NS_MLOFI_SUM, T)
    if not (off & FAM_WALL):
        t0 = prof_begin(st)
        wall_side(st.top_bpx, st.top_bqty, nb if nb < p.wall_levels else p.wall_levels,
                  p.tick_units, &v[RAW_WALL_BID], &v[RAW_WALL_DIST_BID])
        wall_side(st.top_apx, st.top_aqty, na if na < p.wall_levels else p.wall_levels,
                  p.tick_units, &v[RAW_WALL_ASK], &v[RAW_WALL_DIST_ASK])
        if isnan(v[RAW_WALL_BID]) or isnan(v[RAW_WALL_ASK]):
            v[RAW_WALL_NET] = NAN
        else:
            v[RAW_WALL_NET] = log(v[RAW_WALL_BID] / v[RAW_WALL_ASK])
        prof_end(st, 9, t0)
        norm_series(st, NS_WALL_NET, T)
    if st.l1_from_book and nb > 0 and na > 0:
        # Decision (E3): the top of the book is the L1 state (both sides needed)
        l1_update(st, T, st.top_bpx[0], st.top_bqty[0], st.top_apx[0], st.top_aqty[0])
    return flags | row_finish(st, T, EV_DEPTH, m.u)


cdef void sig_on_snapshot(SymbolSignals* st, const L2Book* b) noexcept nogil:
    """A snapshot was loaded (the book awaits its bracketing diff): not synced."""
    st.book_synced = b.state == SYNC_SYNCED


cdef void sig_on_reconnect(SymbolSignals* st) noexcept nogil:
    """The symbol's stream reconnected and its book was reset: nothing of the L2 book
    carries over (as after a gap); L1 and trade state continue (exchange time)."""
    st.book_synced = False
    l2_break(st)


cdef int sig_finish(SymbolSignals* st) noexcept nogil:
    """End of input: flush the open bar (SIG_BAR when there was one)."""
    if not st.bars.has_start or not st.bars.has_row or st.p.disabled_families & FAM_BARS:
        return 0
    bar_emit(st)
    st.bars.has_start = False
    bar_reset(&st.bars)
    return SIG_BAR


cdef int sig_on_timer(SymbolSignals* st, int64_t now_ms) noexcept nogil:
    """Live bar timer (section 10): emit the open bar one second after its minute ended
    when no event has closed it (SIG_BAR). ``now_ms`` is the current time on the
    exchange's clock. Replays never call it (Decision B0: events close bars there)."""
    cdef BarState* b = &st.bars
    if (st.p.disabled_families & FAM_BARS or not b.has_start or not b.has_row
            or now_ms < b.start + MINUTE_MS + 1000):
        return 0
    bar_emit(st)
    b.has_closed_by_timer = True
    b.timer_closed_end = b.start + MINUTE_MS
    b.has_start = False
    bar_reset(b)
    return SIG_BAR


# ------------------------------------------------------------------ params from Python
cdef int fill_sig_params(SigParams* out, object params) except -1:
    """Fill ``out`` from a ``rtaid.reference.indicators.Params`` (or any object with the
    same fields); capacities from optional attributes, else defaults."""
    p = params
    memset(out, 0, sizeof(SigParams))
    out.tobi_levels = p.tobi_levels
    out.tobi_decay = p.tobi_decay
    out.tobi_trade_window_ms = p.tobi_trade_window_ms
    out.ofi_window_ms = p.ofi_window_ms
    out.ofi_levels = p.ofi_levels
    if p.vpin_bucket_volume is not None:
        # Decision (V1): C = round(Decimal(repr(V)) * 10**qty_dec) lots, half-even
        lots = int((Decimal(repr(float(p.vpin_bucket_volume))) * 10**p.qty_dec).to_integral_value())
        if lots < 1:
            raise ValueError("vpin.bucket_volume is below one lot")
        out.vpin_capacity_lots = lots
    out.vpin_buckets = p.vpin_buckets
    out.vpin_calibration_ms = p.vpin_calibration_ms
    out.dev_ema_ms = p.dev_ema_ms
    out.kyle_interval_ms = p.kyle_interval_ms
    out.kyle_window = p.kyle_window
    out.kyle_min_intervals = p.kyle_min_intervals
    out.lpi_horizon_ms = p.lpi_horizon_ms
    out.lpi_half_life_ms = p.lpi_half_life_ms
    out.lpi_maker_fee_bps = p.lpi_maker_fee_bps
    out.lpi_history = p.lpi_history
    out.wall_levels = p.wall_levels
    out.norm_tau_ms = p.norm_tau_ms
    out.norm_warmup = p.norm_warmup
    out.norm_sigma_floor = p.norm_sigma_floor
    if p.strategy_name == "none":
        out.strategy_kind = STRAT_NONE
    elif p.strategy_name == "mean_reversion":
        out.strategy_kind = STRAT_MEAN_REVERSION
    else:
        raise ValueError(f"unknown strategy {p.strategy_name!r}")
    out.strategy_entry_low = p.strategy_entry_low
    out.strategy_entry_high = p.strategy_entry_high
    out.strategy_exit_mid = p.strategy_exit_mid
    out.strategy_toxic_max = p.strategy_toxic_max
    out.strategy_max_hold_ms = p.strategy_max_hold_ms
    out.strategy_stop_bps = p.strategy_stop_bps
    out.strategy_cooldown_ms = p.strategy_cooldown_ms
    out.strategy_stale_ms = p.strategy_stale_ms
    out.strategy_order_qty = p.strategy_order_qty
    out.tick_units = p.tick_units
    out.px_dec = p.px_dec
    out.qty_dec = p.qty_dec
    out.pscale = 10 ** p.px_dec
    out.qscale = 10 ** p.qty_dec
    out.trade_window_cap = getattr(p, "trade_window_cap", DEFAULT_CAPACITIES["trade_window_cap"])
    out.l1_window_cap = getattr(p, "l1_window_cap", DEFAULT_CAPACITIES["l1_window_cap"])
    out.depth_window_cap = getattr(p, "depth_window_cap", DEFAULT_CAPACITIES["depth_window_cap"])
    out.lpi_pending_cap = getattr(p, "lpi_pending_cap", DEFAULT_CAPACITIES["lpi_pending_cap"])
    out.disabled_families = family_mask(getattr(p, "disabled_families", ()))
    for name in ("tobi_levels", "ofi_levels", "wall_levels", "vpin_buckets", "kyle_window",
                 "lpi_history"):
        if getattr(p, name) < 1:
            raise ValueError(f"{name} must be >= 1")
    if max(p.tobi_levels, p.ofi_levels, p.wall_levels) > MAX_BOOK_LEVELS:
        raise ValueError(f"at most {MAX_BOOK_LEVELS} book levels")
    if min(out.trade_window_cap, out.l1_window_cap, out.depth_window_cap,
           out.lpi_pending_cap) < 1:
        raise ValueError("ring capacities must be >= 1")
    if (p.kyle_interval_ms < 1 or p.norm_tau_ms <= 0 or p.dev_ema_ms <= 0
            or p.lpi_half_life_ms <= 0 or out.tick_units <= 0):
        raise ValueError("interval_ms, tau_ms, ema_ms, half_life_ms and tick must be > 0")
    return 0


FAMILIES = {"tobi": FAM_TOBI, "ofi": FAM_OFI, "dev": FAM_DEV, "kyle": FAM_KYLE,
            "lpi": FAM_LPI, "ti": FAM_TI, "vpin": FAM_VPIN, "di": FAM_DI,
            "mlofi": FAM_MLOFI, "wall": FAM_WALL, "norm": FAM_NORM, "bars": FAM_BARS,
            "strategy": FAM_STRATEGY}


def family_mask(names):
    """FAM_* bits of the family names (``FAMILIES``)."""
    mask = 0
    for name in names:
        if name not in FAMILIES:
            raise KeyError(f"unknown indicator family {name!r}")
        mask |= FAMILIES[name]
    return mask


# Ring capacities (entries per symbol) of the time windows; generous for Binance rates
# (the busiest USD-M books send a few hundred L1 updates a second).
# High-water marks on the BTCUSDT recording of 2024-08-08 (SignalDriver.stats) at the
# default windows: 3,945 L1 updates in 10 s, 2,726 trades in 10 s, 195 diffs in 10 s,
# 2,428 trades pending in 5 s; these leave 8-40x headroom for bursts, ~3.4 MB per symbol.
DEFAULT_CAPACITIES = {
    "trade_window_cap": 1 << 15,    # trades within tobi.trade_window_ms
    "l1_window_cap": 1 << 15,       # L1 updates within ofi.window_ms
    "depth_window_cap": 1 << 13,    # depth diffs within ofi.window_ms
    "lpi_pending_cap": 1 << 15,     # trades within lpi.horizon_ms
}


cdef class SignalParams:
    """Kernel parameters of one symbol (the C struct ``SigParams``).

    Parameters
    ----------
    params : rtaid.reference.indicators.Params
        Indicator, strategy and precision parameters (px_dec, qty_dec, tick).
    **capacities
        Ring capacities overriding ``DEFAULT_CAPACITIES``; ``disabled_families``: names
        of ``FAMILIES`` not to compute (benchmarks; default none).
    """

    def __init__(self, params, **capacities):
        unknown = set(capacities) - set(DEFAULT_CAPACITIES) - {"disabled_families"}
        if unknown:
            raise KeyError(f"unknown capacities {sorted(unknown)}")
        fill_sig_params(&self.c, _WithCaps(params, capacities))

    @classmethod
    def from_config(cls, cfg, px_dec, qty_dec, tick=None, **capacities):
        """From a per-symbol config object of rtaid.infra.config (``Params.from_config``)."""
        from rtaid.reference.indicators import Params
        return cls(Params.from_config(cfg, px_dec=px_dec, qty_dec=qty_dec, tick=tick),
                   **capacities)

    def as_dict(self):
        """The C struct as a dict."""
        return self.c


class _WithCaps:
    """Params with capacity attributes layered on top."""

    def __init__(self, params, caps):
        self._p = params
        self._caps = caps

    def __getattr__(self, name):
        if name in self._caps:
            return self._caps[name]
        return getattr(self._p, name)


# ------------------------------------------------------------------ replay driver
cdef enum:
    N_ROW_F = N_RAW + 2 * N_NORM        # float columns of an indicators row
    N_BAR_F = 10 + N_RAW + 2 * N_NORM   # float columns of a bar


cdef class SignalDriver:
    """Decode -> book -> signal kernels over recorded frames (tests, replay, benchmarks).

    Owns a Decoder, one L2Book and one SymbolSignals per symbol, and collects the rows
    of the indicators, bars_1m and signals tables into numpy arrays that grow only
    between frames, never inside the per-event path.

    Parameters
    ----------
    symbols : sequence of str
        Symbols in index order.
    params : dict
        ``{symbol: Params}`` with px_dec, qty_dec and tick resolved.
    l1_from_book : collection of str
        Symbols without bookTicker data (L1 = top of the L2 book).
    capacities : dict, optional
        Ring capacities overriding ``DEFAULT_CAPACITIES``.
    max_levels, buffer_events, buffer_levels : int
        Book capacities (as Engine).
    """

    cdef Decoder decoder
    cdef L2Book* books
    cdef SymbolSignals* states
    cdef int32_t n_sym
    cdef int32_t buffer_events
    cdef bint* inited
    cdef Msg msg
    cdef Msg replayed
    cdef public int64_t frames
    cdef public int64_t decode_errors
    # output buffers (numpy arrays; raw pointers valid until the next growth)
    cdef object _row_f, _row_i, _bar_f, _bar_i, _sig_f, _sig_i
    cdef double* row_f
    cdef int64_t* row_i
    cdef double* bar_f
    cdef int64_t* bar_i
    cdef double* sig_f
    cdef int64_t* sig_i
    cdef Py_ssize_t n_rows, cap_rows, n_bars, cap_bars, n_sigs, cap_sigs
    cdef object symbol_names
    cdef dict _params

    def __cinit__(self, symbols, params, l1_from_book=(), capacities=None, int max_levels=5000,
                  int buffer_events=4096, int buffer_levels=1 << 20,
                  int max_message_levels=8192, Py_ssize_t expected_rows=1 << 16):
        cdef int32_t i
        cdef SignalParams sp
        symbols = [s.upper() for s in symbols]
        if not symbols:
            raise ValueError("at least one symbol")
        self.symbol_names = tuple(symbols)
        self._params = dict(params)
        self.decoder = Decoder(max_message_levels)
        self.n_sym = len(symbols)
        self.buffer_events = buffer_events
        self.books = <L2Book*>rt_calloc(self.n_sym, sizeof(L2Book))
        self.states = <SymbolSignals*>rt_calloc(self.n_sym, sizeof(SymbolSignals))
        self.inited = <bint*>rt_calloc(self.n_sym, sizeof(bint))
        if self.books == NULL or self.states == NULL or self.inited == NULL:
            raise MemoryError()
        l1b = {s.upper() for s in l1_from_book}
        for i, name in enumerate(symbols):
            p = self._params[name]
            self.decoder.add_symbol(name, p.px_dec, p.qty_dec)
            if book_init(&self.books[i], max_levels, buffer_events, buffer_levels):
                raise MemoryError()
            sp = SignalParams(p, **(capacities or {}))
            self.inited[i] = True
            if sig_init(&self.states[i], &sp.c, i, name in l1b):
                raise MemoryError()
        self.frames = 0
        self.decode_errors = 0
        self._alloc_output(max(expected_rows, 16), 64, 64)

    def __dealloc__(self):
        cdef int32_t i
        if self.books != NULL:
            for i in range(self.n_sym):
                book_free(&self.books[i])
            rt_free(self.books, self.n_sym, sizeof(L2Book))
        if self.states != NULL:
            for i in range(self.n_sym):
                if self.inited[i]:
                    sig_free(&self.states[i])
            rt_free(self.states, self.n_sym, sizeof(SymbolSignals))
        if self.inited != NULL:
            rt_free(self.inited, self.n_sym, sizeof(bint))

    # ------------------------------------------------------------ output buffers
    def _alloc_output(self, Py_ssize_t rows, Py_ssize_t bars, Py_ssize_t sigs):
        self._row_f = _grow(self._row_f, rows, N_ROW_F, np.float64, self.n_rows)
        self._row_i = _grow(self._row_i, rows, 5, np.int64, self.n_rows)
        self._bar_f = _grow(self._bar_f, bars, N_BAR_F, np.float64, self.n_bars)
        self._bar_i = _grow(self._bar_i, bars, 3, np.int64, self.n_bars)
        self._sig_f = _grow(self._sig_f, sigs, 5, np.float64, self.n_sigs)
        self._sig_i = _grow(self._sig_i, sigs, 6, np.int64, self.n_sigs)
        self.cap_rows = rows
        self.cap_bars = bars
        self.cap_sigs = sigs
        self._bind()

    cdef int _bind(self) except -1:
        cdef double[:, ::1] rf = self._row_f
        cdef int64_t[:, ::1] ri = self._row_i
        cdef double[:, ::1] bf = self._bar_f
        cdef int64_t[:, ::1] bi = self._bar_i
        cdef double[:, ::1] sf = self._sig_f
        cdef int64_t[:, ::1] si = self._sig_i
        self.row_f = &rf[0, 0]
        self.row_i = &ri[0, 0]
        self.bar_f = &bf[0, 0]
        self.bar_i = &bi[0, 0]
        self.sig_f = &sf[0, 0]
        self.sig_i = &si[0, 0]
        return 0

    cdef bint _room(self, Py_ssize_t need) noexcept nogil:
        return (self.cap_rows - self.n_rows >= need and self.cap_bars - self.n_bars >= need
                and self.cap_sigs - self.n_sigs >= need)

    def _ensure(self, Py_ssize_t need):
        if self._room(need):
            return
        self._alloc_output(
            self.cap_rows if self.cap_rows - self.n_rows >= need else 2 * (self.cap_rows + need),
            self.cap_bars if self.cap_bars - self.n_bars >= need else 2 * (self.cap_bars + need),
            self.cap_sigs if self.cap_sigs - self.n_sigs >= need else 2 * (self.cap_sigs + need))

    # ------------------------------------------------------------ per event
    cdef void emit(self, SymbolSignals* st, int flags) noexcept nogil:
        cdef double* f
        cdef int64_t* iv
        cdef int32_t k
        if flags & SIG_BAR:
            f = &self.bar_f[self.n_bars * N_BAR_F]
            iv = &self.bar_i[self.n_bars * 3]
            iv[0] = st.bar.sym
            iv[1] = st.bar.minute_ms
            iv[2] = st.bar.trade_count
            f[0] = st.bar.open
            f[1] = st.bar.high
            f[2] = st.bar.low
            f[3] = st.bar.close
            f[4] = st.bar.volume
            f[5] = st.bar.buy_volume
            f[6] = st.bar.sell_volume
            f[7] = st.bar.vwap
            f[8] = st.bar.spread_mean
            f[9] = st.bar.mid_last
            for k in range(N_RAW):
                f[10 + k] = st.bar.raw[k]
            for k in range(N_NORM):
                f[10 + N_RAW + 2 * k] = st.bar.z[k]
                f[10 + N_RAW + 2 * k + 1] = st.bar.osc[k]
            self.n_bars += 1
        if flags & SIG_ROW:
            f = &self.row_f[self.n_rows * N_ROW_F]
            iv = &self.row_i[self.n_rows * 5]
            iv[0] = st.row.sym
            iv[1] = st.row.ts_ms
            iv[2] = st.row.event
            iv[3] = st.row.u
            iv[4] = st.row.seq
            for k in range(N_RAW):
                f[k] = st.row.raw[k]
            for k in range(N_NORM):
                f[N_RAW + 2 * k] = st.row.z[k]
                f[N_RAW + 2 * k + 1] = st.row.osc[k]
            self.n_rows += 1
        if flags & SIG_SIGNAL:
            f = &self.sig_f[self.n_sigs * 5]
            iv = &self.sig_i[self.n_sigs * 6]
            iv[0] = st.signal.sym
            iv[1] = st.signal.ts_ms
            iv[2] = st.signal.seq
            iv[3] = st.signal.prev_target
            iv[4] = st.signal.target
            iv[5] = st.signal.reason
            f[0] = st.signal.target_qty
            f[1] = st.signal.mid
            f[2] = st.signal.dev_osc
            f[3] = st.signal.ofi_osc
            f[4] = st.signal.vpin_osc
            self.n_sigs += 1

    cdef void on_frame(self, const char* data, Py_ssize_t n, int32_t default_sym) noexcept nogil:
        cdef Msg* m = &self.msg
        cdef int rc = self.decoder.decode(data, n, default_sym, m)
        cdef int status
        cdef L2Book* b
        cdef SymbolSignals* st
        self.frames += 1
        if rc != DEC_OK:
            if rc < 0:
                self.decode_errors += 1
            return
        b = &self.books[m.sym]
        st = &self.states[m.sym]
        if m.kind == MSG_BBO:
            self.emit(st, sig_on_bbo(st, m))
        elif m.kind == MSG_TRADE or m.kind == MSG_AGGTRADE:
            self.emit(st, sig_on_trade(st, m))
        elif m.kind == MSG_DEPTH:
            status = book_on_depth(b, m)
            self.emit(st, sig_on_depth(st, b, m, status))
        elif m.kind == MSG_SNAPSHOT:
            book_load_snapshot(b, m)
            sig_on_snapshot(st, b)
            while True:
                status = book_replay_next(b, &self.replayed)
                if status == BOOK_NONE:
                    break
                self.emit(st, sig_on_depth(st, b, &self.replayed, status))

    # ------------------------------------------------------------ Python API
    def run_frames(self, const unsigned char[::1] buf, const int64_t[::1] offsets,
                   int default_sym=-1):
        """Process frames buf[offsets[i]:offsets[i+1]]; returns how many were processed.

        ``default_sym`` is the symbol index of frames without a symbol (the REST snapshot).
        """
        cdef Py_ssize_t i = 0, n = offsets.shape[0] - 1
        cdef Py_ssize_t need = 1 + self.buffer_events   # a snapshot replays the buffer
        cdef const char* base = <const char*>&buf[0] if buf.shape[0] else <const char*>""
        while i < n:
            self._ensure(need)
            with nogil:
                while i < n and self._room(need):
                    self.on_frame(base + offsets[i], offsets[i + 1] - offsets[i], default_sym)
                    i += 1
        return n

    def feed(self, const unsigned char[::1] data, int default_sym=-1):
        """Process one frame."""
        cdef const char* ptr = <const char*>&data[0] if data.shape[0] else <const char*>""
        self._ensure(1 + self.buffer_events)
        self.on_frame(ptr, data.shape[0], default_sym)

    def finish(self):
        """End of input: flush every symbol's open bar."""
        cdef int32_t i
        self._ensure(self.n_sym)
        for i in range(self.n_sym):
            self.emit(&self.states[i], sig_finish(&self.states[i]))

    def bar_timer(self, int sym, int64_t now_ms):
        """Run the live bar timer of a symbol at exchange time ``now_ms``; True when it
        emitted a bar."""
        if not 0 <= sym < self.n_sym:
            raise IndexError(sym)
        self._ensure(1)
        cdef int flags = sig_on_timer(&self.states[sym], now_ms)
        self.emit(&self.states[sym], flags)
        return bool(flags & SIG_BAR)

    def reconnect(self, int sym):
        """The symbol's stream reconnected: reset its book and its L2 signal state."""
        if not 0 <= sym < self.n_sym:
            raise IndexError(sym)
        book_reset(&self.books[sym])
        sig_on_reconnect(&self.states[sym])

    def reset(self):
        """Forget every book, every signal state and the collected rows (no allocation)."""
        cdef int32_t i
        for i in range(self.n_sym):
            book_reset(&self.books[i])
            sig_reset(&self.states[i])
        self.n_rows = self.n_bars = self.n_sigs = 0
        self.frames = 0
        self.decode_errors = 0

    def clear_output(self):
        """Drop the collected rows, keeping the buffers."""
        self.n_rows = self.n_bars = self.n_sigs = 0

    @property
    def symbols(self):
        return self.symbol_names

    @property
    def counts(self):
        """(indicator rows, bars, signals) collected."""
        return self.n_rows, self.n_bars, self.n_sigs

    def arrays(self):
        """Views of the collected rows: {table: {column: numpy array}} (no copy)."""
        rf = self._row_f[:self.n_rows]
        ri = self._row_i[:self.n_rows]
        ind = {"sym": ri[:, 0], "ts_ms": ri[:, 1], "event": ri[:, 2], "u": ri[:, 3],
               "seq": ri[:, 4]}
        for k, c in enumerate(RAW_COLUMNS + NORM_COLUMNS):
            ind[c] = rf[:, k]
        bf = self._bar_f[:self.n_bars]
        bi = self._bar_i[:self.n_bars]
        bars = {"sym": bi[:, 0], "minute_ms": bi[:, 1], "trade_count": bi[:, 2]}
        for k, c in enumerate(("open", "high", "low", "close", "volume", "buy_volume",
                               "sell_volume", "vwap", "spread_mean", "mid_last")
                              + BAR_COLUMNS[13:]):
            bars[c] = bf[:, k]
        sf = self._sig_f[:self.n_sigs]
        si = self._sig_i[:self.n_sigs]
        sigs = {"sym": si[:, 0], "ts_ms": si[:, 1], "seq": si[:, 2], "prev_target": si[:, 3],
                "target": si[:, 4], "reason": si[:, 5], "target_qty": sf[:, 0],
                "mid": sf[:, 1], "dev_osc": sf[:, 2], "ofi_osc": sf[:, 3],
                "vpin_osc": sf[:, 4]}
        return {"indicators": ind, "bars_1m": bars, "signals": sigs}

    def tables(self):
        """The collected rows as ``rtaid.reference.pipeline.run_recording`` returns them:
        {table: {column: list}} with the reference's column names and order."""
        arr = self.arrays()
        names = self.symbol_names
        out = {}
        ind = arr["indicators"]
        t = {"symbol": [names[s] for s in ind["sym"].tolist()]}
        for c in INDICATOR_COLUMNS[1:]:
            if c == "event":
                t[c] = [EVENT_NAMES[e] for e in ind["event"].tolist()]
            else:
                t[c] = ind[c].tolist()
        out["indicators"] = t
        bars = arr["bars_1m"]
        t = {"symbol": [names[s] for s in bars["sym"].tolist()]}
        for c in BAR_COLUMNS[1:]:
            t[c] = bars[c].tolist()
        out["bars_1m"] = t
        sigs = arr["signals"]
        t = {"symbol": [names[s] for s in sigs["sym"].tolist()]}
        for c in SIGNAL_COLUMNS[1:]:
            if c == "reason":
                t[c] = [REASON_NAMES[r] for r in sigs["reason"].tolist()]
            else:
                t[c] = sigs[c].tolist()
        out["signals"] = t
        return out

    def mlofi_vec(self, int sym):
        """The multi-level OFI vector (ofi.levels values, base units) of a symbol."""
        if not 0 <= sym < self.n_sym:
            raise IndexError(sym)
        cdef SymbolSignals* st = &self.states[sym]
        return [st.mlofi_vec[k] for k in range(st.p.ofi_levels)]

    def stats(self, int sym):
        """Counters of a symbol's signal state: ring fill, forced evictions, resyncs."""
        if not 0 <= sym < self.n_sym:
            raise IndexError(sym)
        cdef SymbolSignals* st = &self.states[sym]
        return {
            "ti_window": st.ti.n, "ti_high_water": st.ti.high_water,
            "ti_capacity": st.ti.cap, "ti_forced_evictions": st.ti.forced_evictions,
            "ofi_window": st.ofi.n, "ofi_high_water": st.ofi.high_water,
            "ofi_capacity": st.ofi.cap, "ofi_forced_evictions": st.ofi.forced_evictions,
            "mlofi_window": st.mlofi.n, "mlofi_high_water": st.mlofi.high_water,
            "mlofi_capacity": st.mlofi.cap,
            "mlofi_forced_evictions": st.mlofi.forced_evictions,
            "lpi_pending": st.lpi.pend_n, "lpi_pending_high_water": st.lpi.pend_high_water,
            "lpi_pending_capacity": st.lpi.pend_cap,
            "lpi_forced_evictions": st.lpi.forced_evictions,
            "lpi_history": st.lpi.hist_n, "kyle_pairs": st.kyle.n,
            "kyle_resyncs": st.kyle.resyncs, "vpin_buckets_completed": st.vpin.completed,
            "book_synced": bool(st.book_synced), "target": st.strat.target,
            "rows": st.seq,
        }

    def set_profile(self, bint on):
        """Count TSC cycles per family from now on (benchmarks; costs ~20 ns/section)."""
        cdef int32_t i
        for i in range(self.n_sym):
            self.states[i].profile = on
            memset(self.states[i].prof_cycles, 0, sizeof(self.states[i].prof_cycles))
            memset(self.states[i].prof_calls, 0, sizeof(self.states[i].prof_calls))

    def profile(self, int sym):
        """{section: (cycles, calls)} since set_profile(True); sections: the FAMILIES
        names and ``l2_copy`` (reading the book's top levels for di/mlofi/wall)."""
        if not 0 <= sym < self.n_sym:
            raise IndexError(sym)
        cdef SymbolSignals* st = &self.states[sym]
        names = list(FAMILIES) + ["l2_copy"]
        return {names[i]: (st.prof_cycles[i], st.prof_calls[i]) for i in range(N_PROF)}

    def book_stats(self, int sym):
        if not 0 <= sym < self.n_sym:
            raise IndexError(sym)
        cdef L2Book* b = &self.books[sym]
        return {"state": b.state, "bid_levels": b.bids.n, "ask_levels": b.asks.n,
                "resyncs_needed": b.resyncs_needed}


def _grow(old, Py_ssize_t rows, Py_ssize_t cols, dtype, Py_ssize_t keep):
    new = np.empty((rows, cols), dtype=dtype)
    if old is not None and keep:
        new[:keep] = old[:keep]
    return new


# ------------------------------------------------------------------ recordings
def read_recording_frames(path, max_lines=None):
    """Payloads (bytes) of a collector recording (``<recv_ns> <json>`` lines, gzip or not)."""
    import gzip
    opener = gzip.open if str(path).endswith(".gz") else open
    out = []
    with opener(path, "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            if max_lines is not None and len(out) >= max_lines:
                break
            out.append(line.partition(b" ")[2])
    return out


def pack_frames(payloads):
    """One buffer and an int64 offsets array (n + 1) for ``SignalDriver.run_frames``."""
    buf = b"".join(payloads)
    offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in payloads])
    return buf, offsets


def resolve_params(paths, params=None, exchange_info=None, max_lines=None):
    """Per-symbol Params, L1-from-book symbols and each file's snapshot symbol, resolved
    exactly as ``rtaid.reference.pipeline.run_recording`` does (Decisions P1, P3).

    Returns
    -------
    (dict, set, dict)
        ``{symbol: Params}``, symbols without bookTicker data, ``{path: symbol}``.
    """
    from dataclasses import replace
    from rtaid.reference.indicators import Params
    from rtaid.reference.pipeline import _prescan, tick_sizes
    dec, has_bbo, file_symbol = _prescan(paths, max_lines)
    ticks = tick_sizes(exchange_info)
    out = {}
    for sym, (px_dec, qty_dec) in dec.items():
        base = params.get(sym, Params()) if isinstance(params, dict) else (params or Params())
        out[sym] = replace(base, px_dec=px_dec, qty_dec=qty_dec, tick=ticks.get(sym, base.tick))
    return out, {s for s in dec if s not in has_bbo}, file_symbol


def run_recording(paths, params=None, exchange_info=None, max_lines=None, capacities=None,
                  driver_out=None):
    """Replay recordings through decode -> book -> signal kernels.

    Same arguments and result as ``rtaid.reference.pipeline.run_recording``:
    ``{"indicators": {col: list}, "bars_1m": {...}, "signals": {...}}``.
    ``driver_out`` (a list), if given, receives the SignalDriver.
    """
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    paths = list(paths)
    sym_params, l1_book, file_symbol = resolve_params(paths, params, exchange_info, max_lines)
    symbols = sorted(sym_params)
    driver = SignalDriver(symbols, sym_params, l1_book, capacities=capacities)
    for path in paths:
        payloads = read_recording_frames(path, max_lines)
        buf, offsets = pack_frames(payloads)
        default = symbols.index(file_symbol[path]) if path in file_symbol else -1
        driver.run_frames(buf, offsets, default)
    driver.finish()
    if driver_out is not None:
        driver_out.append(driver)
    return driver.tables()


def tsc_calibration(double seconds=0.05):
    """(cycles per ns, cycles of an empty profiled section) of the profiling clock, to
    turn ``SignalDriver.profile`` counts into ns."""
    import time
    cdef long long c0, c1, t0
    cdef int64_t i, n = 1_000_000, acc = 0
    cdef SymbolSignals probe
    memset(&probe, 0, sizeof(SymbolSignals))
    probe.profile = True
    p0 = time.perf_counter()
    c0 = rtaid_cycles()
    while time.perf_counter() - p0 < seconds:
        pass
    c1 = rtaid_cycles()
    per_ns = (c1 - c0) / ((time.perf_counter() - p0) * 1e9)
    with nogil:
        for i in range(n):
            t0 = prof_begin(&probe)
            prof_end(&probe, 0, t0)
    return per_ns, probe.prof_cycles[0] / <double>n
