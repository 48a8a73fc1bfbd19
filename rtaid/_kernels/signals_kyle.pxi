# Kyle's lambda on a fixed exchange-time clock (section 5).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

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
