"""Section 4: VPIN with exact bucket arithmetic."""
import math

import pytest

from rtaid.reference.indicators import Vpin


def test_configured_bucket_one_trade_completes_several():
    v = Vpin(buckets=2, qty_dec=0, bucket_volume=10)
    assert v.on_trade(0, +1, 4) == (pytest.approx(math.nan, nan_ok=True), 0)
    assert v.on_trade(1, -1, 3)[1] == 0
    value, done = v.on_trade(2, +1, 14)   # fills 3 (bucket 1: 7 buy / 3 sell), 10 buy, 1 left
    assert done == 2 and list(v.ois) == [4, 10]
    assert value == (4 + 10) / 20
    assert (v.fill_buy, v.fill_sell) == (1, 0)              # the partial never counts
    value, done = v.on_trade(3, -1, 9)                      # bucket 3: 1 buy / 9 sell
    assert done == 1 and value == (10 + 8) / 20


def test_nan_until_n_buckets():
    v = Vpin(buckets=3, qty_dec=0, bucket_volume=5)
    value, done = v.on_trade(0, +1, 10)
    assert done == 2 and math.isnan(value)
    assert v.on_trade(0, +1, 2)[1] == 0                     # buckets 1, 2: oi 5, 5
    value, done = v.on_trade(0, -1, 3)                      # bucket 3: 2 buy / 3 sell
    assert done == 1 and value == 11 / 15


def test_calibration_then_exact_fractional_bucket():
    v = Vpin(buckets=2, qty_dec=0, bucket_volume=None, calibration_ms=1000)
    assert math.isnan(v.on_trade(0, +1, 3)[0])
    assert math.isnan(v.on_trade(999, -1, 5)[0])            # T < T0 + 1000: calibration
    # V = 8 / 2 = 4 lots; first bucketed trade is the one at T0 + 1000
    assert v.on_trade(1000, +1, 3) == (pytest.approx(math.nan, nan_ok=True), 0)
    assert v.on_trade(1001, -1, 3)[1] == 1                  # bucket 1: buy 3 / sell 1
    assert (v.fill_buy, v.fill_sell) == (0, 2 * 2)          # 2 lots carried (x n units)
    value, done = v.on_trade(1002, -1, 2)                   # bucket 2: sell 4 in total
    assert done == 1 and value == (2 + 4) / (2 * 4)


def test_calibrated_V_not_an_integer_number_of_lots():
    v = Vpin(buckets=2, qty_dec=0, calibration_ms=10)
    v.on_trade(0, +1, 3)                                    # V = 1.5 lots
    v.on_trade(10, +1, 1)
    v.on_trade(11, -1, 1)                                   # bucket 1: 1 buy, 0.5 sell
    value, done = v.on_trade(12, -1, 1)                     # 0.5 sell done -> bucket 2 (1 sell)
    assert done == 1 and value == (0.5 + 1.5) / (2 * 1.5)


def test_zero_calibration_volume_stays_nan():
    v = Vpin(buckets=2, qty_dec=0, calibration_ms=10)
    v.on_trade(0, +1, 0)
    for t in range(10, 20):
        assert math.isnan(v.on_trade(t, +1, 100)[0])


def test_bucket_volume_below_one_lot_rejected():
    with pytest.raises(ValueError):
        Vpin(buckets=2, qty_dec=3, bucket_volume=0.0004)
    assert Vpin(buckets=2, qty_dec=3, bucket_volume=1.5).capacity == 1500
