"""Raw journal: the frames come back byte for byte, hourly files, and replay the same."""
import gzip

import numpy as np

from rtaid._kernels.engine import Engine
from rtaid.replay import replay
from rtaid.store import Store
from tests.helpers import BTC_RECORDING
from tests.helpers import pack
from tests.helpers import read_table


def test_journal_is_the_recording_and_replays_identically(shared_data, tmp_path):
    with gzip.open(BTC_RECORDING, "rb") as fh:
        lines = [line for line in fh.read().splitlines() if line]
    recv_ns = np.array([int(line.partition(b" ")[0]) for line in lines], dtype=np.int64)
    payloads = [line.partition(b" ")[2] for line in lines]
    buf, offsets = pack(payloads)
    engine = Engine(["BTCUSDT"])
    live = tmp_path / "live"
    store = Store(engine, str(live), raw_journal=True, journal_ring_bytes=1 << 22,
                  rotate_s=None, journal_now_ns=lambda: int(recv_ns[0]))
    for start in range(0, len(payloads), 5000):  # as the feed would: frame by frame
        stop = min(start + 5000, len(payloads))
        engine.run_frames(buf, offsets[start:stop + 1].copy(), 0, recv_ns[start:stop].copy())
        store.writer.flush()
    store.stop()
    stats = store.stats()["journal"]
    assert stats["lines_written"] == len(lines) and stats["lines_dropped_ring"] == 0
    files = sorted((live / "raw" / "symbol=BTCUSDT").rglob("*.gz"))
    assert [f.name for f in files] == ["btcusdt_20240808T23-0000.gz"]
    journal = b"".join(gzip.open(f, "rb").read() for f in files)
    assert journal == b"".join(line + b"\n" for line in lines)

    again = tmp_path / "again"
    replay(files, again)
    original = tmp_path / "original"
    replay([BTC_RECORDING], original)
    for table in ("trades", "bbo", "depth", "book_top", "book_events"):
        assert read_table(again, table).equals(read_table(original, table)), table
        assert read_table(live, table).equals(read_table(original, table)), table


def test_journal_rotates_hourly_by_receive_time_and_keeps_unknown_frames(tmp_path):
    hour = 3_600_000_000_000
    t0 = 480_000 * hour  # 2024-10-04T00:00Z
    engine = Engine(["BTCUSDT", "ETHUSDT"])
    store = Store(engine, str(tmp_path), raw_journal=True, journal_ring_bytes=1 << 16,
                  journal_now_ns=lambda: t0)
    trade = b'{"stream":"%s@trade","data":{"e":"trade","E":1,"T":1,"s":"%s","t":%d,"p":"1.5","q":"2","X":"MARKET","m":false}}'
    frames = [(t0 - 2, trade % (b"btcusdt", b"BTCUSDT", 1)),
              (t0 - 1, trade % (b"ethusdt", b"ETHUSDT", 2)),
              (t0 + 5, trade % (b"btcusdt", b"BTCUSDT", 3)),
              (t0 + 6, b"not json")]
    for ns, payload in frames:
        engine.feed(payload, ns)
    store.stop()
    raw = tmp_path / "raw"
    names = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*.gz"))
    assert names == [
        "symbol=BTCUSDT/date=2024-10-03/btcusdt_20241003T23-0000.gz",
        "symbol=BTCUSDT/date=2024-10-04/btcusdt_20241004T00-0000.gz",
        "symbol=ETHUSDT/date=2024-10-03/ethusdt_20241003T23-0000.gz",
        "symbol=_unknown/date=2024-10-04/_unknown_20241004T00-0000.gz",
    ]
    text = gzip.open(raw / names[1], "rb").read()
    assert text == b"%d %s\n" % frames[2]
    assert gzip.open(raw / names[3], "rb").read() == b"%d not json\n" % (t0 + 6)
