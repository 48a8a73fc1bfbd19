"""Writer: layout, rotation (size, age, date), atomic publication, I/O faults, drops."""
import errno

import numpy as np
import pyarrow.parquet as pq
import pytest

from rtaid._kernels import records
from rtaid._kernels.ring import RecordRings
from rtaid.store import partfile
from rtaid.store.tables import TABLES
from rtaid.store.writer import StoreWriter
from tests.store.helpers import BBO, DAY_MS, T0, Clock, push_bbo

def make_writer(tmp_path, capacity=1 << 12, data_dir=None, **kw):
    rings = RecordRings(["bbo"], capacity)
    clock = Clock()
    options = dict(rotate_mb=256, rotate_s=3600, row_group_s=0.0, retry_s=5.0, clock=clock)
    options.update(kw)
    writer = StoreWriter(rings, {"bbo": BBO}, ["BTCUSDT", "ETHUSDT"], lambda s: (2, 3),
                         str(data_dir or tmp_path), **options)
    return rings, writer, clock


def visible(root):
    return sorted(p for p in root.rglob("part-*.parquet"))


def temporaries(root):
    return sorted(p for p in root.rglob(".*.tmp"))


def read_u(files):
    return [u for f in files for u in pq.read_table(f)["u"].to_pylist()]


def test_a_part_file_is_visible_only_when_complete(tmp_path):
    rings, writer, clock = make_writer(tmp_path)
    push_bbo(rings, 0, 100)
    writer.flush()
    assert visible(tmp_path) == [] and len(temporaries(tmp_path)) == 1
    writer.stop()
    files = visible(tmp_path)
    assert temporaries(tmp_path) == []
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        f"bbo/symbol=BTCUSDT/date=2024-08-08/part-{T0 + 1000}-0000.parquet"]
    table = pq.read_table(files[0])
    assert table["u"].to_pylist() == list(range(100))
    assert table["bid_px"][0].as_py() == 61800.2 and table["bid_px_ticks"][0].as_py() == 6180020
    assert table["ask_qty"][0].as_py() == 2.51 and table["ask_qty_lots"][0].as_py() == 2510


def test_rotation_on_size_age_and_date(tmp_path):
    rings, writer, clock = make_writer(tmp_path, rotate_mb=0.0001, rotate_s=60)
    push_bbo(rings, 0, 200)
    writer.flush()          # > 100 bytes: rotated at once
    assert len(visible(tmp_path)) == 1
    writer.rotate_bytes = 1 << 30
    push_bbo(rings, 200, 10)
    writer.flush()
    clock.now = 59.0
    writer.flush()
    assert len(visible(tmp_path)) == 1
    clock.now = 61.0        # the open file is now a minute old
    writer.flush()
    assert len(visible(tmp_path)) == 2
    push_bbo(rings, 210, 10)                        # day 1
    writer.flush()
    push_bbo(rings, 220, 10, E=T0 + DAY_MS + 5)     # day 2 (exchange time)
    writer.flush()
    dates = sorted({f.parent.name for f in visible(tmp_path)})
    assert dates == ["date=2024-08-08"]  # day 1 closed at the boundary, day 2 still open
    assert len(visible(tmp_path)) == 3
    writer.stop()
    assert [f.parent.name for f in visible(tmp_path)].count("date=2024-08-09") == 1
    assert sorted(read_u(visible(tmp_path))) == list(range(230))
    stats = writer.stats()
    assert stats["files_written"] == 4
    assert stats["bytes_written"] == sum(f.stat().st_size for f in visible(tmp_path))


def test_age_rotation_takes_the_rows_still_buffered(tmp_path):
    rings, writer, clock = make_writer(tmp_path, rotate_s=60, row_group_s=0.0)
    push_bbo(rings, 0, 10)
    writer.flush()                          # a first row group opens the file
    writer.row_group_s = 300.0
    push_bbo(rings, 10, 10)
    clock.now = 61.0
    writer.flush()                          # rows buffered, not due; the file is
    assert read_u(visible(tmp_path)) == list(range(20))
    assert writer.stats()["files_open"] == 0


def test_rows_are_partitioned_by_symbol(tmp_path):
    rings, writer, _ = make_writer(tmp_path)
    push_bbo(rings, 0, 5, sym=0)
    push_bbo(rings, 5, 5, sym=1)
    push_bbo(rings, 10, 5, sym=0)
    writer.stop()
    by_sym = {f.parts[-3]: read_u([f]) for f in visible(tmp_path)}
    assert by_sym == {"symbol=BTCUSDT": [0, 1, 2, 3, 4, 10, 11, 12, 13, 14],
                      "symbol=ETHUSDT": [5, 6, 7, 8, 9]}


def test_a_buffer_grown_over_many_drains_keeps_every_row_in_order(tmp_path):
    # 256 rows at first, doubled in place past the mmap threshold (resize: realloc,
    # mremap) while other partitions' drains interleave
    rings, writer, _ = make_writer(tmp_path, capacity=1 << 14, row_group_s=None,
                                   buffer_bytes=64 << 20)
    u = 0
    for _ in range(12):
        push_bbo(rings, u, 700, sym=0)
        push_bbo(rings, u + 700, 300, sym=1)
        u += 1000
        writer.flush()
        assert not visible(tmp_path)      # all still buffered
    assert writer.memory()["buffered"] >= 12_000 * BBO.dtype.itemsize
    writer.stop()
    by_sym = {f.parts[-3]: read_u([f]) for f in visible(tmp_path)}
    assert by_sym["symbol=BTCUSDT"] == [k for k in range(12_000) if k % 1000 < 700]
    assert by_sym["symbol=ETHUSDT"] == [k for k in range(12_000) if k % 1000 >= 700]


def test_full_ring_drops_and_counts_without_blocking(tmp_path):
    rings, writer, _ = make_writer(tmp_path, capacity=1024)
    rec = np.zeros(1, dtype=BBO.dtype).tobytes()
    pushed = sum(rings.push("bbo", rec) for _ in range(1500))
    assert pushed == 1024
    writer.stop()
    stats = writer.stats()
    assert stats["rows_dropped_ring"]["bbo"] == 476 and stats["rows_written"]["bbo"] == 1024


def test_unwritable_directory_is_reported_counted_and_recovers(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")   # root ignores modes; a file always blocks
    rings, writer, clock = make_writer(tmp_path, data_dir=blocker)
    push_bbo(rings, 0, 50)
    writer.flush()                           # no exception: the daemon keeps going
    stats = writer.stats()
    assert stats["write_errors"] == 1 and stats["write_failing"]
    assert stats["rows_dropped_io"]["bbo"] == 50 and "data" in stats["last_error"]
    push_bbo(rings, 50, 10)
    writer.flush()                           # still backing off: dropped, counted
    assert writer.stats()["rows_dropped_io"]["bbo"] == 60
    blocker.unlink()
    blocker.mkdir()
    clock.now = 10.0
    push_bbo(rings, 60, 10)
    writer.stop()
    assert not writer.stats()["write_failing"] and read_u(visible(blocker)) == list(range(60, 70))


def test_disk_full_drops_the_file_in_flight_and_recovers(tmp_path, monkeypatch):
    rings, writer, clock = make_writer(tmp_path)
    push_bbo(rings, 0, 20)
    writer.flush()                           # in the open part file

    def enospc(self, table):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(partfile.PartFile, "write", enospc)
        push_bbo(rings, 20, 5)
        writer.flush()
    stats = writer.stats()
    assert "No space left" in stats["last_error"]
    assert stats["rows_dropped_io"]["bbo"] == 25 and stats["rows_written"]["bbo"] == 0
    assert temporaries(tmp_path) == []       # the broken file is removed
    clock.now = 6.0
    push_bbo(rings, 25, 5)
    writer.stop()
    assert read_u(visible(tmp_path)) == list(range(25, 30))
    assert not writer.stats()["write_failing"]


def test_every_table_is_its_registry_entry():
    """The writer's tables are derived from the one registry (records.pyx): same names in
    the same order, each dtype the C record (size, field offsets), rings sized alike."""
    assert list(TABLES) == list(records.TABLES)
    rings = RecordRings(list(TABLES), 1024)
    for name, layout in records.TABLES.items():
        table = TABLES[name]
        assert table.ring == layout.ring and table.time == layout.time
        assert table.dtype.itemsize == layout.size == rings.record_size(name)
        assert {f: table.dtype.fields[f][1] for f in table.dtype.names} == \
            {f: off for f, off, _ in layout.fields}
        assert table.dtype.names[0] in ("E", "sym", "minute_ms", "ts_ms")
    from rtaid.infra.config import STORAGE_TABLES
    assert STORAGE_TABLES == tuple(records.TABLES)
    with pytest.raises(ValueError):
        StoreWriter(RecordRings(["bbo"], 1024), {"trades": TABLES["trades"]},
                    ["X"], lambda s: (2, 3), "/tmp")


def test_a_row_group_is_written_once_its_bytes_reach_the_limit(tmp_path):
    """Wide tables are bounded by bytes, not only by rows: with row_group_bytes of ten
    bbo records, rows wait until ten are buffered, then go out as one row group."""
    rings, writer, _ = make_writer(tmp_path, row_group_s=None, row_group_rows=1 << 20,
                                   row_group_bytes=10 * BBO.dtype.itemsize)
    push_bbo(rings, 0, 9)
    writer.flush()
    assert writer.stats()["rows_written"]["bbo"] == 0      # 9 records: still buffered
    push_bbo(rings, 9, 1)
    writer.flush()
    assert writer.stats()["rows_written"]["bbo"] == 10
    writer.stop()
    files = visible(tmp_path)
    assert read_u(files) == list(range(10))
    assert pq.ParquetFile(files[0]).metadata.num_row_groups == 1


def test_every_row_is_visible_within_max_loss_s(tmp_path):
    """With max_loss_s, every row pushed is in a published file within max_loss_s of
    its arrival (a kill -9 loses at most that much), however the rows trickle in."""
    max_loss = 10.0
    rings, writer, clock = make_writer(tmp_path, max_loss_s=max_loss, row_group_s=60.0,
                                       rotate_s=3600, flush_interval_ms=500, compact=False)
    pushed = []   # (u, time pushed)
    for tick in range(200):
        clock.now = tick * 0.5
        if tick % 3 == 0:   # sym 0 busy, sym 1 now and then
            push_bbo(rings, tick * 10, 5, E=T0 + tick * 500)
            pushed += [(tick * 10 + k, clock.now) for k in range(5)]
        if tick % 17 == 0:
            push_bbo(rings, tick * 10 + 5, 1, E=T0 + tick * 500, sym=1)
            pushed.append((tick * 10 + 5, clock.now))
        writer.flush()
        seen = set(read_u(visible(tmp_path)))
        due = {u for u, t in pushed if t <= clock.now - max_loss}
        assert due <= seen, (clock.now, sorted(due - seen)[:5])
    assert len(seen) < len(pushed)            # the newest are still being written
    assert len(visible(tmp_path)) > 10        # many small parts (compacted later)


def test_a_part_holds_one_hour(tmp_path):
    rings, writer, clock = make_writer(tmp_path)
    push_bbo(rings, 0, 3, E=T0 + 3_599_999)
    push_bbo(rings, 3, 3, E=T0 + 3_600_000)
    writer.stop()
    assert [f.name for f in visible(tmp_path)] == [
        f"part-{T0 + 3_599_999}-0000.parquet", f"part-{T0 + 3_600_000}-0000.parquet"]


def test_buffered_records_are_bounded_largest_partition_written_first(tmp_path):
    size = BBO.dtype.itemsize
    rings, writer, clock = make_writer(tmp_path, row_group_s=None, buffer_bytes=60 * size)
    push_bbo(rings, 0, 50, sym=0)
    push_bbo(rings, 50, 20, sym=1)
    writer.flush()         # 70 records > 60: the largest (sym 0) goes out as a row group
    assert writer.stats()["rows_written"]["bbo"] == 50
    assert writer._pending_bytes == 20 * size        # sym 1 waits for its row group
    writer.stop()
    assert sorted(read_u(visible(tmp_path))) == list(range(70))


def test_a_burst_is_written_as_it_is_drained_never_buffered_whole(tmp_path):
    """A ring that filled while the writer was stalled holds far more than buffer_bytes:
    the drain writes row groups batch by batch instead of buffering the ring."""
    size = BBO.dtype.itemsize
    rings, writer, clock = make_writer(tmp_path, row_group_s=None, buffer_bytes=100 * size,
                                       batch_records=40)
    most = []
    accept = writer._accept

    def watched(name, records):
        accept(name, records)
        most.append(writer._pending_bytes)
    writer._accept = watched
    push_bbo(rings, 0, 1000)
    writer.flush()
    # after each batch: at most buffer_bytes, then the batch that crossed it
    assert len(most) == 25 and max(most) <= 140 * size
    assert writer.stats()["rows_written"]["bbo"] >= 1000 - 140
    writer.stop()
    files = visible(tmp_path)
    assert sorted(read_u(files)) == list(range(1000))
    groups = [pq.ParquetFile(f).metadata.row_group(i).num_rows
              for f in files for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
    assert len(groups) >= 8 and max(groups) <= 140


def test_a_part_closes_before_its_footer_metadata_grows_large(tmp_path):
    """An open Parquet writer keeps every row group's column metadata in memory until
    the file closes: part files close at part_metadata_bytes."""
    per_group = len(BBO.schema) * partfile.COLUMN_CHUNK_METADATA_BYTES
    rings, writer, clock = make_writer(tmp_path, part_metadata_bytes=3 * per_group)
    for i in range(7):
        push_bbo(rings, i * 10, 10)
        writer.flush()     # one row group each
    assert len(visible(tmp_path)) == 2 and writer.memory()["part_metadata"] == per_group
    writer.stop()
    assert [pq.ParquetFile(f).metadata.num_row_groups for f in visible(tmp_path)] == [3, 3, 1]
    assert read_u(visible(tmp_path)) == list(range(70))


def test_restart_removes_what_a_killed_writer_left(tmp_path):
    rings, writer, clock = make_writer(tmp_path, max_loss_s=10)
    push_bbo(rings, 0, 10)
    writer.flush()                      # a temporary part file, as a kill leaves it
    assert len(temporaries(tmp_path)) == 1
    other = tmp_path / "bbo" / "symbol=OTHER" / "date=2024-08-08"
    other.mkdir(parents=True)
    (other / ".part-1-0000.parquet.tmp").write_bytes(b"another shard's")
    staging = tmp_path / ".compact" / "bbo~BTCUSDT~2024-08-08"
    staging.mkdir(parents=True)
    (staging / "part-1-hour.parquet").write_bytes(b"half a merge")
    again = make_writer(tmp_path, max_loss_s=10)[1]
    assert again.recover() == {"temporaries": 1, "staging": 1, "hours_to_compact": 0}
    assert temporaries(tmp_path) == [other / ".part-1-0000.parquet.tmp"]   # not ours
    assert list((tmp_path / ".compact").iterdir()) == []
