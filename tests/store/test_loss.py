"""kill -9 at random moments of a live-like run: what is lost, what is left, the restart.

A child process runs the daemon's store (max_loss_s, compaction, the signal kernels)
fed with the BTCUSDT recording at 30 times its pace, and reports after every chunk how
many rows it has pushed into each table's ring. It is killed (SIGKILL) at a random
moment; then every visible file must read, no row may appear twice, and every table
must hold at least the rows pushed ``max_loss_s`` before the kill (for bbo and trades:
exactly those of the recording, by update and trade id). The next start (the child in
``recover`` mode) must remove what the killed one left and merge the closed hours
without losing or adding a row.
"""
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pyarrow.parquet as pq
import pytest

from rtaid.store.compaction import STAGING_DIR
from rtaid.store.tables import TABLES
from tests.helpers import BTC_RECORDING, ROOT
from tests.store.store_child import LOSS_S

KEYS = {"bbo": ("u",), "trades": ("trade_id",), "book_top": ("u",),
        "depth": ("u", "side", "px_ticks", "snapshot"), "indicators": ("seq",),
        "bars_1m": ("minute_ms",), "book_events": ("E", "u", "event")}


def recording_ids():
    """bookTicker update ids and trade ids of the recording, in order."""
    bbo, trades = [], []
    with gzip.open(BTC_RECORDING, "rb") as fh:
        for line in fh:
            data = json.loads(line.partition(b" ")[2])
            data = data.get("data", data)
            if data.get("e") == "bookTicker":
                bbo.append(data["u"])
            elif data.get("e") == "trade":
                trades.append(data["t"])
    return bbo, trades


class Child:
    def __init__(self, mode, out):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.store.store_child", mode,
                                      str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.progress = []   # (monotonic s, {table: rows pushed})
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("fed "):
                _, t, pushed = line.split(" ", 2)
                self.progress.append((float(t), json.loads(pushed)))

    def loss_window(self, rows, killed_at):
        """Seconds before the kill from which on some table's rows are missing."""
        for when, pushed in self.progress:
            if any(len(rows.get(table, [])) < n for table, n in pushed.items()):
                return killed_at - when
        return 0.0

    def pushed_before(self, t):
        counts = {}
        for when, pushed in self.progress:
            if when <= t:
                counts = pushed
        return counts


def visible_tables(root):
    """Every visible Parquet file, read (each must read), by table."""
    out = {}
    for path in sorted(root.rglob("*.parquet")):
        rel = path.relative_to(root)
        if rel.parts[0] == STAGING_DIR:
            continue
        table = pq.read_table(path)
        assert table.schema.remove_metadata() == TABLES[rel.parts[0]].schema, rel
        out.setdefault(rel.parts[0], []).append(table)
    return out


def rows_by_key(tables):
    out = {}
    for name, parts in tables.items():
        keys = KEYS.get(name)
        rows = []
        for t in parts:
            cols = [t[k].to_pylist() for k in keys] if keys else [list(range(t.num_rows))]
            rows += list(zip(*cols))
        if keys:
            assert len(rows) == len(set(rows)), f"{name}: a row appears twice"
        out[name] = rows
    return out


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_at_most_max_loss_s(shared_data, tmp_path):
    seed = int(os.environ.get("RTAID_KILL_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    bbo_ids, trade_ids = recording_ids()
    kills = [rng.uniform(1.0, 16.0) for _ in range(3)]
    for n, after in enumerate(kills):
        note = f"seed {seed}, kill {n} at {after:.2f} s"
        out = tmp_path / f"run{n}"
        child = Child("loss", out)
        try:
            while not child.progress and child.proc.poll() is None:
                time.sleep(0.01)
            assert child.progress, note + ": the child never fed"
            time.sleep(max(0.0, child.progress[0][0] + after - time.monotonic()))
        finally:
            child.proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            child.proc.wait(30)
        assert child.proc.returncode == -signal.SIGKILL, note
        child.reader.join(10)
        rows = rows_by_key(visible_tables(out))
        print(f"{note}: lost the last {child.loss_window(rows, killed_at):.2f} s")
        due = child.pushed_before(killed_at - LOSS_S)
        for table, pushed in due.items():
            assert len(rows.get(table, [])) >= pushed, (note, table, len(rows.get(table, [])), pushed)
        assert set(bbo_ids[:due.get("bbo", 0)]) <= {u for (u,) in rows.get("bbo", [])}, note
        assert {u for (u,) in rows.get("bbo", [])} <= set(bbo_ids), note
        assert set(trade_ids[:due.get("trades", 0)]) <= {t for (t,) in rows.get("trades", [])}, note
        # the next start
        restart = subprocess.run([sys.executable, "-m", "tests.store.store_child", "recover",
                                  str(out)], cwd=ROOT, capture_output=True, text=True,
                                 timeout=120)
        assert restart.returncode == 0, note + restart.stdout + restart.stderr
        assert not list(out.rglob("*.tmp")), note
        assert not list((out / STAGING_DIR).iterdir()), note
        after_restart = rows_by_key(visible_tables(out))
        assert {t: sorted(r) for t, r in after_restart.items()} == \
               {t: sorted(r) for t, r in rows.items()}, note
        for table_dir in out.iterdir():
            for date_dir in table_dir.glob("symbol=*/date=*"):
                hours = [int(p.name.split("-")[1]) // 3_600_000 for p in date_dir.glob("*.parquet")]
                assert len(hours) == len(set(hours)), (note, date_dir, sorted(hours))
