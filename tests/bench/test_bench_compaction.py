"""bench/compaction.py end to end on one pass of the recording: both merges run in
their own process over the same parts, one by copying pages, the other by decoding,
and both leave one file per table with every row."""
import json

from bench import compaction


def test_the_compaction_benchmark_runs_both_merges_on_the_same_parts(tmp_path, shared_data):
    out = tmp_path / "compaction.json"
    assert compaction.main(["--passes", "1", "--repeat", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    per_part = report["group_rows"] * report["part_groups"]
    merged = {name: n for name, n in report["rows"].items() if n > per_part}  # > 1 part
    assert sum(merged.values()) > 500_000 and len(merged) >= 3
    copy, decode = report["best"]["copy"], report["best"]["decode"]
    for result in (copy, decode):
        assert result["rows"] == sum(merged.values()) and result["errors"] == 0
        assert result["compactions"] == len(merged)
        assert result["files_after"] == len(report["rows"])      # one file per table
    assert copy["decoded"] == 0 and decode["decoded"] == decode["compactions"]
