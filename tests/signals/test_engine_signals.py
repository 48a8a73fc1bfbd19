"""The signal kernels inside the Engine (the daemon's path): the execution hook, live
strategy updates, the bar timer, reconnects, and their records in the store's rings."""
import math
from dataclasses import replace

import numpy as np
import pytest

from rtaid._kernels.engine import Engine
from rtaid._kernels.ring import RecordRings
from rtaid._kernels.signals import SignalDriver, SignalParams, resolve_params
from rtaid.store.tables import TABLES
from tests.conftest import BTC_RECORDING
from tests.kernels.recordings import pack, read_frames
from tests.signals.conftest import ACTIVE

SIGNAL_TABLES = ("indicators", "bars_1m", "signals")


@pytest.fixture(scope="module")
def btc(shared_data):
    params, l1_book, _ = resolve_params([BTC_RECORDING], ACTIVE)
    frames = read_frames(BTC_RECORDING)
    return params["BTCUSDT"], [p for _, p in frames]


def make_engine(p, rings=None):
    return Engine(["BTCUSDT"], scales={"BTCUSDT": (p.px_dec, p.qty_dec)},
                  signal_params={"BTCUSDT": SignalParams(p)}, rings=rings)


class SignalRings:
    """The three signal tables' rings, drained into numpy records on demand."""

    def __init__(self, capacity=1 << 14):
        self.rings = RecordRings({n: (TABLES[n].ring, TABLES[n].dtype.itemsize)
                                  for n in SIGNAL_TABLES}, capacity)
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


def test_engine_records_the_driver_rows_and_hands_target_changes_to_the_hook(btc):
    p, payloads = btc
    rings = SignalRings()
    engine = make_engine(p, rings.rings)
    hooked = []
    engine.set_signal_hook(hooked.extend)
    for i, payload in enumerate(payloads):      # one frame at a time, as the listener does
        engine.feed(payload, 0, 0)
        if i % 4096 == 0:
            rings.collect()
    driver = SignalDriver(["BTCUSDT"], {"BTCUSDT": p})
    buf, offsets = pack(payloads)
    driver.run_frames(buf, offsets, 0)
    want = driver.arrays()

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
    assert engine.signals_lost == 0
    # bars closed by events (the open one stays open until the timer or the end)
    assert len(got["bars_1m"]) == len(want["bars_1m"]["minute_ms"])
    state = engine.signal_state(0)
    assert state["target"] == hooked[-1]["target"] and state["rows"] == 93_949


def test_no_hook_no_queue(btc):
    p, payloads = btc
    engine = make_engine(p)
    buf, offsets = pack(payloads)
    engine.run_frames(buf, offsets, 0)
    assert engine.signal_queue_n == 0 and engine.signals_lost == 0


def test_live_strategy_update_takes_effect_from_the_next_event(btc):
    p, payloads = btc
    closed = replace(p, strategy_entry_low=0.0, strategy_entry_high=100.0)  # never enters
    engine = make_engine(closed)
    hooked = []
    engine.set_signal_hook(hooked.extend)
    half = len(payloads) // 2
    for payload in payloads[:half]:
        engine.feed(payload, 0, 0)
    assert hooked == []
    engine.update_strategy(0, SignalParams(p))
    for payload in payloads[half:]:
        engine.feed(payload, 0, 0)
    assert hooked and hooked[0]["prev_target"] == 0


def test_bar_timer_closes_a_quiet_minute_once(btc):
    p, payloads = btc
    rings = SignalRings()
    engine = make_engine(p, rings.rings)
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
    p, payloads = btc
    engine = make_engine(p)
    for payload in payloads[:5000]:
        engine.feed(payload, 0, 0)
    assert not math.isnan(engine.signal_state(0)["wall_net"])
    engine.reset_book(0)
    state = engine.signal_state(0)
    assert not state["book_synced"]
    assert math.isnan(state["wall_net"]) and math.isnan(state["di"])


def test_enable_signals_checks_the_decimals(btc):
    p, _ = btc
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
    with pytest.raises(ValueError, match="decimals"):
        engine.enable_signals(0, SignalParams(replace(p, px_dec=1)))
    assert engine.signal_state(0) is None
    engine.enable_signals(0, SignalParams(p))
    with pytest.raises(ValueError, match="already"):
        engine.enable_signals(0, SignalParams(p))
    assert engine.signals_enabled(0)
