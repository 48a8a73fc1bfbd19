"""rtaid-sim record: a synthetic recording in the collector format that rtaid replay reads."""
import gzip
import json

import numpy as np
import pyarrow.dataset as ds
import pytest

from rtaid.sim.cli import main as sim_main
from rtaid.sim.record import EFFECT_MINUTES, OfiTracker, record

MINUTES = 30


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "syn.gz"
    assert sim_main(["record", "--minutes", str(MINUTES), "--seed", "7", "--ofi-alpha-bps", "2",
                     "--out", str(path)]) == 0
    return path


def test_lines_are_the_collector_format(recording):
    streams, snapshots, last_e, last_recv = {}, 0, 0, 0
    with gzip.open(recording, "rb") as fh:
        for line in fh:
            stamp, _, payload = line.rstrip(b"\n").partition(b" ")
            recv_ns = int(stamp)
            assert recv_ns >= last_recv
            last_recv = recv_ns
            msg = json.loads(payload)
            if "stream" not in msg:
                assert set(msg) == {"lastUpdateId", "E", "T", "bids", "asks"}
                snapshots += 1
                continue
            streams[msg["stream"]] = streams.get(msg["stream"], 0) + 1
            data = msg["data"]
            assert data["s"] == "SYNTHUSDT"
            assert data["E"] >= last_e
            last_e = data["E"]
    assert snapshots == 1
    assert set(streams) == {"synthusdt@depth@0ms", "synthusdt@bookTicker", "synthusdt@trade"}
    # exchange time spans the requested minutes (2024-01-01T00:00Z onwards)
    assert 1_704_067_200_000 + (MINUTES - 1) * 60_000 < last_e < 1_704_067_200_000 + MINUTES * 60_000


def test_same_seed_same_bytes_other_seed_other_market(tmp_path):
    a, b, c = tmp_path / "a.gz", tmp_path / "b.gz", tmp_path / "c.gz"
    record(a, 3, 5)
    record(b, 3, 5)
    record(c, 3, 6)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_replay_makes_a_dataset_books_synced_indicators_present(recording, tmp_path):
    from rtaid.replay import replay

    summary = replay([recording], tmp_path / "ds")
    book = summary.books["SYNTHUSDT"]
    assert (book["synced"], book["gap"], book["crossed"], book["state"]) == (1, 0, 0, "synced")
    assert not any(summary.dropped.values())
    bars = ds.dataset(tmp_path / "ds" / "bars_1m", partitioning="hive").to_table()
    assert bars.num_rows in (MINUTES, MINUTES + 1)     # + the partial last minute
    late = bars.filter(ds.field("minute_ms") >= 1_704_067_200_000 + 22 * 60_000)
    # every indicator is there once warmed up (vpin: 10 minutes of calibration, then 50
    # buckets of a fiftieth of that volume)
    for col in ("obi_last", "di_last", "ofi_norm_last", "mlofi_sum_last", "vpin_last",
                "kyle_lambda_last", "lpi_last", "wall_net_last", "dev_bps_last",
                "ofi_norm_z_last", "obi_osc_last"):
        values = late.column(col).to_numpy()
        assert np.isfinite(values).all(), col
    assert summary.rows["indicators"] > 0 and summary.rows["trades"] > 0


def test_ofi_tracker_is_indicators_md_ofi_norm():
    t = OfiTracker(window_ms=10_000)
    t.on_top(0, (100, 5, 101, 5))        # first: e = 0
    t.on_top(1000, (100, 7, 101, 5))     # bid size up 2: e = 7 - 5 = 2
    t.on_top(2000, (101, 3, 102, 4))     # bid up: +3; ask up: +5 (old ask size)
    # e sum 0 + 2 + 8 = 10; AD = mean((10 + 12 + 7) / 2) = 29 / 6
    assert t.value(2000) == pytest.approx(10 / (29 / 6))
    assert t.value(11_000) == pytest.approx(8 / (7 / 2))   # only the last event in (1 s, 11 s]
    assert t.value(13_000) == 0.0


def test_one_planted_impulse_per_minute_end_only_with_the_effect(tmp_path, capsys):
    # minute ends inside 7 minutes: 1..6 (the 7th is the end of the recording)
    assert sim_main(["record", "--minutes", str(EFFECT_MINUTES + 2), "--seed", "1",
                     "--ofi-alpha-bps", "2", "--out", str(tmp_path / "x.gz")]) == 0
    assert "planted impulses 6" in capsys.readouterr().out
    assert sim_main(["record", "--minutes", "3", "--seed", "1", "--out", str(tmp_path / "y.gz")]) == 0
    assert "planted impulses 0" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--minutes", "0", "--seed", "1"], "--minutes must be positive"),
    (["--minutes", "5", "--seed", "1", "--rate", "-1"], "--rate must be positive"),
    (["--minutes", "5", "--seed", "1", "--ofi-alpha-bps", "nan"], "--ofi-alpha-bps must be a finite"),
    (["--minutes", "5", "--seed", "1", "--start", "yesterday"], "--start 'yesterday' is not"),
])
def test_bad_arguments_are_named(tmp_path, capsys, argv, message):
    code = sim_main(["record", *argv, "--out", str(tmp_path / "z.gz")])
    assert code in (1, 2)
    assert message in capsys.readouterr().err


def test_unwritable_output_is_an_error_not_a_traceback(tmp_path, capsys):
    assert sim_main(["record", "--minutes", "1", "--seed", "1",
                     "--out", str(tmp_path / "no" / "such" / "dir.gz")]) == 1
    assert "rtaid-sim record:" in capsys.readouterr().err
