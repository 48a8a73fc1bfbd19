# Order-flow windows: trade imbalance (ti), OFI and multi-level OFI (indicators.md sections 1, 3).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

# ------------------------------------------------------------------ ti
cdef inline void ti_pop(TradeWindow* w) noexcept nogil:
    cdef int64_t q0 = w.qty[w.head]
    if q0 > 0:
        w.vbuy -= q0
    else:
        w.vsell += q0
    w.head = ring_slot(w.head, 1, w.size)
    w.n -= 1


cdef inline void ti_widen(TradeWindow* w) noexcept nogil:
    cdef int32_t size = window_grown_size(w.size, w.cap)
    ring_widen(w.T, w.head, w.size, size, 1)
    ring_widen(w.qty, w.head, w.size, size, 1)
    w.head = ring_widened_head(w.head, w.size, size)
    w.size = size


cdef inline double ti_on_trade(TradeWindow* w, int64_t T, int32_t d, int64_t qty,
                               int64_t window_ms) noexcept nogil:
    cdef int32_t j
    if w.n == w.size:
        # full: first what the time window drops anyway, then widen the ring up to its
        # capacity, then force out the oldest
        while w.n > 0 and w.T[w.head] <= T - window_ms:
            ti_pop(w)
        if w.n == w.size:
            if w.size < w.cap:
                ti_widen(w)
            else:
                ti_pop(w)
                w.forced_evictions += 1
    j = ring_slot(w.head, w.n, w.size)
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
    w.head = ring_slot(w.head, 1, w.size)
    w.n -= 1


cdef inline void ofi_widen(OfiWindow* w) noexcept nogil:
    cdef int32_t size = window_grown_size(w.size, w.cap)
    ring_widen(w.T, w.head, w.size, size, 1)
    ring_widen(w.e, w.head, w.size, size, 1)
    ring_widen(w.q, w.head, w.size, size, 1)
    w.head = ring_widened_head(w.head, w.size, size)
    w.size = size


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
    if w.n == w.size:
        while w.n > 0 and w.T[w.head] <= T - p.ofi_window_ms:
            ofi_pop(w)
        if w.n == w.size:
            if w.size < w.cap:
                ofi_widen(w)
            else:
                ofi_pop(w)
                w.forced_evictions += 1
    j = ring_slot(w.head, w.n, w.size)
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
    w.head = ring_slot(w.head, 1, w.size)
    w.n -= 1


cdef inline void mlofi_widen(MlofiWindow* w) noexcept nogil:
    cdef int32_t size = window_grown_size(w.size, w.cap)
    ring_widen(w.T, w.head, w.size, size, 1)
    ring_widen(w.e, w.head, w.size, size, w.K)
    ring_widen(w.depth, w.head, w.size, size, 1)
    w.head = ring_widened_head(w.head, w.size, size)
    w.size = size


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
    if w.n == w.size:
        while w.n > 0 and w.T[w.head] <= T - p.ofi_window_ms:
            mlofi_pop(w)
        if w.n == w.size:
            if w.size < w.cap:
                mlofi_widen(w)
            else:
                mlofi_pop(w)
                w.forced_evictions += 1
    j = ring_slot(w.head, w.n, w.size)
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
