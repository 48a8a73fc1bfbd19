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


def cut_recording(tmp_path, lines=3000):
    """The first lines of the BTC recording, as gzip and plain text."""
    from tests.helpers import read_frames

    frames = read_frames(BTC_RECORDING, max_lines=lines)
    text = b"".join(b"%d %s\n" % (ns, p) for ns, p in frames)
    return frames, text


def test_a_gzip_cut_short_replays_what_is_readable_and_names_the_damage(tmp_path, capsys,
                                                                        shared_data):
    """A journal a kill -9 left: no traceback, the readable part replayed, file and line
    named, exit 1 (something was skipped)."""
    frames, text = cut_recording(tmp_path)
    whole = gzip.compress(text)
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    code, out = run_cli(capsys, str(path), "--out", str(tmp_path / "ds"))
    assert code == 1
    assert "DAMAGED input, skipped" in out and f"{path}, line " in out
    assert "compressed stream cut short" in out
    replayed = int(out.split("replayed ")[1].split(" frames")[0].replace(",", ""))
    assert 0 < replayed < len(frames)
    assert read_table(tmp_path / "ds", "bbo").num_rows > 0


def test_a_line_cut_mid_json_is_named_by_file_and_line(tmp_path, capsys, shared_data):
    frames, text = cut_recording(tmp_path, 500)
    lines = text.split(b"\n")
    lines[100] = lines[100][: len(lines[100]) // 2]          # cut in the middle of its JSON
    path = tmp_path / "cut.txt"
    path.write_bytes(b"\n".join(lines))
    code, out = run_cli(capsys, str(path), "--out", str(tmp_path / "ds"))
    assert code == 1
    assert f"{path}, line 101: message not decoded" in out
    assert "replayed 500 frames" in out


def test_an_intact_recording_exits_0_and_reports_no_damage(tmp_path, capsys, shared_data):
    _, text = cut_recording(tmp_path, 500)
    path = tmp_path / "ok.gz"
    path.write_bytes(gzip.compress(text))
    code, out = run_cli(capsys, str(path), "--out", str(tmp_path / "ds"))
    assert code == 0 and "DAMAGED" not in out


def test_an_unwritable_out_dir_is_refused_before_any_input_is_read(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    missing_input = tmp_path / "never-read.gz"
    code = cli.main(["replay", str(missing_input), "--out", str(blocker / "ds")])
    err = capsys.readouterr().err
    assert code == 2 and str(blocker / "ds") in err and "cannot write there" in err
    assert "never-read" not in err            # the input was not looked at


def test_demo_recording_names_damage_and_exits_1(tmp_path, capsys, shared_data):
    frames, text = cut_recording(tmp_path)
    whole = gzip.compress(text)
    path = tmp_path / "btcusdt_cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    code = cli.main(["demo", "--recording", str(path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "DAMAGED, skipped" in captured.out and str(path) in captured.out
    assert "Traceback" not in captured.err
