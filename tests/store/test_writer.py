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

BBO = TABLES["bbo"]
DAY_MS = 86_400_000
T0 = 19_943 * DAY_MS  # 2024-08-08 00:00 UTC


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def push_bbo(rings, start_u, n, E=T0 + 1000, sym=0):
    rec = np.zeros(n, dtype=BBO.dtype)
    rec["u"] = np.arange(start_u, start_u + n)
    rec["E"] = E
    rec["T"] = E
    rec["recv_ns"] = E * 1_000_000
    rec["bid_px"] = 6180020
    rec["bid_qty"] = 2507
    rec["ask_px"] = 6180030
    rec["ask_qty"] = 2510
    rec["sym"] = sym
    for r in rec:
        assert rings.push("bbo", r.tobytes())


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
    assert stats["write_errors"] == 1 and not stats["writing"]
    assert stats["rows_dropped_io"]["bbo"] == 50 and "data" in stats["last_error"]
    push_bbo(rings, 50, 10)
    writer.flush()                           # still backing off: dropped, counted
    assert writer.stats()["rows_dropped_io"]["bbo"] == 60
    blocker.unlink()
    blocker.mkdir()
    clock.now = 10.0
    push_bbo(rings, 60, 10)
    writer.stop()
    assert writer.stats()["writing"] and read_u(visible(blocker)) == list(range(60, 70))


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
    assert writer.stats()["writing"]


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
