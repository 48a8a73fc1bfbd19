"""GET /fapi/v1/klines: the market's own trades per minute, after a synthetic history."""
import asyncio
import gzip
from decimal import Decimal

import aiohttp
import orjson

from rtaid.sim import SimConfig, SimExchange
from tests.helpers import BTC_RECORDING
from tests.sim.helpers import get_json, quiet_config

MINUTE = 60_000


def recorded_minutes(path):
    """The recording's trades aggregated per minute of T, independently of the sim: those
    after the REST snapshot line, which the sim replays (it starts from the snapshot)."""
    minutes = {}
    after_snapshot = False
    with gzip.open(path, "rt") as fh:
        for line in fh:
            msg = orjson.loads(line.partition(" ")[2])
            after_snapshot = after_snapshot or "stream" not in msg
            if after_snapshot and msg.get("stream", "").endswith("@trade"):
                d = msg["data"]
                p, q, m = Decimal(d["p"]), Decimal(d["q"]), d["T"] - d["T"] % MINUTE
                k = minutes.get(m)
                if k is None:
                    k = minutes[m] = {"o": p, "h": p, "l": p, "v": 0, "n": 0, "qv": 0, "bv": 0, "bq": 0}
                k["h"], k["l"], k["c"] = max(k["h"], p), min(k["l"], p), p
                k["v"] += q
                k["qv"] += p * q
                k["n"] += 1
                if not d["m"]:           # buyer is the taker
                    k["bv"] += q
                    k["bq"] += p * q
    return minutes


def test_replayed_trades_make_the_klines_after_a_continuous_history(shared_data):
    expected = recorded_minutes(BTC_RECORDING)

    async def main():
        cfg = SimConfig(port=0, replay=(str(BTC_RECORDING),), speed=0)
        async with SimExchange(cfg) as sim, aiohttp.ClientSession() as http:
            await sim.wait_replay_finished()
            async with http.get(f"{sim.rest_url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1500") as r:
                assert r.status == 200
                assert r.headers["X-MBX-USED-WEIGHT-1M"] == "10"
                return await r.json()

    rows = asyncio.run(main())
    assert len(rows) == 1500
    opens = [r[0] for r in rows]
    assert opens == list(range(opens[0], opens[0] + 1500 * MINUTE, MINUTE))
    traded = {r[0]: r for r in rows if r[0] in expected}
    assert sorted(traded) == sorted(expected)
    assert rows[-1][0] == max(expected)
    for minute, k in expected.items():
        r = traded[minute]
        assert [Decimal(x) for x in r[1:6]] == [k["o"], k["h"], k["l"], k["c"], k["v"]], minute
        assert r[6] == minute + MINUTE - 1
        assert (Decimal(r[7]), r[8], Decimal(r[9]), Decimal(r[10])) == (k["qv"], k["n"], k["bv"], k["bq"])
    # the synthetic history ends where trading starts, continuous and on the 0.10 grid
    for prev, cur in zip(rows, rows[1:]):
        assert Decimal(cur[1]) == Decimal(prev[4]) or cur[0] in expected, cur
    for r in rows:
        o, h, lo, c = map(Decimal, r[1:5])
        assert lo <= min(o, c) <= max(o, c) <= h and lo > 0
        assert all((Decimal(x) / Decimal("0.1")) % 1 == 0 for x in r[1:5])


def test_intervals_ranges_weights_and_errors(run):
    async def main():
        async with SimExchange(quiet_config()) as sim, aiohttp.ClientSession() as http:
            url = f"{sim.rest_url}/fapi/v1/klines?symbol=BTCUSDT"
            status, one = await get_json(http, f"{url}&interval=1m&limit=1000")
            assert status == 200 and len(one) == 1000
            status, five = await get_json(http, f"{url}&interval=5m&limit=20")
            assert status == 200 and len(five) == 20
            by_minute = {r[0]: r for r in one}
            for k in five[:-1]:          # the last one may still be open
                parts = [by_minute[k[0] + i * MINUTE] for i in range(5)]
                assert k[1] == parts[0][1] and k[4] == parts[-1][4]
                assert Decimal(k[2]) == max(Decimal(p[2]) for p in parts)
                assert Decimal(k[3]) == min(Decimal(p[3]) for p in parts)
                assert Decimal(k[5]) == sum(Decimal(p[5]) for p in parts)
                assert k[8] == sum(p[8] for p in parts) and k[6] == k[0] + 5 * MINUTE - 1
            start = one[100][0]
            status, ranged = await get_json(http, f"{url}&interval=1m&startTime={start + 1}&limit=3")
            assert [r[0] for r in ranged] == [start + MINUTE, start + 2 * MINUTE, start + 3 * MINUTE]
            status, ended = await get_json(http, f"{url}&interval=1m&endTime={start}&limit=2")
            assert [r[0] for r in ended] == [start - MINUTE, start]
            for query, code in (("&interval=7m", -1120), ("&interval=1m&limit=1501", -1130),
                                ("", -1102), ("&interval=1m&limit=x", -1100)):
                status, err = await get_json(http, url + query)
                assert (status, err["code"]) == (400, code), query
            status, err = await get_json(http, f"{sim.rest_url}/fapi/v1/klines?symbol=NOPEUSDT&interval=1m")
            assert (status, err["code"]) == (400, -1121)
    run(main())
