"""Thrift's compact protocol, schema-less: what Parquet's footers and page headers are
written in (parquet.thrift), decoded into field ids (:mod:`rtaid.store.thrift_decode`,
in C) and encoded again (here) byte for byte.

A struct decodes to a dict ``{field id: (type, value)}`` in the order of the bytes;
encoding it writes the fields in that order. The values: ``int`` (BYTE, I16, I32, I64),
``bool``, ``float`` (DOUBLE), ``bytes`` (BINARY), a dict (STRUCT), ``(element type,
[values])`` (LIST, SET) and ``(key type, value type, [(key, value)])`` (MAP). No field
needs to be known to be kept: the compaction (:mod:`rtaid.store.pagecopy`) changes the
few it knows (offsets, sizes, statistics) and passes every other one through.
"""
from __future__ import annotations

import struct

# compact protocol types
BOOL_TRUE, BOOL_FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)
_INTS = (BYTE, I16, I32, I64)
_DOUBLE = struct.Struct("<d")


class ThriftError(ValueError):
    """Bytes that are not the compact protocol (a truncated or foreign footer)."""


class Raw(bytes):
    """A value encoded already (a struct's bytes, written as they are)."""


def _put_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _put_value(out: bytearray, ttype: int, value) -> None:
    if type(value) is Raw:
        out += value
    elif ttype in _INTS:
        if ttype == BYTE:
            out.append(value & 0xFF)
        else:
            _put_varint(out, (value << 1) ^ (value >> 63))
    elif ttype == BINARY:
        _put_varint(out, len(value))
        out += value
    elif ttype == STRUCT:
        _put_struct(out, value)
    elif ttype in (LIST, SET):
        etype, items = value
        if len(items) < 15:
            out.append((len(items) << 4) | etype)
        else:
            out.append(0xF0 | etype)
            _put_varint(out, len(items))
        for item in items:
            if etype in (BOOL_TRUE, BOOL_FALSE):
                out.append(BOOL_TRUE if item else BOOL_FALSE)
            else:
                _put_value(out, etype, item)
    elif ttype == MAP:
        ktype, vtype, pairs = value
        _put_varint(out, len(pairs))
        if pairs:
            out.append((ktype << 4) | vtype)
            for key, val in pairs:
                _put_value(out, ktype, key)
                _put_value(out, vtype, val)
    elif ttype == DOUBLE:
        out += _DOUBLE.pack(value)
    else:
        raise ThriftError(f"unknown compact type {ttype}")


def _put_struct(out: bytearray, fields: dict) -> None:
    last = 0
    for fid, (ttype, value) in fields.items():
        if ttype in (BOOL_TRUE, BOOL_FALSE):
            ttype = BOOL_TRUE if value else BOOL_FALSE
        delta = fid - last
        if 0 < delta <= 15:
            out.append((delta << 4) | ttype)
        else:
            out.append(ttype)
            _put_varint(out, (fid << 1) ^ (fid >> 63))
        if ttype not in (BOOL_TRUE, BOOL_FALSE):
            _put_value(out, ttype, value)
        last = fid
    out.append(0)


def encode_struct(fields: dict) -> bytes:
    """The compact encoding of a struct (a :func:`decode_struct` result, maybe changed)."""
    out = bytearray()
    _put_struct(out, fields)
    return bytes(out)
