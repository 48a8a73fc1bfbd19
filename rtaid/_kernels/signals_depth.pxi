# L2 shape: depth-weighted imbalance (di) and the wall ratio (sections 1, 7).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

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
