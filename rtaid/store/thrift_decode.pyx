# cython: language_level=3
"""Thrift compact protocol decoding in C (the twin: rtaid/reference/thrift.py).

The compaction reads every part's footer (an hour of a busy table: ~100 MB of them);
in Python that took ~50 s of the writer thread's CPU, holding the GIL. Values decode
as :mod:`rtaid.store.thrift` encodes them (see there): ``{field id: (type, value)}``.
"""
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy

from rtaid.store.thrift import ThriftError

cdef enum:
    T_BOOL_TRUE = 1
    T_BOOL_FALSE = 2
    T_BYTE = 3
    T_I16 = 4
    T_I32 = 5
    T_I64 = 6
    T_DOUBLE = 7
    T_BINARY = 8
    T_LIST = 9
    T_SET = 10
    T_MAP = 11
    T_STRUCT = 12
    MAX_DEPTH = 64


cdef uint64_t _varint(const unsigned char* b, Py_ssize_t n,
                      Py_ssize_t* pos) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t value = 0
    cdef int shift = 0
    cdef unsigned char byte
    while True:
        if pos[0] >= n:
            raise ThriftError("truncated varint")
        byte = b[pos[0]]
        pos[0] += 1
        value |= (<uint64_t>(byte & 0x7F)) << shift
        if byte < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ThriftError("varint too long")


cdef inline int64_t _zigzag(const unsigned char* b, Py_ssize_t n, Py_ssize_t* pos) except? -1:
    cdef uint64_t v = _varint(b, n, pos)
    return <int64_t>(v >> 1) ^ -(<int64_t>(v & 1))


cdef Py_ssize_t _list_header(const unsigned char* b, Py_ssize_t n, Py_ssize_t* pos,
                             int* etype) except -1:
    """A list's (or set's) size; its element type into ``etype``."""
    cdef Py_ssize_t size
    if pos[0] >= n:
        raise ThriftError("truncated list")
    size = b[pos[0]] >> 4
    etype[0] = b[pos[0]] & 0x0F
    pos[0] += 1
    if size == 15:
        size = <Py_ssize_t>_varint(b, n, pos)
    if size < 0 or size > n:
        raise ThriftError("list longer than its bytes")
    return size


cdef object _value(const unsigned char* b, Py_ssize_t n, Py_ssize_t* pos, int ttype, int depth):
    cdef Py_ssize_t size, i
    cdef int etype, ktype, vtype
    cdef unsigned char head
    cdef double d
    cdef list items
    if depth > MAX_DEPTH:
        raise ThriftError("nested too deep")
    if ttype == T_I16 or ttype == T_I32 or ttype == T_I64:
        return _zigzag(b, n, pos)
    if ttype == T_BINARY:
        size = <Py_ssize_t>_varint(b, n, pos)
        if size < 0 or pos[0] + size > n:
            raise ThriftError("truncated binary")
        pos[0] += size
        return b[pos[0] - size:pos[0]]
    if ttype == T_STRUCT:
        return _struct(b, n, pos, depth + 1)
    if ttype == T_BYTE:
        if pos[0] >= n:
            raise ThriftError("truncated byte")
        pos[0] += 1
        return <signed char>b[pos[0] - 1]
    if ttype == T_LIST or ttype == T_SET:
        size = _list_header(b, n, pos, &etype)
        items = []
        for i in range(size):
            if etype == T_BOOL_TRUE or etype == T_BOOL_FALSE:
                if pos[0] >= n:
                    raise ThriftError("truncated list")
                items.append(b[pos[0]] == T_BOOL_TRUE)
                pos[0] += 1
            else:
                items.append(_value(b, n, pos, etype, depth + 1))
        return (etype, items)
    if ttype == T_MAP:
        size = <Py_ssize_t>_varint(b, n, pos)
        if size == 0:
            return (0, 0, [])
        if size < 0 or size > n or pos[0] >= n:
            raise ThriftError("truncated map")
        head = b[pos[0]]
        pos[0] += 1
        ktype = head >> 4
        vtype = head & 0x0F
        items = []
        for i in range(size):
            key = _value(b, n, pos, ktype, depth + 1)
            items.append((key, _value(b, n, pos, vtype, depth + 1)))
        return (ktype, vtype, items)
    if ttype == T_DOUBLE:
        if pos[0] + 8 > n:
            raise ThriftError("truncated double")
        memcpy(&d, b + pos[0], 8)
        pos[0] += 8
        return d
    raise ThriftError(f"unknown compact type {ttype}")


cdef dict _struct(const unsigned char* b, Py_ssize_t n, Py_ssize_t* pos, int depth):
    cdef dict fields = {}
    cdef int64_t last = 0, fid
    cdef unsigned char head
    cdef int delta, ttype
    while True:
        if pos[0] >= n:
            raise ThriftError("truncated struct")
        head = b[pos[0]]
        pos[0] += 1
        if head == 0:
            return fields
        delta = head >> 4
        ttype = head & 0x0F
        if delta:
            fid = last + delta
        else:
            fid = _zigzag(b, n, pos)
        if ttype == T_BOOL_TRUE or ttype == T_BOOL_FALSE:
            fields[fid] = (ttype, ttype == T_BOOL_TRUE)
        else:
            fields[fid] = (ttype, _value(b, n, pos, ttype, depth))
        last = fid


cdef int _skip(const unsigned char* b, Py_ssize_t n, Py_ssize_t* pos, int ttype,
               int depth) except -1:
    """Move past a value without making objects."""
    cdef Py_ssize_t size, i
    cdef unsigned char head
    cdef int etype
    if depth > MAX_DEPTH:
        raise ThriftError("nested too deep")
    if ttype == T_I16 or ttype == T_I32 or ttype == T_I64:
        _varint(b, n, pos)
    elif ttype == T_BINARY:
        size = <Py_ssize_t>_varint(b, n, pos)
        if size < 0 or pos[0] + size > n:
            raise ThriftError("truncated binary")
        pos[0] += size
    elif ttype == T_BYTE:
        pos[0] += 1
    elif ttype == T_DOUBLE:
        pos[0] += 8
    elif ttype == T_STRUCT:
        while True:
            if pos[0] >= n:
                raise ThriftError("truncated struct")
            head = b[pos[0]]
            pos[0] += 1
            if head == 0:
                break
            if head >> 4 == 0:
                _varint(b, n, pos)
            if (head & 0x0F) != T_BOOL_TRUE and (head & 0x0F) != T_BOOL_FALSE:
                _skip(b, n, pos, head & 0x0F, depth + 1)
    elif ttype == T_LIST or ttype == T_SET:
        size = _list_header(b, n, pos, &etype)
        for i in range(size):
            if etype == T_BOOL_TRUE or etype == T_BOOL_FALSE:
                pos[0] += 1
            else:
                _skip(b, n, pos, etype, depth + 1)
    elif ttype == T_MAP:
        size = <Py_ssize_t>_varint(b, n, pos)
        if size:
            if pos[0] >= n:
                raise ThriftError("truncated map")
            head = b[pos[0]]
            pos[0] += 1
            for i in range(size):
                _skip(b, n, pos, head >> 4, depth + 1)
                _skip(b, n, pos, head & 0x0F, depth + 1)
    else:
        raise ThriftError(f"unknown compact type {ttype}")
    if pos[0] > n:
        raise ThriftError("truncated value")
    return 0


def decode_struct(const unsigned char[::1] buf, Py_ssize_t pos=0):
    """The struct at ``buf[pos:]`` and the position after it."""
    cdef Py_ssize_t p = pos
    cdef Py_ssize_t n = buf.shape[0]
    if n == 0:
        raise ThriftError("truncated struct")
    fields = _struct(&buf[0], n, &p, 0)
    return fields, p


def decode_lazy_list(const unsigned char[::1] buf, int list_field):
    """The struct in ``buf`` with its field ``list_field`` (a list of structs) left
    encoded: ``(fields without it, [(start, end) of each of its structs], end)``.

    A Parquet footer's row groups are decoded one at a time as they are merged."""
    cdef Py_ssize_t p = 0, n = buf.shape[0], size, i, start
    cdef const unsigned char* b
    cdef dict fields = {}
    cdef list spans = []
    cdef int64_t last = 0, fid
    cdef unsigned char head
    cdef int ttype, etype
    if n == 0:
        raise ThriftError("truncated struct")
    b = &buf[0]
    while True:
        if p >= n:
            raise ThriftError("truncated struct")
        head = b[p]
        p += 1
        if head == 0:
            return fields, spans, p
        ttype = head & 0x0F
        fid = last + (head >> 4) if head >> 4 else _zigzag(b, n, &p)
        last = fid
        if fid == list_field and ttype == T_LIST:
            size = _list_header(b, n, &p, &etype)
            if etype != T_STRUCT:
                raise ThriftError(f"field {list_field} is no list of structs")
            for i in range(size):
                start = p
                _skip(b, n, &p, T_STRUCT, 1)
                spans.append((start, p))
        elif ttype == T_BOOL_TRUE or ttype == T_BOOL_FALSE:
            fields[fid] = (ttype, ttype == T_BOOL_TRUE)
        else:
            fields[fid] = (ttype, _value(b, n, &p, ttype, 0))


def decode_value(const unsigned char[::1] buf, Py_ssize_t pos, int ttype):
    """The value of compact type ``ttype`` at ``buf[pos:]`` (a span of
    :class:`RowGroupIndex`)."""
    cdef Py_ssize_t p = pos
    if buf.shape[0] == 0 or pos < 0 or pos >= buf.shape[0]:
        raise ThriftError("value outside the buffer")
    return _value(&buf[0], buf.shape[0], &p, ttype, 0)


# --------------------------------------------------------------------- Parquet row groups
from libc.stdlib cimport calloc, free

cdef struct ChunkInfo:
    # ColumnMetaData's numbers (parquet.thrift field ids in comments), -1: absent
    int64_t type            # 1
    int64_t codec           # 4
    int64_t num_values      # 5
    int64_t uncompressed    # 6
    int64_t compressed      # 7
    int64_t data_page       # 9
    int64_t dict_page       # 11
    # where the rest is in the footer's bytes (start of the value; -1: absent)
    int64_t meta            # ColumnChunk 3: the ColumnMetaData struct
    int64_t encodings       # 2 (list)
    int64_t path, path_end  # 3 (list)
    int64_t stats           # 12 (struct)
    int64_t encoding_stats  # 13 (list)
    int64_t foreign         # a field this merge does not know (its id), else 0

# Fields a merged file leaves out (RowGroup 5, 6, 7 and ColumnChunk 2 are written anew)
RG_DROPPED = frozenset({4})                      # sorting columns
CC_DROPPED = frozenset({4, 5, 6, 7})             # the page index
CM_DROPPED = frozenset({10, 14, 15, 16, 17})     # index page, bloom filter, size/geo stats
# ColumnMetaData fields known but not read here: key-value metadata (kept)
cdef frozenset CM_PASSED = CM_DROPPED | {8}


cdef class RowGroupIndex:
    """One row group of a Parquet footer, read in C: per column chunk its sizes,
    offsets and where its metadata is in the footer's bytes (decoded one field at a
    time, when needed, with :func:`decode_value`). No Python object per chunk: the
    compaction holds dozens of these while it writes a row group."""
    cdef readonly bytes raw
    cdef readonly int64_t num_rows, total_byte_size, n_columns, foreign
    cdef ChunkInfo* chunks

    def __cinit__(self, bytes raw, Py_ssize_t start):
        self.raw = raw
        self.num_rows = self.total_byte_size = -1
        cdef const unsigned char* b = <const unsigned char*>raw
        cdef Py_ssize_t n = len(raw), p = start, size, i
        cdef int64_t last = 0, fid
        cdef unsigned char head
        cdef int ttype, etype
        if start < 0 or start >= n:
            raise ThriftError("row group outside the footer")
        while True:
            if p >= n:
                raise ThriftError("truncated row group")
            head = b[p]
            p += 1
            if head == 0:
                break
            ttype = head & 0x0F
            fid = last + (head >> 4) if head >> 4 else _zigzag(b, n, &p)
            last = fid
            if fid == 1 and ttype == T_LIST:
                size = _list_header(b, n, &p, &etype)
                if etype != T_STRUCT:
                    raise ThriftError("row group columns are no list of structs")
                self.chunks = <ChunkInfo*>calloc(size if size else 1, sizeof(ChunkInfo))
                if self.chunks == NULL:
                    raise MemoryError()
                self.n_columns = size
                for i in range(size):
                    self._chunk(b, n, &p, &self.chunks[i])
            elif fid == 2 and ttype == T_I64:
                self.total_byte_size = _zigzag(b, n, &p)
            elif fid == 3 and ttype == T_I64:
                self.num_rows = _zigzag(b, n, &p)
            elif fid in (5, 6, 7) or fid in RG_DROPPED:
                if ttype != T_BOOL_TRUE and ttype != T_BOOL_FALSE:
                    _skip(b, n, &p, ttype, 1)
            else:
                self.foreign = fid
                if ttype != T_BOOL_TRUE and ttype != T_BOOL_FALSE:
                    _skip(b, n, &p, ttype, 1)
        if self.chunks == NULL or self.num_rows < 0 or self.total_byte_size < 0:
            raise ThriftError("row group without columns, rows or size")

    cdef int _chunk(self, const unsigned char* b, Py_ssize_t n, Py_ssize_t* p,
                    ChunkInfo* c) except -1:
        cdef int64_t last = 0, fid
        cdef unsigned char head
        cdef int ttype
        c.type = c.codec = c.num_values = c.uncompressed = c.compressed = -1
        c.data_page = c.dict_page = c.meta = c.encodings = c.path = c.path_end = -1
        c.stats = c.encoding_stats = -1
        while True:
            if p[0] >= n:
                raise ThriftError("truncated column chunk")
            head = b[p[0]]
            p[0] += 1
            if head == 0:
                break
            ttype = head & 0x0F
            fid = last + (head >> 4) if head >> 4 else _zigzag(b, n, p)
            last = fid
            if fid == 3 and ttype == T_STRUCT:
                c.meta = p[0]
                self._meta(b, n, p, c)
            else:
                if fid != 2 and fid not in CC_DROPPED:
                    c.foreign = 100 + fid        # 1: in another file; 8, 9: encrypted
                if ttype != T_BOOL_TRUE and ttype != T_BOOL_FALSE:
                    _skip(b, n, p, ttype, 1)
        if c.meta < 0:
            c.foreign = 103
        return 0

    cdef int _meta(self, const unsigned char* b, Py_ssize_t n, Py_ssize_t* p,
                   ChunkInfo* c) except -1:
        cdef int64_t last = 0, fid
        cdef unsigned char head
        cdef int ttype
        while True:
            if p[0] >= n:
                raise ThriftError("truncated column metadata")
            head = b[p[0]]
            p[0] += 1
            if head == 0:
                return 0
            ttype = head & 0x0F
            fid = last + (head >> 4) if head >> 4 else _zigzag(b, n, p)
            last = fid
            if ttype == T_I32 or ttype == T_I64:
                if fid == 1:
                    c.type = _zigzag(b, n, p)
                elif fid == 4:
                    c.codec = _zigzag(b, n, p)
                elif fid == 5:
                    c.num_values = _zigzag(b, n, p)
                elif fid == 6:
                    c.uncompressed = _zigzag(b, n, p)
                elif fid == 7:
                    c.compressed = _zigzag(b, n, p)
                elif fid == 9:
                    c.data_page = _zigzag(b, n, p)
                elif fid == 11:
                    c.dict_page = _zigzag(b, n, p)
                else:
                    if fid not in CM_PASSED:
                        c.foreign = 200 + fid
                    _skip(b, n, p, ttype, 1)
                continue
            if fid == 2 and ttype == T_LIST:
                c.encodings = p[0]
            elif fid == 3 and ttype == T_LIST:
                c.path = p[0]
            elif fid == 12 and ttype == T_STRUCT:
                c.stats = p[0]
            elif fid == 13 and ttype == T_LIST:
                c.encoding_stats = p[0]
            elif fid not in CM_PASSED:
                c.foreign = 200 + fid
            if ttype != T_BOOL_TRUE and ttype != T_BOOL_FALSE:
                _skip(b, n, p, ttype, 1)
            if fid == 3 and ttype == T_LIST:
                c.path_end = p[0]

    def __dealloc__(self):
        free(self.chunks)

    def chunk(self, Py_ssize_t i):
        """Column chunk ``i``: ``(type, codec, num_values, uncompressed, compressed,
        data_page, dict_page, foreign)`` (-1: absent; foreign: the id of a field this
        merge does not know, 100 + id in the ColumnChunk, 200 + id in its metadata)."""
        if not 0 <= i < self.n_columns:
            raise IndexError(i)
        cdef ChunkInfo* c = &self.chunks[i]
        return (c.type, c.codec, c.num_values, c.uncompressed, c.compressed, c.data_page,
                c.dict_page, c.foreign)

    def spans(self, Py_ssize_t i):
        """Where column chunk ``i``'s parts are in :attr:`raw`: ``(meta, encodings,
        path, path_end, stats, encoding_stats)`` (-1: absent)."""
        if not 0 <= i < self.n_columns:
            raise IndexError(i)
        cdef ChunkInfo* c = &self.chunks[i]
        return (c.meta, c.encodings, c.path, c.path_end, c.stats, c.encoding_stats)
