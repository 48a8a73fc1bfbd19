"""rtaid's framing against freqtrade's own code (the pinned freqtrade, in its venv):
byte-identical messages for the same dataframe, read back by freqtrade's deserializer and
schema, and bad tokens refused exactly as freqtrade's endpoint refuses them."""
import asyncio
import json
import subprocess

import pytest

from rtaid.freqtrade.producer import Producer
from rtaid.infra.secrets import Secret
from rtaid.store.tables import TABLES
from tests.freqtrade.helpers import ft_env

pytestmark = pytest.mark.slow
HERE = __import__("pathlib").Path(__file__).parent


def test_messages_and_refusals_match_freqtrades(ft_python, tmp_path):
    async def main():
        producer = Producer(["BTCUSDT"], Secret("good"), dict, [c for c, *_ in TABLES["bars_1m"].columns],
                            str(tmp_path), None, port=0)
        await producer.start()
        try:
            proc = await asyncio.create_subprocess_exec(
                str(ft_python), str(HERE / "ft_wire_check.py"), str(producer.port),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ft_env())
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            assert proc.returncode == 0, err.decode()[-3000:]
            return json.loads(out)
        finally:
            await producer.stop()

    got = asyncio.run(main())
    for kind in ("analyzed_df", "whitelist", "error", "new_candle"):
        ours, theirs = got[kind]
        assert ours == theirs, kind
    assert got["read_back"] == {
        "dtypes": {"date": "datetime64[us, UTC]", "open": "float64", "high": "float64",
                   "low": "float64", "close": "float64", "volume": "float64",
                   "trade_count": "int64", "vpin_last": "float64", "target": "int64"},
        "dates": [1723161240000, 1723161300000], "equal": True}
    assert got["validated_key"] == ["BTC/USDT:USDT", "1m", "futures"]
    assert got["validated_la"] == "2024-08-09T00:01:00.250000+00:00"
    freqtrade, rtaid = got["refusal"]["freqtrade"], got["refusal"]["rtaid"]
    assert freqtrade == rtaid
    assert freqtrade[0] == {"status": 403, "body": "", "content_type": "text/plain; charset=utf-8"}
