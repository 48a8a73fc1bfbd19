"""Soak: the daemon against rtaid-sim for a long run; memory must stay flat.

    python bench/soak.py [--minutes 10] [--rate 2000] [--update-readme]

Starts rtaid-sim and ``rtaid run`` as separate processes, samples the daemon's RSS
(/proc) and its asyncio task count (from its sd_notify STATUS lines) every few
seconds. The storage writer buffers each partition for up to a 60 s row group, so RSS
rises and falls on a one-minute cycle: growth is measured between per-minute peaks, the
first after warm-up (30% of the run, at least two row-group cycles: caches, pyarrow's
memory pool and the allocator reach steady state) and the last; every minute's peak is
printed too, so the trend is visible, not just two points. Pass: growth under 1% and a constant task count. Not part of CI (it
takes minutes by design). ``--recompute bench/results/soak.json`` redoes the verdict
and the README table from saved samples.
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="sim events/s per symbol")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--handover-s", type=float, default=60.0,
                        help="feed.max_connection_age_s: a make-before-break handover of "
                             "every connection this often (default 60)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="extra config override for the daemon (repeatable)")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--recompute", metavar="JSON", help="verdict from a saved soak.json")
    args = parser.parse_args(argv)
    if args.recompute:
        saved = json.loads(pathlib.Path(args.recompute).read_text())
        return report(saved["samples"], saved["minutes"], saved["rate_per_symbol"],
                      saved["exit_code"], args.update_readme, saved.get("overrides", []))

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-soak-"))
    port = free_port()
    notify_path = tmp / "notify"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.setblocking(False)
    sim = subprocess.Popen([sys.executable, "-m", "rtaid.sim", "--port", str(port), "--rate", str(args.rate)],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTAID_")}
    env.update(NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="3000000")
    time.sleep(1.5)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "rtaid", "run", "--set", f"exchange.rest_url=http://127.0.0.1:{port}",
         "--set", f"exchange.ws_url=ws://127.0.0.1:{port}", "--set", 'feed.symbols=["BTCUSDT","ETHUSDT"]',
         "--set", f"storage.data_dir={tmp / 'data'}", "--set", "metrics.port=0", "--set", "log.level=WARNING",
         "--set", f"feed.max_connection_age_s={args.handover_s}",
         *[arg for kv in args.set for arg in ("--set", kv)]],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, status = [], ""
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
            if daemon.poll() is not None:
                raise SystemExit(f"daemon exited with {daemon.returncode}")
            m = re.search(r"(\d+) frames.*tasks (\d+)", status)
            h = re.search(r"handovers (\d+)", status)
            samples.append({"t": round(time.monotonic() - start, 1), "rss_kb": rss_kb(daemon.pid),
                            "frames": int(m.group(1)) if m else None, "tasks": int(m.group(2)) if m else None,
                            "handovers": int(h.group(1)) if h else None})
            print(samples[-1], flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(30)
        sim.kill()
        sim.wait()
    return report(samples, args.minutes, args.rate, rc, args.update_readme, args.set)


def minute_peaks(samples):
    """RSS peak of every whole minute (a last minute the run covered only in part, whose
    peak may not have come yet, is left out)."""
    peaks, first_t, last_t = {}, {}, {}
    for smp in samples:
        minute = int((smp["t"] - 1e-9) // 60)
        peaks[minute] = max(peaks.get(minute, 0), smp["rss_kb"])
        first_t.setdefault(minute, smp["t"])
        last_t[minute] = smp["t"]
    last = max(peaks)
    if len(peaks) > 1 and last_t[last] - first_t[last] < 50:
        del peaks[last]
    return peaks


def report(samples, minutes, rate, rc, update_readme, overrides=()):
    peaks = minute_peaks(samples)
    warmup = max(2, int(minutes * 0.3))
    first, last = (warmup, max(peaks)) if max(peaks) > warmup else (min(peaks), max(peaks))
    base, end = peaks[first], peaks[last]
    growth = (end - base) / base * 100
    warm = [smp for smp in samples if int(smp["t"] // 60) >= first]
    tasks = {smp["tasks"] for smp in warm if smp["tasks"] is not None}
    span = warm[-1]["t"] - warm[0]["t"]
    frames_per_s = (warm[-1]["frames"] - warm[0]["frames"]) / span if span > 0 else 0
    result = {"machine": machine_name(), "minutes": minutes, "rate_per_symbol": rate,
              "warmup_minutes": first, "rss_kb_peak_after_warmup": base, "rss_kb_peak_last_minute": end,
              "rss_kb_peak_by_minute": [peaks[m] for m in sorted(peaks)],
              "rss_growth_pct": round(growth, 3), "tasks": sorted(tasks),
              "frames_per_s": round(frames_per_s), "exit_code": rc,
              "pass": growth < 1.0 and len(tasks) == 1 and rc == 0}
    handovers = max((smp.get("handovers") or 0 for smp in samples), default=0)
    handover_text = (f", {handovers} make-before-break connection handovers" if handovers
                     else "")
    result["handovers"] = handovers
    result["overrides"] = list(overrides)
    lows = {}
    for smp in samples:
        minute = int((smp["t"] - 1e-9) // 60)
        if minute in peaks:
            lows[minute] = min(lows.get(minute, smp["rss_kb"]), smp["rss_kb"])
    settings = f" Config overrides: {', '.join(overrides)}." if overrides else ""
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps({**result, "samples": samples}, indent=2) + "\n")
    table = (f"Machine: {result['machine']}. {minutes:g} min against rtaid-sim at "
             f"{rate:g} events/s per symbol ({frames_per_s:,.0f} frames/s received), recording "
             f"to Parquet, signal kernels on{handover_text}.{settings}\n\n"
             f"| RSS peak, minute {first + 1} (after warm-up) | RSS peak, last minute | growth | asyncio tasks | exit | verdict |\n"
             "|---|---|---|---|---|---|\n"
             f"| {base:,} KiB | {end:,} KiB | {growth:+.2f}% | {sorted(tasks)} | {rc} | "
             f"{'pass' if result['pass'] else 'FAIL'} |\n\n"
             "RSS peak by minute (MiB): " + ", ".join(f"{peaks[m] / 1024:.0f}" for m in sorted(peaks))
             + "\n\nRSS low by minute (MiB): " + ", ".join(f"{lows[m] / 1024:.0f}" for m in sorted(lows)))
    print(table)
    if update_readme and not update_block("soak", table):
        print("README.md has no <!-- bench:soak --> block", file=sys.stderr)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
