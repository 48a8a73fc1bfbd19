"""The signal kernels inside the Engine (the daemon's path): the execution seam (the
target-change ring), live strategy updates, the bar timer, reconnects, and their
records in the store's rings."""
import math

import numpy as np
import pytest

from rtaid._kernels.engine import Engine
from rtaid._kernels.ring import RecordRings
from rtaid._kernels.signals import SignalParams
from rtaid.replay import replay_tables
from rtaid.store.tables import TABLES
from tests.helpers import (
    ACTIVE_SETTINGS, BTC_RECORDING, SIGNAL_TABLES, active_config, config_with, read_frames,
)


@pytest.fixture(scope="module")
def btc(shared_data):
    frames = read_frames(BTC_RECORDING)
    return active_config(), [p for _, p in frames]


def params_of(config, px_dec=2, qty_dec=3):
    return SignalParams.from_config(config.for_symbol("BTCUSDT"), px_dec, qty_dec)


def make_engine(config, rings=None):
    return Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)},
                  signal_params={"BTCUSDT": params_of(config)}, rings=rings)


class SignalRings:
    """The three signal tables' rings, drained into numpy records on demand."""

    def __init__(self, capacity=1 << 14):
        self.rings = RecordRings(SIGNAL_TABLES, capacity)
        self.got = {n: [] for n in SIGNAL_TABLES}

    def collect(self):
        for name in SIGNAL_TABLES:
            out = np.empty(self.rings.capacity, dtype=TABLES[name].dtype)
            n = self.rings.drain(name, out.view(np.uint8))
            self.got[name].append(out[:n])

    def take(self, name):
        self.collect()
        rows = np.concatenate(self.got[name])
        self.got[name] = []
        return rows


def test_frame_by_frame_equals_replay_and_target_changes_reach_the_queue(btc):
    config, payloads = btc
    rings = SignalRings()
    engine = make_engine(config, rings.rings)
    engine.queue_exec_events(True)
    hooked = []
    for i, payload in enumerate(payloads):      # one frame at a time, as the listener does
        engine.feed(payload, 1000 + i, 0)
        if engine.exec_pending:              # what the execution task does when woken
            hooked.extend([e for e in engine.drain_exec_events() if e["type"] == "target"])
        if i % 4096 == 0:
            rings.collect()
    want, _ = replay_tables([BTC_RECORDING], config=config)
    want = {name: {c: want[name][c] for c in want[name].dtype.names} for name in want}

    got = {n: rings.take(n) for n in SIGNAL_TABLES}
    assert all(rings.rings.dropped(n) == 0 for n in SIGNAL_TABLES)
    ind = got["indicators"]
    assert len(ind) == len(want["indicators"]["seq"]) == 93_949
    for col in ("ts_ms", "u", "seq", "obi", "ofi_norm_osc", "vpin", "dev_bps_z", "wall_net"):
        np.testing.assert_array_equal(ind[col], want["indicators"][col])
    sig = got["signals"]
    assert len(sig) == len(want["signals"]["seq"]) > 0
    np.testing.assert_array_equal(sig["target"], want["signals"]["target"])
    # the hook saw every change, in order, with the table's columns
    assert [h["seq"] for h in hooked] == sig["seq"].tolist()
    assert [h["target"] for h in hooked] == sig["target"].tolist()
    assert {h["reason"] for h in hooked} <= {"entry_long", "entry_short", "exit_mid",
                                            "max_hold", "stop_loss"}
    # each change carries the receive time of the frame that made it
    assert all(h["recv_ns"] >= 1000 for h in hooked)
    assert engine.exec_lost == 0 and engine.exec_pending == 0
    # bars closed by events (the open one stays open until the timer or the end)
    # (replay also closes the last, open one at the end of its input)
    assert len(got["bars_1m"]) == len(want["bars_1m"]["minute_ms"]) - 1
    state = engine.signal_state(0)
    assert state["target"] == hooked[-1]["target"] and state["rows"] == 93_949


def test_no_consumer_no_queue(btc):
    config, payloads = btc
    engine = make_engine(config)
    for payload in payloads:
        engine.feed(payload, 0, 0)
    assert engine.signal_state(0)["target"] != 0 or engine.exec_pending == 0
    assert engine.exec_pending == 0 and engine.exec_lost == 0


def test_undrained_changes_wait_in_the_queue_in_order(btc):
    """The execution task is late: every change waits in the ring, oldest first, and
    the last one is the target the kernel holds now."""
    config, payloads = btc
    engine = make_engine(config)
    engine.queue_exec_events(True)
    for payload in payloads:
        engine.feed(payload, 0, 0)
    queued = engine.exec_pending
    changes = [e for e in engine.drain_exec_events() if e["type"] == "target"]
    assert len(changes) == queued > 0 and engine.exec_lost == 0
    assert [c["seq"] for c in changes] == sorted(c["seq"] for c in changes)
    assert changes[-1]["target"] == engine.signal_state(0)["target"]


def test_live_strategy_update_takes_effect_from_the_next_event(btc):
    config, payloads = btc
    closed = config_with(ACTIVE_SETTINGS + ("strategy.entry_low=0.0",
                                            "strategy.entry_high=100.0"))  # never enters
    engine = make_engine(closed)
    engine.queue_exec_events(True)
    half = len(payloads) // 2
    for payload in payloads[:half]:
        engine.feed(payload, 0, 0)
    assert engine.exec_pending == 0
    engine.update_strategy(0, params_of(config))
    for payload in payloads[half:]:
        engine.feed(payload, 0, 0)
    hooked = [e for e in engine.drain_exec_events() if e["type"] == "target"]
    assert hooked and hooked[0]["prev_target"] == 0


def test_bar_timer_closes_a_quiet_minute_once(btc):
    config, payloads = btc
    rings = SignalRings()
    engine = make_engine(config, rings.rings)
    for payload in payloads[:3000]:
        engine.feed(payload, 0, 0)
    rings.take("bars_1m")
    ts = engine.signal_state(0)["ts_ms"]
    minute_end = (ts // 60_000 + 1) * 60_000
    assert engine.bar_timer(minute_end + 999) == 0          # a second of grace
    assert engine.bar_timer(minute_end + 1000) == 1
    assert engine.bar_timer(minute_end + 5000) == 0         # emitted once
    bars = rings.take("bars_1m")
    assert len(bars) == 1 and bars["minute_ms"][0] == minute_end - 60_000


def test_reconnect_drops_the_l2_state(btc):
    config, payloads = btc
    engine = make_engine(config)
    for payload in payloads[:5000]:
        engine.feed(payload, 0, 0)
    assert not math.isnan(engine.signal_state(0)["wall_net"])
    engine.reset_book(0)
    state = engine.signal_state(0)
    assert not state["book_synced"]
    assert math.isnan(state["wall_net"]) and math.isnan(state["di"])


def test_enable_signals_checks_the_decimals(btc):
    config, _ = btc
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
    with pytest.raises(ValueError, match="decimals"):
        engine.enable_signals(0, params_of(config, px_dec=1))
    assert engine.signal_state(0) is None
    engine.enable_signals(0, params_of(config))
    with pytest.raises(ValueError, match="already"):
        engine.enable_signals(0, params_of(config))
    assert engine.signals_enabled(0)
