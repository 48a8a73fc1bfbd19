"""The compact-protocol decoder in C against its Python twin, on the footers the
writer writes (every table) and on broken bytes."""
import random
import struct

import numpy as np
import pyarrow as pa
import pytest

from rtaid.reference import thrift as twin
from rtaid.store import thrift, thrift_decode
from rtaid.store.partfile import parquet_writer
from rtaid.store.tables import TABLES
from tests.store.helpers import random_records


def footer_of(table, groups, rng):
    sink = pa.BufferOutputStream()
    writer = parquet_writer(sink, table.schema, "zstd")
    for rows in groups:
        writer.write_table(table.to_arrow(random_records(table, rows, rng), 2, 3),
                           row_group_size=rows)
    writer.close()
    data = sink.getvalue().to_pybytes()
    length = struct.unpack("<I", data[-8:-4])[0]
    return data[-8 - length:-8]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_footers_decode_as_the_twin_decodes_them_and_encode_back(name):
    raw = footer_of(TABLES[name], [10, 300, 1], np.random.default_rng(len(name)))
    fields, end = thrift_decode.decode_struct(raw)
    assert (fields, end) == twin.decode_struct(raw) and end == len(raw)
    assert thrift.encode_struct(fields) == raw
    lazy = thrift_decode.decode_lazy_list(raw, 4)
    assert lazy == twin.decode_lazy_list(raw, 4)
    rest, spans, _ = lazy
    assert 4 not in rest and rest[2] == fields[2] and len(spans) == 3
    for (start, stop), rg in zip(spans, fields[4][1][1]):
        assert twin.decode_struct(raw, start) == (rg, stop)
        index = thrift_decode.RowGroupIndex(raw, start)
        assert (index.num_rows, index.total_byte_size, index.n_columns, index.foreign) == (
            rg[3][1], rg[2][1], len(rg[1][1][1]), 0)
        for c, chunk in enumerate(rg[1][1][1]):
            meta = chunk[3][1]
            assert index.chunk(c) == (meta[1][1], meta[4][1], meta[5][1], meta[6][1],
                                      meta[7][1], meta[9][1], meta.get(11, (0, -1))[1], 0)
            m, enc, path, path_end, stats, enc_stats = index.spans(c)
            assert thrift_decode.decode_value(raw, m, thrift.STRUCT) == meta
            assert thrift_decode.decode_value(raw, enc, thrift.LIST) == meta[2][1]
            assert thrift_decode.decode_value(raw, path, thrift.LIST) == meta[3][1]
            assert thrift_decode.decode_value(raw, stats, thrift.STRUCT) == meta[12][1]
            assert thrift_decode.decode_value(raw, enc_stats, thrift.LIST) == meta[13][1]
            assert path < path_end


def test_broken_bytes_raise_thrift_errors_in_both():
    raw = footer_of(TABLES["trades"], [20, 20], np.random.default_rng(0))
    rng = random.Random(7)
    cases = [raw[:n] for n in range(0, len(raw), max(1, len(raw) // 97))]
    for _ in range(300):
        broken = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            broken[rng.randrange(len(broken))] = rng.randrange(256)
        cases.append(bytes(broken))
    failures = 0
    for case in cases:
        outcomes = []
        for decode in (thrift_decode.decode_struct, twin.decode_struct):
            try:
                outcomes.append(decode(case))
            except thrift.ThriftError:
                outcomes.append("error")
        assert outcomes[0] == outcomes[1], case
        failures += outcomes[0] == "error"
    assert failures >= len(cases) // 4     # truncations fail; so do many flipped bytes
