"""The frame path's cost for the first frame after an idle wait, with and without a CPU
wake-up latency limit (``daemon.cpu_dma_latency_us``), in-process on the real BTCUSDT
recording.

    python bench/cold.py [--every 40] [--waits-us 0,100,1000,3000] [--sweep-mb 64]
                         [--json PATH] [--update-readme]

At a real feed's rate the daemon's event loop sleeps between frames, and an idle CPU
halts (a VM's haltpoll driver) or drops into a C-state; the frame that wakes it is the
one whose order is timed. This bench replays the recording through the listener's path
(``Engine.on_frame_first`` up to the order, then ``record_tail``), signals on
(tests/helpers.py ACTIVE_SETTINGS), and times, in C, the first part of every
``--every``-th frame:

- after an idle wait of each of ``--waits-us`` (``nanosleep``: the thread sleeps, the
  CPU idles as it does between frames); 0: back to back, nothing in between;
- after a write to every cache line of a ``--sweep-mb`` buffer (the caches and the TLB
  evicted by this process itself, no idling: the frame's data and page-table lines come
  from memory);

each once as the machine is and once with this process holding
``/dev/cpu_dma_latency`` at 0 (idle CPUs poll instead of halting: what
``daemon.cpu_dma_latency_us = 0`` does for the daemon; not run without write access to
the device). The frame after each timed one is timed too, back to back ("next"). Times
per message kind (bbo, trade, depth), µs; each row from one replay of the recording.

Writes bench/results/cold.json and, with --update-readme, the README block
``<!-- bench:cold -->``.
"""
import argparse
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench._machine import machine_info, machine_name  # noqa: E402
from bench._readme import publish  # noqa: E402
from bench._timing import time_cold_frames  # noqa: E402
from rtaid._kernels.engine import Engine  # noqa: E402
from rtaid._kernels.ring import RecordRings  # noqa: E402
from rtaid._kernels.signals import SignalParams  # noqa: E402
from rtaid.infra.cpu_latency import DEVICE, CpuLatencyError, hold_cpu_latency  # noqa: E402
from rtaid.store.tables import TABLES  # noqa: E402
from tests.helpers import BTC_RECORDING, active_config, pack, read_frames  # noqa: E402

KINDS = {2: "bbo", 3: "trade", 1: "depth"}     # decode.pxd MSG_*
SKIP_FRAMES = 3000  # the recording's start (the book syncing, the signals warming up)


def engine() -> Engine:
    """The daemon's engine for BTCUSDT: signals on, stage timing on, every table's ring attached (the
    rings are drained between replays, never full)."""
    params = {"BTCUSDT": SignalParams.from_config(active_config().for_symbol("BTCUSDT"), 2, 3)}
    rings = RecordRings(list(TABLES), 1 << 20)
    engine = Engine(["BTCUSDT"], scales={"BTCUSDT": (2, 3)}, rings=rings, signal_params=params)
    engine.set_timing(True)         # the daemon's stage histograms
    return engine


def replay(buf, offsets, every: int, sweep: np.ndarray, wait_ns: int) -> dict:
    """One replay: {kind: {"first": [ns...], "next": [ns...]}}."""
    n = (len(offsets) - 1) // every + 1
    first, nxt = np.zeros(n, np.int64), np.zeros(n, np.int64)
    kinds = np.zeros(n, np.int32)
    k = time_cold_frames(engine(), buf, offsets, 0, every, sweep, first, nxt, kinds, wait_ns)
    start = -(-SKIP_FRAMES // every)          # sample j is frame j * every
    out = {}
    for code, name in KINDS.items():
        sel = kinds[start:k] == code
        out[name] = {"first": first[start:k][sel], "next": nxt[start:k][sel]}
    return out


def summary(ns: np.ndarray) -> dict:
    us = ns / 1000.0
    if not len(us):
        return {"count": 0, "p50": None, "p90": None, "p99": None}
    return {"count": int(len(us)), "p50": round(float(np.percentile(us, 50)), 2),
            "p90": round(float(np.percentile(us, 90)), 2),
            "p99": round(float(np.percentile(us, 99)), 2)}


def run(buf, offsets, every: int, waits_us, sweep_mb: float) -> list[dict]:
    """Every condition of one pass: [{"condition", "kinds": {kind: {first, next}}}]."""
    rows = []
    none = np.zeros(64, np.uint8)[:0]
    for wait in waits_us:
        res = replay(buf, offsets, every, none, int(wait * 1000))
        label = "back to back" if wait == 0 else f"after a {wait:g} us idle wait"
        rows.append({"condition": label, "wait_us": wait,
                     "kinds": {k: {"first": summary(v["first"]), "next": summary(v["next"])}
                               for k, v in res.items()}})
    if sweep_mb > 0:
        sweep = np.zeros(int(sweep_mb * (1 << 20)), np.uint8)
        res = replay(buf, offsets, every, sweep, 0)
        rows.append({"condition": f"after a {sweep_mb:g} MB cache sweep", "sweep_mb": sweep_mb,
                     "kinds": {k: {"first": summary(v["first"]), "next": summary(v["next"])}
                               for k, v in res.items()}})
    return rows


def table(doc: dict) -> str:
    p = doc["params"]
    lines = [f"The first frame after an idle wait, {machine_name()}: the listener's path up "
             f"to the order (decode, book, signals, strategy; `Engine.on_frame_first`, timed "
             f"in C), every {p['every']}th frame of the BTCUSDT recording timed after the "
             f"wait and the frame after it back to back (\"next\"); signals on "
             f"(ACTIVE_SETTINGS). `python bench/cold.py`; µs, p50 / p99.", "",
             "| CPU idle | condition | bbo | bbo next | trade | depth | depth next |",
             "|---|---|---|---|---|---|---|"]
    for idle, rows in doc["results"].items():
        for r in rows:
            k = r["kinds"]

            def cell(kind, which):
                s = k[kind][which]
                return f"{s['p50']:.2f} / {s['p99']:.2f}" if s["count"] else "-"
            lines.append(f"| {idle} | {r['condition']} | {cell('bbo', 'first')} | "
                         f"{cell('bbo', 'next')} | {cell('trade', 'first')} | "
                         f"{cell('depth', 'first')} | {cell('depth', 'next')} |")
    if doc.get("not_run"):
        lines += ["", doc["not_run"]]
    lines += ["", "CPU idle: as the machine is (here the haltpoll driver: an idle vCPU "
              "halts, and the host may run something else on its core), or with "
              "`/dev/cpu_dma_latency` held at 0 by the bench (`daemon.cpu_dma_latency_us = 0`: "
              "idle CPUs poll instead of halting). The sweep row evicts the "
              "caches and the TLB without idling."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=40, help="time every N-th frame (N >= 2)")
    parser.add_argument("--waits-us", default="0,100,1000,3000", metavar="LIST",
                        help="idle waits before the timed frames, µs (0: back to back)")
    parser.add_argument("--sweep-mb", type=float, default=64.0,
                        help="the cache sweep's size (0: no sweep row)")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "cold.json"))
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    if args.every < 2:
        parser.error("--every must be at least 2")
    try:
        waits = [float(w) for w in args.waits_us.split(",") if w.strip()]
    except ValueError:
        parser.error(f"--waits-us {args.waits_us!r}: a comma-separated list of µs")
    if any(w < 0 for w in waits):
        parser.error("--waits-us: waits are >= 0")
    buf, offsets = pack([p for _, p in read_frames(BTC_RECORDING)])
    results, not_run = {}, None
    results["as the machine is"] = run(buf, offsets, args.every, waits, args.sweep_mb)
    try:
        fd = hold_cpu_latency(0)
    except CpuLatencyError as exc:
        not_run = f"cpu_dma_latency 0: not run ({exc})"
        print(not_run, file=sys.stderr)
    else:
        try:
            results["cpu_dma_latency 0"] = run(buf, offsets, args.every, waits, 0)
        finally:
            os.close(fd)
    doc = {"machine": machine_info(),
           "params": {"every": args.every, "waits_us": waits, "sweep_mb": args.sweep_mb,
                      "device": DEVICE, "recording": str(BTC_RECORDING.name)},
           "results": results, "not_run": not_run}
    pathlib.Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0 if publish("cold", table(doc), args.update_readme) else 1


if __name__ == "__main__":
    sys.exit(main())
