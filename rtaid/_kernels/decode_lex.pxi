# JSON lexing straight from the frame's bytes: whitespace, strings, integers, decimals,
# booleans, skipped values, depth levels, literal compares (no allocation, no GIL).
# Included by decode.pyx (one compilation unit: the inline helpers stay inline).

# ---------------------------------------------------------------- scanning helpers
cdef inline bint is_ws(char c) noexcept nogil:
    # JSON whitespace is all <= ' ': one compare rejects the usual next character.
    # (GCC 12 already compiles the four tests to a range check and a bit test, but the
    # code it generates around this form measured 3% faster on bench/kernels.py.)
    return <unsigned char>c <= 32 and (c == c' ' or c == c'\n' or c == c'\r' or c == c'\t')


cdef inline const char* skip_ws(const char* p, const char* e) noexcept nogil:
    while p < e and is_ws(p[0]):
        p += 1
    return p


# Scanners take the position p and return the position after what they read, or NULL
# with the DEC_* error in rc[0]: the position stays in a register from one field to the
# next (through a pointer argument it would make a store and a reload per call, on the
# path every later field waits for).

cdef inline const char* scan_string(const char* p, const char* e, const char** s,
                                    Py_ssize_t* n, int* rc) noexcept nogil:
    """p at the opening quote; s/n span the raw contents."""
    cdef const char* start = p + 1
    cdef const char* q
    cdef unsigned char c
    cdef uint64_t flags
    # Fast path: Binance's strings are short and never escaped; an inline scan, eight
    # bytes per step, beats a libc call at these lengths. Control characters are only
    # checked on the slow path.
    q = start
    while e - q >= 8:
        flags = rtaid_quote_or_backslash(rtaid_load8(q))
        if flags:
            q += rtaid_first_flagged_byte(flags)
            break
        q += 8
    else:
        while q < e and q[0] != c'"' and q[0] != c'\\':
            q += 1
    if q < e and q[0] == c'"':
        s[0] = start
        n[0] = q - start
        return q + 1
    p = start
    while p < e:
        c = <unsigned char>p[0]
        if c == c'"':
            s[0] = start
            n[0] = p - start
            return p + 1
        if c == c'\\':
            p += 2
            continue
        if c < 0x20:
            rc[0] = DEC_ERR_SYNTAX
            return NULL
        p += 1
    rc[0] = DEC_ERR_TRUNCATED
    return NULL


cdef const char* scan_decimal_exact(const char* p, const char* e, RawDecimal* out,
                                    int* rc) noexcept nogil:
    """Slow path of scan_decimal for long strings: counts significant digits only."""
    cdef int64_t mant = 0
    cdef int32_t ndec = 0, sig = 0
    cdef bint neg = False, dot = False, digit = False
    cdef char c
    p += 1
    if p < e and p[0] == c'-':
        neg = True
        p += 1
    while p < e:
        c = p[0]
        if c >= c'0' and c <= c'9':
            digit = True
            if mant != 0 or c != c'0':
                sig += 1
                if sig > MAX_SIG_DIGITS:
                    rc[0] = DEC_ERR_NUMBER
                    return NULL
            mant = mant * 10 + (c - c'0')
            if dot:
                ndec += 1
        elif c == c'.' and not dot:
            dot = True
        elif c == c'"':
            if not digit:
                rc[0] = DEC_ERR_NUMBER
                return NULL
            out.mant = -mant if neg else mant
            out.ndec = ndec
            return p + 1
        else:
            rc[0] = DEC_ERR_NUMBER
            return NULL
        p += 1
    rc[0] = DEC_ERR_TRUNCATED
    return NULL


cdef inline const char* scan_digits_dot_digits(const char* p, const char* e, uint64_t* mant,
                                               Py_ssize_t* nint, Py_ssize_t* ndec) noexcept nogil:
    """Digits, then optionally '.' and digits, accumulated into mant (the caller bounds
    the digit count); returns the position after them. Shared by scan_decimal's fast
    path and scan_plain_decimal; inlined, so mant stays in a register."""
    cdef const char* start = p
    cdef const char* frac
    cdef uint64_t m = 0
    cdef uint32_t d
    while p < e:
        d = <uint32_t>(<unsigned char>p[0]) - 48u
        if d > 9u:
            break
        m = m * 10u + d
        p += 1
    nint[0] = p - start
    ndec[0] = 0
    if p < e and p[0] == c'.':
        p += 1
        frac = p
        while p < e:
            d = <uint32_t>(<unsigned char>p[0]) - 48u
            if d > 9u:
                break
            m = m * 10u + d
            p += 1
        ndec[0] = p - frac
    mant[0] = m
    return p


cdef inline const char* scan_decimal(const char* p, const char* e, RawDecimal* out,
                                     int* rc) noexcept nogil:
    """A decimal inside a JSON string ("61800.30"); p at the opening quote.

    Fast path: two tight digit loops with one unsigned compare per character; the
    digit count (not a per-digit check) rules out overflow, and strings of more than
    18 digits take the exact slow path.
    """
    cdef const char* start
    cdef uint64_t mant
    cdef Py_ssize_t nint, ndec
    cdef bint neg = False
    p += 1
    if p < e and p[0] == c'-':
        neg = True
        p += 1
    start = p
    p = scan_digits_dot_digits(p, e, &mant, &nint, &ndec)
    if p >= e:
        rc[0] = DEC_ERR_TRUNCATED
        return NULL
    if p[0] != c'"' or nint + ndec == 0:
        rc[0] = DEC_ERR_NUMBER
        return NULL
    if nint + ndec > MAX_SIG_DIGITS:
        return scan_decimal_exact(start - 1 - neg, e, out, rc)   # from the quote
    out.mant = -<int64_t>mant if neg else <int64_t>mant
    out.ndec = <int32_t>ndec
    return p + 1


cdef inline const char* scan_int(const char* p, const char* e, int64_t* out, int* rc) noexcept nogil:
    """A bare JSON integer (ids and times), at most 18 digits."""
    cdef const char* start
    cdef uint64_t v = 0
    cdef uint32_t d
    cdef bint neg = False
    if p < e and p[0] == c'-':
        neg = True
        p += 1
    start = p
    if e - p >= 8 and rtaid_is_8digits(rtaid_load8(p)):
        v = rtaid_parse_8digits(rtaid_load8(p))
        p += 8
    while p < e:
        d = <uint32_t>(<unsigned char>p[0]) - 48u
        if d > 9u:
            break
        v = v * 10u + d
        p += 1
    if p == start:
        rc[0] = DEC_ERR_TRUNCATED if p >= e else DEC_ERR_TYPE
        return NULL
    if p - start > MAX_SIG_DIGITS:
        rc[0] = DEC_ERR_NUMBER
        return NULL
    if p >= e:
        rc[0] = DEC_ERR_TRUNCATED     # a number can never end a valid message
        return NULL
    if p[0] == c'.' or p[0] == c'e' or p[0] == c'E':
        rc[0] = DEC_ERR_TYPE
        return NULL
    out[0] = -<int64_t>v if neg else <int64_t>v
    return p


cdef inline const char* scan_bool(const char* p, const char* e, int32_t* out, int* rc) noexcept nogil:
    if e - p >= 4 and p[0] == c't' and p[1] == c'r' and p[2] == c'u' and p[3] == c'e':
        out[0] = 1
        return p + 4
    if e - p >= 5 and p[0] == c'f' and p[1] == c'a' and p[2] == c'l' and p[3] == c's' and p[4] == c'e':
        out[0] = 0
        return p + 5
    rc[0] = DEC_ERR_TRUNCATED if e - p < 5 else DEC_ERR_TYPE
    return NULL


cdef const char* skip_value(const char* p, const char* e, int* rc) noexcept nogil:
    """Skip any JSON value without recursion (nesting up to 64 levels)."""
    cdef const char* s
    cdef Py_ssize_t n
    cdef char stack[64]
    cdef int depth = 0
    cdef char c
    p = skip_ws(p, e)
    if p >= e:
        rc[0] = DEC_ERR_TRUNCATED
        return NULL
    c = p[0]
    if c == c'"':
        return scan_string(p, e, &s, &n, rc)
    if c != c'{' and c != c'[':
        # number or literal
        s = p
        while p < e:
            c = p[0]
            if not ((c >= c'0' and c <= c'9') or (c >= c'a' and c <= c'z')
                    or c == c'-' or c == c'+' or c == c'.' or c == c'E'):
                break
            p += 1
        if p == s:
            rc[0] = DEC_ERR_SYNTAX
            return NULL
        if p >= e:
            rc[0] = DEC_ERR_TRUNCATED
            return NULL
        return p
    while p < e:
        c = p[0]
        if c == c'"':
            p = scan_string(p, e, &s, &n, rc)
            if p == NULL:
                return NULL
            continue
        if c == c'{' or c == c'[':
            if depth >= 64:
                rc[0] = DEC_ERR_SYNTAX
                return NULL
            stack[depth] = c'}' if c == c'{' else c']'
            depth += 1
        elif c == c'}' or c == c']':
            if depth == 0 or stack[depth - 1] != c:
                rc[0] = DEC_ERR_SYNTAX
                return NULL
            depth -= 1
            if depth == 0:
                return p + 1
        p += 1
    rc[0] = DEC_ERR_TRUNCATED
    return NULL


cdef inline const char* expect(const char* p, const char* e, char c, int* rc) noexcept nogil:
    p = skip_ws(p, e)
    if p >= e:
        rc[0] = DEC_ERR_TRUNCATED
        return NULL
    if p[0] != c:
        rc[0] = DEC_ERR_SYNTAX
        return NULL
    return p + 1


cdef inline const char* scan_quoted_decimal(const char* p, const char* e, RawDecimal* out,
                                            int* rc) noexcept nogil:
    """Whitespace, then a decimal in a JSON string."""
    p = expect(p, e, c'"', rc)
    if p == NULL:
        if rc[0] == DEC_ERR_SYNTAX:
            rc[0] = DEC_ERR_TYPE
        return NULL
    return scan_decimal(p - 1, e, out, rc)


cdef const char* scan_level(const char* p, const char* e, RawLevel* out, int* rc) noexcept nogil:
    """One ["px", "qty"] pair, any whitespace."""
    p = expect(p, e, c'[', rc)
    if p != NULL:
        p = scan_quoted_decimal(p, e, &out.px, rc)
    if p != NULL:
        p = expect(p, e, c',', rc)
    if p != NULL:
        p = scan_quoted_decimal(p, e, &out.qty, rc)
    if p != NULL:
        p = expect(p, e, c']', rc)
    return p


cdef inline const char* scan_plain_decimal(const char* p, const char* e, RawDecimal* out) noexcept nogil:
    """Digits, optionally '.' and digits, then the closing quote (p after the opening
    one), at most 18 digits: the prices and sizes of depth levels, with none of
    scan_decimal's other cases in the way. NULL for anything else."""
    cdef uint64_t mant
    cdef Py_ssize_t nint, ndec
    p = scan_digits_dot_digits(p, e, &mant, &nint, &ndec)
    if p >= e or p[0] != c'"' or nint + ndec == 0 or nint + ndec > MAX_SIG_DIGITS:
        return NULL
    out.mant = <int64_t>mant
    out.ndec = <int32_t>ndec
    return p + 1


cdef inline const char* scan_level_compact(const char* p, const char* e, RawLevel* out) noexcept nogil:
    """The exact form Binance sends, ["px","qty"] with no whitespace and plain
    decimals; NULL for anything else, which scan_level then parses or rejects."""
    if not (e - p > 2 and p[0] == c'[' and p[1] == c'"'):
        return NULL
    p = scan_plain_decimal(p + 2, e, &out.px)
    if p == NULL or not (e - p > 1 and p[0] == c',' and p[1] == c'"'):
        return NULL
    p = scan_plain_decimal(p + 2, e, &out.qty)
    if p == NULL or not (p < e and p[0] == c']'):
        return NULL
    return p + 1


cdef const char* scan_levels(const char* p, const char* e, int32_t cap, RawLevel* raw,
                             Level* scaled, int32_t px_dec, int32_t qty_dec, int32_t* count,
                             int* rc) noexcept nogil:
    """[["px","qty"], ...]; p at '['. The levels go to raw as read or, when raw is
    NULL, to scaled at the given decimals; a level that does not scale exactly is
    DEC_RESCAN_RAW (the frame is read again with raw levels, for the usual errors)."""
    cdef const char* q
    cdef int32_t n = 0
    cdef RawLevel level
    p = skip_ws(p + 1, e)
    if p >= e:
        rc[0] = DEC_ERR_TRUNCATED
        return NULL
    if p[0] == c']':
        count[0] = 0
        return p + 1
    while True:
        if n >= cap:
            rc[0] = DEC_ERR_TOO_MANY_LEVELS
            return NULL
        q = scan_level_compact(p, e, &level)
        if q == NULL:
            q = scan_level(p, e, &level, rc)
            if q == NULL:
                return NULL
        p = q
        if raw != NULL:
            raw[n] = level
        elif (scale_to(level.px, px_dec, &scaled[n].px) != DEC_OK
              or scale_to(level.qty, qty_dec, &scaled[n].qty) != DEC_OK):
            rc[0] = DEC_RESCAN_RAW
            return NULL
        n += 1
        if p < e and p[0] == c',':      # the common case, before the general tail
            p += 1
            continue
        # after a level: another one, or the end of the array
        p = skip_ws(p, e)
        if p >= e:
            rc[0] = DEC_ERR_TRUNCATED
            return NULL
        if p[0] == c',':
            p += 1
            continue
        if p[0] == c']':
            count[0] = n
            return p + 1
        rc[0] = DEC_ERR_SYNTAX
        return NULL


cdef inline bint span_eq(const char* s, Py_ssize_t n, const char* lit, Py_ssize_t m) noexcept nogil:
    # memcmp of a literal's constant length compiles to a few word compares
    return n == m and memcmp(s, lit, m) == 0


cdef inline int32_t event_kind(const char* s, Py_ssize_t n) noexcept nogil:
    if span_eq(s, n, "depthUpdate", 11):
        return MSG_DEPTH
    if span_eq(s, n, "bookTicker", 10):
        return MSG_BBO
    if span_eq(s, n, "trade", 5):
        return MSG_TRADE
    if span_eq(s, n, "aggTrade", 8):
        return MSG_AGGTRADE
    if span_eq(s, n, "markPriceUpdate", 15):
        return MSG_MARK
    return KIND_UNKNOWN
