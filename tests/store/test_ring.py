"""Rings: FIFO order across the wrap, drops when full, and a producer without the GIL."""
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rtaid._kernels.engine import Engine
from rtaid._kernels.engine import RECORDED_TABLES as ENGINE_TABLES
from rtaid._kernels.ring import ByteRings, RecordRings
from rtaid.store.tables import TABLES
from tests.helpers import BTC_RECORDING
from tests.helpers import pack, read_frames

BBO = TABLES["bbo"]


def bbo_record(u):
    rec = np.zeros(1, dtype=BBO.dtype)
    rec["u"] = u
    rec["E"] = 1_700_000_000_000 + u
    rec["bid_px"] = u * 10
    return rec.tobytes()


def drain(rings, name, table, capacity):
    out = np.empty(capacity, dtype=table.dtype)
    n = rings.drain(name, out.view(np.uint8))
    return out[:n].copy()


def test_record_ring_is_fifo_across_the_wrap_and_drops_when_full():
    rings = RecordRings(["bbo"], 1000)
    assert rings.capacity == 1024  # rounded up to a power of two
    u = 0
    for _ in range(5):  # each round crosses the end of the buffer
        for _ in range(700):
            assert rings.push("bbo", bbo_record(u))
            u += 1
        got = drain(rings, "bbo", BBO, 2048)
        assert got["u"].tolist() == list(range(u - 700, u))
        assert (got["bid_px"] == got["u"] * 10).all()
    for k in range(1100):
        assert rings.push("bbo", bbo_record(k)) == (k < 1024)
    assert rings.dropped("bbo") == 1100 - 1024
    assert rings.pending("bbo") == 1024
    # a drain into a smaller buffer takes what fits, in order
    assert drain(rings, "bbo", BBO, 10)["u"].tolist() == list(range(10))
    assert rings.pending("bbo") == 1014


def test_record_ring_rejects_wrong_record_size():
    rings = RecordRings(["bbo"], 1024)
    with pytest.raises(ValueError):
        rings.push("bbo", b"\0" * 8)


def test_byte_ring_formats_collector_lines_across_the_wrap():
    rings = ByteRings(1, 4096)
    out = np.empty(8192, dtype=np.uint8)
    stamps = np.empty(512, dtype=np.int64)
    ends = np.empty(512, dtype=np.int64)
    sent = []
    for round_ in range(20):
        batch = [(10**18 + round_ * 100 + k, b'{"k":' + str(k).encode() * (k + 1) + b"}")
                 for k in range(12)]
        for ns, payload in batch:
            assert rings.push(0, payload, ns)
        sent += batch
        n = rings.drain_lines(0, out, stamps, ends)
        assert n == len(batch)
        text = out[:ends[n - 1]].tobytes()
        assert text == b"".join(b"%d %s\n" % (ns, p) for ns, p in batch)
        assert stamps[:n].tolist() == [ns for ns, _ in batch]
    # full: frames are dropped and counted, never overwritten
    k = 0
    while rings.push(0, b"x" * 100, 1):
        k += 1
    assert rings.dropped(0) == 1 and 0 < k <= 4096 // 128
    assert rings.drain_lines(0, out, stamps, ends) == k


def test_engine_without_the_gil_and_a_concurrent_drain_lose_nothing_unaccounted(shared_data):
    """The SPSC protocol: every record is drained intact, in order, or counted dropped."""
    frames = read_frames(BTC_RECORDING)
    buf, offsets = pack([p for _, p in frames])
    recv_ns = np.array([ns for ns, _ in frames], dtype=np.int64)
    rings = RecordRings(["bbo"], 1024)  # small: the drain races
    engine = Engine(["BTCUSDT"], rings=rings)
    producer = threading.Thread(target=engine.run_frames, args=(buf, offsets, 0, recv_ns))
    drained = []
    producer.start()
    while producer.is_alive() or rings.pending("bbo"):
        got = drain(rings, "bbo", BBO, 256)
        if len(got):
            drained.append(got)
    producer.join()
    got = np.concatenate(drained)
    want = {}
    for ns, payload in frames:
        if b"bookTicker" in payload:
            want[int(payload.split(b'"u":')[1].split(b",")[0])] = ns
    assert len(got) + rings.dropped("bbo") == len(want) == rings.pushed("bbo") + rings.dropped("bbo")
    assert (np.diff(got["u"]) > 0).all()  # order kept
    assert all(want[u] == ns for u, ns in zip(got["u"].tolist(), got["recv_ns"].tolist()))


def test_recording_allocates_nothing_per_message(shared_data):
    from rtaid._kernels.mem import allocation_counts

    frames = read_frames(BTC_RECORDING)
    buf, offsets = pack([p for _, p in frames])
    recv_ns = np.array([ns for ns, _ in frames], dtype=np.int64)
    rings = RecordRings(list(ENGINE_TABLES), 1 << 10)
    journal = ByteRings(2, 1 << 16)
    engine = Engine(["BTCUSDT"], rings=rings, journal=journal)
    before = allocation_counts()
    engine.run_frames(buf, offsets, 0, recv_ns)  # rings overflow: drops, still no allocation
    assert allocation_counts() == before
    assert rings.dropped("depth") > 0 and journal.dropped(0) > 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(1, 700), st.integers(-700, -1)), max_size=40))
def test_record_ring_behaves_like_a_bounded_queue(ops):
    """Positive: push that many records; negative: drain up to that many."""
    rings = RecordRings(["bbo"], 512)
    model, next_u, dropped = [], 0, 0
    for op in ops:
        if op > 0:
            for _ in range(op):
                ok = rings.push("bbo", bbo_record(next_u))
                assert ok == (len(model) < 512)
                if ok:
                    model.append(next_u)
                else:
                    dropped += 1
                next_u += 1
        else:
            got = drain(rings, "bbo", BBO, -op)["u"].tolist()
            assert got == model[:-op]
            del model[:-op]
        assert rings.pending("bbo") == len(model) and rings.dropped("bbo") == dropped
