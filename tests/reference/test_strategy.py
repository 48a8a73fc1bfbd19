"""Section 9: strategy state transitions (entry, exits, cooldown, blocking)."""

from rtaid.reference.indicators import Params
from rtaid.reference.strategy import MeanReversion, NoStrategy, make_strategy

NAN = float("nan")


def row(T, dev, ofi=60.0, vpin=50.0, seq=0):
    return {"symbol": "X", "ts_ms": T, "seq": seq, "dev_bps_osc": dev,
            "ofi_norm_osc": ofi, "vpin_osc": vpin}


def step(s, T, dev, ofi=60.0, vpin=50.0, mid=100.0, l1_T=None, synced=True):
    return s.on_row(row(T, dev, ofi, vpin), mid=mid, l1_T=T if l1_T is None else l1_T,
                    book_synced=synced)


def test_long_entry_exit_mid_and_cooldown():
    s = MeanReversion(order_qty=0.5)
    assert step(s, 0, 10.0, 49.9) is None                    # ofi_osc < 50
    assert step(s, 0, 10.0, 60.0, vpin=80.1) is None         # toxic
    assert step(s, 0, 10.0, 60.0, vpin=NAN) is None          # NaN vpin_osc: no entry
    sig = step(s, 1, 10.0, 50.0, vpin=80.0)                  # all boundaries inclusive
    assert (sig["prev_target"], sig["target"], sig["target_qty"], sig["reason"]) == (0, 1, 0.5, "entry_long")
    assert step(s, 2, 49.9) is None
    sig = step(s, 1000, 50.0)
    assert (sig["target"], sig["reason"]) == (0, "exit_mid")
    assert step(s, 30_999, 5.0) is None                      # cooldown 30 000 ms
    assert step(s, 31_000, 5.0)["target"] == 1


def test_short_entry_and_exit():
    s = MeanReversion()
    assert step(s, 0, 90.0, 50.1) is None
    sig = step(s, 0, 90.0, 50.0)
    assert (sig["target"], sig["target_qty"], sig["reason"]) == (-1, -0.001, "entry_short")
    assert step(s, 1, 50.1) is None
    assert step(s, 2, 50.0)["reason"] == "exit_mid"


def test_max_hold_and_stop_loss():
    s = MeanReversion()
    step(s, 0, 5.0, mid=100.0)
    assert step(s, 120_000, 20.0) is None                    # held == max_hold: not >
    assert step(s, 120_001, 20.0)["reason"] == "max_hold"
    s = MeanReversion(cooldown_ms=0)
    step(s, 0, 5.0, mid=100.0)
    assert step(s, 1, 20.0, mid=99.86) is None               # loss 14 bps
    sig = step(s, 2, 20.0, mid=99.84)                        # loss 16 bps > 15
    assert sig["reason"] == "stop_loss" and sig["mid"] == 99.84
    step(s, 3, 95.0, ofi=10.0, mid=100.0)                    # short at 100
    assert step(s, 4, 60.0, mid=100.16)["reason"] == "stop_loss"
    # NaN dev_osc does not exit by itself
    step(s, 5, 95.0, ofi=10.0, mid=100.0)
    assert step(s, 6, NAN, mid=100.0) is None


def test_unsynced_and_stale_block_entries_not_exits():
    s = MeanReversion()
    assert step(s, 5000, 5.0, synced=False) is None
    assert step(s, 5000, 5.0, l1_T=3999) is None             # 1001 ms old
    assert s.on_row(row(5000, 5.0), mid=100.0, l1_T=None, book_synced=True) is None
    assert step(s, 5000, 5.0, l1_T=4000)["target"] == 1      # exactly 1000 ms: fresh
    assert step(s, 5001, 55.0, synced=False, l1_T=0)["reason"] == "exit_mid"


def test_none_strategy_never_trades():
    s = make_strategy(Params(strategy_name="none"))
    assert isinstance(s, NoStrategy)
    assert step(s, 0, 0.0) is None and step(s, 0, 100.0, ofi=0.0) is None
