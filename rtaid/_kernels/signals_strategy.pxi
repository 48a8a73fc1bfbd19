# The mean-reversion strategy (section 9).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

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
    s.model_p = st.strat.model_p
    st.strat.target = new_target
    return SIG_SIGNAL


cdef void sig_set_model_p(SymbolSignals* st, double p, int64_t from_ms) noexcept nogil:
    """Hybrid: the model's probability p_up (NaN: no entries) gates entries from exchange
    time ``from_ms`` on (the first row at or after it takes it)."""
    st.strat.model_p_next = p
    st.strat.model_p_from = from_ms


cdef inline bint model_allows(StrategyState* s, int32_t side, double threshold) noexcept nogil:
    """Hybrid: an entry on ``side`` needs p_up >= threshold (long) or 1 - p_up >= threshold
    (short); NaN (no model yet, or a failed one) allows nothing."""
    if isnan(s.model_p):
        return False
    return s.model_p >= threshold if side > 0 else 1.0 - s.model_p >= threshold


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
    if p.strategy_kind == STRAT_HYBRID and T >= s.model_p_from:
        s.model_p = s.model_p_next
        s.model_p_from = INT64_MAX
    if s.target == 0:
        if s.has_exit and T < s.exit_T + p.strategy_cooldown_ms:
            return 0
        if (not st.book_synced or not st.has_l1 or T - st.l1_T > p.strategy_stale_ms
                or isnan(mid)):
            return 0
        if (dev <= p.strategy_entry_low and ofi >= 50.0 and vpin <= p.strategy_toxic_max
                and (p.strategy_kind != STRAT_HYBRID
                     or model_allows(s, 1, p.strategy_model_threshold))):
            s.entry_T = T
            s.entry_mid = mid
            return strategy_signal(st, 1, RS_ENTRY_LONG, mid)
        if (dev >= p.strategy_entry_high and ofi <= 50.0 and vpin <= p.strategy_toxic_max
                and (p.strategy_kind != STRAT_HYBRID
                     or model_allows(s, -1, p.strategy_model_threshold))):
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
