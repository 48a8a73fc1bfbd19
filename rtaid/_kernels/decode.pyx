"""Binance USD-M message decoder: JSON bytes -> Msg struct, no Python objects.

Handles combined-stream frames (``{"stream":..,"data":{..}}``) and bare payloads of
depthUpdate, bookTicker, trade, aggTrade and markPriceUpdate, plus the REST depth
snapshot. Field order and whitespace are free, as JSON allows. Prices and sizes are
read as exact decimals (mantissa, number of decimals) and scaled to the symbol's
integer ticks/lots once the message's symbol is known, so "61800.30" is exactly
6180030 at 2 decimals and "0.000" is a zero size (a delete).

Every read is bounds-checked against the end of the buffer: malformed, truncated
or unexpected input returns a negative result code; unknown event types, unknown
symbols and subscription replies return a positive "skipped" code. Both are counted.
"""
from libc.stdint cimport int64_t, int32_t, uint32_t, uint64_t, uint8_t, INT64_MAX
from libc.string cimport memcpy, memset, memcmp
from rtaid._kernels.mem cimport rt_calloc, rt_free

# Largest mantissa we accept: 18 significant digits always fit in int64.

cdef int64_t[19] POW10
cdef int _i
POW10[0] = 1
for _i in range(1, 19):
    POW10[_i] = POW10[_i - 1] * 10

cdef extern from *:
    """
    #include <string.h>
    /* Eight ASCII digits at once (simdjson's SWAR trick): the ids and exchange times
       of every Binance message have 10-13 digits. */
    static inline uint64_t rtaid_load8(const char* p) { uint64_t v; memcpy(&v, p, 8); return v; }
    static inline int rtaid_is_8digits(uint64_t v) {
        return (((v & 0xF0F0F0F0F0F0F0F0ULL) |
                 (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) == 0x3333333333333333ULL);
    }
    static inline uint32_t rtaid_parse_8digits(uint64_t v) {
        const uint64_t mask = 0x000000FF000000FFULL;
        const uint64_t mul1 = 0x000F424000000064ULL;
        const uint64_t mul2 = 0x0000271000000001ULL;
        v -= 0x3030303030303030ULL;
        v = (v * 10) + (v >> 8);
        v = (((v & mask) * mul1) + (((v >> 16) & mask) * mul2)) >> 32;
        return (uint32_t)v;
    }
    /* Bytes of v, in memory order, that are '"' or a backslash: their high bit set in
       the result. Zero-byte detection on v ^ pattern can also flag bytes above a
       match (borrows), never below one, so the lowest flag is always exact. */
    static inline uint64_t rtaid_quote_or_backslash(uint64_t v) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t q = v ^ 0x2222222222222222ULL, b = v ^ 0x5C5C5C5C5C5C5C5CULL;
        return (((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
    }
    static inline int rtaid_first_flagged_byte(uint64_t flags) { return __builtin_ctzll(flags) >> 3; }
    """
    uint64_t rtaid_load8(const char* p) noexcept nogil
    uint64_t rtaid_quote_or_backslash(uint64_t v) noexcept nogil
    int rtaid_first_flagged_byte(uint64_t flags) noexcept nogil
    bint rtaid_is_8digits(uint64_t v) noexcept nogil
    uint32_t rtaid_parse_8digits(uint64_t v) noexcept nogil

# Fields seen while parsing (Parsed.have)
cdef enum:
    F_E = 1 << 0
    F_T = 1 << 1
    F_U = 1 << 2
    F_u = 1 << 3
    F_pu = 1 << 4
    F_TRADE_ID = 1 << 5
    F_LAST_ID = 1 << 6
    F_BID_LEVELS = 1 << 7
    F_ASK_LEVELS = 1 << 8
    F_b = 1 << 9
    F_B = 1 << 10
    F_a = 1 << 11
    F_A = 1 << 12
    F_p = 1 << 13
    F_q = 1 << 14
    F_m = 1 << 15
    F_s = 1 << 16
    F_STREAM = 1 << 17
    F_CONTROL = 1 << 18

cdef enum:
    KIND_UNKNOWN = -1
    MAX_SIG_DIGITS = 18
    # Internal, never returned by decode: read the frame again with raw levels
    DEC_RESCAN_RAW = -100

RESULT_NAMES = {
    DEC_OK: "ok",
    DEC_SKIP_UNKNOWN_EVENT: "unknown_event",
    DEC_SKIP_UNKNOWN_SYMBOL: "unknown_symbol",
    DEC_SKIP_CONTROL: "control",
    DEC_SKIP_NO_SCALE: "no_scale",
    DEC_ERR_SYNTAX: "syntax",
    DEC_ERR_TRUNCATED: "truncated",
    DEC_ERR_NUMBER: "number",
    DEC_ERR_PRECISION: "precision",
    DEC_ERR_TOO_MANY_LEVELS: "too_many_levels",
    DEC_ERR_MISSING_FIELD: "missing_field",
    DEC_ERR_TYPE: "type",
}
KIND_NAMES = {
    MSG_NONE: "none", MSG_DEPTH: "depth", MSG_BBO: "bbo", MSG_TRADE: "trade",
    MSG_AGGTRADE: "aggTrade", MSG_MARK: "mark", MSG_SNAPSHOT: "snapshot",
}


include "decode_lex.pxi"
include "decode_scale.pxi"


cdef class Decoder:
    """Decode Binance USD-M frames into ``Msg`` structs.

    Parameters
    ----------
    max_levels : int
        Capacity of the per-side level buffers; a message with more levels on one side
        is rejected with ``DEC_ERR_TOO_MANY_LEVELS``.
    """

    def __cinit__(self, int max_levels=8192):
        if max_levels < 1:
            raise ValueError("max_levels must be >= 1")
        self.max_levels = max_levels
        self.raw_bids = <RawLevel*>rt_calloc(max_levels, sizeof(RawLevel))
        self.raw_asks = <RawLevel*>rt_calloc(max_levels, sizeof(RawLevel))
        self.bids = <Level*>rt_calloc(max_levels, sizeof(Level))
        self.asks = <Level*>rt_calloc(max_levels, sizeof(Level))
        if not (self.raw_bids and self.raw_asks and self.bids and self.asks):
            raise MemoryError()
        self.n_symbols = 0
        self.last_sym = -1
        self.messages = 0
        memset(self._result_counts, 0, sizeof(self._result_counts))
        memset(self._kind_counts, 0, sizeof(self._kind_counts))
        cdef int i
        for i in range(1024):
            self.slots[i] = -1

    def __dealloc__(self):
        rt_free(self.raw_bids, self.max_levels, sizeof(RawLevel))
        rt_free(self.raw_asks, self.max_levels, sizeof(RawLevel))
        rt_free(self.bids, self.max_levels, sizeof(Level))
        rt_free(self.asks, self.max_levels, sizeof(Level))

    # ------------------------------------------------------------ symbols
    def add_symbol(self, str name, int px_dec=-1, int qty_dec=-1):
        """Register a symbol; returns its index. Decimals -1 are inferred from the data."""
        cdef bytes raw = name.lower().encode("ascii")
        cdef Py_ssize_t n = len(raw)
        if n == 0 or n > SYMBOL_MAX_LEN:
            raise ValueError(f"bad symbol name {name!r}")
        if not (-1 <= px_dec <= 18 and -1 <= qty_dec <= 18):
            raise ValueError("decimals must be in [-1, 18]")
        cdef int32_t existing = self.lookup(raw, n)
        if existing >= 0:
            self.set_scales(existing, px_dec, qty_dec)
            return existing
        if self.n_symbols >= MAX_SYMBOLS:
            raise ValueError(f"at most {MAX_SYMBOLS} symbols per decoder")
        cdef int32_t idx = self.n_symbols
        cdef SymbolScale* sc = &self.symbols[idx]
        memset(sc.name, 0, sizeof(sc.name))
        memcpy(sc.name, <const char*>raw, n)
        sc.name_len = <int32_t>n
        sc.px_dec = px_dec
        sc.qty_dec = qty_dec
        cdef uint32_t slot = symbol_hash(raw, n) & 1023
        while self.slots[slot] >= 0:
            slot = (slot + 1) & 1023
        self.slots[slot] = idx
        self.n_symbols += 1
        return idx

    def set_scales(self, int sym, int px_dec, int qty_dec):
        if not 0 <= sym < self.n_symbols:
            raise IndexError(sym)
        self.symbols[sym].px_dec = px_dec
        self.symbols[sym].qty_dec = qty_dec

    def scales(self, int sym):
        """``(px_dec, qty_dec)`` of a symbol (-1 while still unknown)."""
        if not 0 <= sym < self.n_symbols:
            raise IndexError(sym)
        return self.symbols[sym].px_dec, self.symbols[sym].qty_dec

    def symbol_index(self, str name):
        cdef bytes raw = name.encode("ascii")
        return self.lookup(raw, len(raw))

    @property
    def symbol_names(self):
        return [self.symbols[i].name[:self.symbols[i].name_len].decode().upper()
                for i in range(self.n_symbols)]

    cdef int32_t lookup(self, const char* name, Py_ssize_t n) noexcept nogil:
        cdef uint32_t slot
        cdef int32_t idx
        # Consecutive frames mostly name the same symbol: one compare instead of a hash.
        if self.last_sym >= 0 and symbol_eq(&self.symbols[self.last_sym], name, n):
            return self.last_sym
        slot = symbol_hash(name, n) & 1023
        while True:
            idx = self.slots[slot]
            if idx < 0:
                return -1
            if symbol_eq(&self.symbols[idx], name, n):
                self.last_sym = idx
                return idx
            slot = (slot + 1) & 1023

    # ------------------------------------------------------------ parsing
    cdef const char* parse_object(self, const char* p, const char* e, Parsed* st, int depth,
                                  int* rc) noexcept nogil:
        """Parse an object's members into st; p just after skip_ws, at '{'. Returns the
        position after it, or NULL with the error in rc[0]."""
        cdef const char* k
        cdef Py_ssize_t kn
        cdef const char* s
        cdef Py_ssize_t sn
        cdef char c, v
        if p >= e:
            rc[0] = DEC_ERR_TRUNCATED
            return NULL
        if p[0] != c'{':
            rc[0] = DEC_ERR_SYNTAX if depth == 0 else DEC_ERR_TYPE
            return NULL
        p = skip_ws(p + 1, e)
        if p >= e:
            rc[0] = DEC_ERR_TRUNCATED
            return NULL
        if p[0] == c'}':
            return p + 1
        while True:
            if p >= e:
                rc[0] = DEC_ERR_TRUNCATED
                return NULL
            if p[0] != c'"':
                rc[0] = DEC_ERR_SYNTAX
                return NULL
            if e - p > 3 and p[2] == c'"' and p[3] == c':' and p[1] != c'\\' and p[1] != c'"':
                # most Binance keys are one character: "e":, "E":, "b": ...
                k = p + 1
                kn = 1
                p += 4
            else:
                p = scan_string(p, e, &k, &kn, rc)
                if p == NULL:
                    return NULL
                p = expect(p, e, c':', rc)
                if p == NULL:
                    return NULL
            p = skip_ws(p, e)
            if p >= e:
                rc[0] = DEC_ERR_TRUNCATED
                return NULL
            v = p[0]
            if kn == 1:
                c = k[0]
                if c == c'e':
                    if v != c'"':
                        rc[0] = DEC_ERR_TYPE
                        return NULL
                    p = scan_string(p, e, &s, &sn, rc)
                    if p != NULL:
                        st.kind = event_kind(s, sn)
                elif c == c'E':
                    p = scan_int(p, e, &st.E, rc)
                    st.have |= F_E
                elif c == c'T':
                    p = scan_int(p, e, &st.T, rc)
                    st.have |= F_T
                elif c == c'U':
                    p = scan_int(p, e, &st.U, rc)
                    st.have |= F_U
                elif c == c'u':
                    p = scan_int(p, e, &st.u, rc)
                    st.have |= F_u
                elif c == c's':
                    if v != c'"':
                        rc[0] = DEC_ERR_TYPE
                        return NULL
                    p = scan_string(p, e, &st.sym_s, &st.sym_n, rc)
                    st.have |= F_s
                elif c == c'b':
                    if v == c'[':
                        p = self.parse_levels(p, e, st, False, rc)
                    elif v == c'"':
                        p = scan_decimal(p, e, &st.b, rc)
                        st.have |= F_b
                    else:
                        rc[0] = DEC_ERR_TYPE
                        return NULL
                elif c == c'a':
                    if v == c'[':
                        p = self.parse_levels(p, e, st, True, rc)
                    elif v == c'"':
                        p = scan_decimal(p, e, &st.a, rc)
                        st.have |= F_a
                    else:
                        # aggTrade: "a" is the aggregate trade id
                        p = scan_int(p, e, &st.trade_id, rc)
                        st.have |= F_TRADE_ID
                elif c == c'B':
                    if v != c'"':
                        rc[0] = DEC_ERR_TYPE
                        return NULL
                    p = scan_decimal(p, e, &st.B, rc)
                    st.have |= F_B
                elif c == c'A':
                    if v != c'"':
                        rc[0] = DEC_ERR_TYPE
                        return NULL
                    p = scan_decimal(p, e, &st.A, rc)
                    st.have |= F_A
                elif c == c'p':
                    if v != c'"':
                        rc[0] = DEC_ERR_TYPE
                        return NULL
                    p = scan_decimal(p, e, &st.p, rc)
                    st.have |= F_p
                elif c == c'q':
                    if v != c'"':
                        rc[0] = DEC_ERR_TYPE
                        return NULL
                    p = scan_decimal(p, e, &st.q, rc)
                    st.have |= F_q
                elif c == c't':
                    p = scan_int(p, e, &st.trade_id, rc)
                    st.have |= F_TRADE_ID
                elif c == c'm':
                    p = scan_bool(p, e, &st.m, rc)
                    st.have |= F_m
                else:
                    p = skip_value(p, e, rc)
            elif kn == 2 and k[0] == c'p' and k[1] == c'u':
                p = scan_int(p, e, &st.pu, rc)
                st.have |= F_pu
            elif kn == 4 and span_eq(k, kn, "data", 4) and depth == 0:
                p = self.parse_object(p, e, st, 1, rc)
            elif kn == 4 and span_eq(k, kn, "bids", 4):
                if v != c'[':
                    rc[0] = DEC_ERR_TYPE
                    return NULL
                p = self.parse_levels(p, e, st, False, rc)
            elif kn == 4 and span_eq(k, kn, "asks", 4):
                if v != c'[':
                    rc[0] = DEC_ERR_TYPE
                    return NULL
                p = self.parse_levels(p, e, st, True, rc)
            elif kn == 6 and span_eq(k, kn, "stream", 6) and depth == 0:
                if v != c'"':
                    rc[0] = DEC_ERR_TYPE
                    return NULL
                p = scan_string(p, e, &st.stream_s, &st.stream_n, rc)
                st.have |= F_STREAM
            elif kn == 12 and span_eq(k, kn, "lastUpdateId", 12):
                p = scan_int(p, e, &st.last_id, rc)
                st.have |= F_LAST_ID
            else:
                if depth == 0 and ((kn == 6 and span_eq(k, kn, "result", 6))
                                   or (kn == 2 and k[0] == c'i' and k[1] == c'd')):
                    st.have |= F_CONTROL
                p = skip_value(p, e, rc)
            if p == NULL:
                return NULL
            p = skip_ws(p, e)
            if p >= e:
                rc[0] = DEC_ERR_TRUNCATED
                return NULL
            if p[0] == c',':
                p = skip_ws(p + 1, e)
                continue
            if p[0] == c'}':
                return p + 1
            rc[0] = DEC_ERR_SYNTAX
            return NULL

    cdef const char* parse_levels(self, const char* p, const char* e, Parsed* st, bint asks,
                                  int* rc) noexcept nogil:
        """One side's levels; p at '['. Scaled as they are read when the symbol and its
        decimals are already known ("s" comes before the levels in Binance's depth
        events), which saves a second pass over them; else raw, scaled by _decode."""
        cdef int32_t sym = -1, px_dec = 0, qty_dec = 0
        if st.scale_levels_early and st.have & F_s:
            sym = self.lookup(st.sym_s, st.sym_n)
            if sym >= 0:
                px_dec = self.symbols[sym].px_dec
                qty_dec = self.symbols[sym].qty_dec
                if px_dec < 0 or qty_dec < 0:
                    sym = -1
        if asks:
            st.have |= F_ASK_LEVELS
            st.asks_scaled_for = sym
            return scan_levels(p, e, self.max_levels, NULL if sym >= 0 else self.raw_asks,
                               self.asks, px_dec, qty_dec, &st.n_asks, rc)
        st.have |= F_BID_LEVELS
        st.bids_scaled_for = sym
        return scan_levels(p, e, self.max_levels, NULL if sym >= 0 else self.raw_bids,
                           self.bids, px_dec, qty_dec, &st.n_bids, rc)

    cdef int decode(self, const char* buf, Py_ssize_t n, int32_t default_sym, Msg* out) noexcept nogil:
        """Decode one frame into out; returns a DEC_* code (and counts it)."""
        cdef int rc = self._decode(buf, n, default_sym, out, True)
        self.messages += 1
        self._result_counts[rc + DEC_RESULT_OFFSET] += 1
        if rc == DEC_OK:
            self._kind_counts[out.kind] += 1
        return rc

    cdef int _decode(self, const char* buf, Py_ssize_t n, int32_t default_sym, Msg* out,
                     bint scale_levels_early) noexcept nogil:
        cdef Parsed st
        cdef const char* p = buf
        cdef const char* e = buf + n
        cdef int rc = DEC_OK
        cdef int32_t i, kind, sym, pd, qd
        cdef Py_ssize_t j
        cdef uint32_t need
        # Only what is read unconditionally is reset; other fields are read only when
        # their bit in st.have is set (a full memset costs more than it saves).
        st.have = 0
        st.kind = MSG_NONE
        st.n_bids = 0
        st.n_asks = 0
        st.U = 0
        st.u = 0
        st.pu = 0
        st.trade_id = 0
        st.m = 0
        st.E = 0
        st.scale_levels_early = scale_levels_early
        st.bids_scaled_for = -1
        st.asks_scaled_for = -1
        p = self.parse_object(skip_ws(p, e), e, &st, 0, &rc)
        if p == NULL:
            if rc == DEC_RESCAN_RAW:
                return self._decode(buf, n, default_sym, out, False)
            return rc
        p = skip_ws(p, e)
        if p != e:
            return DEC_ERR_SYNTAX
        kind = st.kind
        if kind == MSG_NONE:
            if st.have & F_LAST_ID and st.have & F_BID_LEVELS and st.have & F_ASK_LEVELS:
                kind = MSG_SNAPSHOT
            elif st.have & F_CONTROL:
                return DEC_SKIP_CONTROL
            else:
                return DEC_SKIP_UNKNOWN_EVENT
        elif kind == KIND_UNKNOWN:
            return DEC_SKIP_UNKNOWN_EVENT
        # required fields
        if kind == MSG_DEPTH:
            need = F_E | F_T | F_U | F_u | F_pu | F_BID_LEVELS | F_ASK_LEVELS
        elif kind == MSG_BBO:
            need = F_u | F_b | F_B | F_a | F_A
        elif kind == MSG_TRADE or kind == MSG_AGGTRADE:
            need = F_T | F_TRADE_ID | F_p | F_q | F_m
        elif kind == MSG_MARK:
            need = F_E | F_p
        else:
            need = F_LAST_ID | F_BID_LEVELS | F_ASK_LEVELS
        if (st.have & need) != need:
            return DEC_ERR_MISSING_FIELD
        # symbol: "s", else the stream name up to '@', else the caller's default
        if st.have & F_s:
            sym = self.lookup(st.sym_s, st.sym_n)
        elif st.have & F_STREAM:
            j = 0
            while j < st.stream_n and st.stream_s[j] != c'@':
                j += 1
            sym = self.lookup(st.stream_s, j)
        elif kind == MSG_SNAPSHOT and default_sym >= 0:
            sym = default_sym if default_sym < self.n_symbols else -1
        else:
            return DEC_ERR_MISSING_FIELD
        if sym < 0:
            return DEC_SKIP_UNKNOWN_SYMBOL
        if ((st.bids_scaled_for >= 0 and st.bids_scaled_for != sym)
                or (st.asks_scaled_for >= 0 and st.asks_scaled_for != sym)):
            # a second "s" after the levels named another symbol
            return self._decode(buf, n, default_sym, out, False)
        pd = self.symbols[sym].px_dec
        qd = self.symbols[sym].qty_dec
        if pd < 0 or qd < 0:
            if kind == MSG_MARK:
                return DEC_SKIP_NO_SCALE
            self.infer_scales(sym, kind, &st)
            pd = self.symbols[sym].px_dec
            qd = self.symbols[sym].qty_dec
        out.kind = kind
        out.sym = sym
        out.E = st.E
        out.T = st.T if st.have & F_T else st.E
        out.U = st.U
        out.u = st.last_id if kind == MSG_SNAPSHOT else st.u
        out.pu = st.pu
        out.trade_id = st.trade_id
        out.buyer_maker = st.m
        out.n_bids = 0
        out.n_asks = 0
        out.bids = self.bids
        out.asks = self.asks
        if kind == MSG_DEPTH or kind == MSG_SNAPSHOT:
            if st.bids_scaled_for < 0:
                for i in range(st.n_bids):
                    rc = scale_to(self.raw_bids[i].px, pd, &self.bids[i].px)
                    if rc == DEC_OK:
                        rc = scale_to(self.raw_bids[i].qty, qd, &self.bids[i].qty)
                    if rc != DEC_OK:
                        return rc
            if st.asks_scaled_for < 0:
                for i in range(st.n_asks):
                    rc = scale_to(self.raw_asks[i].px, pd, &self.asks[i].px)
                    if rc == DEC_OK:
                        rc = scale_to(self.raw_asks[i].qty, qd, &self.asks[i].qty)
                    if rc != DEC_OK:
                        return rc
            out.n_bids = st.n_bids
            out.n_asks = st.n_asks
        elif kind == MSG_BBO:
            rc = scale_to(st.b, pd, &out.bid_px)
            if rc == DEC_OK:
                rc = scale_to(st.B, qd, &out.bid_qty)
            if rc == DEC_OK:
                rc = scale_to(st.a, pd, &out.ask_px)
            if rc == DEC_OK:
                rc = scale_to(st.A, qd, &out.ask_qty)
            if rc != DEC_OK:
                return rc
        elif kind == MSG_TRADE or kind == MSG_AGGTRADE:
            rc = scale_to(st.p, pd, &out.px)
            if rc == DEC_OK:
                rc = scale_to(st.q, qd, &out.qty)
            if rc != DEC_OK:
                return rc
        else:  # MSG_MARK
            rc = scale_round(st.p, pd, &out.px)
            if rc != DEC_OK:
                return rc
        return DEC_OK

    cdef void infer_scales(self, int32_t sym, int32_t kind, Parsed* st) noexcept nogil:
        """Decimals of a symbol without exchangeInfo: the most seen in its first message."""
        cdef int32_t pd = 0, qd = 0, i
        if kind == MSG_DEPTH or kind == MSG_SNAPSHOT:
            for i in range(st.n_bids):
                pd = max(pd, self.raw_bids[i].px.ndec)
                qd = max(qd, self.raw_bids[i].qty.ndec)
            for i in range(st.n_asks):
                pd = max(pd, self.raw_asks[i].px.ndec)
                qd = max(qd, self.raw_asks[i].qty.ndec)
        elif kind == MSG_BBO:
            pd = max(st.b.ndec, st.a.ndec)
            qd = max(st.B.ndec, st.A.ndec)
        else:
            pd = st.p.ndec
            qd = st.q.ndec
        if self.symbols[sym].px_dec < 0:
            self.symbols[sym].px_dec = pd
        if self.symbols[sym].qty_dec < 0:
            self.symbols[sym].qty_dec = qd

    # ------------------------------------------------------------ Python API
    def decode_bytes(self, const unsigned char[::1] data, int default_sym=-1):
        """Decode one frame (tests and tools, not the hot path).

        Returns
        -------
        (int, dict or None)
            The DEC_* result code and, when it is 0, the message as a dict.
        """
        cdef Msg m
        cdef const char* ptr = <const char*>&data[0] if data.shape[0] > 0 else <const char*>""
        cdef int rc = self.decode(ptr, data.shape[0], default_sym, &m)
        if rc != DEC_OK:
            return rc, None
        return rc, msg_to_dict(&m)

    def counts(self):
        """Messages by result name (ok, unknown_event, syntax, truncated, ...)."""
        return {RESULT_NAMES[r]: self._result_counts[r + DEC_RESULT_OFFSET]
                for r in RESULT_NAMES if self._result_counts[r + DEC_RESULT_OFFSET]}

    def kind_counts(self):
        """Decoded messages by kind name."""
        return {KIND_NAMES[k]: self._kind_counts[k] for k in KIND_NAMES if self._kind_counts[k]}

    def reset_counts(self):
        """Zero the result and kind counters (a replay starting again)."""
        memset(self._result_counts, 0, sizeof(self._result_counts))
        memset(self._kind_counts, 0, sizeof(self._kind_counts))


cdef dict msg_to_dict(const Msg* m):
    d = {
        "kind": KIND_NAMES[m.kind], "sym": m.sym, "E": m.E, "T": m.T,
    }
    if m.kind == MSG_DEPTH or m.kind == MSG_SNAPSHOT:
        d["U"] = m.U
        d["u"] = m.u
        d["pu"] = m.pu
        d["bids"] = [(m.bids[i].px, m.bids[i].qty) for i in range(m.n_bids)]
        d["asks"] = [(m.asks[i].px, m.asks[i].qty) for i in range(m.n_asks)]
    elif m.kind == MSG_BBO:
        d.update(u=m.u, bid_px=m.bid_px, bid_qty=m.bid_qty, ask_px=m.ask_px, ask_qty=m.ask_qty)
    elif m.kind == MSG_TRADE or m.kind == MSG_AGGTRADE:
        d.update(id=m.trade_id, px=m.px, qty=m.qty, buyer_maker=bool(m.buyer_maker))
    else:
        d["px"] = m.px
    return d


def result_name(int code):
    """Name of a DEC_* result code."""
    return RESULT_NAMES.get(code, f"code{code}")


def decode_many(Decoder dec, const unsigned char[::1] buf, const int64_t[::1] offsets,
                int default_sym=-1):
    """Decode frames buf[offsets[i]:offsets[i+1]] in a C loop; returns how many decoded ok.

    The benchmark entry point: one Python call for a whole recording.
    """
    cdef Msg m
    cdef Py_ssize_t i, n = offsets.shape[0] - 1
    cdef int64_t ok = 0
    cdef const char* base = <const char*>&buf[0]
    with nogil:
        for i in range(n):
            if dec.decode(base + offsets[i], offsets[i + 1] - offsets[i], default_sym, &m) == DEC_OK:
                ok += 1
    return ok

