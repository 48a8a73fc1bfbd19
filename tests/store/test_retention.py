"""Retention: date partitions older than retention_days go, by the writer's thread too."""
import datetime as dt
import time

from rtaid._kernels.ring import RecordRings
from rtaid.store.retention import prune
from rtaid.store.tables import TABLES
from rtaid.store.writer import StoreWriter


def make_partitions(root, dates, tables=("bbo", "depth", "raw")):
    for table in tables:
        for date in dates:
            d = root / table / "symbol=BTCUSDT" / f"date={date}"
            d.mkdir(parents=True)
            (d / "part-1-0000.parquet").write_bytes(b"x")


def remaining(root):
    return sorted({p.name for p in root.rglob("date=*")})


def test_prune_removes_partitions_older_than_retention(tmp_path):
    make_partitions(tmp_path, ["2024-08-01", "2024-08-07", "2024-08-08", "2024-08-10"])
    (tmp_path / "bbo" / "symbol=BTCUSDT" / "notes").mkdir()  # not a partition: kept
    removed = prune(str(tmp_path), 2, today=dt.date(2024, 8, 10))
    assert len(removed) == 3 * 2
    assert remaining(tmp_path) == ["date=2024-08-08", "date=2024-08-10"]
    assert (tmp_path / "bbo" / "symbol=BTCUSDT" / "notes").is_dir()
    assert prune(str(tmp_path), 0) == []   # 0 keeps forever
    assert remaining(tmp_path) == ["date=2024-08-08", "date=2024-08-10"]


def test_the_writer_thread_prunes_periodically(tmp_path):
    today = dt.datetime.now(dt.timezone.utc).date()
    make_partitions(tmp_path, ["2001-01-01", today.isoformat()], tables=("bbo",))
    rings = RecordRings(["bbo"], 1024)
    writer = StoreWriter(rings, {"bbo": TABLES["bbo"]}, ["BTCUSDT"], lambda s: (2, 3),
                         str(tmp_path), retention_days=30, flush_interval_ms=10)
    writer.start()
    old = tmp_path / "bbo" / "symbol=BTCUSDT" / "date=2001-01-01"
    try:
        deadline = time.monotonic() + 30
        while old.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        writer.stop()
    assert remaining(tmp_path) == [f"date={today}"]
