"""Make-before-break in the engine: two connections deliver the same real stream in
random interleavings; every event is taken exactly once, so the recorded tables and
the book equal those of a single connection."""
import random

import numpy as np
import pytest

from rtaid._kernels.engine import Engine
from rtaid.feed.listener import book_last_update_id
from rtaid._kernels.ring import RecordRings
from rtaid.store.tables import TABLES
from tests.helpers import BTC_RECORDING
from tests.helpers import read_frames

TABLE_NAMES = ("trades", "bbo", "depth", "book_top", "book_events")
OLD, NEW = 1, 2


@pytest.fixture(scope="module")
def stream(shared_data):
    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    snapshot = next(i for i, p in enumerate(payloads) if b"lastUpdateId" in p)
    return payloads, snapshot


class Recorder:
    def __init__(self):
        self.rings = RecordRings({n: (TABLES[n].ring, TABLES[n].dtype.itemsize)
                                  for n in TABLE_NAMES}, 1 << 16)
        self.engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=self.rings)
        self.got = {n: [] for n in TABLE_NAMES}
        self.count = 0

    def deliver(self, payload, source, default_sym=-1):
        self.engine.source = source
        self.engine.feed(payload, 0, default_sym)
        self.count += 1
        if self.count % 2048 == 0:
            self.collect()

    def collect(self):
        for n in TABLE_NAMES:
            out = np.empty(self.rings.capacity, dtype=TABLES[n].dtype)
            self.got[n].append(out[:self.rings.drain(n, out.view(np.uint8))])

    def tables(self):
        self.collect()
        assert all(self.rings.dropped(n) == 0 for n in TABLE_NAMES)
        return {n: np.concatenate(v) for n, v in self.got.items()}


def single_connection(payloads, snapshot):
    rec = Recorder()
    for i, p in enumerate(payloads):
        rec.deliver(p, 0 if i == snapshot else OLD, 0 if i == snapshot else -1)
    return rec


def handed_over(payloads, snapshot, seed):
    """The old connection delivers events 0..; the new one subscribes at ``start`` and
    delivers start..end, starting ``lag`` events ahead of the old one (odd seeds). Both
    then run at random relative speeds, drifting at most ``spread`` events apart (they
    carry the same traffic from the same exchange); the new one is promoted once it is level, the
    old one then stops; the duplicate filter ends once the new one has passed
    everything the old delivered."""
    rng = random.Random(seed)
    n = len(payloads)
    start = rng.randrange(snapshot + 1000, n // 2)
    lag = rng.randrange(20, 80) if seed % 2 else 0
    rec = Recorder()
    eng = rec.engine
    i_old, i_new = 0, start
    promoted = overlapping = False
    spread = rng.choice((5, 40, 150))      # how far the two connections drift apart
    while i_old < start - lag:             # before the handover: the old one alone
        rec.deliver(payloads[i_old], 0 if i_old == snapshot else OLD,
                    0 if i_old == snapshot else -1)
        i_old += 1
    eng.overlap_begin(NEW)
    overlapping = True
    while i_new < n:
        lead = i_new - i_old               # > 0: the new connection is ahead
        old_next = lead > spread or (lead > -spread and rng.random() < 0.5)
        if not promoted and i_old < n and old_next:
            rec.deliver(payloads[i_old], OLD)
            i_old += 1
        else:
            rec.deliver(payloads[i_new], NEW)
            i_new += 1
        if (not promoted and i_new > start + 200 and eng.standby_behind([0]) == 0
                and rng.random() < 0.05):
            eng.promote(NEW)               # the old connection stops delivering
            promoted = True
        if promoted and overlapping and i_new >= i_old:
            eng.overlap_end()
            overlapping = False
    assert promoted
    return rec


@pytest.mark.parametrize("seed", range(6))
def test_every_event_is_taken_once_whichever_connection_leads(stream, seed):
    payloads, snapshot = stream
    want = single_connection(payloads, snapshot)
    got = handed_over(payloads, snapshot, seed)
    a, b = want.tables(), got.tables()
    for name in TABLE_NAMES:
        assert len(a[name]) == len(b[name]), name
        for field in a[name].dtype.names:      # (not the bytes: struct padding is junk)
            assert np.array_equal(a[name][field], b[name][field]), (name, field)
    assert got.engine.top(0, "bid", 1000) == want.engine.top(0, "bid", 1000)
    assert got.engine.top(0, "ask", 1000) == want.engine.top(0, "ask", 1000)
    assert got.engine.book_state(0) == "synced"
    stats = got.engine.overlap_stats()
    assert stats["duplicates"] > 0 and stats["overlaps"] == 0 and stats["standby"] == 0
    if seed % 2:
        assert stats["ahead"] > 0, stats     # the new connection did start ahead


def test_a_standby_ahead_of_the_book_is_not_taken_and_holds_the_promotion(stream):
    payloads, snapshot = stream
    rec = Recorder()
    eng = rec.engine
    depth = [i for i, p in enumerate(payloads) if b"depthUpdate" in p and i > snapshot + 50]
    for i in range(depth[10] + 1):
        rec.deliver(payloads[i], 0 if i == snapshot else OLD, 0 if i == snapshot else -1)
    eng.overlap_begin(NEW)
    # the new connection delivers the depth event after next: ahead of the book
    rec.deliver(payloads[depth[12]], NEW)
    assert eng.overlap_stats()["ahead"] == 1 and eng.standby_behind([0]) == 1
    # the old one delivers the missing one: the standby still holds one it skipped
    rec.deliver(payloads[depth[11]], OLD)
    assert eng.standby_behind([0]) == 1
    rec.deliver(payloads[depth[12]], OLD)     # now everything the standby skipped is in
    assert eng.standby_behind([0]) == 0
    rec.deliver(payloads[depth[13]], NEW)     # continues the chain: taken
    assert eng.book_state(0) == "synced"
    assert eng.book_stats(0)["gap"] == 0
    assert book_last_update_id(eng, 0) == recorded_u(payloads[depth[13]])


def recorded_u(payload):
    import json
    return json.loads(payload)["data"]["u"]
