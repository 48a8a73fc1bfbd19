"""Soak: the daemon against rtaid-sim for a long run; memory must stay flat.

    python bench/soak.py [--minutes 10] [--rate 2000] [--update-readme]

Starts rtaid-sim and ``rtaid run`` as separate processes, samples the daemon's RSS
(/proc) and its asyncio task count (from its sd_notify STATUS lines) every few
seconds, and reports RSS growth between the end of the first minute (warm-up: caches,
pools, the allocator reaching steady state) and the end. Pass: growth under 1% and a
constant task count. Not part of CI (it takes minutes by design).
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
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)

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
         "--set", f"storage.data_dir={tmp / 'data'}", "--set", "metrics.port=0", "--set", "log.level=WARNING"],
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
            samples.append({"t": round(time.monotonic() - start, 1), "rss_kb": rss_kb(daemon.pid),
                            "frames": int(m.group(1)) if m else None, "tasks": int(m.group(2)) if m else None})
            print(samples[-1], flush=True)
    finally:
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(30)
        sim.kill()
        sim.wait()
    warm = [s for s in samples if s["t"] >= min(60.0, args.minutes * 60 / 2)]
    base, end = warm[0], warm[-1]
    growth = (end["rss_kb"] - base["rss_kb"]) / base["rss_kb"] * 100
    tasks = {s["tasks"] for s in warm if s["tasks"] is not None}
    frames_per_s = (end["frames"] - base["frames"]) / (end["t"] - base["t"]) if end["t"] > base["t"] else 0
    result = {"machine": machine_name(), "minutes": args.minutes, "rate_per_symbol": args.rate,
              "rss_kb_after_warmup": base["rss_kb"], "rss_kb_end": end["rss_kb"],
              "rss_growth_pct": round(growth, 3), "tasks": sorted(tasks), "frames_per_s": round(frames_per_s),
              "exit_code": rc, "pass": growth < 1.0 and len(tasks) == 1 and rc == 0}
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps({**result, "samples": samples}, indent=2) + "\n")
    table = (f"Machine: {result['machine']}. {args.minutes:g} min against rtaid-sim at "
             f"{args.rate:g} events/s per symbol ({frames_per_s:,.0f} frames/s received).\n\n"
             "| RSS after warm-up | RSS at end | growth | asyncio tasks | exit | verdict |\n|---|---|---|---|---|---|\n"
             f"| {base['rss_kb']:,} KiB | {end['rss_kb']:,} KiB | {growth:+.2f}% | {sorted(tasks)} | {rc} | "
             f"{'pass' if result['pass'] else 'FAIL'} |")
    print(table)
    if args.update_readme and not update_block("soak", table):
        print("README.md has no <!-- bench:soak --> block", file=sys.stderr)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
