"""exchangeInfo: scales and ticks from the real 2021 answer; replay and daemon use them."""
import json
import subprocess
import sys
from decimal import Decimal

import pyarrow.dataset as ds
import pytest

from rtaid.infra import exchange_info
from rtaid.replay import replay
from tests.helpers import BTC_RECORDING, EXCHANGE_INFO, ROOT


def test_scales_and_ticks_from_the_real_answer(shared_data):
    info = exchange_info.load(EXCHANGE_INFO)
    assert exchange_info.scales(info, ["BTCUSDT", "ETHUSDT"]) == {"BTCUSDT": (2, 3), "ETHUSDT": (2, 3)}
    assert exchange_info.tick_sizes(info, ["BTCUSDT"]) == {"BTCUSDT": Decimal("0.01")}
    assert len(exchange_info.scales(info)) == 122


def test_not_an_exchange_info_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"rateLimits": []}')
    with pytest.raises(ValueError, match="not an exchangeInfo answer"):
        exchange_info.load(bad)


def test_replay_uses_the_exchange_info_scales(shared_data, tmp_path):
    info = json.loads(EXCHANGE_INFO.read_text())
    for entry in info["symbols"]:
        if entry["symbol"] == "BTCUSDT":
            entry["quantityPrecision"] = 4         # one more decimal than the data has
    path = tmp_path / "info.json"
    path.write_text(json.dumps(info))
    out = subprocess.run([sys.executable, "-m", "rtaid", "replay", str(BTC_RECORDING), "--out",
                          str(tmp_path / "out"), "--exchange-info", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    inferred = replay([BTC_RECORDING], tmp_path / "inferred")
    assert inferred.rows["bbo"] > 0
    with_info = ds.dataset(tmp_path / "out" / "bbo", partitioning="hive").to_table().to_pydict()
    plain = ds.dataset(tmp_path / "inferred" / "bbo", partitioning="hive").to_table().to_pydict()
    # lots at 4 decimals are 10x the lots at 3; prices and float sizes are unchanged
    assert with_info["bid_qty_lots"] == [q * 10 for q in plain["bid_qty_lots"]]
    assert with_info["bid_qty"] == plain["bid_qty"]
    assert with_info["bid_px_ticks"] == plain["bid_px_ticks"]
