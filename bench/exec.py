"""Tick-to-order of rtaid's execution venues, paper and ccxt, against rtaid-sim.

    python bench/exec.py [--seconds 60] [--rate 300] [--venues paper,ccxt] [--json PATH]
                         [--update-readme]

For each venue, one run on this machine, all on 127.0.0.1, as an operator runs it:

1. ``rtaid-sim`` (a process: a synthetic BTCUSDT + ETHUSDT market at ``--rate`` book
   events/s per symbol, seeded);
2. ``rtaid run`` (a process, uvloop, GC frozen after start-up, the Parquet writer on)
   with ``execution.venue`` set, the ccxt venue with the sim's keys from the environment,
   and a strategy tuned to change its target every few seconds (``STRATEGY``: short
   time scales, a narrow entry band, no cooldown, short holds), so that a minute gives
   hundreds of orders;
3. after ``--seconds`` of trading, the daemon's own histograms are read over its control
   socket (``rtaidctl status``'s ``latency_us``) and it is stopped (SIGTERM).

Figures
- ``tick_to_order``: the listener's monotonic stamp of the frame that changed the target
  to the moment the order is handed to the transport: the paper venue's fill call
  (``Engine.paper_submit``; the paper venue handles a frame's events right after it),
  the ccxt venue's request handed by aiohttp to the transport (its trace hook, right
  before headers and body go out in one write; ccxt signs and builds the request in
  Python first; the execution task wakes after the listener's batch).
- ``order_round_trip`` (ccxt): the send to the exchange's answer (RESULT), over REST.
- ``sim_wire_to_wire`` (ccxt): rtaid-sim's own stamps: an order's arrival minus the last
  market-data frame the sim wrote before it (not necessarily the frame that caused it).
Histogram percentiles are the upper edge of a 6.25 % bucket.

Writes bench/results/exec.json (or --json PATH) and, with --update-readme, the README
block ``<!-- bench:exec -->``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_info, machine_name  # noqa: E402
from rtaid.ctl import request  # noqa: E402
from tests.helpers import NotifySocket, free_port, start_sim  # noqa: E402

# short horizons and a narrow band: the strategy trades every few seconds on the sim
STRATEGY = ("vpin.calibration_ms=3000", "vpin.buckets=20", "norm.warmup=10",
            "norm.tau_ms=5000", "dev.ema_ms=1000", "kyle.min_intervals=5",
            "strategy.entry_low=40.0", "strategy.entry_high=60.0", "strategy.exit_mid=50.0",
            "strategy.toxic_max=100.0", "strategy.cooldown_ms=0", "strategy.max_hold_ms=1500",
            "strategy.stale_ms=5000", "symbols.ETHUSDT.strategy.order_qty=0.005")
RISK = ("risk.max_orders_per_minute=1200", "risk.max_daily_loss_usd=100000")
SIM_KEYS = {"RTAID_API_KEY": "sim-key", "RTAID_API_SECRET": "sim-secret"}
STAGES = ("tick_to_order", "order_round_trip")


def run_venue(venue: str, seconds: float, rate: float, seed: int) -> dict:
    port = free_port()
    sim = start_sim(port, "--rate", str(rate), "--seed", str(seed))
    work = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-bench-exec-"))
    sock = str(work / "rtaid.sock")
    notify = NotifySocket(work / "notify")
    settings = [f"exchange.rest_url=http://127.0.0.1:{port}", f"exchange.ws_url=ws://127.0.0.1:{port}",
                f"exchange.user_ws_url=ws://127.0.0.1:{port}/private/ws",
                'feed.symbols=["BTCUSDT","ETHUSDT"]', f"storage.data_dir={work / 'data'}",
                f"control.socket={sock}", "metrics.port=0", "log.level=WARNING",
                f"execution.venue={venue}", *STRATEGY, *RISK]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTAID_", "RTAI_"))}
    env.update(NOTIFY_SOCKET=notify.path, **(SIM_KEYS if venue == "ccxt" else {}))
    args = [sys.executable, "-m", "rtaid", "run", *[a for s in settings for a in ("--set", s)]]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        if not notify.wait_for("READY=1", 60):
            raise RuntimeError(f"rtaid did not get ready: {notify.messages}")
        time.sleep(seconds)
        status = request(sock, {"cmd": "status"}, timeout=10)
        wire = sim_wire_to_wire(port) if venue == "ccxt" else None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"rtaid exited {proc.returncode}: {out[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sim.kill()
        sim.wait()
    latency = status["latency_us"]
    result = {"venue": venue, "orders": status["orders"],
              **{stage: latency.get(stage, {"count": 0}) for stage in STAGES}}
    if wire is not None:
        result["sim_wire_to_wire"] = wire
    return result


def sim_wire_to_wire(port: int) -> dict:
    values = []
    for symbol in ("BTCUSDT", "ETHUSDT"):
        url = f"http://127.0.0.1:{port}/sim/latency?symbol={symbol}&limit=100000"
        with urllib.request.urlopen(url, timeout=10) as resp:
            data = json.loads(resp.read())
        values += [r["latency_ns"] for r in data[symbol]["wire_to_wire"]]
    if not values:
        return {"count": 0}
    values.sort()

    def q(p):
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))] / 1000, 3)
    return {"count": len(values), "p50": q(50), "p90": q(90), "p99": q(99), "p999": q(99.9),
            "max": round(values[-1] / 1000, 3)}


def table(results: dict, params: dict) -> str:
    lines = [f"Tick-to-order, {params['seconds']:g} s of trading per venue, rtaid-sim at "
             f"{params['rate']:g} book events/s per symbol (BTCUSDT, ETHUSDT), seed "
             f"{params['seed']}; {params['machine']} (1-min load average "
             f"{params['load_average_1m'][0]:g} before, {params['load_average_1m'][1]:g} after: "
             "the box is shared). `python bench/exec.py`; µs, histogram bucket upper edges.", "",
             "| venue | stage | orders | samples | p50 | p99 | p99.9 |", "|---|---|---|---|---|---|---|"]
    for venue, res in results.items():
        stages = ["tick_to_order"] + (["order_round_trip", "sim_wire_to_wire"] if venue == "ccxt" else [])
        for stage in stages:
            h = res.get(stage, {"count": 0})
            lines.append(f"| {venue} | {stage} | {res['orders'].get('sent', 0)} | {h.get('count', 0)} | "
                         f"{h.get('p50', '-')} | {h.get('p99', '-')} | {h.get('p999', '-')} |")
    lines += ["", "tick_to_order: frame received (listener's monotonic stamp) to the order handed "
              "to the transport (paper: the engine's fill call; ccxt: aiohttp hands the request "
              "to the transport). order_round_trip: send to the exchange's answer over REST. "
              "sim_wire_to_wire: rtaid-sim's stamps, order arrival minus the last frame it wrote "
              "before it."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="trading time per venue")
    parser.add_argument("--rate", type=float, default=300.0, help="sim book events/s per symbol")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--venues", default="paper,ccxt")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "exec.json"))
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    params = {"seconds": args.seconds, "rate": args.rate, "seed": args.seed,
              "strategy": list(STRATEGY), "risk": list(RISK), "machine": machine_name()}
    results = {}
    load = [os.getloadavg()[0]]
    for venue in args.venues.split(","):
        results[venue] = run_venue(venue, args.seconds, args.rate, args.seed)
        print(json.dumps(results[venue]))
    load.append(os.getloadavg()[0])
    params["load_average_1m"] = [round(x, 2) for x in load]
    doc = {"machine": machine_info(), "params": params, "results": results}
    pathlib.Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    text = table(results, params)
    print(text)
    if args.update_readme:
        from bench._readme import update_block

        if not update_block("exec", text):
            print("README.md has no <!-- bench:exec --> block", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
