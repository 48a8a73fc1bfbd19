"""The hourly compaction's cost: an hour of part files merged into one, by copying
their pages (what the writer does) and by decoding and encoding them (its fallback for
parts of another schema or codec, and what it did before).

    python bench/compaction.py [--passes N] [--json PATH] [--update-readme]

Input: the real BTCUSDT recording run ``--passes`` times through the engine with every
table recorded; each table's records are written as the writer writes them (row groups
of ``--group-rows`` rows, part files of ``--part-groups`` row groups: the 60-minute
soak's parts had 11-37 row groups of ~900-1,300 rows) into one hour of one symbol.
Each merge runs in a fresh process on a copy of those parts: wall and CPU seconds, and
the peak resident set above the process's own before it started (``VmHWM``; the merge
runs on a thread, as in the writer). Writes bench/results/compaction.json and, with
--update-readme, the README block ``<!-- bench:compaction -->``.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_name  # noqa: E402
from bench._readme import publish  # noqa: E402

HOUR0 = 19_943 * 86_400_000 + 10 * 3_600_000    # 2024-08-08 10:00 UTC
MODES = ("copy", "decode")


def make_parts(root: pathlib.Path, passes: int, group_rows: int, part_groups: int) -> dict:
    """Every table's records of the recording as part files of one hour; rows per table."""
    import numpy as np
    from rtaid._kernels.engine import Engine
    from rtaid.store import Store
    from rtaid.store.partfile import PartFile
    from tests.helpers import BTC_RECORDING, pack, read_frames

    payloads = [p for _, p in read_frames(BTC_RECORDING)]
    buf, offsets = pack(payloads)
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)})
    store = Store(engine, str(root / "unused"), ring_records=1 << 20)
    drained = {name: [] for name in store.writer.tables}
    for _ in range(passes):
        engine.run_frames(buf, offsets, 0)
        for name, table in store.writer.tables.items():
            records = np.empty(store.rings.pending(name), dtype=table.dtype)
            if len(records):
                got = store.rings.drain(name, records.view(np.uint8))
                drained[name].append(records[:got])
    rows = {}
    for name, table in store.writer.tables.items():
        if not drained[name]:
            continue
        # (np.concatenate would drop the C layout's padding: copy into one array)
        got = sum(len(chunk) for chunk in drained[name])
        records = np.empty(got, dtype=table.dtype)
        at = 0
        for chunk in drained[name]:
            records[at:at + len(chunk)] = chunk
            at += len(chunk)
        directory = root / "data" / name / "symbol=BTCUSDT" / "date=2024-08-08"
        directory.mkdir(parents=True)
        per_part = group_rows * part_groups
        for i, start in enumerate(range(0, got, per_part)):
            part = PartFile(str(directory / f"part-{HOUR0 + i}-{i:04d}.parquet"),
                            table.schema, "zstd", 0.0)
            for g in range(start, min(start + per_part, got), group_rows):
                part.write(table.to_arrow(records[g:g + group_rows], 2, 3))
            part.close()
        rows[name] = got
    shutil.rmtree(root / "unused", ignore_errors=True)
    return rows


CHILD = r"""
import json, os, resource, sys, threading, time
sys.path.insert(0, {root!r})
import rtaid.store  # the daemon's allocator settings (before pyarrow)
from rtaid.store import footprint
from rtaid.store.compaction import Compactor
from rtaid.store.tables import TABLES
footprint.arrow_without_pandas()
footprint.tune_allocator()
import rtaid.store.compaction as compaction
if {mode!r} == "decode":
    start = compaction.Compactor._start
    compaction.Compactor._start = lambda self, key, d, decode=False: start(self, key, d, True)
data = {data!r}
tables = {{n: TABLES[n] for n in os.listdir(data)}}
compactor = Compactor(data, tables, ["BTCUSDT"], grace_s=0.0, wall_ms=lambda: 1 << 62)
compactor.recover()
compactor.scan()
compactor._reference(next(iter(tables)))   # warm the writer's code before the baseline
def rss_kb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
open("/proc/self/clear_refs", "w").write("5")   # VmHWM := VmRSS
before = rss_kb("VmRSS")
usage0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
def work():
    while compactor.candidates or compactor.job is not None:
        compactor.step(set(), time.monotonic() + 0.05)
thread = threading.Thread(target=work)
thread.start()
thread.join()
wall = time.perf_counter() - t0
usage1 = resource.getrusage(resource.RUSAGE_SELF)
peak = rss_kb("VmHWM")
footprint.release()
stats = compactor.stats()
print(json.dumps({{"seconds": wall,
                  "cpu_s": usage1.ru_utime - usage0.ru_utime + usage1.ru_stime - usage0.ru_stime,
                  "peak_above_start_mib": (peak - before) / 1024,
                  "after_release_above_start_mib": (rss_kb("VmRSS") - before) / 1024,
                  "compactions": stats["compactions"], "decoded": stats["decoded"],
                  "files": stats["files_compacted"], "rows": stats["rows_compacted"],
                  "errors": stats["errors"]}}))
"""


def run_mode(mode: str, parts: pathlib.Path, work: pathlib.Path) -> dict:
    data = work / mode
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(parts, data)
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), mode=mode,
                                                              data=str(data))],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    files = sorted(p.name for p in data.rglob("*.parquet"))
    result["files_after"] = len(files)
    result["bytes_after"] = sum(p.stat().st_size for p in data.rglob("*.parquet"))
    shutil.rmtree(data)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=4)
    parser.add_argument("--group-rows", type=int, default=1000)
    parser.add_argument("--part-groups", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "compaction.json"))
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    work = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-bench-compaction-"))
    try:
        rows = make_parts(work / "parts", args.passes, args.group_rows, args.part_groups)
        parts = work / "parts" / "data"
        n_files = sum(1 for _ in parts.rglob("*.parquet"))
        size = sum(p.stat().st_size for p in parts.rglob("*.parquet"))
        results = {mode: [] for mode in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                results[mode].append(run_mode(mode, parts, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {mode: min(runs, key=lambda r: r["seconds"]) for mode, runs in results.items()}
    report = {"machine": machine_name(), "passes": args.passes,
              "group_rows": args.group_rows, "part_groups": args.part_groups,
              "rows": rows, "files": n_files, "bytes": size, "runs": results, "best": best,
              "load_average_1m": os.getloadavg()[0]}
    pathlib.Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        f"Machine: {machine_name()} (1-min load average {report['load_average_1m']:.2f}). "
        f"Input: the BTCUSDT recording x {args.passes} passes, every table with rows "
        f"({', '.join(f'{k} {v:,}' for k, v in rows.items())} rows) written as the writer "
        f"writes parts ({args.group_rows:,}-row row groups, {args.part_groups} per file): "
        f"{n_files} part files, {size / 1e6:.1f} MB, one hour of one symbol. Each merge in "
        f"a fresh process on a copy of them, best of {args.repeat} by wall time.",
        "",
        "| merge | seconds | CPU s | peak RSS above start | after release | files after | "
        "MB after |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"copy": "copy the parts' pages (the writer's compaction)",
             "decode": "decode and encode again (its fallback; before: every hour)"}
    for mode in MODES:
        r = best[mode]
        lines.append(f"| {names[mode]} | {r['seconds']:.2f} | {r['cpu_s']:.2f} | "
                     f"{r['peak_above_start_mib']:.1f} MiB | "
                     f"{r['after_release_above_start_mib']:.1f} MiB | {r['files_after']} | "
                     f"{r['bytes_after'] / 1e6:.1f} |")
    ratio = best["decode"]["cpu_s"] / max(best["copy"]["cpu_s"], 1e-9)
    lines += ["", f"decode / copy: {ratio:.1f}x the CPU, same run. The copied file is larger: "
              "each of the parts' pages stays compressed on its own."]
    publish("compaction", "\n".join(lines), args.update_readme)
    return 0 if all(r["errors"] == 0 for runs in results.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
