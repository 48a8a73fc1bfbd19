# One-minute bars (section 10).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

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
