# VPIN over volume buckets of exact lots (section 4).
# Included by signals.pyx (one compilation unit: the inline helpers stay inline).

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
