"""Does the hybrid strategy's model cost the feed anything? Model on vs off, one run.

    python bench/model.py [--model PATH] [--minutes 6] [--rate 500] [--quick]
                          [--json PATH] [--update-readme]

rtaid-sim (synthetic market, ``--rate`` book events/s per symbol, BTCUSDT and ETHUSDT)
feeds two ``rtaid run`` processes at once, the same stream to both, deployed as usual
(decode, book, signal kernels, every table recorded, the writer thread, uvloop, metrics):

- **model off**: ``strategy.name = mean_reversion``;
- **model on**: ``strategy.name = hybrid`` with a LightGBM model (``--model``, or one
  trained here first: 3 synthetic symbols x 3 hours with a planted order-flow effect,
  ``rtaid-sim record`` -> ``rtaid replay`` -> ``rtaid train``, about two minutes).

At every closed one-minute bar of a symbol the model-on daemon computes the features and
the model's probability on its event loop, between frames (rtaid/ai/live.py). Two views:

- ``frame_to_signal`` (and ``frame``): each daemon's own histograms, the difference of
  two reads at the run's edges; quantiles interpolated inside the exported buckets as
  PromQL's ``histogram_quantile``. Timed in C from the frame callback, they cannot see a
  frame that waited in the socket while the loop was busy with the model.
- ``send_to_recv``: that wait included: the sim's stamp after writing each frame to the
  daemon's ``recv_ns`` of it (bench/wire/stamps.py), exact quantiles over every frame
  both daemons recorded. The frames the sim wrote while an inference ran (its start and
  duration from the ``model_p`` log line) are also shown on their own, beside the very
  same frames' wait in the model-off daemon.

The model's own time: ``rtaid_model_inference_seconds`` (features + predict per bar).
Both daemons share the machine's two cores with the sim: a busy moment hits both alike,
which is why they run at once rather than one after the other.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench._machine import machine_info, machine_name  # noqa: E402
from bench._readme import update_block  # noqa: E402
from bench.wire.metrics import quantiles_us  # noqa: E402
from bench.wire.rtaid_proc import RtaidProcess, free_port  # noqa: E402
from bench.wire.stamps import QUANTILES, delays_ns, during, exact_us, in_window, sim_sent  # noqa: E402

SYMBOLS = ("BTCUSDT", "ETHUSDT")
ARMS = ("model off", "model on")
STAGES = ("frame", "frame_to_signal", "model_inference")
# the issue's bound: frame-to-signal with the model on within 10% of the model off
BOUND = 1.10
# a model for the bench: the planted-effect recipe of tests/ai (3 symbols x 3 hours)
TRAIN_SYMBOLS = ("TR0USDT", "TR1USDT", "TR2USDT")
TRAIN_MINUTES = 180


def rtaid(*args: str, timeout: float = 900) -> None:
    proc = subprocess.run([sys.executable, "-m", "rtaid", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"rtaid {args[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                         f"{proc.stderr[-2000:]}")


def train_model(workdir: pathlib.Path) -> pathlib.Path:
    """A model trained on synthetic recordings with a planted effect (as tests/ai)."""
    files = []
    for i, sym in enumerate(TRAIN_SYMBOLS):
        out = workdir / f"{sym}.gz"
        proc = subprocess.run([sys.executable, "-m", "rtaid.sim", "record", "--minutes",
                               str(TRAIN_MINUTES), "--seed", str(300 + i), "--ofi-alpha-bps", "2",
                               "--symbol", sym, "--out", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise SystemExit(f"rtaid-sim record failed:\n{proc.stderr[-2000:]}")
        files.append(str(out))
    dataset = workdir / "ds"
    rtaid("replay", *files, "--out", str(dataset),
          "--set", 'storage.tables=["bars_1m","signals"]')
    model = workdir / "bench.model"
    rtaid("train", "--data-dir", str(dataset), "--symbols", *TRAIN_SYMBOLS,
          "--from", "2024-01-01", "--to", "2024-01-01", "--horizon", "5m", "--folds", "3",
          "--no-plot", "--out", str(model))
    return model


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("rtaid-sim did not start")
            time.sleep(0.1)


def read_histograms(port: int) -> dict:
    """{stage: {"buckets", "count", "sum"}} of STAGES from a daemon's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    names = {f"rtaid_{s}_seconds": s for s in STAGES}
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name in names:
            h = {"buckets": {}, "count": 0.0, "sum": 0.0}
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    le = s.labels["le"]
                    h["buckets"][float("inf") if le == "+Inf" else float(le)] = s.value
                elif s.name.endswith("_count"):
                    h["count"] = s.value
                elif s.name.endswith("_sum"):
                    h["sum"] = s.value
            out[names[fam.name]] = h
    return out


def histogram_delta(before: dict, after: dict) -> dict:
    out = {}
    for stage, h in after.items():
        b = before.get(stage, {"buckets": {}, "count": 0.0, "sum": 0.0})
        out[stage] = {"buckets": {le: c - b["buckets"].get(le, 0.0) for le, c in h["buckets"].items()},
                      "count": h["count"] - b["count"], "sum": h["sum"] - b["sum"]}
    return out


def run(args, model: pathlib.Path, tmp: pathlib.Path) -> dict:
    sim_port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "rtaid.sim", "--port", str(sim_port),
                            "--rate", str(args.rate), "--symbols", ",".join(SYMBOLS)],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemons: dict[str, RtaidProcess] = {}
    sent_windows = []
    try:
        wait_port(sim_port)
        base = f"http://127.0.0.1:{sim_port}"
        settings = {"off": {"strategy.name": "mean_reversion"},
                    "on": {"strategy.name": "hybrid", "strategy.model_path": str(model)}}
        for arm, key in zip(ARMS, ("off", "on")):
            workdir = tmp / key
            workdir.mkdir()
            daemons[arm] = RtaidProcess(workdir, base, SYMBOLS, settings[key])
        for d in daemons.values():
            d.wait_ready()
        time.sleep(args.warmup_s)
        before = {arm: read_histograms(d.metrics_port) for arm, d in daemons.items()}
        m0 = time.time_ns()
        t_end = time.monotonic() + args.minutes * 60
        while time.monotonic() < t_end:
            w0 = time.time_ns()
            time.sleep(min(args.window_s, max(t_end - time.monotonic(), 0.1)))
            w1 = time.time_ns()
            sent_windows.append(in_window(sim_sent(sim_port, SYMBOLS, args.sim_limit), w0, w1))
            for arm, d in daemons.items():
                if d.proc.poll() is not None:
                    raise SystemExit(f"rtaid ({arm}) exited with {d.proc.returncode} during the run")
            inferences = sum(1 for e in daemons[ARMS[1]].events if e.get("event") == "model_p")
            print(f"{(w1 - w0) / 1e9:.0f} s window: "
                  f"{sum(len(ids) for ids, _ in sent_windows[-1].values()):,} frames sent, "
                  f"{inferences} inferences so far", flush=True)
        m1 = time.time_ns()
        after = {arm: read_histograms(d.metrics_port) for arm, d in daemons.items()}
    finally:
        stopped = {arm: d.stop() for arm, d in daemons.items()}
        sim.kill()
        sim.wait()
    sent = {}
    for window in sent_windows:
        for key, (ids, wall) in window.items():
            old = sent.get(key)
            sent[key] = (ids, wall) if old is None else (np.concatenate([old[0], ids]),
                                                         np.concatenate([old[1], wall]))
    wanted = {key: (int(ids.min()), int(ids.max())) for key, (ids, _) in sent.items() if len(ids)}
    # the inferences between the two histogram reads (as the histogram's count)
    spans = sorted((int(e["start_ns"]), int(e["start_ns"] + e["inference_us"] * 1000))
                   for e in daemons[ARMS[1]].events
                   if e.get("event") == "model_p" and m0 <= e["start_ns"] < m1)
    return result(args, model, daemons, before, after, sent, wanted, spans, stopped)


def result(args, model, daemons, before, after, sent, wanted, spans, stopped) -> dict:
    arms = {}
    waits = {}
    for arm, d in daemons.items():
        received = d.received(wanted)
        sends, delays, missing = delays_ns(sent, received)
        waits[arm] = (sends, delays)
        hist = histogram_delta(before[arm], after[arm])
        stages = {stage: dict(quantiles_us(h, QUANTILES) or {}, count=int(h["count"]))
                  for stage, h in hist.items() if h["count"] > 0}
        stages["send_to_recv"] = dict(exact_us(delays), count=int(len(delays)), unmatched=missing)
        arms[arm] = {"stages": stages, "exit_code": stopped[arm]["exit_code"]}
    off, on = ARMS
    ratios = {}
    for stage in ("frame_to_signal", "send_to_recv"):
        a, b = arms[off]["stages"].get(stage, {}), arms[on]["stages"].get(stage, {})
        ratios[stage] = {q: round(b[q] / a[q], 3) for q in ("p50", "p99", "p999")
                         if a.get(q) and b.get(q) is not None}
    # the frames written while an inference ran: their wait in each daemon (paired: the
    # same frames, matched by send time)
    during_inference = {}
    sends_on, delays_on = waits[on]
    hit_on = during(sends_on, spans)
    sends_off, delays_off = waits[off]
    hit_off = during(sends_off, spans)
    for arm, delays, hit in ((on, delays_on, hit_on), (off, delays_off, hit_off)):
        during_inference[arm] = dict(exact_us(delays[hit]), count=int(hit.sum()))
    within = all(r <= BOUND for r in ratios["frame_to_signal"].values()) and bool(ratios["frame_to_signal"])
    return {
        "machine": machine_info(),
        "params": {"rate": args.rate, "symbols": list(SYMBOLS), "minutes": args.minutes,
                   "window_s": args.window_s, "warmup_s": args.warmup_s,
                   "model": str(model) if args.model else "trained by the bench (3 x 3 h synthetic, planted effect)"},
        "arms": arms,
        "ratios_on_off": ratios,
        "inferences": len(spans),
        "during_inference": during_inference,
        "verdict": {"frame_to_signal_within_10pct": within},
        "exit_code": max(a["exit_code"] or 0 for a in arms.values()),
    }


def fmt(x) -> str:
    return "-" if x is None else f"{x:,.1f}"


def markdown(res: dict) -> str:
    p = res["params"]
    lines = [f"Model on vs off, one run: rtaid-sim at {p['rate']:g} book events/s per symbol "
             f"({', '.join(p['symbols'])}), two daemons fed the same stream for {p['minutes']:g} "
             f"min, {res['inferences']} inferences (one per symbol and closed bar); "
             f"{machine_name()}. `python bench/model.py`; us.", "",
             "| arm | stage | count | p50 | p99 | p99.9 |", "|---|---|---|---|---|---|"]
    for arm, a in res["arms"].items():
        for stage in ("frame", "frame_to_signal", "send_to_recv", "model_inference"):
            s = a["stages"].get(stage)
            if s:
                lines.append(f"| {arm} | {stage} | {s['count']:,} | {fmt(s.get('p50'))} | "
                             f"{fmt(s.get('p99'))} | {fmt(s.get('p999'))} |")
    r = res["ratios_on_off"]
    lines += ["", "On / off, same run: " + "; ".join(
        f"{stage} " + ", ".join(f"{q} {v:.2f}" for q, v in qs.items()) for stage, qs in r.items())
        + f". frame_to_signal within 10%: "
        f"{'yes' if res['verdict']['frame_to_signal_within_10pct'] else 'NO'}."]
    d = res["during_inference"]
    on, off = ARMS
    if d[on].get("count"):
        lines += ["", f"The {d[on]['count']} frames the sim wrote while an inference ran waited "
                  f"(send_to_recv) p50 {fmt(d[on].get('p50'))} us, max {fmt(d[on].get('max'))} us "
                  f"in the model-on daemon; the same frames in the model-off daemon p50 "
                  f"{fmt(d[off].get('p50'))} us, max {fmt(d[off].get('max'))} us."]
    lines += ["", "`frame`, `frame_to_signal`, `model_inference`: the daemons' histograms "
              "(timed in C from the frame callback; interpolated in the exported buckets). "
              "`send_to_recv`: the sim's write of each frame to the daemon's receipt (exact), "
              "which includes any wait while the event loop ran the model. Both daemons and "
              "the sim share the machine, so the absolute waits are the machine's as much as "
              "rtaid's; the ratios compare like with like."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=pathlib.Path, help="model file (default: train one first)")
    parser.add_argument("--minutes", type=float, default=6.0, help="measured minutes (default 6)")
    parser.add_argument("--rate", type=float, default=500.0,
                        help="sim book events/s per symbol (default 500)")
    parser.add_argument("--window-s", type=float, default=10.0,
                        help="how often the sim's send stamps are read (its ring is finite)")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--sim-limit", type=int, default=100_000,
                        help="frame stamps read from the sim per symbol and window")
    parser.add_argument("--quick", action="store_true",
                        help="75 s: a smoke run, one or two inferences; numbers are noise")
    parser.add_argument("--json", type=pathlib.Path, default=ROOT / "bench/results/model.json")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.quick:
        if args.update_readme:
            parser.error("--quick numbers are not for the README")
        args.minutes, args.warmup_s, args.window_s = 1.25, 1.0, 5.0
    if args.model is not None and not args.model.is_file():
        parser.error(f"--model {args.model}: no such file")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="rtaid-bench-model-"))
    try:
        model = args.model if args.model is not None else train_model(tmp)
        res = run(args, model.resolve(), tmp)
    finally:
        if args.keep:
            print(f"work directory: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1))
    text = markdown(res)
    print(text)
    if args.update_readme and not update_block("model", text):
        print("README.md has no <!-- bench:model --> block", file=sys.stderr)
        return 1
    return 0 if res["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
