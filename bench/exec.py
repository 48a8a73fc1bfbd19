"""Tick-to-order of rtaid's execution venues, paper, ccxt and binance, against rtaid-sim.

    python bench/exec.py [--seconds 60] [--rate 300] [--venues paper,ccxt,binance]
                         [--sim-cpus LIST] [--daemon-cpus LIST] [--cpu-dma-latency US]
                         [--json PATH] [--update-readme]

``--sim-cpus 1 --daemon-cpus 0`` keeps rtaid-sim off the daemon's core (in production
the exchange is not on the trading box; here the two share two cores);
``--cpu-dma-latency 0`` runs the daemon with ``daemon.cpu_dma_latency_us = 0`` (idle CPUs
poll instead of halting: every CPU of the box, the sim's too, while the daemon runs). The
table's header says which of these made the figures.

For each venue, one run on this machine, all on 127.0.0.1, as an operator runs it:

1. ``rtaid-sim`` (a process: a synthetic BTCUSDT + ETHUSDT market at ``--rate`` book
   events/s per symbol, seeded);
2. ``rtaid run`` (a process, uvloop, GC frozen after start-up, the Parquet writer on)
   with ``execution.venue`` set, the ccxt venue with the sim's keys from the environment,
   the binance venue with an Ed25519 key made for the run (the sim registers its public
   key; the WebSocket API connection is logged on with ``session.logon``),
   and a strategy tuned to change its target every few seconds (``STRATEGY``: short
   time scales, a narrow entry band, no cooldown, short holds), so that a minute gives
   hundreds of orders;
3. after ``--seconds`` of trading, the daemon's own histograms are read over its control
   socket (``rtaidctl status``'s ``latency_us``) and it is stopped (SIGTERM).

Figures
- ``tick_to_order``: the listener's monotonic stamp of the frame that changed the target
  to the moment the order is handed to the transport: the paper venue's fill call
  (``Engine.paper_submit``; the paper venue handles a frame's events right after it),
  the ccxt venue's request handed to the transport: of a keep-alive connection, written
  by the C order path inside the listener's callback (ccxt's signed request as a
  template, filled and signed in C; ``fast_path`` counts them) or by the Python path in
  that turn (ccxt signs it), or aiohttp's (its trace hook, right before headers and body
  go out in one write; in a later turn of the execution task) when no keep-alive
  connection was idle, the binance
  venue's ``order.place`` request handed to the WebSocket API connection's socket (the
  C order path inside the listener's callback, or the Python path in the same turn:
  ``tick_to_order_ws``, the orders sent over the WebSocket API; its ``ws_api`` status
  counts which path).
- ``frames`` (JSON only): the engine's ``frame_to_signal`` and ``frame`` over every frame
  of the run: at these rates each frame comes after the loop slept, so this is the cold
  per-frame cost that an order's tick-to-order includes before its own path.
- ``ws_write`` (binance): the socket write of each WebSocket API request itself (on
  loopback the kernel delivers the bytes to the sim inside the write, and on a busy box
  may run the sim before returning: that time is here, not in ``tick_to_order``).
- ``order_round_trip`` (ccxt, binance): the send to the exchange's answer (RESULT), over
  REST (binance: the WebSocket API).
- ``wire_to_wire`` (ccxt, binance): rtaid-sim's own stamps: an order's arrival minus the
  sim's write of the frame that caused it (matched through the daemon's dataset: the
  order's ``recv_ns`` is its cause frame's receive time, which that frame's rows carry
  with their update or trade id; see :func:`wire_to_wire`).
- ``sim_wire_to_wire`` (ccxt, binance): the sim's simpler figure, an order's arrival
  minus the last frame it wrote before it (not necessarily the cause: a lower bound).
Histogram percentiles are the upper edge of a 6.25 % bucket.

Writes bench/results/exec.json (or --json PATH) and, with --update-readme, the README
block ``<!-- bench:exec -->``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_info, machine_name  # noqa: E402
from bench.wire.stamps import STREAM_KINDS  # noqa: E402
from rtaid.ctl import request  # noqa: E402
from rtaid.infra.cpu_latency import CpuLatencyError, hold_cpu_latency  # noqa: E402
from tests.helpers import NotifySocket, free_port, start_sim  # noqa: E402

# short horizons and a narrow band: the strategy trades every few seconds on the sim
STRATEGY = ("vpin.calibration_ms=3000", "vpin.buckets=20", "norm.warmup=10",
            "norm.tau_ms=5000", "dev.ema_ms=1000", "kyle.min_intervals=5",
            "strategy.entry_low=40.0", "strategy.entry_high=60.0", "strategy.exit_mid=50.0",
            "strategy.toxic_max=100.0", "strategy.cooldown_ms=0", "strategy.max_hold_ms=1500",
            "strategy.stale_ms=5000", "symbols.ETHUSDT.strategy.order_qty=0.005")
RISK = ("risk.max_orders_per_minute=1200", "risk.max_daily_loss_usd=100000")
SYMBOLS = ("BTCUSDT", "ETHUSDT")
SIM_KEYS = {"RTAID_API_KEY": "sim-key", "RTAID_API_SECRET": "sim-secret"}
STAGES = ("tick_to_order", "tick_to_deferred_order", "order_round_trip")
WS_STAGES = ("tick_to_order_ws", "ws_write")     # the binance venue's own
# the engine's own stages at this rate (every frame, not only those that caused an
# order): how much of a tick-to-order tail is the frame's own processing
FRAME_STAGES = ("frame_to_signal", "frame")


def ed25519_files(work: pathlib.Path) -> tuple[str, str]:
    """A fresh Ed25519 key pair: the private key (0600) for rtaid, a sim config naming
    the public one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public, sim_toml = work / "ed25519.pem", work / "ed25519.pub.pem", work / "sim.toml"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    os.chmod(private, 0o600)
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    sim_toml.write_text(f'[sim]\ned25519_public_key_file = "{public}"\n')
    return str(private), str(sim_toml)


def cpu_list(text: str) -> list[int]:
    """``"0,1"`` -> [0, 1]; ``""`` -> [] (no pinning)."""
    return [int(c) for c in text.split(",") if c.strip()]


def run_venue(venue: str, seconds: float, rate: float, seed: int,
              sim_cpus=(), daemon_cpus=(), cpu_dma_latency_us: int | None = None) -> dict:
    port = free_port()
    work = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-bench-exec-"))
    sim_args = ["--rate", str(rate), "--seed", str(seed)]
    venue_settings, venue_env = [], {}
    if venue == "ccxt":
        venue_env = SIM_KEYS
    elif venue == "binance":
        private, sim_toml = ed25519_files(work)
        sim_args = ["--config", sim_toml, *sim_args]
        venue_settings = [f"exchange.ws_api_url=ws://127.0.0.1:{port}/ws-fapi/v1",
                          f"exchange.ed25519_key_file={private}"]
        venue_env = {"RTAID_API_KEY": "sim-ed25519-key"}
    sim = start_sim(port, *sim_args)
    if sim_cpus:
        # the exchange is not on the trading box: keep it off the daemon's core
        for task in os.listdir(f"/proc/{sim.pid}/task"):   # every thread it has
            os.sched_setaffinity(int(task), set(sim_cpus))
    sock = str(work / "rtaid.sock")
    notify = NotifySocket(work / "notify")
    settings = [f"exchange.rest_url=http://127.0.0.1:{port}", f"exchange.ws_url=ws://127.0.0.1:{port}",
                f"exchange.user_ws_url=ws://127.0.0.1:{port}/private/ws",
                'feed.symbols=["BTCUSDT","ETHUSDT"]', f"storage.data_dir={work / 'data'}",
                f"control.socket={sock}", "metrics.port=0", "log.level=WARNING",
                f"execution.venue={venue}", *venue_settings, *STRATEGY, *RISK]
    if daemon_cpus:
        settings.append(f"daemon.cpu_affinity={list(daemon_cpus)}")
    if cpu_dma_latency_us is not None:
        settings.append(f"daemon.cpu_dma_latency_us={cpu_dma_latency_us}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTAID_", "RTAI_"))}
    env.update(NOTIFY_SOCKET=notify.path, **venue_env)
    args = [sys.executable, "-m", "rtaid", "run", *[a for s in settings for a in ("--set", s)]]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        if not notify.wait_for("READY=1", 60):
            raise RuntimeError(f"rtaid did not get ready: {notify.messages}")
        time.sleep(seconds)
        status = request(sock, {"cmd": "status"}, timeout=10)
        wire = sim_wire_to_wire(port) if venue != "paper" else None
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"rtaid exited {proc.returncode}: {out[-2000:]}")
        # after the daemon's stop: its orders and frames are all in the dataset
        exact = wire_to_wire(port, work / "data", SYMBOLS) if venue != "paper" else None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sim.kill()
        sim.wait()
        shutil.rmtree(work, ignore_errors=True)
    latency = status["latency_us"]
    result = {"venue": venue, "orders": status["orders"],
              **{stage: latency.get(stage, {"count": 0}) for stage in STAGES},
              **{stage: latency[stage] for stage in WS_STAGES if stage in latency},
              "frames": {stage: latency[stage] for stage in FRAME_STAGES if stage in latency}}
    if wire is not None:
        result["sim_wire_to_wire"] = wire
        result["wire_to_wire"] = exact
    if "ws_api" in status:
        result["ws_api"] = {k: v for k, v in status["ws_api"].items() if k != "rate_limits"}
    for key in ("fast_path", "rest_keepalive"):
        if key in status:
            result[key] = status[key]
    return result


def wire_to_wire(port: int, data_dir: pathlib.Path, symbols) -> dict:
    """Per order the daemon sent: rtaid-sim's arrival stamp of the order minus its write
    stamp of the frame that caused it (both the sim's CLOCK_REALTIME, exact).

    The cause: the order's ``recv_ns`` in the daemon's orders table is the receive time
    of the frame whose event changed the target; the daemon's bbo, trades and depth rows
    carry the same ``recv_ns`` and the frame's update or trade id, which the sim's frame
    stamps name. Orders whose cause cannot be matched (a cancel-replace decided on a
    fill, a frame older than the sim's stamp ring) are counted, not guessed."""
    import numpy as np
    import pyarrow.dataset as ds

    def rows(table, columns):
        path = data_dir / table
        if not path.exists():
            return {}
        t = ds.dataset(str(path), format="parquet", partitioning="hive").to_table(
            columns=[*columns, "symbol"])
        return t.to_pydict()

    orders = rows("orders", ("client_id", "status", "recv_ns"))
    values, unmatched, seen = [], 0, set()
    for sym in symbols:
        url = f"http://127.0.0.1:{port}/sim/latency?symbol={sym}&limit=1000000"
        with urllib.request.urlopen(url, timeout=60) as resp:
            stamps = json.loads(resp.read()).get(sym, {"frames": [], "orders": []})
        arrival = {o["client_order_id"]: o["wall_ns"] for o in stamps["orders"]}
        written = {(kind, f["seq"]): f["wall_ns"] for f in stamps["frames"]
                   for suffix, kind in STREAM_KINDS.items() if f["stream"].endswith(suffix)}
        frame_of = {}     # the daemon's receive time -> (stream kind, id) of that frame
        for table, id_col, kind in (("bbo", "u", "bbo"), ("trades", "trade_id", "trade"),
                                    ("depth", "u", "depth")):
            t = rows(table, (id_col, "recv_ns"))
            for s, i, r in zip(t.get("symbol", ()), t.get(id_col, ()), t.get("recv_ns", ())):
                if s == sym:
                    frame_of.setdefault(r, (kind, i))
        for s, cid, status, recv in zip(orders.get("symbol", ()), orders.get("client_id", ()),
                                        orders.get("status", ()), orders.get("recv_ns", ())):
            if s != sym or status != "sent":
                continue
            cid = cid.decode() if isinstance(cid, bytes) else cid
            if cid in seen:       # one row per order: its first send
                continue
            seen.add(cid)
            sent_at = written.get(frame_of.get(recv))
            if sent_at is None or cid not in arrival:
                unmatched += 1
                continue
            values.append(arrival[cid] - sent_at)
    # orders: what the dataset holds (the status read before the stop may miss the last)
    if not values:
        return {"count": 0, "unmatched": unmatched, "orders": len(seen)}
    v = np.array(values, dtype=np.float64)
    q = np.percentile(v, [50, 90, 99, 99.9], method="higher") / 1e3
    return {"count": len(values), "unmatched": unmatched, "orders": len(seen), "p50": round(q[0], 3),
            "p90": round(q[1], 3), "p99": round(q[2], 3), "p999": round(q[3], 3),
            "max": round(v.max() / 1e3, 3)}


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
             f"the box is shared); {_pinning(params)}{_cpu_latency(params)}. `python bench/exec.py`; µs, histogram "
             "bucket upper edges.", "",
             "| venue | stage | orders | samples | p50 | p99 | p99.9 |", "|---|---|---|---|---|---|---|"]
    for venue, res in results.items():
        stages = ["tick_to_order"] + (["tick_to_order_ws", "ws_write"] if venue == "binance" else []) + (
            ["tick_to_deferred_order", "order_round_trip", "wire_to_wire", "sim_wire_to_wire"]
            if venue != "paper" else [])
        for stage in stages:
            h = res.get(stage, {"count": 0})
            lines.append(f"| {venue} | {stage} | {res['orders'].get('sent', 0)} | {h.get('count', 0)} | "
                         f"{_cell(h, 'p50')} | {_cell(h, 'p99')} | {_cell(h, 'p999')} |")
    lines += ["", "tick_to_order: frame received (listener's monotonic stamp) to the order handed "
              "to the transport (paper: the engine's fill call; ccxt: the request written on a "
              "keep-alive connection, from the C order path (ccxt's request as a template, "
              "signed in C) or in that turn by ccxt, or by aiohttp when none was idle; binance: the WebSocket API request handed to the socket, "
              "tick_to_order_ws its orders sent over the WebSocket API; ws_write: the socket "
              "write itself): the orders placed in the turn of the frame that changed the "
              "target. tick_to_deferred_order: the orders a decision held back past that turn "
              "(the previous order's answer pending: one order in flight per symbol), frame to "
              "order, the wait included. order_round_trip: send "
              "to the exchange's answer (REST; binance: the WebSocket API). "
              "wire_to_wire: rtaid-sim's stamps, the order's arrival minus its write of the frame "
              "that caused the order (exact). sim_wire_to_wire: the order's arrival minus the last "
              "frame the sim wrote before it (a lower bound)."]
    return "\n".join(lines)


def _pinning(params: dict) -> str:
    sim, daemon = params.get("sim_cpus") or [], params.get("daemon_cpus") or []
    if not sim and not daemon:
        return "no CPU pinning"
    def cpus(c):
        return "CPU " + ",".join(map(str, c)) if c else "not pinned"
    return f"rtaid-sim on {cpus(sim)}, the daemon on {cpus(daemon)}"


def _cpu_latency(params: dict) -> str:
    us = params.get("cpu_dma_latency_us")
    if us is None:
        return ""
    return (f"; the daemon holding daemon.cpu_dma_latency_us = {us}"
            + (" (idle CPUs poll, never halt)" if us == 0 else ""))


def _cell(h: dict, key: str):
    value = h.get(key)
    return "-" if value is None else value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="trading time per venue")
    parser.add_argument("--rate", type=float, default=300.0, help="sim book events/s per symbol")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--venues", default="paper,ccxt,binance")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "exec.json"))
    parser.add_argument("--sim-cpus", default="", metavar="LIST",
                        help="pin rtaid-sim to these CPUs (e.g. 1; default: not pinned)")
    parser.add_argument("--daemon-cpus", default="", metavar="LIST",
                        help="the daemon's daemon.cpu_affinity (e.g. 0; default: not pinned)")
    parser.add_argument("--cpu-dma-latency", type=int, default=None, metavar="US",
                        help="the daemon's daemon.cpu_dma_latency_us (e.g. 0; needs write "
                             "access to /dev/cpu_dma_latency; default: not set)")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    sim_cpus, daemon_cpus = cpu_list(args.sim_cpus), cpu_list(args.daemon_cpus)
    usable = os.sched_getaffinity(0)
    for flag, cpus in (("--sim-cpus", sim_cpus), ("--daemon-cpus", daemon_cpus)):
        if not set(cpus) <= usable:
            parser.error(f"{flag} {cpus}: usable CPUs here are {sorted(usable)}")
    if args.cpu_dma_latency is not None:
        # what the daemon will do at its start, tried here once: a refusal is a usage
        # error now, not a daemon that never gets ready minutes into the run
        try:
            os.close(hold_cpu_latency(args.cpu_dma_latency))
        except CpuLatencyError as exc:
            parser.error(f"--cpu-dma-latency {args.cpu_dma_latency}: {exc}")
    params = {"seconds": args.seconds, "rate": args.rate, "seed": args.seed,
              "sim_cpus": sim_cpus, "daemon_cpus": daemon_cpus,
              "cpu_dma_latency_us": args.cpu_dma_latency,
              "strategy": list(STRATEGY), "risk": list(RISK), "machine": machine_name()}
    results = {}
    load = [os.getloadavg()[0]]
    for venue in args.venues.split(","):
        results[venue] = run_venue(venue, args.seconds, args.rate, args.seed,
                                   sim_cpus, daemon_cpus, args.cpu_dma_latency)
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
