"""A daemon-like process for the crash tests: engine + store fed with the BTC recording.

    python -m tests.store.store_child kill|term|loss|recover OUT_DIR

kill: small files rotating often, frames fed slowly; prints ``rotated`` once two bbo part
files are complete, then keeps feeding until killed.
term: feeds every frame, prints ``fed``, waits for SIGTERM, then stops the store
(writing everything) and exits 0.
loss: the daemon's store (``max_loss_s`` = LOSS_S, compaction) with the signal kernels,
the recording fed at SPEED times its pace; after each chunk prints
``fed <monotonic s> <json: rows pushed into each table's ring>``, then ``done`` and
waits to be killed (compaction goes on meanwhile).
recover: the same store started on OUT_DIR (what a restart does), left running until
no hour is left to merge, stopped; prints ``recovered <json: recover() counts>``.
"""
import json
import pathlib
import signal
import sys
import threading
import time

import numpy as np

from rtaid._kernels.engine import Engine
from rtaid.replay import plan
from rtaid.store import Store
from tests.helpers import BTC_RECORDING, pack, read_frames

LOSS_S = 4.0
SPEED = 30.0
CHUNK_S = 0.05   # recording seconds fed at once


def loss_store(out):
    """Engine with the signal kernels (as replay builds it) and the daemon's store."""
    engine = plan([BTC_RECORDING]).engine()
    store = Store(engine, out, ring_records=1 << 16, max_loss_s=LOSS_S, flush_interval_ms=100,
                  compact_grace_s=1.0)
    return engine, store


def feed_paced(engine, store):
    frames = read_frames(BTC_RECORDING)
    buf, offsets = pack([p for _, p in frames])
    recv_ns = np.array([ns for ns, _ in frames], dtype=np.int64)
    names = list(store.writer.tables)
    t0, start = time.monotonic(), 0
    step = int(CHUNK_S * 1e9)
    while start < len(frames):
        end = int(np.searchsorted(recv_ns, recv_ns[start] + step))
        end = max(end, start + 1)
        engine.run_frames(buf, offsets[start:end + 1].copy(), 0, recv_ns[start:end].copy())
        now = time.monotonic()
        print("fed", f"{now:.4f}", json.dumps({n: store.rings.pushed(n) for n in names}),
              flush=True)
        start = end
        due = t0 + (recv_ns[min(start, len(frames) - 1)] - recv_ns[0]) / 1e9 / SPEED
        if due > now:
            time.sleep(due - now)


def main(mode, out):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if mode == "loss":
        engine, store = loss_store(out)
        store.start()
        feed_paced(engine, store)
        print("done", flush=True)
        stop.wait()
        return 0
    if mode == "recover":
        engine, store = loss_store(out)
        store.start()
        compactor = store.writer.compactor
        queued = store.writer.recovered["hours_to_compact"]
        deadline = time.monotonic() + 60
        # counted, not "queue empty and no job": the writer thread pops a candidate
        # before it holds the job, and this thread could look in between
        while (compactor.stats()["compactions"] + compactor.stats()["errors"] < queued
               and time.monotonic() < deadline):
            time.sleep(0.05)
        store.stop()
        print("recovered", json.dumps({**store.writer.recovered,
                                       "compaction": compactor.stats()}), flush=True)
        return 0
    frames = read_frames(BTC_RECORDING)
    buf, offsets = pack([p for _, p in frames])
    recv_ns = np.array([ns for ns, _ in frames], dtype=np.int64)
    engine = Engine(["BTCUSDT"])
    if mode == "kill":
        store = Store(engine, out, rotate_mb=0.05, flush_interval_ms=10, row_group_s=0.0,
                      tables=["bbo"])
    else:
        store = Store(engine, out, flush_interval_ms=50, ring_records=1 << 20)
    store.start()
    chunk = 200 if mode == "kill" else len(frames)
    told = False
    for start in range(0, len(frames), chunk):
        end = min(start + chunk, len(frames))
        engine.run_frames(buf, offsets[start:end + 1].copy(), 0, recv_ns[start:end].copy())
        if mode == "kill":
            time.sleep(0.002)
            if not told and len(list(pathlib.Path(out, "bbo").rglob("part-*"))) >= 2:
                print("rotated", flush=True)
                told = True
    print("fed", flush=True)
    stop.wait()
    store.stop()
    print("stopped", store.stats()["rows_written"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
