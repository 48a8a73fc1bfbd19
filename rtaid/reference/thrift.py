"""Thrift compact protocol decoding in Python: the twin of rtaid/store/thrift_decode.pyx
(tests only; the values are those of :mod:`rtaid.store.thrift`)."""
from __future__ import annotations

import struct

from rtaid.store.thrift import (BINARY, BOOL_FALSE, BOOL_TRUE, BYTE, DOUBLE, I16, I32, I64,
                                LIST, MAP, SET, STRUCT, ThriftError)

_INTS = (BYTE, I16, I32, I64)
_DOUBLE = struct.Struct("<d")


def _varint(buf, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        try:
            byte = buf[pos]
        except IndexError:
            raise ThriftError("truncated varint") from None
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 70:
            raise ThriftError("varint too long")


def _zigzag(buf, pos: int) -> tuple[int, int]:
    value, pos = _varint(buf, pos)
    return (value >> 1) ^ -(value & 1), pos


def _list_header(buf, pos: int) -> tuple[int, int, int]:
    """A list's (or set's) size, element type and the position after its header."""
    if pos >= len(buf):
        raise ThriftError("truncated list")
    size, etype = buf[pos] >> 4, buf[pos] & 0x0F
    pos += 1
    if size == 15:
        size, pos = _varint(buf, pos)
    if size > len(buf):
        raise ThriftError("list longer than its bytes")
    return size, etype, pos


def _value(buf, pos: int, ttype: int):
    if ttype in _INTS:
        if ttype == BYTE:
            if pos >= len(buf):
                raise ThriftError("truncated byte")
            value = buf[pos]
            return (value - 256 if value > 127 else value), pos + 1
        return _zigzag(buf, pos)
    if ttype == BINARY:
        size, pos = _varint(buf, pos)
        if pos + size > len(buf):
            raise ThriftError("truncated binary")
        return bytes(buf[pos:pos + size]), pos + size
    if ttype == STRUCT:
        return decode_struct(buf, pos)
    if ttype in (LIST, SET):
        size, etype, pos = _list_header(buf, pos)
        items = []
        for _ in range(size):
            if etype in (BOOL_TRUE, BOOL_FALSE):
                if pos >= len(buf):
                    raise ThriftError("truncated list")
                items.append(buf[pos] == BOOL_TRUE)
                pos += 1
            else:
                item, pos = _value(buf, pos, etype)
                items.append(item)
        return (etype, items), pos
    if ttype == MAP:
        size, pos = _varint(buf, pos)
        if size == 0:
            return (0, 0, []), pos
        head = buf[pos]
        pos += 1
        ktype, vtype = head >> 4, head & 0x0F
        pairs = []
        for _ in range(size):
            key, pos = _value(buf, pos, ktype)
            val, pos = _value(buf, pos, vtype)
            pairs.append((key, val))
        return (ktype, vtype, pairs), pos
    if ttype == DOUBLE:
        if pos + 8 > len(buf):
            raise ThriftError("truncated double")
        return _DOUBLE.unpack_from(buf, pos)[0], pos + 8
    raise ThriftError(f"unknown compact type {ttype}")


def _field_header(buf, pos: int, last: int) -> tuple[int | None, int, int]:
    """A struct's next field ``(id, type, position after the header)``; id None at its
    end."""
    if pos >= len(buf):
        raise ThriftError("truncated struct")
    head = buf[pos]
    pos += 1
    if head == 0:
        return None, 0, pos
    delta, ttype = head >> 4, head & 0x0F
    if delta:
        return last + delta, ttype, pos
    fid, pos = _zigzag(buf, pos)
    return fid, ttype, pos


def decode_struct(buf, pos: int = 0) -> tuple[dict, int]:
    """The struct at ``buf[pos:]`` and the position after it."""
    fields: dict[int, tuple[int, object]] = {}
    fid = 0
    while True:
        fid, ttype, pos = _field_header(buf, pos, fid)
        if fid is None:
            return fields, pos
        if ttype in (BOOL_TRUE, BOOL_FALSE):
            value = ttype == BOOL_TRUE
        else:
            value, pos = _value(buf, pos, ttype)
        fields[fid] = (ttype, value)


def decode_lazy_list(buf, list_field: int):
    """The struct in ``buf`` with its field ``list_field`` (a list of structs) left
    encoded: ``(fields without it, [(start, end) of each of its structs], end)``."""
    fields, spans, fid, pos = {}, [], 0, 0
    while True:
        fid, ttype, pos = _field_header(buf, pos, fid)
        if fid is None:
            return fields, spans, pos
        if fid == list_field and ttype == LIST:
            size, etype, pos = _list_header(buf, pos)
            if etype != STRUCT:
                raise ThriftError(f"field {list_field} is no list of structs")
            for _ in range(size):
                start = pos
                pos = decode_struct(buf, pos)[1]
                spans.append((start, pos))
        elif ttype in (BOOL_TRUE, BOOL_FALSE):
            fields[fid] = (ttype, ttype == BOOL_TRUE)
        else:
            value, pos = _value(buf, pos, ttype)
            fields[fid] = (ttype, value)
