"""bench/soak.py's verdict and JSON from samples (the soak itself takes an hour)."""
import json

from bench.soak import report

RUN = {"machine": "test", "minutes": 6, "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
       "rates": {"BTCUSDT": 1000, "ETHUSDT": 1000, "SOLUSDT": 250}, "warmup_minutes": 2,
       "max_rss_mb": 150.0, "sample_s": 30, "handover_s": 60, "overrides": []}
END = {"exit_code": 0, "rows_written": 1000, "rows_dropped": 0,
       "compaction": {"compactions": 1, "files_compacted": 3}, "files": {}}


def samples(mib_by_minute):
    """Two samples a minute: the minute's value, then 1 MiB less; a last sample at
    6:05 (a minute barely begun: left out of the per-minute figures)."""
    out = []
    for minute, mib in enumerate(mib_by_minute):
        for k, value in enumerate((mib, mib - 1)):
            out.append({"t": minute * 60 + 30 * k + 15, "rss_kb": int(value * 1024), "cpu_s": minute,
                        "frames": 100 * minute, "tasks": 8, "handovers": minute})
    out.append({**out[-1], "t": len(mib_by_minute) * 60 + 5})
    return out


def run_report(tmp_path, mib, end=END):
    memory = [{"t": 200, "rss": 140.0, "libraries": 50, "rings": 6, "writer": 8,
               "python_heap": 40, "rest": 36}]
    code = report(RUN, samples(mib), memory, end, str(tmp_path / "soak.json"), False,
                  results=tmp_path)
    return code, json.loads((tmp_path / "soak.json").read_text())


def test_flat_and_under_the_limit_passes(tmp_path):
    code, r = run_report(tmp_path, [170, 140, 140.5, 140.5, 141, 141])
    assert code == 0 and r["verdict"] == "pass"
    assert r["rss_mb_max_after_warmup"] == 141.0       # minute 1's 170 is warm-up
    assert r["growth_minutes"] == [3, 6] and round(r["growth_pct"], 2) == 0.36
    assert r["rss_mb_peak_by_minute"] == [170, 140, 140.5, 140.5, 141, 141]
    assert r["rss_mb_low_by_minute"] == [169, 139, 139.5, 139.5, 140, 140]
    assert r["breakdown_mb_at_peak"]["rings"] == 6


def test_growth_over_the_limit_or_dropped_rows_fail(tmp_path):
    code, r = run_report(tmp_path, [140, 140, 140, 141, 142, 143])
    assert code == 1 and not r["checks"]["growth_under_1pct"] and r["checks"]["rss_max_after_warmup"]
    code, r = run_report(tmp_path, [140, 140, 151, 140, 140, 140])
    assert code == 1 and not r["checks"]["rss_max_after_warmup"]
    # the limit is 150 MB (143.05 MiB): 145 MiB, under 150 MiB, is over it
    code, r = run_report(tmp_path, [140, 140, 145, 140, 140, 140])
    assert code == 1 and not r["checks"]["rss_max_after_warmup"]
    code, r = run_report(tmp_path, [140] * 6, end={**END, "rows_dropped": 5})
    assert code == 1 and r["checks"] == {**r["checks"], "no_rows_dropped": False}


def test_a_handovers_passing_task_is_no_leak_a_rising_floor_is(tmp_path):
    memory = [{"t": 200, "rss": 140.0}]
    passing = samples([140] * 6)
    passing[6]["tasks"] = 10        # minute 3: a handover's task, gone at the next sample
    code = report(RUN, passing, memory, END, str(tmp_path / "a.json"), False, results=tmp_path)
    r = json.loads((tmp_path / "a.json").read_text())
    assert code == 0 and r["checks"]["tasks_not_growing"] and r["tasks"] == [8, 10]
    leaking = samples([140] * 6)
    for smp in leaking:
        smp["tasks"] = 8 + int(smp["t"] // 60)
    code = report(RUN, leaking, memory, END, str(tmp_path / "b.json"), False, results=tmp_path)
    r = json.loads((tmp_path / "b.json").read_text())
    assert code == 1 and not r["checks"]["tasks_not_growing"]
