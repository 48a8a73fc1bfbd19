"""The strategy decides in replay exactly what it decided live on the same stream.

`rtaid run` against rtaid-sim records the raw journal and the signal tables; `rtaid
replay` of that journal (same config, the sim's exchangeInfo) must give the same
indicators rows and the same target changes, bit for bit, per symbol.
"""
import json
import math
import subprocess
import sys
import urllib.request

import pyarrow.dataset as ds

from tests.helpers import QUICK_TRADING_CONFIG, ROOT, run_daemon

CONFIG = "[storage]\nraw_journal = true\n" + QUICK_TRADING_CONFIG


def rows_by_symbol(root, table):
    """{symbol: {column: list}} of a dataset table, rows in file order."""
    if not (root / table).exists():
        return {}
    t = ds.dataset(root / table, format="parquet", partitioning="hive").to_table()
    out = {}
    for row in t.to_pylist():
        sym = str(row.pop("symbol"))
        row.pop("date", None)
        cols = out.setdefault(sym, {c: [] for c in row})
        for c, v in row.items():
            cols[c].append(v)
    return out


def same_value(x, y):
    if isinstance(x, float) and math.isnan(x):
        return isinstance(y, float) and math.isnan(y)
    return x == y


def assert_columns_equal(live, replayed, what):
    assert list(live) == list(replayed), what
    for col in live:
        assert len(live[col]) == len(replayed[col]), (what, col)
        bad = [i for i, (x, y) in enumerate(zip(live[col], replayed[col])) if not same_value(x, y)]
        assert not bad, f"{what}.{col}: row {bad[0]} live {live[col][bad[0]]!r}, replay {replayed[col][bad[0]]!r}"


def test_replay_of_the_live_journal_takes_the_same_decisions(sim_port, tmp_path):  # noqa: F811
    config = tmp_path / "rtaid.toml"
    config.write_text(CONFIG)
    out = run_daemon(sim_port, tmp_path, config, seconds=20)
    info = tmp_path / "exchange_info.json"
    with urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/fapi/v1/exchangeInfo", timeout=5) as r:
        info.write_bytes(r.read())

    data = tmp_path / "data"
    journals = sorted((data / "raw").rglob("*.gz"))
    assert {p.parent.parent.name for p in journals} == {"symbol=BTCUSDT", "symbol=ETHUSDT"}
    # the daemon kept the exchangeInfo it ran with beside the journal; replay finds it
    (saved,) = (data / "raw").glob("exchangeInfo-*.json")
    assert json.loads(saved.read_text())["symbols"] == json.loads(info.read_text())["symbols"]
    again = tmp_path / "replayed"
    rep = subprocess.run([sys.executable, "-m", "rtaid", "replay", "--config", str(config),
                          "--out", str(again), *map(str, journals)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert f"exchangeInfo: {saved} (saved beside the journal)" in rep.stdout

    live_rows = rows_by_symbol(data, "indicators")
    assert set(live_rows) == {"BTCUSDT", "ETHUSDT"}
    replay_rows = rows_by_symbol(again, "indicators")
    for sym in live_rows:
        assert len(live_rows[sym]["seq"]) > 1000
        assert_columns_equal(live_rows[sym], replay_rows[sym], f"indicators[{sym}]")

    live_signals = rows_by_symbol(data, "signals")
    assert sum(len(c["seq"]) for c in live_signals.values()) > 0, "the strategy never traded"
    assert live_signals.keys() == rows_by_symbol(again, "signals").keys()
    for sym, cols in live_signals.items():
        assert_columns_equal(cols, rows_by_symbol(again, "signals")[sym], f"signals[{sym}]")
    # each change was handed to the execution hook and logged
    changes = [json.loads(line) for line in out.splitlines() if '"event": "target_change"' in line]
    assert len(changes) == sum(len(c["seq"]) for c in live_signals.values())

    # live bars are those of the replay, which also closes the last, partial minute
    live_bars = rows_by_symbol(data, "bars_1m")
    replay_bars = rows_by_symbol(again, "bars_1m")
    for sym, cols in live_bars.items():
        n = len(cols["minute_ms"])
        assert_columns_equal(cols, {c: v[:n] for c, v in replay_bars[sym].items()},
                             f"bars_1m[{sym}]")
