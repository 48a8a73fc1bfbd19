"""Signal kernels: the indicators of indicators.md, normalisers, bars and strategy.

Each function reproduces the float order of operations of the pure-Python reference
(rtaid/reference/indicators.py, normalise.py, bars.py, strategy.py); the decisions it
implements are tagged ``Decision (Xn)`` as there (docs/indicator-decisions.md).
Integer quantities stay int64 until the final division of a formula, which is done by
``ratio`` so that it rounds exactly like Python's int / int.
"""
from libc.stdint cimport int64_t, int32_t, INT64_MIN, INT64_MAX
from libc.string cimport memset, memcpy, memmove
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

from collections.abc import Mapping
from decimal import Decimal
from types import SimpleNamespace

# Profiling (benchmarks only, bench/signals.py --families): a build with RTAID_PROFILE=1
# brackets every family section with the TSC; any other build compiles the brackets out.
cdef extern from *:
    """
    #ifdef RTAID_PROFILE
    #define RTAID_PROFILE_BUILD 1
    #else
    #define RTAID_PROFILE_BUILD 0
    #endif
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
    const int RTAID_PROFILE_BUILD

PROFILE_BUILD = bool(RTAID_PROFILE_BUILD)

from rtaid._kernels.records import (
    RAW_COLUMNS, NORM_SERIES, NORM_COLUMNS, EVENT_NAMES, REASON_NAMES,
)


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
    # RTAID_PROFILE_BUILD is a C constant: without the switch this is `return 0`
    return rtaid_cycles() if RTAID_PROFILE_BUILD and st.profile else 0


cdef inline void prof_end(SymbolSignals* st, int32_t section, long long t0) noexcept nogil:
    if RTAID_PROFILE_BUILD and st.profile:
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


# The time windows' rings are allocated at their capacity (calloc: untouched pages cost
# no memory) but used from WINDOW_START_SIZE slots; a full ring below its capacity
# doubles in place (ring_widen) instead of evicting. A ring that wraps through all of
# its slots touches every page of them, so a fixed-size ring ends up resident at full
# capacity (~3.3 MB per symbol at the defaults) however few entries its window holds.
cdef enum:
    WINDOW_START_SIZE = 512


cdef inline int32_t window_start_size(int32_t cap) noexcept nogil:
    return cap if cap < WINDOW_START_SIZE else WINDOW_START_SIZE


cdef inline int32_t window_grown_size(int32_t size, int32_t cap) noexcept nogil:
    return size * 2 if size <= cap // 2 else cap


cdef inline void ring_widen(int64_t* a, int32_t head, int32_t size, int32_t new_size,
                            int32_t stride) noexcept nogil:
    """Make the full ring ``a`` (``size`` entries of ``stride`` values from ``head``)
    a ring of ``new_size`` slots: its entries at ``head .. size - 1`` move to the end
    (``ring_widened_head``); those that wrapped to ``0 .. head - 1`` stay."""
    cdef int32_t moved = size - head
    if head == 0:
        return
    memmove(&a[<int64_t>(new_size - moved) * stride], &a[<int64_t>head * stride],
            <size_t>moved * stride * sizeof(int64_t))


cdef inline int32_t ring_widened_head(int32_t head, int32_t size, int32_t new_size) noexcept nogil:
    return 0 if head == 0 else new_size - (size - head)


include "signals_flow.pxi"
include "signals_depth.pxi"
include "signals_vpin.pxi"
include "signals_kyle.pxi"
include "signals_lpi.pxi"
include "signals_norm.pxi"
include "signals_bars.pxi"
include "signals_strategy.pxi"


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
    st.ti.size = window_start_size(p.trade_window_cap)
    st.ti.T = <int64_t*>rt_calloc(p.trade_window_cap, sizeof(int64_t))
    st.ti.qty = <int64_t*>rt_calloc(p.trade_window_cap, sizeof(int64_t))
    st.ofi.cap = p.l1_window_cap
    st.ofi.size = window_start_size(p.l1_window_cap)
    st.ofi.T = <int64_t*>rt_calloc(p.l1_window_cap, sizeof(int64_t))
    st.ofi.e = <int64_t*>rt_calloc(p.l1_window_cap, sizeof(int64_t))
    st.ofi.q = <int64_t*>rt_calloc(p.l1_window_cap, sizeof(int64_t))
    st.mlofi.K = K
    st.mlofi.cap = p.depth_window_cap
    st.mlofi.size = window_start_size(p.depth_window_cap)
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
    st.lpi.pend_size = window_start_size(p.lpi_pending_cap)
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
    st.strat.model_p = NAN
    st.strat.model_p_next = NAN
    st.strat.model_p_from = INT64_MAX
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



include "signals_params.pxi"
