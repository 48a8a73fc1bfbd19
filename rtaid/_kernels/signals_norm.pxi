# Normalisation: time-decayed EWMA z-scores and [0, 100] oscillators (section 8).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

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
    cdef bint defined
    if not isfinite(x):
        z_out[0] = NAN
        osc_out[0] = NAN
        return
    s.count += 1
    if s.count == 1:
        s.mu = x
        s.var = 0.0
        s.w = 0.0
        s.t_prev = t
        z_out[0] = NAN
        osc_out[0] = NAN
        return
    dt = t - s.t_prev
    if dt < 0:
        dt = 0
    a = decay_weight(decay, dt, p.norm_tau_ms)
    # w: the weight the data holds in var (indicators.md section 8): sigma = sqrt(var / w)
    # has its full size from the second update on, not only after about tau
    defined = s.w > 0.0
    z = NAN
    if defined:
        sigma = sqrt(s.var / s.w)
        floor_ = p.norm_sigma_floor
        z = (x - s.mu) / (sigma if sigma >= floor_ else floor_)
    d = x - s.mu
    s.mu = s.mu + a * d
    s.var = (1.0 - a) * (s.var + a * d * d)
    s.w = (1.0 - a) * (s.w + a)
    s.t_prev = t
    if defined and s.count - 1 >= (p.norm_warmup if p.norm_warmup > 1 else 1):
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
