# Liquidity provider incentive: realized spread matured after a horizon (section 6).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

# ------------------------------------------------------------------ lpi
cdef inline void lpi_pop_pending(LpiState* s) noexcept nogil:
    cdef int32_t nxt
    if s.pend_n >= 2:
        nxt = ring_slot(s.pend_head, 1, s.pend_size)
        if s.pend_T[nxt] < s.pend_T[s.pend_head]:
            s.pend_inversions -= 1
    s.pend_head = ring_slot(s.pend_head, 1, s.pend_size)
    s.pend_n -= 1


cdef inline void lpi_widen_pending(LpiState* s) noexcept nogil:
    cdef int32_t size = window_grown_size(s.pend_size, s.pend_cap)
    ring_widen(s.pend_T, s.pend_head, s.pend_size, size, 1)
    ring_widen(s.pend_d, s.pend_head, s.pend_size, size, 1)
    ring_widen(s.pend_px, s.pend_head, s.pend_size, size, 1)
    ring_widen(s.pend_qty, s.pend_head, s.pend_size, size, 1)
    ring_widen(s.pend_m2, s.pend_head, s.pend_size, size, 1)
    s.pend_head = ring_widened_head(s.pend_head, s.pend_size, size)
    s.pend_size = size


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
    if s.pend_n == s.pend_size:
        if s.pend_size < s.pend_cap:
            lpi_widen_pending(s)
        else:
            lpi_pop_pending(s)
            s.forced_evictions += 1
    if s.pend_n > 0:
        j = ring_slot(s.pend_head, s.pend_n - 1, s.pend_size)
        if T < s.pend_T[j]:
            s.pend_inversions += 1
    j = ring_slot(s.pend_head, s.pend_n, s.pend_size)
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
            j = ring_slot(s.pend_head, r, s.pend_size)
            if s.pend_T[j] <= cutoff:
                lpi_mature(s, j, m2, p)
                s.pend_T[j] = INT64_SENTINEL
                matured += 1
        # ... then compact the survivors (back to front, so nothing is overwritten)
        if matured:
            w = n - 1
            r = n - 1
            while r >= 0:
                j = ring_slot(s.pend_head, r, s.pend_size)
                if s.pend_T[j] != INT64_SENTINEL:
                    if r != w:
                        lpi_copy_pending(s, ring_slot(s.pend_head, w, s.pend_size), j)
                    w -= 1
                r -= 1
            s.pend_head = ring_slot(s.pend_head, w + 1, s.pend_size)
            s.pend_n = n - matured
            s.pend_inversions = 0
            for r in range(1, s.pend_n):
                if (s.pend_T[ring_slot(s.pend_head, r, s.pend_size)]
                        < s.pend_T[ring_slot(s.pend_head, r - 1, s.pend_size)]):
                    s.pend_inversions += 1
    if matured:
        s.value = s.swx / s.sw - p.lpi_maker_fee_bps if s.sw != 0.0 else NAN
    return matured
