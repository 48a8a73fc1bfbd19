"""bench/latency.py's output: the JSON results, the README block and the CDF plot."""
from __future__ import annotations

import math
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECEIVERS = {
    "generator": "generator alone (a client that reads and discards bytes)",
    "floor": "floor: picows + a Cython listener that discards frames",
    "rtaid": "rtaid: `rtaid run` (decode, book, signal kernels, every record into the rings, "
             "Parquet writer thread on)",
    "baseline": "baseline: asyncio + websockets + orjson + dict books, the same indicators and "
                "strategy (bench/baselines)",
}
STAGE_TEXT = {
    "send_to_recv": "generator write -> receiver's frame callback",
    "frame_to_signal": "frame received -> indicators and strategy done",
    "decode": "decode",
    "book": "book (the sync state machine and the L2 book up to the levels the signals "
            "read; the rest of a depth event's updates and the frame's rows go after the "
            "frame's order, outside it, in `frame`)",
    "signals": "signals",
    "frame": "receive to engine done, the frame's recording into the rings included (the "
             "execution task's wake-up not)",
}


def _public(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def results(machine, mode, cfg, rate, frames_per_loop, settings, gen_rate, floor, rtaid, baseline,
            stages, pending, elapsed_s, max_window_frames, rtaid_settings, *, orders: dict,
            order_stages: dict, writer: dict, orders_params: dict,
            load_average_1m: list) -> dict:
    runs = []
    for name, res in (("floor", floor), ("rtaid", rtaid), ("baseline", baseline)):
        for label, entry in zip(("fixed", "half_saturation"), res["latency"]):
            stages_here = {k: v for k, v in _public(entry).items() if k not in ("rate", "matched_frames")}
            runs.append({"receiver": name, "window": label, "rate_msgs_per_s": entry["rate"],
                         "near_saturation": entry["rate"] > 0.8 * res["saturation"],
                         "matched_frames": entry["matched_frames"], "stages_us": stages_here})
    fixed = _public(rtaid["latency"][0])
    latency = {}
    pending_now = {}
    for stage in stages:
        value = fixed.get(stage)
        latency[stage] = value
        if value is None:
            pending_now[stage] = pending[stage]
    latency["send_to_recv"] = fixed.get("send_to_recv")
    for stage, (venue, figure) in order_stages.items():
        value = orders.get(venue, {}).get(figure)
        latency[stage] = value if value and value.get("count") else None
        if latency[stage] is None:
            pending_now[stage] = f"orders through the {venue} venue (none were sent in the orders phase)"
    thr = {"floor": floor["saturation"], "rtaid": rtaid["saturation"], "baseline": baseline["saturation"],
           "generator": gen_rate}
    return {
        "machine": machine,
        "mode": mode,
        "parameters": {
            "fixed_rate_msgs_per_s": rate, "saturation_window_s": cfg["sat_s"],
            "latency_window_s": cfg["lat_s"], "latency_window_max_frames": max_window_frames,
            "warmup_s": cfg["warm_s"],
            "timeline_frames_per_loop": frames_per_loop,
            "recordings_lines_per_file": cfg["max_lines"] or "all",
            "paced_write_interval_ms": 1, "signal_settings": settings,
            "rtaid_settings": rtaid_settings,
            "receivers": RECEIVERS,
            "latency_us_is": "rtaid at the fixed rate; " + ", ".join(order_stages)
                             + ": the orders phase (orders)",
            "orders": {**orders_params, "venues": sorted(orders),
                       "stages": {k: list(v) for k, v in order_stages.items()}},
        },
        "throughput_msgs_per_s": thr,
        "ratios": {"rtaid_vs_floor": thr["rtaid"] / thr["floor"],
                   "rtaid_vs_baseline": thr["rtaid"] / thr["baseline"],
                   "floor_vs_generator": thr["floor"] / thr["generator"]},
        "latency_us": latency,
        "latency_pending": pending_now,
        "latency_runs": runs,
        "orders": {venue: {"orders": r["orders"], **{k: v for k, v in r.items() if k != "orders"
                                                      and k != "venue"}}
                   for venue, r in orders.items()},
        "writer_on_vs_off": writer,
        "rss_mb": rtaid["rss_mb"],
        "reconnect_ms": rtaid["reconnect_ms"],
        "rtaid": {k: rtaid[k] for k in ("exit_code", "target_changes", "metrics_served", "store",
                                        "feed_counters", "log_warnings", "writer_catch_up_s")},
        "baseline": {k: baseline[k] for k in ("rows", "signals", "snapshots")},
        "elapsed_s": elapsed_s,
        "load_average_1m": load_average_1m,
    }


def _fmt(v) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}"


def markdown(res: dict, png: pathlib.Path | None) -> str:
    m = res["machine"]
    p = res["parameters"]
    thr = res["throughput_msgs_per_s"]
    r = res["ratios"]
    settings = ", ".join(f"{k}={v}" for k, v in p["signal_settings"].items())
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['system']}"
        + (f" (1-min load average {res['load_average_1m'][0]:g} before, "
           f"{res['load_average_1m'][1]:g} after: the box is shared)" if res.get("load_average_1m") else "")
        + ". "
        f"`python bench/latency.py`{' --quick' if res['mode'] == 'quick' else ''}: one generator "
        f"process streams the shared BTCUSDT and ETHUSDT recordings, looped "
        f"({p['timeline_frames_per_loop']:,} frames per loop), over WebSockets on 127.0.0.1 to one "
        f"receiver at a time, subscribed as rtaid is (depth@0ms + bookTicker, trade; two "
        f"connections). rtaid and the baseline: indicator settings {settings}. Windows: "
        f"{p['saturation_window_s']:g} s at saturation, {p['latency_window_s']:g} s per latency "
        f"rate (at most {p['latency_window_max_frames']:,} frames), after {p['warmup_s']:g} s of warm-up"
        + (f"; quick: the first {p['recordings_lines_per_file']:,} lines of each recording"
           if res["mode"] == "quick" else "")
        + ". rtaid's store: " + ", ".join(f"{k}={v}" for k, v in p["rtaid_settings"].items())
        + " (rings that hold 200 ms of every record at the latency rates)"
        + (f". The whole run with /dev/cpu_dma_latency held at {p['cpu_dma_latency_us']} us"
           + (" (idle CPUs poll instead of halting, for every receiver alike: "
              "`daemon.cpu_dma_latency_us = 0`)" if p["cpu_dma_latency_us"] == 0 else "")
           if p.get("cpu_dma_latency_us") is not None else "") + ".",
        "",
        "| throughput at saturation | frames/s | vs floor |",
        "|---|---|---|",
    ]
    for name in ("generator", "floor", "rtaid", "baseline"):
        x = thr[name] / thr["floor"]
        ratio = "" if name == "generator" else (f"{x:.2f}x" if x >= 0.1 else f"{x:.3f}x")
        lines.append(f"| {RECEIVERS[name]} | {thr[name]:,.0f} | {ratio} |")
    lines += [
        "",
        f"rtaid / baseline: **{r['rtaid_vs_baseline']:.1f}x** (target >= 20x); "
        f"rtaid / floor: **{r['rtaid_vs_floor']:.2f}x** (target >= 0.2x); same run.",
    ]
    if r["floor_vs_generator"] > 0.8:
        lines += ["", f"The floor reached {r['floor_vs_generator']:.0%} of the generator's own rate: "
                  "the generator may be what limits it (the floor figure is then a lower bound)."]
    lines += [
        "",
        f"Latency in microseconds at {p['fixed_rate_msgs_per_s']:,.0f} frames/s and at half of "
        "each receiver's own saturation rate (the generator writes every "
        f"{p['paced_write_interval_ms']} ms, so a frame may queue behind up to 1 ms of earlier "
        "frames):",
        "",
        "| receiver | frames/s | stage | p50 | p90 | p99 | p99.9 | max | frames |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    over = False
    for run in res["latency_runs"]:
        mark = " *" if run["near_saturation"] else ""
        over = over or run["near_saturation"]
        for stage, q in run["stages_us"].items():
            if q is None:
                continue
            frames = f"{q['count']:,}"
            sent = sum(m[1] for m in run["matched_frames"].values())
            if sent != q["count"]:      # frames without a receive time (see below)
                frames += f" of {sent:,}"
            lines.append(f"| {run['receiver']}{mark} | {run['rate_msgs_per_s']:,.0f} | {stage} | "
                         + " | ".join(_fmt(q[k]) for k in ("p50", "p90", "p99", "p999", "max"))
                         + f" | {frames} |")
    if over:
        lines += ["", "\\* more than 80 % of that receiver's own saturation rate: frames queue behind "
                  "each other (above 100 % the backlog grows through the window)."]
    lines += ["", "rtaid's `send_to_recv` is read from the `recv_ns` of the rows it recorded "
              "(bbo, trades, depth), matched to the generator's log by update or trade id: a frame "
              "whose rows a full ring dropped has no receive time."]
    lines += ["", "Stages: " + "; ".join(f"`{k}`: {v}" for k, v in STAGE_TEXT.items()
                                          if any(k in run["stages_us"] for run in res["latency_runs"])) + "."]
    if res["latency_pending"]:
        by_reason: dict = {}
        for stage, why in res["latency_pending"].items():
            by_reason.setdefault(why, []).append(stage)
        lines += ["", "Not measured yet (no number is estimated): " + "; ".join(
            f"{', '.join(stages)}: needs {why}" for why, stages in by_reason.items()) + "."]
    lines += _orders_markdown(res) + _writer_markdown(res)
    rss = res["rss_mb"]
    lines += [
        "",
        f"rtaid memory: RSS {rss['start']:.0f} MiB once every book synced, {rss['end']:.0f} MiB at the "
        f"end of the run. Reconnect: {res['reconnect_ms']:.0f} ms from a drop on the generator's side "
        "(TCP abort) to every book synced again (the daemon's log; its reconnect backoff "
        "included).",
    ]
    dropped = res["rtaid"]["store"].get("rows_dropped_ring", {})
    if any(dropped.values()):
        lines += ["", "rtaid's rings overflowed during the run (records dropped and counted, by "
                  "table: " + ", ".join(f"{t} {n:,}" for t, n in dropped.items() if n)
                  + f"): the Parquet writer thread did not keep up with every record at saturation "
                  f"(after it, {res['rtaid']['writer_catch_up_s']:.0f} s to work off its backlog), nor "
                  "in a window where the frames column shows fewer frames recorded than sent."]
    if png is not None:
        try:
            rel = png.resolve().relative_to(ROOT)
        except ValueError:
            rel = png
        lines += ["", f"![latency CDFs at {p['fixed_rate_msgs_per_s']:,.0f} frames/s]({rel})"]
    return "\n".join(lines)


def _orders_markdown(res: dict) -> list[str]:
    o = res["parameters"]["orders"]
    lines = ["", f"Orders: `python bench/exec.py`'s run of each venue, {o['seconds']:g} s of trading "
             f"against rtaid-sim at {o['sim_rate']:g} book events/s per symbol (seed {o['seed']}), "
             "a strategy tuned to change its target every few seconds. µs; the daemon's "
             "histograms (bucket upper edges) except `wire_to_wire` (the sim's stamps, exact).", "",
             "| figure | venue | orders sent | samples | p50 | p90 | p99 | p99.9 | max |",
             "|---|---|---|---|---|---|---|---|---|"]
    for stage, (venue, _) in o["stages"].items():
        q = res["latency_us"].get(stage)
        sent = res["orders"].get(venue, {}).get("orders", {}).get("sent", 0)
        if q is None:
            lines.append(f"| {stage} | {venue} | {sent} | 0 | - | - | - | - | - |")
            continue
        lines.append(f"| {stage} | {venue} | {sent} | {q['count']:,} | "
                     + " | ".join(_fmt(q.get(k)) for k in ("p50", "p90", "p99", "p999", "max")) + " |")
    lines += ["", "`tick_to_order`: the cause frame's receipt (the listener's stamp) to the order "
              "handed to the transport (ccxt: the write of its request on a keep-alive connection, "
              "from the C order path (ccxt's request as a template, signed in C) or by ccxt in "
              "that turn, or aiohttp's when none was idle; binance: the WebSocket API request to "
              "picows; paper: the engine's fill call). "
              "`order_round_trip`: the REST request to the exchange's answer. `wire_to_wire`: the "
              "sim's arrival of the order minus its write of the frame that caused it (matched "
              "through the daemon's dataset)."]
    return lines


def _writer_markdown(res: dict) -> list[str]:
    w = res["writer_on_vs_off"]
    if not w["stages"]:
        return []
    parts = [f"`{stage}` p99.9 {v['on_p999']:.1f} µs on, {v['off_p999']:.1f} µs off "
             f"({v['change_pct']:+.1f} %)" for stage, v in w["stages"].items()]
    spread = {}
    for win in w["windows"]:
        for stage, v in win["p999_us"].items():
            if v is not None:
                spread.setdefault((stage, win["writer"]), []).append(v)
    ranges = [f"`{stage}` {min(vals):.1f}-{max(vals):.1f} µs {label}"
              for (stage, label), vals in spread.items()]
    return ["", f"Writer on vs off at {w['rate_msgs_per_s']:,.0f} frames/s: {w['rounds']} pairs of "
            f"{w['window_s']:.0f} s windows by fresh daemons, one recording every table, one with "
            "`storage.tables = []`, alternating (on, off | off, on | ...), histograms pooled per "
            "side: " + "; ".join(parts) + " (target: within 10 %; the daemon's histograms, "
            "interpolated in their buckets). Single windows' p99.9: " + ", ".join(ranges) + "."]


def _cdf_of(values) -> tuple:
    """(x in us, cumulative fraction) of raw ns samples or of a cumulative histogram."""
    if isinstance(values, dict):          # Prometheus histogram (seconds)
        bounds = [b for b in sorted(values["buckets"]) if not math.isinf(b)]
        total = values["buckets"].get(math.inf) or (values["buckets"][bounds[-1]] if bounds else 0)
        if not total:
            return None
        return np.array(bounds) * 1e6, np.array([values["buckets"][b] for b in bounds]) / total
    v = np.sort(np.asarray(values, dtype=np.float64)) / 1e3
    if not len(v):
        return None
    v = np.maximum(v, 1e-3)
    return v, np.arange(1, len(v) + 1) / len(v)


def plot_cdfs(path: pathlib.Path, floor, rtaid, baseline, rate, machine) -> bool:
    """CDF per receiver and stage at the fixed rate (log x); False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for name, res in (("floor", floor), ("rtaid", rtaid), ("baseline", baseline)):
        for stage, values in res["latency"][0]["_cdf"].items():
            xy = _cdf_of(values)
            if xy is None:
                continue
            ax.step(xy[0], xy[1], where="post", label=f"{name}: {stage}")
    ax.set_xscale("log")
    ax.set_xlabel("microseconds (log)")
    ax.set_ylabel("fraction of frames")
    ax.set_ylim(0, 1.001)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"latency CDF at {rate:,.0f} frames/s\n{machine['cpu']}, {machine['cores']} cores", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
