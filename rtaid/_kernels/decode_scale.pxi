# Exact decimal -> scaled int64 conversion and the symbol table's hashing.
# Included by decode.pyx (one compilation unit: the inline helpers stay inline).

# ---------------------------------------------------------------- scaling, symbols
cdef inline int scale_to(RawDecimal r, int32_t dec, int64_t* out) noexcept nogil:
    """Exact r * 10**dec as an integer, or an error if digits would be lost or overflow."""
    cdef int32_t k
    cdef int64_t d
    if r.ndec == dec:
        out[0] = r.mant
    elif r.ndec < dec:
        k = dec - r.ndec
        if k > 18:
            return DEC_ERR_NUMBER
        if r.mant > INT64_MAX // POW10[k] or r.mant < -(INT64_MAX // POW10[k]):
            return DEC_ERR_NUMBER
        out[0] = r.mant * POW10[k]
    else:
        k = r.ndec - dec
        if k > 18:
            return DEC_ERR_PRECISION
        d = POW10[k]
        if r.mant % d != 0:
            return DEC_ERR_PRECISION
        out[0] = r.mant // d
    return DEC_OK


cdef inline int scale_round(RawDecimal r, int32_t dec, int64_t* out) noexcept nogil:
    """r * 10**dec rounded half away from zero: for the mark price only, which Binance
    publishes with 8 decimals off the tick grid (an index-derived value, not a price
    anyone trades at), so exact scaling would reject nearly every one."""
    cdef int32_t k
    cdef int64_t d, q, rem
    if r.ndec <= dec:
        return scale_to(r, dec, out)
    k = r.ndec - dec
    if k > 18:
        return DEC_ERR_PRECISION
    d = POW10[k]
    q = r.mant // d
    rem = r.mant % d
    if r.mant >= 0:
        out[0] = q + (1 if 2 * rem >= d else 0)
    else:
        # C division truncates toward zero, so rem <= 0 here
        out[0] = q - (1 if -2 * rem >= d else 0)
    return DEC_OK


cdef inline uint32_t symbol_hash(const char* s, Py_ssize_t n) noexcept nogil:
    """FNV-1a of the ASCII-lowercased name."""
    cdef uint32_t h = 2166136261u
    cdef Py_ssize_t i
    cdef unsigned char c
    for i in range(n):
        c = <unsigned char>s[i]
        if c >= c'A' and c <= c'Z':
            c += 32
        h = (h ^ c) * 16777619u
    return h


cdef inline bint symbol_eq(const SymbolScale* sc, const char* s, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef unsigned char c
    if sc.name_len != n:
        return False
    for i in range(n):
        c = <unsigned char>s[i]
        if c >= c'A' and c <= c'Z':
            c += 32
        if <unsigned char>sc.name[i] != c:
            return False
    return True
