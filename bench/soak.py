"""Soak: the daemon against rtaid-sim for a long run; memory must stay flat and bounded.

    python bench/soak.py [--symbols 2] [--minutes 10] [--rate 1000] [--quiet-rate 250]
                         [--json PATH] [--update-readme]

Starts rtaid-sim and ``rtaid run`` (default config, every table recorded: the
``mark_price`` stream is switched on) as separate processes. ``--symbols N`` records N
symbols: the first two (BTCUSDT, ETHUSDT) at ``--rate`` synthetic events/s, the rest at
``--quiet-rate``. BTCUSDT-like: at 1000 events/s a symbol gets ~1,100 depth rows/s (the
BTCUSDT recording of 2024-08-08: 1,290/s) and more of everything else (frames ~1,600/s
against 270/s; bbo 300/s against 192/s; trades 280/s against 62/s; indicators 1,560/s
against 273/s; book_top 985/s against 19/s).
Every ``--sample-s`` it reads the daemon's RSS (/proc), its asyncio task count (its
sd_notify STATUS line), and, once a minute, the store's ``store_memory`` log line:
where the memory is (rings, writer buffers, engine, Python heap, the rest).

Verdict (all of them): after warm-up (``--warmup-min``, default 10% of the run, at least
2 minutes) every RSS sample is at most ``--max-rss-mb`` megabytes (150 MB; 120 MB for
up to two symbols: the issue's targets, 10**6 bytes; every figure of the report is in
MiB, 2**20 bytes, as the store's breakdown, and the limit is shown in both); the per-minute RSS peak grows less than 1% from the
first post-warm-up minute to the last; the asyncio task count does not grow (the fewest
tasks of the last two minutes are no more than of the first two: a connection
handover's tasks come and go); the daemon exits 0 on SIGTERM having dropped no row. Not part of CI (it takes minutes by design). ``--recompute JSON`` redoes the
verdict and the README table from a saved result.
"""
import argparse
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_name  # noqa: E402
from bench._readme import update_block  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT",
           "AVAXUSDT", "LINKUSDT", "LTCUSDT")
BUSY = 2
MIB = 1 << 20
MB = 10 ** 6          # the limits: the megabytes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def symbols_for(n):
    return [SYMBOLS[i] if i < len(SYMBOLS) else f"SYM{i}USDT" for i in range(n)]


class LogTail:
    """The daemon's JSON log lines (stdout, redirected to a file), read as they come."""

    def __init__(self, path):
        self.fh = open(path, "rb")
        self.partial = b""

    def lines(self):
        data = self.partial + self.fh.read()
        *complete, self.partial = data.split(b"\n")
        for line in complete:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=2, help="symbols recorded (default 2)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="sim events/s of the two busy symbols (default 1000)")
    parser.add_argument("--quiet-rate", type=float, default=250.0,
                        help="sim events/s of every other symbol (default 250)")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--warmup-min", type=float, default=None,
                        help="minutes before the limits apply (default 10%% of the run, >= 2)")
    parser.add_argument("--max-rss-mb", type=float, default=None,
                        help="RSS limit after warm-up, MB = 10**6 bytes (default 150, 120 for "
                             "up to 2 symbols)")
    parser.add_argument("--handover-s", type=float, default=60.0,
                        help="feed.max_connection_age_s: a make-before-break handover of "
                             "every connection this often (default 60)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="extra config override for the daemon (repeatable)")
    parser.add_argument("--json", metavar="PATH", help="also write the result here")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--recompute", metavar="JSON", help="verdict from a saved soak.json")
    args = parser.parse_args(argv)
    if args.recompute:
        saved = json.loads(pathlib.Path(args.recompute).read_text())
        return report(saved["run"], saved["samples"], saved["memory"], saved["end"],
                      args.json, args.update_readme)

    symbols = symbols_for(args.symbols)
    rates = {s: (args.rate if i < BUSY else args.quiet_rate) for i, s in enumerate(symbols)}
    warmup = args.warmup_min if args.warmup_min is not None else max(2.0, round(args.minutes * 0.1))
    limit = args.max_rss_mb or (120.0 if args.symbols <= 2 else 150.0)
    run = {"machine": machine_name(), "minutes": args.minutes, "symbols": symbols,
           "rates": rates, "warmup_minutes": warmup, "max_rss_mb": limit,
           "sample_s": args.sample_s, "handover_s": args.handover_s,
           "overrides": list(args.set)}

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-soak-"))
    port = free_port()
    notify_path = tmp / "notify"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.setblocking(False)
    rate_arg = ",".join(f"{s}={r:g}" for s, r in rates.items())
    sim = subprocess.Popen([sys.executable, "-m", "rtaid.sim", "--port", str(port),
                            "--symbols", ",".join(symbols), "--rates", rate_arg,
                            "--log-level", "warning"],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTAID_")}
    env.update(NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="3000000")
    time.sleep(1.5)
    log_path = tmp / "daemon.log"
    with open(log_path, "wb") as log_out:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "rtaid", "run",
             "--set", f"exchange.rest_url=http://127.0.0.1:{port}",
             "--set", f"exchange.ws_url=ws://127.0.0.1:{port}",
             "--set", f"feed.symbols={json.dumps(symbols)}", "--set", "feed.mark_price=true",
             "--set", f"storage.data_dir={tmp / 'data'}", "--set", "metrics.port=0",
             "--set", "log.level=INFO", "--set", "log.format=json",
             "--set", f"feed.max_connection_age_s={args.handover_s}",
             *[arg for kv in args.set for arg in ("--set", kv)]],
            cwd=ROOT, env=env, stdout=log_out, stderr=subprocess.STDOUT)
    tail = LogTail(log_path)
    samples, memory, status = [], [], ""
    end = {}
    start = time.monotonic()
    try:
        while time.monotonic() - start < args.minutes * 60:
            time.sleep(args.sample_s)
            while True:
                try:
                    msg = notify.recv(4096).decode()
                except BlockingIOError:
                    break
                for line in msg.splitlines():
                    if line.startswith("STATUS=") and "tasks" in line:
                        status = line[7:]
            t = round(time.monotonic() - start, 1)
            for event in tail.lines():
                if event.get("event") == "store_memory":
                    memory.append({"t": t, **{k: v for k, v in event.items()
                                              if isinstance(v, (int, float))}})
            if daemon.poll() is not None:
                raise SystemExit(f"daemon exited with {daemon.returncode}; log: {log_path}")
            m = re.search(r"(\d+) frames.*tasks (\d+)", status)
            h = re.search(r"handovers (\d+)", status)
            samples.append({"t": t, "rss_kb": rss_kb(daemon.pid), "cpu_s": round(cpu_s(daemon.pid), 2),
                            "frames": int(m.group(1)) if m else None,
                            "tasks": int(m.group(2)) if m else None,
                            "handovers": int(h.group(1)) if h else None})
            print(samples[-1], flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            end["exit_code"] = daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            end["exit_code"] = daemon.wait()
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
    for event in tail.lines():
        if event.get("event") == "stopped":
            store = event.get("store", {})
            end["rows_written"] = sum(int(re.findall(r"\d+", str(v))[-1])
                                      for v in store.get("rows_written", {}).values())
            end["rows_dropped"] = store.get("rows_dropped_total")
            end["compaction"] = store.get("compaction")
    end["files"] = dataset_files(tmp / "data")
    return report(run, samples, memory, end, args.json, args.update_readme)


def dataset_files(root):
    """Parquet files per table, how many of them compacted hours, bytes."""
    out = {}
    for table in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = list(table.rglob("*.parquet"))
        out[table.name] = {"files": len(files),
                           "hour_files": sum(f.name.endswith("-hour.parquet") for f in files),
                           "mb": round(sum(f.stat().st_size for f in files) / MIB, 1)}
    return out


def by_minute(samples):
    """Per whole minute: RSS peak and low in KiB (a last minute the run covered only in
    part, whose peak may not have come yet, is left out)."""
    peaks, lows, first_t, last_t = {}, {}, {}, {}
    for smp in samples:
        minute = int((smp["t"] - 1e-9) // 60)
        peaks[minute] = max(peaks.get(minute, 0), smp["rss_kb"])
        lows[minute] = min(lows.get(minute, smp["rss_kb"]), smp["rss_kb"])
        first_t.setdefault(minute, smp["t"])
        last_t[minute] = smp["t"]
    last = max(peaks)
    if len(peaks) > 1 and last_t[last] - first_t[last] < 50:
        del peaks[last], lows[last]
    return peaks, lows


def report(run, samples, memory, end, json_path, update_readme,
           results=ROOT / "bench" / "results"):
    peaks, lows = by_minute(samples)
    warmup = run["warmup_minutes"]
    minutes = sorted(peaks)
    post = [m for m in minutes if m >= warmup] or minutes[-1:]
    first, last = post[0], post[-1]
    growth = (peaks[last] - peaks[first]) / peaks[first] * 100
    warm = [smp for smp in samples if smp["t"] >= warmup * 60] or samples[-1:]
    rss_max = max(smp["rss_kb"] for smp in warm) / 1024
    tasks = sorted({smp["tasks"] for smp in warm if smp["tasks"] is not None})
    # a handover's connection tasks come and go: a leak raises the floor, so the fewest
    # tasks of the last two minutes are compared with the fewest of the first two
    floor_first = min((smp["tasks"] for smp in warm if smp["tasks"] is not None
                       and smp["t"] < warm[0]["t"] + 120), default=None)
    floor_last = min((smp["tasks"] for smp in warm if smp["tasks"] is not None
                      and smp["t"] > warm[-1]["t"] - 120), default=None)
    span = warm[-1]["t"] - warm[0]["t"]
    frames_per_s = ((warm[-1]["frames"] or 0) - (warm[0]["frames"] or 0)) / span if span > 0 else 0
    cpu = (warm[-1]["cpu_s"] - warm[0]["cpu_s"]) / span * 100 if span > 0 else 0
    handovers = max((smp.get("handovers") or 0 for smp in samples), default=0)
    post_memory = [m for m in memory if m["t"] >= warmup * 60] or memory
    at_peak = max(post_memory, key=lambda m: m.get("rss", 0), default=None)
    checks = {
        "rss_max_after_warmup": rss_max <= run["max_rss_mb"] * MB / MIB,
        "growth_under_1pct": growth < 1.0,
        "tasks_not_growing": floor_first is not None and floor_last <= floor_first,
        "exit_0": end.get("exit_code") == 0,
        "no_rows_dropped": end.get("rows_dropped") == 0,
    }
    verdict = "pass" if all(checks.values()) else "fail"
    result = {
        "run": run, "rss_mb_max_after_warmup": round(rss_max, 1), "growth_pct": round(growth, 3),
        "growth_minutes": [first + 1, last + 1],
        "rss_mb_peak_by_minute": [round(peaks[m] / 1024, 1) for m in minutes],
        "rss_mb_low_by_minute": [round(lows[m] / 1024, 1) for m in minutes],
        "tasks": tasks, "frames_per_s": round(frames_per_s), "cpu_pct": round(cpu, 1),
        "handovers": handovers, "breakdown_mb_at_peak": at_peak,
        "breakdown_mb_last": memory[-1] if memory else None,
        "end": end, "checks": checks, "verdict": verdict,
        "samples": samples, "memory": memory,
    }
    results.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    (results / "soak.json").write_text(text)
    if json_path:
        pathlib.Path(json_path).write_text(text)
    table = readme_table(result)
    print(table)
    if update_readme and not update_block("soak", table):
        print("README.md has no <!-- bench:soak --> block", file=sys.stderr)
    return 0 if verdict == "pass" else 1


def readme_table(r):
    run, end = r["run"], r["end"]
    rates = sorted(set(run["rates"].values()), reverse=True)
    busy = [s for s, v in run["rates"].items() if v == rates[0]]
    rate_text = (f"{', '.join(busy)} at {rates[0]:g} events/s"
                 + (f", the other {len(run['symbols']) - len(busy)} at {rates[-1]:g}"
                    if len(rates) > 1 else ""))
    settings = f" Config overrides: {', '.join(run['overrides'])}." if run["overrides"] else ""
    compaction = end.get("compaction") or {}
    files = end.get("files", {})
    lines = [
        f"Machine: {run['machine']}. {run['minutes']:g} min against rtaid-sim, "
        f"{len(run['symbols'])} symbols ({rate_text}; {r['frames_per_s']:,} frames/s "
        f"received), every table recorded to Parquet with the default storage config "
        f"(`max_loss_s` 60), signal kernels on, {r['handovers']} make-before-break connection "
        f"handovers, daemon CPU {r['cpu_pct']:.0f}% of one core.{settings}",
        "",
        f"| RSS max after warm-up ({run['warmup_minutes']:g} min) | limit | growth, minute "
        f"{r['growth_minutes'][0]} to {r['growth_minutes'][1]} | asyncio tasks | rows written "
        f"| rows dropped | exit | verdict |",
        "|---|---|---|---|---|---|---|---|",
        f"| {r['rss_mb_max_after_warmup']:.1f} MiB ({r['rss_mb_max_after_warmup'] * MIB / MB:.1f} MB)"
        f" | {run['max_rss_mb']:g} MB ({run['max_rss_mb'] * MB / MIB:.1f} MiB) "
        f"| {r['growth_pct']:+.2f}% | {r['tasks']} | {end.get('rows_written', 0):,} "
        f"| {end.get('rows_dropped')} | {end.get('exit_code')} | {r['verdict']} |",
        "",
        "RSS peak by minute (MiB): " + ", ".join(f"{v:.0f}" for v in r["rss_mb_peak_by_minute"]),
        "",
        "RSS low by minute (MiB): " + ", ".join(f"{v:.0f}" for v in r["rss_mb_low_by_minute"]),
    ]
    peak = r.get("breakdown_mb_at_peak")
    if peak:
        parts = [k for k in ("libraries", "rings", "writer", "engine", "python_heap", "rest")
                 if k in peak]
        lines += ["", f"Where the memory is (the store's `store_memory` line with the "
                      f"highest RSS after warm-up, minute {int(peak['t'] // 60) + 1}):", "",
                  "| RSS | " + " | ".join(parts) + " |",
                  "|---|" + "---|" * len(parts),
                  f"| {peak['rss']:.1f} MiB | " + " | ".join(f"{peak[k]:.1f}" for k in parts) + " |"]
    if compaction or files:
        n_files = sum(f["files"] for f in files.values())
        hours = sum(f["hour_files"] for f in files.values())
        lines += ["", f"Dataset at the end: {n_files} Parquet files, {hours} of them "
                      f"compacted hours ({compaction.get('compactions', 0)} compactions of "
                      f"{compaction.get('files_compacted', 0)} part files during the run"
                      + (f"; its longest single call {compaction['slowest_call_s']:g} s"
                         if "slowest_call_s" in compaction else "") + ")."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
