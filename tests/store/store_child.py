"""A daemon-like process for the crash tests: engine + store fed with the BTC recording.

    python -m tests.store.store_child kill|term OUT_DIR

kill: small files rotating often, frames fed slowly; prints ``rotated`` once two bbo part
files are complete, then keeps feeding until killed.
term: feeds every frame, prints ``fed``, waits for SIGTERM, then stops the store
(writing everything) and exits 0.
"""
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from rtaid._kernels.engine import Engine
from rtaid.store import Store
from tests.helpers import BTC_RECORDING
from tests.helpers import pack, read_frames


def main(mode, out):
    frames = read_frames(BTC_RECORDING)
    buf, offsets = pack([p for _, p in frames])
    recv_ns = np.array([ns for ns, _ in frames], dtype=np.int64)
    engine = Engine(["BTCUSDT"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
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
            if not told and len(list(Path(out, "bbo").rglob("part-*.parquet"))) >= 2:
                print("rotated", flush=True)
                told = True
    print("fed", flush=True)
    stop.wait()
    store.stop()
    print("stopped", store.stats()["rows_written"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
