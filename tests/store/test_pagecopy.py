"""Merging part files by copying their pages: the merged file reads back as the parts,
its statistics are what the Parquet writer computes for the same rows, and whatever
cannot be copied is refused (and then merged by decoding)."""
import os

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtaid.store import compaction
from rtaid.store.compaction import HOUR_MS, Compactor
from rtaid.store.pagecopy import BadFile, Incompatible, PageCopyMerge, empty_file_footer
from rtaid.store.partfile import PartFile, parquet_writer
from rtaid.store.tables import TABLES
from tests.store.helpers import random_records

H0 = 19_943 * 86_400_000 + 10 * HOUR_MS


def write_parts(directory, table, sizes, rng, compression="zstd", schema=None, first=0):
    """Part files as the writer writes them, one list of row group sizes per file."""
    tables, names = [], []
    for i, groups in enumerate(sizes, start=first):
        name = f"part-{H0 + i * 1000}-{i:04d}.parquet"
        part = PartFile(os.path.join(directory, name), schema or table.schema, compression, 0.0)
        for rows in groups:
            arrow = table.to_arrow(random_records(table, rows, rng), 2, 3)
            if schema is not None:
                arrow = arrow.select(schema.names)
            part.write(arrow)
            tables.append(arrow)
        part.close()
        names.append(name)
    return names, tables


def same_rows(a, b):
    """Equal tables, floats bit for bit (NaN included, which Arrow's equals refuses)."""
    assert a.schema == b.schema and a.num_rows == b.num_rows
    for name in a.schema.names:
        x, y = a[name], b[name]
        if pa.types.is_floating(x.type):
            x = x.to_numpy().view(np.int64)
            y = y.to_numpy().view(np.int64)
            assert (x == y).all(), name
        else:
            assert x.equals(y), name
    return True


def merge(directory, names, table, out, row_group_rows, row_group_bytes=64 << 20,
          max_input_groups=32):
    reference = empty_file_footer(table.schema, lambda s, sc: parquet_writer(s, sc, "zstd"))
    job = PageCopyMerge(str(directory), names, str(out), reference, row_group_rows,
                        row_group_bytes, max_input_groups)
    try:
        while not job.step():
            pass
        return job.close()
    except BaseException:
        job.discard()
        raise


def statistics(meta):
    """(rows, [(column, values, nulls, min, max)] per row group) of a file's metadata."""
    out = []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        cols = []
        for j in range(rg.num_columns):
            col = rg.column(j)
            st = col.statistics
            cols.append((col.path_in_schema, col.num_values, st.null_count,
                         st.min if st.has_min_max else None,
                         st.max if st.has_min_max else None))
        out.append((rg.num_rows, cols))
    return out


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_merged_file_is_its_parts_with_the_writers_statistics(tmp_path, name):
    table = TABLES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    sizes = [[37, 200], [1], [150], [64, 64, 64], [5]]
    names, parts = write_parts(tmp_path, table, sizes, rng)
    out = tmp_path / "merged.parquet"
    rows = merge(tmp_path, names, table, out, row_group_rows=256)
    expected = pa.concat_tables(parts)
    assert rows == expected.num_rows == 585
    merged = pq.read_table(out)
    assert merged.schema == table.schema        # the enum columns are dictionaries again
    assert same_rows(merged, expected)
    # row groups: whole input row groups, at most 256 rows
    meta = pq.read_metadata(out)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [238, 214, 133]
    # the statistics the writer computes when it writes the same rows in the same groups
    ref_path = tmp_path / "reference.parquet"
    sink = pa.OSFile(str(ref_path), "wb")
    writer = parquet_writer(sink, table.schema, "zstd")
    start = 0
    for n in (238, 214, 133):
        writer.write_table(expected.slice(start, n), row_group_size=n)
        start += n
    writer.close()
    sink.close()
    assert statistics(meta) == statistics(pq.read_metadata(ref_path))
    # DuckDB reads it as the parts (enum columns as strings)
    by_duckdb = duckdb.connect().sql(f"SELECT * FROM read_parquet('{out}')").arrow()
    if not isinstance(by_duckdb, pa.Table):
        by_duckdb = by_duckdb.read_all()
    assert by_duckdb.num_rows == 585
    by_duckdb = by_duckdb.rename_columns(expected.schema.names)   # depth: U and u (DuckDB: u_1)
    assert same_rows(by_duckdb, expected.cast(by_duckdb.schema))


def test_parts_of_another_schema_or_codec_are_refused(tmp_path):
    table = TABLES["bbo"]
    rng = np.random.default_rng(1)
    names, _ = write_parts(tmp_path, table, [[10], [10]], rng)
    narrow = pa.schema(list(table.schema)[:-1])
    other, _ = write_parts(tmp_path, table, [[10]], rng, schema=narrow, first=2)
    with pytest.raises(Incompatible, match="another schema"):
        merge(tmp_path, names + other, table, tmp_path / "m.parquet", 100)
    snappy, _ = write_parts(tmp_path, table, [[10]], rng, compression="snappy", first=3)
    with pytest.raises(Incompatible, match="codec"):
        merge(tmp_path, names + snappy, table, tmp_path / "m.parquet", 100)


def test_a_truncated_part_is_a_bad_file(tmp_path):
    table = TABLES["trades"]
    names, _ = write_parts(tmp_path, table, [[50], [50]], np.random.default_rng(2))
    path = tmp_path / names[1]
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    with pytest.raises(BadFile, match=names[1]):
        merge(tmp_path, names, table, tmp_path / "m.parquet", 1000)


def hour_dir(root, table="trades", symbol="BTCUSDT"):
    directory = root / table / f"symbol={symbol}" / "date=2024-08-08"
    directory.mkdir(parents=True)
    return directory


def compact(root, table):
    compactor = Compactor(str(root), {table.name: table}, ["BTCUSDT"], grace_s=0.0)
    compactor.recover()
    compactor.scan()
    while compactor.candidates or compactor.job is not None:
        compactor.step(set(), 0.0)
    return compactor


def test_an_hour_whose_pages_cannot_be_copied_is_merged_by_decoding(tmp_path):
    """One part of the hour written with snappy: the hour is decoded and encoded again,
    every row kept, in the table's codec."""
    table = TABLES["trades"]
    directory = hour_dir(tmp_path)
    rng = np.random.default_rng(3)
    names, parts = write_parts(directory, table, [[30], [40]], rng)
    snappy, more = write_parts(directory, table, [[20]], rng, compression="snappy", first=2)
    compactor = compact(tmp_path, table)
    assert compactor.stats()["decoded"] == 1 and compactor.errors == 0
    assert os.listdir(directory) == [f"part-{H0}-hour.parquet"]
    merged = pq.read_table(directory / f"part-{H0}-hour.parquet")
    assert same_rows(merged, pa.concat_tables(parts + more))
    meta = pq.read_metadata(directory / f"part-{H0}-hour.parquet")
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_an_hour_of_the_writers_parts_is_merged_by_copying(tmp_path):
    table = TABLES["indicators"]
    directory = hour_dir(tmp_path, "indicators")
    names, parts = write_parts(directory, table, [[100], [100, 3], [7]], np.random.default_rng(4))
    compactor = compact(tmp_path, table)
    assert compactor.stats()["decoded"] == 0 and compactor.compactions == 1
    assert same_rows(pq.read_table(directory / f"part-{H0}-hour.parquet"),
                     pa.concat_tables(parts))


def test_a_truncated_part_leaves_the_hour_as_it_is(tmp_path):
    table = TABLES["trades"]
    directory = hour_dir(tmp_path)
    names, _ = write_parts(directory, table, [[30], [40]], np.random.default_rng(5))
    path = directory / names[0]
    path.write_bytes(path.read_bytes()[:100])
    compactor = compact(tmp_path, table)
    assert compactor.errors == 1 and names[0] in compactor.last_error
    assert sorted(os.listdir(directory)) == sorted(names)
    assert os.listdir(tmp_path / compaction.STAGING_DIR) == []
