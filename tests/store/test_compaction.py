"""Compaction: an hour's part files become one, atomically, and readers never notice."""
import os
import subprocess
import sys

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from rtaid._kernels.ring import RecordRings
from rtaid.store import compaction
from rtaid.store.compaction import HOUR_MS, STAGING_DIR
from rtaid.store.writer import StoreWriter
from tests.helpers import ROOT
from tests.store.helpers import BBO, T0, Clock, push_bbo

H0 = T0 + 10 * HOUR_MS          # 2024-08-08 10:00 UTC
MAX_LOSS_S = 10
GRACE_MS = 120_000


def make_writer(tmp_path, symbols=("BTCUSDT", "ETHUSDT"), **kw):
    rings = RecordRings(["bbo"], 1 << 12)
    clock, wall = Clock(), Clock()
    wall.now = H0
    writer = StoreWriter(rings, {"bbo": BBO}, list(symbols), lambda s: (2, 3), str(tmp_path),
                         max_loss_s=MAX_LOSS_S, flush_interval_ms=1000, clock=clock,
                         wall_ms=wall, **kw)
    return rings, writer, clock, wall


def publish(rings, writer, clock, u, n, E, sym=0):
    """Push n rows and let the writer publish them (past their part's deadline)."""
    push_bbo(rings, u, n, E=E, sym=sym)
    writer.flush()
    clock.now += MAX_LOSS_S
    writer.flush()


def files(root, table="bbo"):
    return sorted(p.relative_to(root).as_posix() for p in (root / table).rglob("*.parquet"))


def dataset(root):
    """The table as every reader sees it: pyarrow.dataset, DuckDB, pandas (sorted rows)."""
    arrow = ds.dataset(root / "bbo", format="parquet", partitioning="hive").to_table()
    rows = sorted(zip(arrow["symbol"].to_pylist(), arrow["u"].to_pylist(),
                      arrow["bid_px"].to_pylist()))
    con = duckdb.connect()
    by_duckdb = con.sql(f"SELECT symbol, u, bid_px FROM read_parquet('{root}/bbo/*/*/*.parquet', "
                        "hive_partitioning = true) ORDER BY symbol, u").fetchall()
    frame = pd.read_parquet(root / "bbo")
    by_pandas = sorted(zip(frame["symbol"].astype(str), frame["u"], frame["bid_px"]))
    assert by_duckdb == rows and by_pandas == rows
    return rows


def test_closed_hours_become_one_file_per_table_symbol_and_hour(tmp_path):
    rings, writer, clock, wall = make_writer(tmp_path)
    writer.recover()     # (start) builds what every merge compares with, not the first merge
    references = dict(writer.compactor._references)
    assert set(references) == {"bbo"}
    for i in range(3):                                   # three parts of hour 10, BTCUSDT
        publish(rings, writer, clock, 100 * i, 100, H0 + 1000 * i)
    publish(rings, writer, clock, 1000, 10, H0 + 5000, sym=1)   # one part, ETHUSDT
    publish(rings, writer, clock, 2000, 10, H0 + HOUR_MS)       # hour 11
    before = dataset(tmp_path)
    parts = files(tmp_path)
    assert len(parts) == 5 and len(before) == 320
    writer.flush()          # hour 10 is over, but not by the grace period yet
    assert files(tmp_path) == parts
    wall.now = H0 + HOUR_MS + GRACE_MS
    writer.flush()
    assert files(tmp_path) == parts     # and not before GRACE_MS after its last part
    clock.now += GRACE_MS / 1000
    writer.flush()
    after = files(tmp_path)
    btc = [f for f in after if "BTCUSDT" in f]
    assert btc == [f"bbo/symbol=BTCUSDT/date=2024-08-08/part-{H0}-hour.parquet",
                   f"bbo/symbol=BTCUSDT/date=2024-08-08/part-{H0 + HOUR_MS}-0000.parquet"]
    assert [f for f in after if "ETHUSDT" in f] == [f for f in parts if "ETHUSDT" in f]
    assert dataset(tmp_path) == before                   # same rows, none twice
    merged = pq.read_table(tmp_path / btc[0])
    assert merged["u"].to_pylist() == list(range(300))   # in the order of the parts
    assert merged.schema.remove_metadata() == BBO.schema
    assert list((tmp_path / STAGING_DIR).iterdir()) == []
    stats = writer.stats()["compaction"]
    assert (stats["compactions"], stats["files_compacted"], stats["rows_compacted"]) == (1, 3, 300)
    # what the compactor remembers is of hours still queued (hour 11): a merged hour
    # and one with a single file (ETHUSDT) are forgotten, or a daemon grows by the hour
    compactor = writer.compactor
    assert set(compactor._retry_at) <= set(compactor.candidates) and len(compactor.candidates) == 1
    assert compactor._references == references and all(
        compactor._references[k] is references[k] for k in references)


def test_an_hour_still_written_is_left_alone_and_late_rows_are_merged_again(tmp_path):
    rings, writer, clock, wall = make_writer(tmp_path)
    publish(rings, writer, clock, 0, 50, H0)
    publish(rings, writer, clock, 50, 50, H0 + 1000)
    wall.now = H0 + HOUR_MS + GRACE_MS
    clock.now += GRACE_MS / 1000
    push_bbo(rings, 100, 5, E=H0 + 2000)          # hour 10 is being written again
    writer.flush()
    assert len(files(tmp_path)) == 2              # not merged while the writer holds it
    clock.now += MAX_LOSS_S
    writer.flush()                                # published
    clock.now += GRACE_MS / 1000
    writer.flush()                                # and merged with the others
    assert files(tmp_path) == [f"bbo/symbol=BTCUSDT/date=2024-08-08/part-{H0}-hour.parquet"]
    publish(rings, writer, clock, 105, 5, H0 + 3000)   # a late row after the merge
    clock.now += GRACE_MS / 1000
    writer.flush()
    merged = files(tmp_path)
    assert merged == [f"bbo/symbol=BTCUSDT/date=2024-08-08/part-{H0}-hour.parquet"]
    assert sorted(pq.read_table(tmp_path / merged[0])["u"].to_pylist()) == list(range(110))


def test_without_directory_exchange_the_parts_stay(tmp_path, monkeypatch):
    monkeypatch.setattr(compaction, "exchange_supported", lambda d: "EINVAL: not supported")
    rings, writer, clock, wall = make_writer(tmp_path)
    writer.recover()
    publish(rings, writer, clock, 0, 10, H0)
    publish(rings, writer, clock, 10, 10, H0 + 1000)
    wall.now = H0 + HOUR_MS + GRACE_MS
    clock.now += GRACE_MS / 1000
    writer.flush()
    assert len(files(tmp_path)) == 2
    assert writer.stats()["compaction"]["disabled"] == "EINVAL: not supported"


def hour_state(root):
    """The visible files of hour 10 of BTCUSDT bbo and their rows (u, in file order)."""
    directory = root / "bbo" / "symbol=BTCUSDT" / "date=2024-08-08"
    names = sorted(n for n in os.listdir(directory) if n.endswith(".parquet"))
    return names, [u for n in names for u in pq.read_table(directory / n)["u"].to_pylist()]


@pytest.mark.slow
def test_a_kill_at_any_step_of_compaction_leaves_the_parts_or_the_merged_file(tmp_path):
    """SIGKILL at each filesystem operation and each merge step of a compaction (one
    forked process per point): readers see either the three parts or the one merged
    file, never both, never neither; the next start cleans up and merges."""
    src = tmp_path / "src"
    rings, writer, clock, wall = make_writer(src, row_group_s=0.0)
    for i in range(3):
        publish(rings, writer, clock, 100 * i, 100, H0 + 1000 * i)
    publish(rings, writer, clock, 1000, 10, T0 + 5 * HOUR_MS)   # another hour, same day
    push_bbo(rings, 2000, 10, E=H0 + 4000)
    writer.flush()                  # and a temporary file being written: both stay
    parts, rows = hour_state(src)
    assert len(parts) == 4 and sorted(rows) == list(range(300)) + list(range(1000, 1010))
    out = tmp_path / "runs"
    out.mkdir()
    result = subprocess.run([sys.executable, "-m", "tests.store.compaction_child", str(src),
                             str(out), "bbo", "BTCUSDT"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    points = int(result.stdout.split()[-1])
    assert points > 20          # probe, staging, 3 inputs, fsyncs, links, exchange, cleanup
    merged_name = f"part-{H0}-hour.parquet"
    states = set()
    for k in range(1, points + 1):
        run = out / str(k)
        names, seen = hour_state(run)
        tmp = [n for n in os.listdir(run / "bbo/symbol=BTCUSDT/date=2024-08-08") if n.endswith(".tmp")]
        assert len(tmp) == 1, (k, tmp)                     # the writer's file survives
        if merged_name in names:                            # the merged file, not the parts
            assert names == sorted([merged_name, parts[0]]), (k, names)
            states.add("merged")
        else:                                               # the parts, untouched
            assert names == parts, (k, names)
            states.add("parts")
        assert sorted(seen) == sorted(rows), k              # every row once
        # the next start: staging removed, temporaries removed, the hour merged
        rings2, writer2, clock2, wall2 = make_writer(run, symbols=("BTCUSDT",))
        recovered = writer2.recover()
        wall2.now = H0 + HOUR_MS + GRACE_MS
        writer2.flush()
        names, seen = hour_state(run)
        assert names == sorted([merged_name, parts[0]]), (k, names)
        assert sorted(seen) == sorted(rows), k
        assert recovered["temporaries"] == 1
        leftovers = [p.name for p in (run / STAGING_DIR).iterdir()]
        assert leftovers == [], (k, leftovers)
    assert states == {"parts", "merged"}


def test_a_slow_merge_call_is_logged_with_its_phase(tmp_path):
    """The writer's thread drains no ring while a merge call runs: one that takes a
    second or more is logged (compaction_slow) and the slowest is in the stats."""
    rings, writer, clock, wall = make_writer(tmp_path)
    for i in range(3):
        publish(rings, writer, clock, 100 * i, 100, H0 + 1000 * i)
    wall.now = H0 + HOUR_MS + GRACE_MS
    clock.now += GRACE_MS / 1000
    logged = []
    writer.compactor.rate_log.warning = lambda key, event, **f: logged.append((event, f))
    advance = compaction._CopyJob.advance

    def slow_advance(job):
        clock.now += 2.5
        return advance(job)
    compaction._CopyJob.advance = slow_advance
    try:
        writer.flush()
    finally:
        compaction._CopyJob.advance = advance
    stats = writer.stats()["compaction"]
    assert stats["compactions"] == 1 and stats["slowest_call_s"] == 2.5
    assert logged == [("compaction_slow", {"phase": "merge", "seconds": 2.5, "table": "bbo",
                                           "symbol": "BTCUSDT"})]


def test_each_merged_row_group_is_synced_as_it_is_written(tmp_path, monkeypatch):
    """The merged file goes to the disk a row group per merge call: the publish's fsync
    (one call on the writer's thread) then has only the footer to flush, not the hour."""
    rings, writer, clock, wall = make_writer(tmp_path)
    for i in range(6):
        publish(rings, writer, clock, 100 * i, 100, H0 + 1000 * i)
    wall.now = H0 + HOUR_MS + GRACE_MS
    clock.now += GRACE_MS / 1000
    monkeypatch.setattr(compaction, "COPY_MAX_INPUT_ROW_GROUPS", 2)   # three merge calls
    synced = []   # the merged file's size at each fdatasync
    real = os.fdatasync

    def spy(fd):
        synced.append(os.fstat(fd).st_size)
        real(fd)
    monkeypatch.setattr(os, "fdatasync", spy)
    writer.flush()
    assert writer.stats()["compaction"]["compactions"] == 1
    merged = [p for p in (tmp_path / "bbo").rglob("*.parquet") if "BTCUSDT" in str(p)]
    assert len(merged) == 1
    assert pq.ParquetFile(merged[0]).metadata.num_row_groups == 3
    assert len(synced) == 3 and synced == sorted(set(synced))
    tail = merged[0].read_bytes()[-8:]    # footer length, b"PAR1"
    assert tail[4:] == b"PAR1"
    # what was left for the publish's fsync: exactly the footer
    assert merged[0].stat().st_size - synced[-1] == int.from_bytes(tail[:4], "little") + 8
