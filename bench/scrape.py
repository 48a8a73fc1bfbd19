"""Does a Prometheus scrape cost rtaid's hot path anything? Measured, not assumed.

    python bench/scrape.py [--rate 3000] [--pairs 6] [--window-s 10] [--interval-s 1]
                           [--quick] [--json PATH] [--update-readme]
    python bench/scrape.py --from-json bench/results/scrape.json [--update-readme]

rtaid-sim (synthetic market, ``--rate`` book events/s per symbol, BTCUSDT and ETHUSDT)
and ``rtaid run`` as it is deployed (decode, book, signal kernels, every record into the
store's rings, the Parquet writer thread, uvloop, metrics on) run as separate processes.
Windows of equal length alternate between two arms, in the order A B B A A B ... so that
a drift of the shared machine hits both alike:

- **no scraper**: nothing reads /metrics during the window;
- **scraper**: a thread GETs /metrics every ``--interval-s`` with Prometheus' own request
  headers (OpenMetrics preferred, gzip), as a Prometheus server scrapes.

Two views of the hot path, per window:

- ``frame`` and ``frame_to_signal``: the daemon's own histograms
  (``rtaid_frame_seconds``, ``rtaid_frame_to_signal_seconds``), the difference of two
  reads at the window's edges (the same two reads in both arms); quantiles interpolated
  inside the exported buckets (1-2.5-5 per decade) as PromQL's ``histogram_quantile``
  does, the share of frames above a bucket edge exact. They are timed from picows'
  frame callback, in C: a scrape cannot interrupt them, and they cannot see a frame that
  waited in the socket while the scrape held the GIL and the event loop could not run.
- ``send_to_recv``: that wait included. The sim stamps each frame when it has written
  it (``/sim/latency``, CLOCK_REALTIME ns); the daemon records its receipt time
  (``recv_ns``) in its bbo, trades and depth rows; matched by update or trade id after
  the run. Exact quantiles of every matched frame of the window; in the scraper's
  windows also split into the frames written while a scrape was in flight and the
  others (the same windows, so the machine's noise is the same for both).

The scrape's own cost: each scraper GET's wall time (connect to the last byte), and the
CPU time the daemon's request thread took for it (``rtaid_metrics_scrape_cpu_seconds``,
read from the next scrape): Python code holds the GIL, so that is about the time the
event loop could not run.
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import math
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench._machine import machine_info, machine_name  # noqa: E402
from bench._readme import update_block  # noqa: E402
from bench.wire.metrics import delta, quantiles_us  # noqa: E402
from bench.wire.rtaid_proc import RtaidProcess, free_port  # noqa: E402
from bench.wire.stamps import (  # noqa: E402
    QUANTILES, SLOW_EDGES, delays_ns, during, exact_us, in_window, sim_sent,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT")
HISTOGRAMS = {"frame": "rtaid_frame_seconds", "frame_to_signal": "rtaid_frame_to_signal_seconds"}
# what Prometheus 2.x sends when it scrapes (scrape/scrape.go)
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.42.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}
NO_SCRAPER, SCRAPER = "no scraper", "scraper"
SCRAPE_CPU_LINE = re.compile(r"^rtaid_metrics_scrape_cpu_seconds (\S+)$", re.M)


def get_metrics(port: int, headers=None) -> tuple[str, float, int]:
    """(exposition text, wall seconds from connect to the last byte, bytes on the wire)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        wall = time.perf_counter() - t0
        if resp.status != 200:
            raise RuntimeError(f"/metrics answered {resp.status}")
        wire = len(body)
        if resp.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body.decode(), wall, wire
    finally:
        conn.close()


def parse(text: str) -> dict:
    """{stage: {"buckets": {le: n}, "count", "sum"}} of the frame stages."""
    hists = {}
    names = {v: k for k, v in HISTOGRAMS.items()}
    for fam in text_string_to_metric_families(text):
        if fam.name in names:
            h = {"buckets": {}, "count": 0.0, "sum": 0.0}
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    le = s.labels["le"]
                    h["buckets"][math.inf if le == "+Inf" else float(le)] = s.value
                elif s.name.endswith("_count"):
                    h["count"] = s.value
                elif s.name.endswith("_sum"):
                    h["sum"] = s.value
            hists[names[fam.name]] = h
    return hists


class Scraper(threading.Thread):
    """GET /metrics every ``interval`` s on a fixed grid, as Prometheus does."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.stop_event = threading.Event()
        self.walls: list[float] = []
        self.spans: list[tuple[int, int]] = []     # CLOCK_REALTIME ns: GET start, last byte
        self.cpus: list[float] = []
        self.wire_bytes = self.text_bytes = 0

    def run(self) -> None:
        next_t = time.monotonic()
        while not self.stop_event.is_set():
            t0 = time.time_ns()
            text, wall, wire = get_metrics(self.port, PROMETHEUS_HEADERS)
            self.spans.append((t0, time.time_ns()))
            self.walls.append(wall)
            self.wire_bytes, self.text_bytes = wire, len(text)
            # a regex, not the parser: the scraper's own CPU shares the box with the daemon
            m = SCRAPE_CPU_LINE.search(text)
            if m and len(self.walls) > 1:       # the previous scrape's (this one's own)
                self.cpus.append(float(m.group(1)))
            next_t += self.interval
            self.stop_event.wait(max(0.0, next_t - time.monotonic()))


def hist_us(h: dict) -> dict:
    q = quantiles_us(h, QUANTILES) or {}
    total = h["buckets"].get(math.inf, 0.0)
    q["slower_per_million"] = {f"{e:g}": round((total - h["buckets"][e]) / total * 1e6, 1)
                               if total else None for e in SLOW_EDGES}
    return q


def summary_ms(values: list[float]) -> dict | None:
    if not values:
        return None
    v = np.array(values) * 1e3
    return {"n": len(v), "p50_ms": float(np.percentile(v, 50)),
            "p99_ms": float(np.percentile(v, 99, method="higher")), "max_ms": float(v.max())}


def settings(kvs) -> dict:
    """``section.key=value`` strings as RtaidProcess's overrides (JSON values, else text)."""
    out = {}
    for kv in kvs:
        key, _, value = kv.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def run(args) -> dict:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-scrape-"))
    sim_port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "rtaid.sim", "--port", str(sim_port),
                            "--rate", str(args.rate), "--symbols", ",".join(SYMBOLS)],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon = None
    windows = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", sim_port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("rtaid-sim did not start")
                time.sleep(0.1)
        daemon = RtaidProcess(tmp, f"http://127.0.0.1:{sim_port}", SYMBOLS, settings(args.set))
        daemon.wait_ready()
        port = daemon.metrics_port
        time.sleep(args.warmup_s)
        # A B B A A B ...: each pair's order flips, so a trend over the run cancels
        order = []
        for i in range(args.pairs):
            order += [NO_SCRAPER, SCRAPER] if i % 2 == 0 else [SCRAPER, NO_SCRAPER]
        for arm in order:
            before = parse(get_metrics(port)[0])
            w0 = time.time_ns()
            scraper = Scraper(port, args.interval_s) if arm == SCRAPER else None
            if scraper is not None:
                scraper.start()
            time.sleep(args.window_s)
            if scraper is not None:
                scraper.stop_event.set()
                scraper.join()
            w1 = time.time_ns()
            after = parse(get_metrics(port)[0])
            # between windows: the sim's stamps (a large answer that stalls the sim for
            # a moment), then a pause for the burst after it
            sent = in_window(sim_sent(sim_port, SYMBOLS, args.sim_limit), w0, w1)
            if daemon.proc.poll() is not None:
                raise SystemExit(f"rtaid exited with {daemon.proc.returncode} during the run")
            d = delta(before, after)
            window = {"arm": arm, "seconds": (w1 - w0) / 1e9, "delta": d, "sent": sent,
                      "frames": int(d["frame"]["count"])}
            if scraper is not None:
                window.update(scrape_walls=scraper.walls, scrape_cpus=scraper.cpus,
                              scrape_spans=scraper.spans,
                              wire_bytes=scraper.wire_bytes, text_bytes=scraper.text_bytes)
            windows.append(window)
            q = quantiles_us(d["frame"], QUANTILES) or {}
            print(f"{arm:>10}: {window['frames']:,} frames, frame p99.9 "
                  f"{q.get('p999', float('nan')):.1f} us"
                  + (f", {len(scraper.walls)} scrapes" if scraper else ""), flush=True)
            time.sleep(args.settle_s)
    finally:
        stopped = daemon.stop() if daemon is not None else {"exit_code": None}
        sim.kill()
        sim.wait()
    wanted = {}
    for w in windows:
        for key, (ids, _) in w["sent"].items():
            if len(ids):
                lo, hi = wanted.get(key, (int(ids.min()), int(ids.max())))
                wanted[key] = (min(lo, int(ids.min())), max(hi, int(ids.max())))
    received = daemon.received(wanted)
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"the daemon's data and log: {tmp}")
    for w in windows:
        w["sends_ns"], w["send_to_recv_ns"], w["unmatched"] = delays_ns(w["sent"], received)
    return result(args, windows, stopped["exit_code"])


def result(args, windows: list[dict], exit_code) -> dict:
    arms = {}
    for arm in (NO_SCRAPER, SCRAPER):
        ws = [w for w in windows if w["arm"] == arm]
        seconds = sum(w["seconds"] for w in ws)
        stages = {}
        for stage in HISTOGRAMS:
            pool = {"buckets": {}, "count": 0.0, "sum": 0.0}
            for w in ws:
                h = w["delta"][stage]
                for le, n in h["buckets"].items():
                    pool["buckets"][le] = pool["buckets"].get(le, 0.0) + n
                pool["count"] += h["count"]
            stages[stage] = dict(hist_us(pool), count=int(pool["count"]),
                                 p999_by_window=[(quantiles_us(w["delta"][stage], QUANTILES)
                                                  or {}).get("p999") for w in ws])
        delays = np.concatenate([w["send_to_recv_ns"] for w in ws])
        stages["send_to_recv"] = dict(exact_us(delays), count=int(len(delays)),
                                      unmatched=sum(w["unmatched"] for w in ws),
                                      p999_by_window=[exact_us(w["send_to_recv_ns"]).get("p999")
                                                      for w in ws])
        frames = sum(w["frames"] for w in ws)
        arms[arm] = {"windows": len(ws), "seconds": round(seconds, 1),
                     "frames_per_s": round(frames / seconds) if seconds else 0, "stages": stages}
    scraped = [w for w in windows if w["arm"] == SCRAPER]
    split = {"during a scrape": [], "other frames": []}
    for w in scraped:
        hit = during(w["sends_ns"], w["scrape_spans"])
        split["during a scrape"].append(w["send_to_recv_ns"][hit])
        split["other frames"].append(w["send_to_recv_ns"][~hit])
    split = {k: dict(exact_us(np.concatenate(v)) if v else {},
                     count=int(sum(len(x) for x in v))) for k, v in split.items()}
    return {
        "machine": machine_info(), "machine_name": machine_name(),
        "parameters": {"rate_per_symbol": args.rate, "symbols": list(SYMBOLS),
                       "pairs": args.pairs, "window_s": args.window_s,
                       "interval_s": args.interval_s, "warmup_s": args.warmup_s,
                       "overrides": list(args.set)},
        "arms": arms,
        "scraper_frames": split,
        "scrape": {"get_wall": summary_ms([x for w in scraped for x in w["scrape_walls"]]),
                   "daemon_cpu": summary_ms([x for w in scraped for x in w["scrape_cpus"]]),
                   "wire_bytes": scraped[-1]["wire_bytes"] if scraped else None,
                   "text_bytes": scraped[-1]["text_bytes"] if scraped else None},
        "exit_code": exit_code,
        "windows": [{"arm": w["arm"], "seconds": round(w["seconds"], 3), "frames": w["frames"],
                     "scrapes": len(w.get("scrape_walls", ()))} for w in windows],
    }


def fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def _edge(seconds: str) -> str:
    s = float(seconds)
    return f"{s * 1e3:g} ms" if s >= 1e-3 else f"{s * 1e6:g} us"


def markdown(res: dict) -> str:
    p = res["parameters"]
    edges = " / ".join(_edge(f"{e:g}") for e in SLOW_EDGES)
    lines = [
        f"Machine: {res['machine_name']}. `python bench/scrape.py`: rtaid-sim at "
        f"{p['rate_per_symbol']:g} book events/s per symbol ({', '.join(p['symbols'])}) and "
        f"`rtaid run` (store and Parquet writer on), {p['pairs'] * 2} windows of "
        f"{p['window_s']:g} s alternating A B B A between no scraper and a scraper that GETs "
        f"/metrics every {p['interval_s']:g} s with Prometheus' request headers"
        + (f"; overrides {', '.join(p['overrides'])}" if p["overrides"] else "") + ".",
        "",
        f"| arm | frames/s | stage | frames | p50 (us) | p99 (us) | p99.9 (us) | p99.9 by window "
        f"(us) | slower than {edges}, per million |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    arms, split = res["arms"], res["scraper_frames"]
    frame = {arm: arms[arm]["stages"]["frame"] for arm in arms}
    spread = [v for v in frame[NO_SCRAPER]["p999_by_window"] if v is not None]
    lines[1:1] = ["", f"Frame stage p99.9: {fmt(frame[NO_SCRAPER]['p999'])} us without the "
                  f"scraper (its windows {fmt(min(spread))}-{fmt(max(spread))} us), "
                  f"{fmt(frame[SCRAPER]['p999'])} us with it. Frames written while a scrape "
                  f"was in flight: median send_to_recv "
                  f"{split['during a scrape']['p50'] / 1e3:.2f} ms, the other frames of the "
                  f"same windows {split['other frames']['p50'] / 1e3:.2f} ms."]
    for arm, a in res["arms"].items():
        for stage, s in a["stages"].items():
            slow = " / ".join(fmt(v) for v in s["slower_per_million"].values())
            lines.append(
                f"| {arm} | {a['frames_per_s']:,} | {stage} | {s['count']:,} | {fmt(s.get('p50'))} | "
                f"{fmt(s.get('p99'))} | {fmt(s.get('p999'))} | "
                f"{', '.join(fmt(v) for v in s['p999_by_window'])} | {slow} |")
    lines += ["", "In the scraper's windows, `send_to_recv` of the frames the sim wrote while a "
              "scrape was in flight (its GET's start to last byte) and of the others (a GET "
              "that the machine stalls lasts longer and holds more of the stalled frames: "
              "the first row's tail is biased upwards, its median is the scrape's own cost):",
              "",
              "| frames | count | p50 (us) | p99 (us) | p99.9 (us) | max (us) |",
              "|---|---|---|---|---|---|"]
    for name, s in res["scraper_frames"].items():
        lines.append(f"| {name} | {s['count']:,} | {fmt(s.get('p50'))} | {fmt(s.get('p99'))} | "
                     f"{fmt(s.get('p999'))} | {fmt(s.get('max'))} |")
    sc = res["scrape"]
    g, c = sc["get_wall"], sc["daemon_cpu"]
    lines += ["", "| one scrape | scrapes | p50 | p99 | max |", "|---|---|---|---|---|"]
    if g:
        lines.append(f"| GET /metrics, wall time (connect to last byte) | {g['n']} | "
                     f"{g['p50_ms']:.2f} ms | {g['p99_ms']:.2f} ms | {g['max_ms']:.2f} ms |")
    if c:
        lines.append(f"| the daemon's CPU for one scrape (`rtaid_metrics_scrape_cpu_seconds`) | {c['n']} | "
                     f"{c['p50_ms']:.2f} ms | {c['p99_ms']:.2f} ms | {c['max_ms']:.2f} ms |")
    unmatched = sum(a["stages"]["send_to_recv"]["unmatched"] for a in res["arms"].values())
    wire = (f" ({sc['wire_bytes']:,} on the wire)" if sc["wire_bytes"] != sc["text_bytes"] else "")
    lines += ["", f"A scrape is {sc['text_bytes']:,} bytes of text{wire}. "
              "`frame` and `frame_to_signal`: the daemon's histograms (quantiles interpolated "
              "inside the exported 1-2.5-5 buckets, as `histogram_quantile`; the shares above a "
              "bucket edge exact), timed in C from picows' frame callback. `send_to_recv`: the "
              "sim's write of each frame to the daemon's receipt of it (its `recv_ns` rows), "
              "exact; it includes the time a frame waited while the event loop could not run"
              + (f"; {unmatched:,} frames sent were not in the daemon's rows" if unmatched else "")
              + "."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=3000.0,
                        help="sim book events/s per symbol (default 3000)")
    parser.add_argument("--pairs", type=int, default=6, help="window pairs (default 6)")
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--interval-s", type=float, default=1.0, help="scrape interval")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--settle-s", type=float, default=2.0,
                        help="pause between windows (after reading the sim's stamps)")
    parser.add_argument("--sim-limit", type=int, default=100_000,
                        help="frame stamps read from the sim per symbol and window")
    parser.add_argument("--quick", action="store_true",
                        help="2 pairs of 3 s windows (a smoke run; numbers are noise)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="extra config override for the daemon (repeatable)")
    parser.add_argument("--json", type=pathlib.Path, default=ROOT / "bench/results/scrape.json")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep the daemon's data directory and log (deleted by default)")
    parser.add_argument("--from-json", type=pathlib.Path, metavar="JSON",
                        help="no run: the tables of a saved result (e.g. bench/results/scrape.json)")
    args = parser.parse_args(argv)
    if args.from_json:
        res = json.loads(args.from_json.read_text())
        text = markdown(res)
        print(text)
        if args.update_readme and not update_block("scrape", text):
            print("README.md has no <!-- bench:scrape --> block", file=sys.stderr)
            return 1
        return 0
    if args.quick:
        if args.update_readme:
            parser.error("--quick numbers are not for the README")
        args.pairs, args.window_s, args.warmup_s, args.settle_s = 2, 3.0, 1.0, 1.0
    res = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1))
    text = markdown(res)
    print(text)
    if args.update_readme and not update_block("scrape", text):
        print("README.md has no <!-- bench:scrape --> block", file=sys.stderr)
        return 1
    return 0 if res["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
