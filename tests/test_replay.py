"""``rtaid replay``: input formats, chains of files, the summary, config."""
import gzip

import pyarrow.parquet as pq

from rtaid import cli
from rtaid import replay as replay_mod
from tests.helpers import BTC_RECORDING
from tests.helpers import read_table

TABLES = ("trades", "bbo", "depth", "book_top", "book_events")


def run_cli(capsys, *argv):
    """``rtaid replay ARGV``; returns (exit code, stdout)."""
    code = cli.main(["replay", *argv])
    return code, capsys.readouterr().out


def test_cli_prints_the_summary_and_honours_storage_config(shared_data, tmp_path, capsys):
    out = tmp_path / "ds"
    code, text = run_cli(capsys, str(BTC_RECORDING), "--out", str(out),
                         "--set", "storage.compression=\"snappy\"")
    assert code == 0
    assert "replayed 93,954 frames from 1 file(s)" in text
    assert "messages: depth 6,551, bbo 66,089, trade 21,313, snapshot 1" in text
    assert "book BTCUSDT: synced 1, gaps 0, crossed 0" in text
    assert "rows: trades 21,313, bbo 66,089" in text and "frames/s" in text
    part = next(out.glob("bbo/symbol=BTCUSDT/date=*/part-*.parquet"))
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_cli_errors(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cli.main(["replay", str(empty), "--out", str(tmp_path / "ds")]) == 1
    assert "no stream line names a symbol" in capsys.readouterr().err
    assert cli.main(["replay"]) == 2   # FILE is required


def test_plain_and_microsecond_files_in_order_form_one_chain(shared_data, tmp_path):
    with gzip.open(BTC_RECORDING, "rb") as fh:
        lines = fh.read().splitlines()
    # first part: plain text with local times in us; second part: gzip, ns
    first, second = tmp_path / "part1.txt", tmp_path / "part2.gz"
    cut = 40_000
    first.write_bytes(b"".join(b"%d %s\n" % (int(s) // 1000, p)
                               for s, _, p in (ln.partition(b" ") for ln in lines[:cut])))
    with gzip.open(second, "wb") as fh:
        fh.write(b"\n".join(lines[cut:]) + b"\n")
    split, whole = tmp_path / "split", tmp_path / "whole"
    summary = replay_mod.replay([first, second], split)
    assert summary.books["BTCUSDT"]["synced"] == 1 and summary.books["BTCUSDT"]["gap"] == 0
    replay_mod.replay([BTC_RECORDING], whole)
    for table in TABLES:
        a, b = read_table(split, table), read_table(whole, table)
        assert a.drop(["recv_ns"]).equals(b.drop(["recv_ns"])), table
        # us input: ns = us * 1000
        assert (a["recv_ns"].to_numpy() // 1000 == b["recv_ns"].to_numpy() // 1000).all()
