"""Merge Parquet files of one schema by copying their pages, never decoding a value.

The writer's parts (:mod:`rtaid.store.partfile`) are plain-encoded but for the enum
columns, whose dictionary is the table's fixed list of names: every part's dictionary
page of a column is the same bytes. A column chunk of the merged file is then the
first input's dictionary page followed by every input's data pages, byte for byte;
its metadata is the inputs' added up (values, sizes, encodings, page counts) and
their statistics merged (min of the mins, max of the maxes, in the column's order).
The bytes go from file to file inside the kernel (``copy_file_range``): the merge
holds a footer of one input and the encoded metadata of the row groups written, a few
KiB per row group, where decoding and encoding held a row group buffer, the encoder's
pages and the Parquet writer's ~800 bytes per column chunk (bench/compaction.py; the
60-minute soak before it: the daemon grew by 20-25 MiB for the ten minutes of an hour's
compaction, and the Parquet reader's code stayed resident after it).

Anything else (another schema or codec, a dictionary that differs, encryption, a
field of the format this module does not know) raises :class:`Incompatible`: the
caller merges those files by decoding them.

The format: https://parquet.apache.org/docs/file-format/ (parquet.thrift field ids).
"""
from __future__ import annotations

import errno
import os
import struct

import pyarrow as pa

from rtaid.store.thrift import (BINARY, BOOL_TRUE, I16, I32, I64, LIST, STRUCT, Raw,
                                encode_struct)
from rtaid.store.thrift_decode import (CM_DROPPED, RowGroupIndex, decode_lazy_list,
                                       decode_struct, decode_value)

MAGIC = b"PAR1"
_TAIL = struct.Struct("<I4s")

# parquet.thrift field ids this module reads or writes
# FileMetaData
FM_SCHEMA, FM_NUM_ROWS, FM_ROW_GROUPS, FM_KV, FM_COLUMN_ORDERS = 2, 3, 4, 5, 7
FM_KNOWN = {1, 2, 3, 4, 5, 6, 7}            # 8, 9: encryption
# RowGroup
RG_COLUMNS, RG_BYTES, RG_ROWS, RG_OFFSET, RG_COMPRESSED, RG_ORDINAL = 1, 2, 3, 5, 6, 7
# ColumnChunk
CC_OFFSET, CC_META = 2, 3
# ColumnMetaData
(CM_TYPE, CM_ENCODINGS, CM_PATH, CM_CODEC, CM_VALUES, CM_UNCOMPRESSED, CM_COMPRESSED,
 CM_DATA_PAGE, CM_DICT_PAGE, CM_STATS, CM_ENCODING_STATS) = 1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13
# Statistics
ST_MAX, ST_MIN, ST_NULLS, ST_MAX_VALUE, ST_MIN_VALUE, ST_MAX_EXACT, ST_MIN_EXACT = (
    1, 2, 3, 5, 6, 7, 8)
# PageHeader
PH_UNCOMPRESSED, PH_COMPRESSED = 2, 3
DICTIONARY_PAGE = 2
# physical types
BOOLEAN, INT32, INT64, FLOAT, DOUBLE, BYTE_ARRAY = 0, 1, 2, 4, 5, 6


class Incompatible(Exception):
    """The files cannot be merged by copying their pages (the caller decodes them)."""


class BadFile(ValueError):
    """Not a complete Parquet file (truncated, another format)."""


def read_footer(fd: int, name: str) -> tuple[dict, bytes, list]:
    """The FileMetaData of an open Parquet file, its row groups left encoded:
    ``(fields but the row groups, the footer's bytes, [(start, end)] of each row group
    in them)`` (:func:`decode_struct` of a span is the row group)."""
    size = os.fstat(fd).st_size
    if size < 12:
        raise BadFile(f"{name}: {size} bytes is no Parquet file")
    length, magic = _TAIL.unpack(os.pread(fd, 8, size - 8))
    if magic != MAGIC or os.pread(fd, 4, 0) != MAGIC or length > size - 12:
        raise BadFile(f"{name}: no Parquet footer (truncated?)")
    raw = os.pread(fd, length, size - 8 - length)
    try:
        footer, spans, end = decode_lazy_list(raw, FM_ROW_GROUPS)
    except ValueError as exc:
        raise BadFile(f"{name}: footer: {exc}") from None
    if end != length:
        raise BadFile(f"{name}: footer of {length} bytes ends at {end}")
    return footer, raw, spans


def empty_file_footer(schema: pa.Schema, writer_factory) -> dict:
    """The footer the writer gives a file of ``schema`` (the reference the inputs'
    schema, key-value metadata and column orders must equal)."""
    sink = pa.BufferOutputStream()
    writer_factory(sink, schema).close()
    data = sink.getvalue().to_pybytes()
    length = _TAIL.unpack(data[-8:])[0]
    return decode_struct(data[len(data) - 8 - length:-8])[0]


def _column_keys(footer: dict) -> list:
    """Per column, the sort key of its statistics' bytes (None: not merged)."""
    elements = footer[FM_SCHEMA][1][1]
    keys = []
    for element in elements[1:]:
        if 5 in element:          # num_children: a nested schema, not the writer's
            return [None] * len(keys)
        ptype = element.get(1, (0, None))[1]
        converted = element.get(6, (0, None))[1]
        logical = element.get(10, (0, {}))[1]
        unsigned = converted in (11, 12, 13, 14) or (
            10 in logical and logical[10][1].get(2, (0, True))[1] is False)
        if ptype == BOOLEAN:
            keys.append(lambda b: b[0])
        elif ptype == INT32:
            keys.append(_unpacker("<I" if unsigned else "<i"))
        elif ptype == INT64:
            keys.append(_unpacker("<Q" if unsigned else "<q"))
        elif ptype == FLOAT:
            keys.append(_unpacker("<f"))
        elif ptype == DOUBLE:
            keys.append(_unpacker("<d"))
        elif ptype == BYTE_ARRAY and converted in (None, 0, 4) and (
                not logical or 1 in logical or 4 in logical):   # bytes, UTF8, ENUM
            keys.append(bytes)
        else:
            keys.append(None)
    return keys


def _unpacker(fmt: str):
    unpack = struct.Struct(fmt).unpack
    return lambda b: unpack(b)[0]


def copy_range(src: int, dst: int, offset: int, length: int, name: str) -> None:
    """``length`` bytes of ``src`` from ``offset`` appended to ``dst`` (its position)."""
    while length > 0:
        try:
            n = os.copy_file_range(src, dst, length, offset)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            data = os.pread(src, min(length, 1 << 20), offset)
            n = os.write(dst, data) if data else 0
        if n == 0:
            raise BadFile(f"{name}: ends inside a column chunk (truncated?)")
        offset += n
        length -= n


class PageCopyMerge:
    """One merged file of ``inputs`` (in this order), built a row group at a time.

    Parameters
    ----------
    directory : str
        Where the inputs are.
    inputs : list of str
        File names, the order of the merged rows.
    out_path : str
        The file written (created; each row group is synced as it is written, the
        caller fsyncs the footer and renames it).
    reference : dict
        :func:`empty_file_footer` of the table: every input's schema, key-value
        metadata (the Arrow schema) and column orders must be these.
    row_group_rows, row_group_bytes : int
        An output row group takes whole input row groups while it stays within this
        many rows and uncompressed bytes (an input row group larger than that is one
        output row group).
    max_input_groups : int
        ... and at most this many input row groups: their index (RowGroupIndex: ~120
        bytes per column chunk, in C) is what the merge holds while it writes one.
    """

    def __init__(self, directory: str, inputs: list[str], out_path: str, reference: dict,
                 row_group_rows: int, row_group_bytes: int, max_input_groups: int) -> None:
        self.directory = directory
        self.inputs = inputs
        self.reference = reference
        self._same = {fid: encode_struct({fid: reference[fid]})
                      for fid in (FM_SCHEMA, FM_KV, FM_COLUMN_ORDERS) if fid in reference}
        self.keys = _column_keys(reference)
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.max_input_groups = max(1, max_input_groups)
        self.rows = 0
        self.row_groups: list[Raw] = []
        self.first_footer: dict | None = None
        self._file_index = 0
        self._fd: int | None = None          # the input being read
        self._raw = b""                      # its footer
        self._spans: list = []               # where its row groups are in the footer
        self._span_index = 0                 # the next one to take
        self._next: RowGroupIndex | None = None   # that one, read
        self._finished_fds: list[int] = []   # inputs read, closed after their row group
        self.out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.pos = 0
        self._write(MAGIC)

    # ------------------------------------------------------------------ input
    def _next_input(self) -> bool:
        """Open the next input with row groups; False when none is left."""
        while self._file_index < len(self.inputs):
            name = self.inputs[self._file_index]
            self._file_index += 1
            fd = os.open(os.path.join(self.directory, name), os.O_RDONLY)
            try:
                footer, raw, spans = read_footer(fd, name)
                self._check_file(footer, name)
            except BaseException:
                os.close(fd)
                raise
            if self.first_footer is None:
                self.first_footer = footer
            if not spans:
                os.close(fd)
                continue
            self._fd, self._raw, self._spans, self._span_index = fd, raw, spans, 0
            return True
        return False

    def _peek(self) -> RowGroupIndex | None:
        """The current input's next row group (read once), None after its last."""
        if self._next is None and self._span_index < len(self._spans):
            start = self._spans[self._span_index][0]
            name = self.inputs[self._file_index - 1]
            try:
                rg = RowGroupIndex(self._raw, start)
            except ValueError as exc:
                raise BadFile(f"{name}: footer: {exc}") from None
            if rg.foreign:
                raise Incompatible(f"{name}: row group field {rg.foreign}")
            self._next = rg
        return self._next

    def _check_file(self, footer: dict, name: str) -> None:
        unknown = set(footer) - FM_KNOWN
        if unknown:
            raise Incompatible(f"{name}: footer fields {sorted(unknown)} (encryption?)")
        for fid, encoded in self._same.items():
            if fid not in footer or encode_struct({fid: footer[fid]}) != encoded:
                raise Incompatible(f"{name}: another schema than the table's")

    # ------------------------------------------------------------------ output
    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.out, view)
            view = view[n:]
        self.pos += len(data)

    def step(self) -> bool:
        """Write one output row group; True when every input is in the file."""
        group = []            # (fd, name, RowGroupIndex)
        rows = size = 0
        while len(group) < self.max_input_groups:
            rg = self._peek() if self._fd is not None else None
            if rg is None:
                if self._fd is not None:
                    self._finished_fds.append(self._fd)
                    self._fd, self._raw, self._spans = None, b"", []
                if not self._next_input():
                    break
                continue
            if group and (rows + rg.num_rows > self.row_group_rows
                          or size + rg.total_byte_size > self.row_group_bytes):
                break       # the next row group would make it too large: it starts the next
            self._next = None
            self._span_index += 1
            group.append((self._fd, self.inputs[self._file_index - 1], rg))
            rows += rg.num_rows
            size += rg.total_byte_size
        try:
            if group:
                self._write_group(group, rows)
                # to the disk now, a row group at a time: left to the publish's fsync,
                # an hour's merged file (tens of MB) was flushed in one call that kept
                # the writer's thread (no ring drained) for as long as the disk took
                os.fdatasync(self.out)
        finally:
            for fd in self._finished_fds:
                os.close(fd)
            self._finished_fds = []
        return self._fd is None and self._file_index >= len(self.inputs)

    def _write_group(self, group: list, rows: int) -> None:
        n_columns = group[0][2].n_columns
        for _, name, rg in group:
            if rg.n_columns != n_columns:
                raise Incompatible(f"{name}: another number of columns")
        start = self.pos
        columns = [self._write_column(c, group) for c in range(n_columns)]
        out = {
            RG_COLUMNS: (LIST, (STRUCT, columns)),
            RG_BYTES: (I64, sum(col[CC_META][1][CM_UNCOMPRESSED][1] for col in columns)),
            RG_ROWS: (I64, rows),
            RG_OFFSET: (I64, start),
            RG_COMPRESSED: (I64, self.pos - start),
            RG_ORDINAL: (I16, len(self.row_groups)),
        }
        self.row_groups.append(Raw(encode_struct(out)))
        self.rows += rows

    def _write_column(self, c: int, group: list) -> dict:
        chunks = []           # (fd, name, row group, chunk numbers)
        for fd, name, rg in group:
            info = rg.chunk(c)
            if info[7]:
                raise Incompatible(f"{name}: column {c}: field {info[7]} of the format "
                                   f"(another file's chunk, encryption, newer metadata)")
            if min(info[2], info[4], info[5]) < 0:
                raise BadFile(f"{name}: column {c} without values, size or data page")
            chunks.append((fd, name, rg, info))
        _, _, first_rg, first = chunks[0]
        first_spans = first_rg.spans(c)
        first_path = first_rg.raw[first_spans[2]:first_spans[3]]
        for _, name, rg, info in chunks[1:]:
            spans = rg.spans(c)
            if (info[0], info[1]) != (first[0], first[1]) or \
                    rg.raw[spans[2]:spans[3]] != first_path:
                raise Incompatible(f"{name}: column {c} has another type or codec")
        # the dictionary page: the same bytes in every input, written once
        dictionary = None
        dict_uncompressed = 0
        for fd, name, _, info in chunks:
            offset, data_page = info[6], info[5]
            if (offset >= 0) != (first[6] >= 0):
                raise Incompatible(f"{name}: column {c} dictionary-encoded in some files only")
            if offset < 0:
                continue
            if not 4 <= offset < data_page:
                raise BadFile(f"{name}: column {c} dictionary page at {offset}, "
                              f"data at {data_page}")
            page = os.pread(fd, data_page - offset, offset)
            if dictionary is None:
                header, header_len = decode_struct(page)
                if header.get(1, (0, -1))[1] != DICTIONARY_PAGE or (
                        header_len + header[PH_COMPRESSED][1] != len(page)):
                    raise Incompatible(f"{name}: column {c}: not one dictionary page "
                                       f"before the data")
                dictionary = page
                dict_uncompressed = header_len + header[PH_UNCOMPRESSED][1]
            elif page != dictionary:
                raise Incompatible(f"{name}: column {c} has another dictionary")
        chunk_start = self.pos
        if dictionary is not None:
            self._write(dictionary)
        data_start = self.pos
        values = uncompressed = 0
        for fd, name, _, info in chunks:
            begin = info[6] if dictionary is not None else info[5]
            end = begin + info[4]
            data_page = info[5]
            if not begin <= data_page <= end:
                raise BadFile(f"{name}: column {c} data pages outside its chunk")
            copy_range(fd, self.out, data_page, end - data_page, name)
            self.pos += end - data_page
            values += info[2]
            uncompressed += info[3] - dict_uncompressed
        meta = decode_value(first_rg.raw, first_spans[0], STRUCT)
        out = {fid: value for fid, value in meta.items() if fid not in CM_DROPPED}
        encodings = []
        encoding_stats = []
        stats = []
        for _, _, rg, _ in chunks:
            spans = rg.spans(c)
            if spans[1] >= 0:
                for encoding in decode_value(rg.raw, spans[1], LIST)[1]:
                    if encoding not in encodings:
                        encodings.append(encoding)
            if encoding_stats is not None:
                encoding_stats = (encoding_stats + [decode_value(rg.raw, spans[5], LIST)[1]]
                                  if spans[5] >= 0 else None)
            if stats is not None:
                stats = stats + [decode_value(rg.raw, spans[4], STRUCT)] if spans[4] >= 0 else None
        out[CM_ENCODINGS] = (LIST, (I32, encodings))
        out[CM_VALUES] = (I64, values)
        out[CM_UNCOMPRESSED] = (I64, uncompressed + dict_uncompressed)
        out[CM_COMPRESSED] = (I64, self.pos - chunk_start)
        out[CM_DATA_PAGE] = (I64, data_start)
        if dictionary is not None:
            out[CM_DICT_PAGE] = (I64, chunk_start)
        out.pop(CM_STATS, None)
        if stats is not None:
            out[CM_STATS] = (STRUCT, self._statistics(c, stats, [info for *_, info in chunks]))
        out.pop(CM_ENCODING_STATS, None)
        if encoding_stats is not None:
            out[CM_ENCODING_STATS] = (LIST, (STRUCT, _page_counts(encoding_stats)))
        return {CC_OFFSET: (I64, chunk_start), CC_META: (STRUCT, dict(sorted(out.items())))}

    def _statistics(self, c: int, stats: list, infos: list) -> dict:
        """The inputs' statistics of column ``c`` merged."""
        out = {}
        if all(ST_NULLS in s for s in stats):
            out[ST_NULLS] = (I64, sum(s[ST_NULLS][1] for s in stats))
        key = self.keys[c] if c < len(self.keys) else None
        if key is None:
            return out
        # a chunk without bounds has no value to bound (all null; floats: all NaN,
        # which statistics leave out), or values too long for statistics: then the
        # merged chunk has none either
        floating = infos[0][0] in (FLOAT, DOUBLE)
        for fid_max, fid_min, fid_max_exact, fid_min_exact in (
                (ST_MAX, ST_MIN, None, None),
                (ST_MAX_VALUE, ST_MIN_VALUE, ST_MAX_EXACT, ST_MIN_EXACT)):
            bounded = []
            complete = True
            for s, info in zip(stats, infos):
                if fid_max in s and fid_min in s:
                    bounded.append(s)
                elif not floating and not (ST_NULLS in s and s[ST_NULLS][1] >= info[2]):
                    complete = False
            if not complete or not bounded:
                continue
            high = max(bounded, key=lambda s: key(s[fid_max][1]))
            low = min(bounded, key=lambda s: key(s[fid_min][1]))
            out[fid_max] = (BINARY, high[fid_max][1])
            out[fid_min] = (BINARY, low[fid_min][1])
            if fid_max_exact is not None:
                for fid, source in ((fid_max_exact, high), (fid_min_exact, low)):
                    if fid in source:
                        out[fid] = (BOOL_TRUE, source[fid][1])
        return dict(sorted(out.items()))

    def close(self) -> int:
        """Write the footer and close the file; returns the rows in it."""
        footer = dict(self.first_footer if self.first_footer is not None else self.reference)
        footer[FM_NUM_ROWS] = (I64, self.rows)
        footer[FM_ROW_GROUPS] = (LIST, (STRUCT, self.row_groups))
        encoded = encode_struct(dict(sorted(footer.items())))
        self._write(encoded + _TAIL.pack(len(encoded), MAGIC))
        os.close(self.out)
        self.out = None
        return self.rows

    def discard(self) -> None:
        """Close every file quietly (the caller removes the output)."""
        for fd in [self._fd, self.out, *self._finished_fds]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd = self.out = None
        self._finished_fds = []


def _page_counts(lists: list) -> list:
    """PageEncodingStats of chunks put end to end: data pages added up, the dictionary
    page once."""
    counts: dict[tuple, int] = {}
    for i, entries in enumerate(lists):
        for entry in entries:
            kind = (entry[1][1], entry[2][1])
            if kind[0] == DICTIONARY_PAGE and i > 0:
                continue
            counts[kind] = counts.get(kind, 0) + entry[3][1]
    return [{1: (I32, page_type), 2: (I32, encoding), 3: (I32, count)}
            for (page_type, encoding), count in counts.items()]
