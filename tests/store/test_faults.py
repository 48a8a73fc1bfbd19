"""Crash safety with real processes: kill -9 mid-write, SIGTERM flush."""
import gzip
import json
import signal
import subprocess
import sys

import pyarrow.parquet as pq

from tests.helpers import BTC_RECORDING, ROOT
from tests.helpers import read_table


def start_child(mode, out):
    return subprocess.Popen([sys.executable, "-m", "tests.store.store_child", mode, str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)


def wait_for(proc, word):
    for line in proc.stdout:
        if line.strip() == word:
            return
    raise AssertionError(f"child exited ({proc.wait()}) before printing {word!r}")


def bbo_u_sequence():
    out = []
    with gzip.open(BTC_RECORDING, "rb") as fh:
        for line in fh:
            if b"bookTicker" in line:
                out.append(json.loads(line.partition(b" ")[2])["data"]["u"])
    return out


def test_kill_9_loses_only_the_part_file_in_flight(shared_data, tmp_path):
    proc = start_child("kill", tmp_path)
    try:
        wait_for(proc, "rotated")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    bbo = tmp_path / "bbo"
    parts = sorted(bbo.rglob("part-*.parquet"), key=lambda p: (p.parent.name, p.name))
    assert len(parts) >= 2
    rows = [u for p in parts for u in pq.read_table(p)["u"].to_pylist()]
    # every complete file reads back, and together they are exactly a prefix of the
    # stream: nothing before the file in flight is missing or duplicated
    assert rows == bbo_u_sequence()[:len(rows)]
    in_flight = list(bbo.rglob(".part-*.tmp"))
    assert len(in_flight) <= 1
    for tmp in in_flight:
        try:  # a half-written file is not a valid Parquet file (no footer)
            pq.read_table(tmp)
            raise AssertionError("the in-flight file should be incomplete")
        except Exception as exc:
            assert not isinstance(exc, AssertionError)


def test_sigterm_writes_everything_buffered(shared_data, tmp_path):
    proc = start_child("term", tmp_path)
    try:
        wait_for(proc, "fed")
        assert list(tmp_path.rglob("part-*.parquet")) == []  # still buffered/in flight
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert read_table(tmp_path, "bbo").num_rows == len(bbo_u_sequence()) == 66_089
    assert read_table(tmp_path, "trades").num_rows == 21_313
    assert not list(tmp_path.rglob(".*.tmp"))
