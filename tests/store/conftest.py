"""Fixtures of the store tests: both recordings replayed once into a dataset."""
import json

import pytest

from tests.helpers import BTC_RECORDING, ETH_RECORDING, read_frames


@pytest.fixture(scope="session")
def recording_facts(shared_data):
    """Per symbol: message counts, depth levels and the bookTicker tops by u."""
    facts = {}
    for path, sym in ((BTC_RECORDING, "BTCUSDT"), (ETH_RECORDING, "ETHUSDT")):
        f = facts[sym] = {"trade": 0, "bbo": 0, "depth_levels": 0, "bbo_by_u": {},
                          "trade_ids": []}
        for _, payload in read_frames(path):
            msg = json.loads(payload)
            data = msg.get("data", msg)
            kind = data.get("e")
            if kind == "trade" or kind == "aggTrade":
                f["trade"] += 1
                f["trade_ids"].append(data.get("t", data.get("a")))
            elif kind == "bookTicker":
                f["bbo"] += 1
                f["bbo_by_u"][data["u"]] = (data["b"], data["B"], data["a"], data["A"])
            elif kind == "depthUpdate":
                f["depth_levels"] += len(data["b"]) + len(data["a"])
            elif "lastUpdateId" in data:
                f["depth_levels"] += len(data["bids"]) + len(data["asks"])
    return facts
