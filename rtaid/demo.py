"""``rtaid demo``: the daemon against an embedded rtaid-sim, on 127.0.0.1.

``rtaid demo [--duration S] [--symbols A,B] [--rate N]`` starts rtaid-sim (a synthetic
market) and the daemon in one process, shows a live one-screen status while it runs
(progress, per symbol sync state, messages/s, top of book, the strategy's oscillators
and target, p99 latency), then prints a summary and where the Parquet dataset went.
Ctrl-C ends it cleanly. No network, no keys. The demo shortens the indicators'
time scales and widens the entry band (``DEMO_SETTINGS``, printed) so the strategy
decides within its 30 seconds, and trades on the paper venue (fills by the engine's
fill model against the sim's book): the screen and the summary show its orders, fills,
positions and PnL.

``rtaid demo --recording [FILE ...]`` instead replays real Binance recordings (by
default the shared ones) through the same decode and book kernels and reports what it
found: messages by kind, the book's sync history, the final top of each book next to
the last bookTicker, and throughput.
"""
from __future__ import annotations

import asyncio
import json
import os
import pathlib
import random
import sys
import time

from rtaid._kernels.engine import Engine
from rtaid.infra.recordings import RecordingReader

DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-usdm"


def find_recordings(explicit) -> list[pathlib.Path]:
    if explicit:
        return [pathlib.Path(p) for p in explicit]
    data = pathlib.Path(os.environ.get("RTAID_SHARED_DATA", DEFAULT_DATA))
    return sorted(data.glob("*usdt_*.gz"))


def fmt(px: int, dec: int) -> str:
    return f"{px / 10 ** dec:.{dec}f}"


def replay_one(path: pathlib.Path) -> dict:
    reader = RecordingReader(path)
    payloads, stamps = reader.frames()
    symbol = RecordingReader(path).symbol()
    if symbol is None:
        raise ValueError(f"{path}: no stream line names a symbol")
    engine = Engine([symbol])
    last_bbo = None
    t0 = time.perf_counter()
    for recv_ns, payload in zip(stamps.tolist(), payloads):
        rc, kind, _ = engine.feed(payload, recv_ns, 0)
        if kind == "bbo":
            last_bbo = payload
    elapsed = time.perf_counter() - t0
    px_dec, qty_dec = engine.decoder.scales(0)
    return {
        "file": path.name, "symbol": symbol, "frames": len(payloads), "seconds": elapsed,
        "damage": [str(d) for d in reader.damage],
        "kinds": engine.decoder.kind_counts(), "results": engine.decoder.counts(),
        "book": engine.book_stats(0), "state": engine.book_state(0),
        "bids": [(fmt(p, px_dec), fmt(q, qty_dec)) for p, q in engine.top(0, "bid", 5)],
        "asks": [(fmt(p, px_dec), fmt(q, qty_dec)) for p, q in engine.top(0, "ask", 5)],
        "last_bbo": json.loads(last_bbo)["data"] if last_bbo else None,
    }


def print_report(r: dict) -> None:
    b = r["book"]
    print(f"\n{r['symbol']}  ({r['file']}, {r['frames']:,} frames)")
    print("  messages: " + ", ".join(f"{k} {v:,}" for k, v in r["kinds"].items()))
    bad = {k: v for k, v in r["results"].items() if k != "ok"}
    print(f"  rejected or skipped: {bad or 'none'}")
    print(f"  book: {r['state']}; depth events applied {b['applied'] + b['synced']:,}, "
          f"buffered before the snapshot {b['buffered']}, stale {b['stale']}, "
          f"gaps {b['gap']}, crossed {b['crossed']}; levels now {b['bid_levels']:,} bids / "
          f"{b['ask_levels']:,} asks ({b['dropped_levels']} beyond capacity dropped)")
    print("  top of book (L2, price x size):")
    for (bp, bq), (ap, aq) in zip(r["bids"], r["asks"]):
        print(f"    {bq:>10} x {bp:>10}   |   {ap:<10} x {aq:<10}")
    if r["last_bbo"]:
        t = r["last_bbo"]
        print(f"  last bookTicker (u {t['u']}): {t['B']} x {t['b']}  |  {t['a']} x {t['A']}")
    for damage in r["damage"]:
        print(f"  DAMAGED, skipped: {damage}")
    rate = r["frames"] / r["seconds"] if r["seconds"] else float("inf")
    print(f"  {rate:,.0f} frames/s through decode + book, one Python call per frame")


def main(args) -> int:
    if getattr(args, "recording", None) is None:
        return run_live(args)
    paths = find_recordings(args.recording)
    if not paths:
        print("rtaid demo: no recordings found (set RTAID_SHARED_DATA or pass --recording)")
        return 1
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"rtaid demo: no such recording: {', '.join(missing)}", file=sys.stderr)
        return 1
    print("rtaid demo: replaying real Binance USD-M recordings through the rtaid kernels")
    damaged = False
    for path in paths:
        try:
            report = replay_one(path)
        except (OSError, ValueError) as exc:
            print(f"rtaid demo: {exc}", file=sys.stderr)
            return 1
        print_report(report)
        damaged = damaged or bool(report["damage"])
    if damaged:
        print("rtaid demo: some input was damaged and skipped (see above)", file=sys.stderr)
    return 1 if damaged else 0


# ---------------------------------------------------------------------- live demo
def _px(engine, i, side):
    top = engine.top(i, side, 1)
    if not top:
        return "-"
    px_dec, qty_dec = engine.decoder.scales(i)
    return f"{fmt(top[0][1], qty_dec)} @ {fmt(top[0][0], px_dec)}"


# The defaults work on minutes (VPIN calibrates for 10 minutes, the normalisers' tau is
# 5 minutes, the price EMA 1 minute, a position is held up to 2 minutes): the demo runs
# them 10-30x faster and widens the entry band, so a 30 s run on the synthetic market
# shows the strategy decide. Printed with the summary; `--set` overrides any of them.
DEMO_SETTINGS = ("vpin.calibration_ms=3000", "vpin.buckets=15", "norm.warmup=20",
                 "norm.tau_ms=30000", "dev.ema_ms=5000", "kyle.min_intervals=10",
                 "strategy.entry_low=25.0", "strategy.entry_high=75.0",
                 "strategy.toxic_max=100.0", "strategy.max_hold_ms=8000",
                 "strategy.cooldown_ms=2000", "execution.venue=paper")
# an order of at least this notional (the sim's exchangeInfo has a 5 USDT minimum)
DEMO_MIN_NOTIONAL = 10.0
OSCILLATORS = ("obi", "ofi_norm", "dev_bps", "vpin")


def _osc(state, name) -> str:
    value = state.get(name + "_osc") if state else None
    return "    -" if value is None or value != value else f"{value:5.1f}"


def render(daemon, elapsed, duration, rates) -> list[str]:
    engine, feed = daemon.engine, daemon.feed
    p99 = feed.latency.percentile(99)
    lines = [f"rtaid demo  {elapsed:5.1f}s / {duration:.0f}s   "
             f"exchange: rtaid-sim {daemon.config.exchange.rest_url}   Ctrl-C stops",
             f"frames {sum(c.frames for c in feed.connections):,}  "
             f"({rates:,.0f}/s)   per-frame latency p50 {feed.latency.percentile(50) or '-'} ns, "
             f"p99 {p99 or '-'} ns   resyncs {feed.counters['resyncs']}   bad frames {feed.bad_frames}",
             "",
             f"{'symbol':10} {'book':9} {'best bid (qty @ px)':>24}   {'best ask (qty @ px)':<24} "
             + " ".join(f"{n[:5]:>5}" for n in OSCILLATORS) + "  target"]
    execution = daemon.execution.status() if daemon.execution is not None else None
    for i, sym in enumerate(feed.symbols):
        state = engine.signal_state(i)
        target = f"{daemon.targets[sym]:+d}" if state is not None else "-"
        line = (f"{sym:10} {feed.states[sym]:9} {_px(engine, i, 'bid'):>24}   "
                f"{_px(engine, i, 'ask'):<24} "
                + " ".join(_osc(state, n) for n in OSCILLATORS) + f"  {target:>6}")
        if execution is not None:
            x = execution["symbols"][sym]
            pnl = x["pnl"]
            line += (f"  position {x['position']:+.3f}  PnL {pnl['realized'] + pnl['unrealized']:+.4f}"
                     f" (fees {pnl['fees']:.4f})")
        lines.append(line)
    lines.append("")
    lines.append(f"oscillators in [0, 100] (50 = the mean); target changes {daemon.target_changes}")
    for change in list(daemon.recent_targets)[-5:]:
        stamp = time.strftime("%H:%M:%S", time.gmtime(change["ts_ms"] / 1000))
        lines.append(f"  {stamp} {change['symbol']:10} target {change['prev_target']:+d} -> "
                     f"{change['target']:+d}  ({change['reason']}, mid {change['mid']:.2f})")
    if execution is not None:
        lines += execution_lines(daemon.execution, execution)
    return lines


def execution_lines(service, status) -> list[str]:
    """Orders, fills and PnL of the paper venue."""
    orders, pnl = status["orders"], status["pnl"]
    rejected = ", ".join(f"{k} {v}" for k, v in orders["rejected"].items()) or "none"
    lines = ["", f"paper trading ({status['state']}): orders sent {orders['sent']}, filled "
                 f"{orders['filled']}, canceled {orders['canceled']}, rejected: {rejected}; "
                 f"realised {pnl['realized']:+.4f}, unrealised {pnl['unrealized']:+.4f}, "
                 f"fees {pnl['fees']:.4f}, balance {status['balance']:.2f} USDT"]
    for row in list(service.recorder.recent_orders)[-4:]:
        stamp = time.strftime("%H:%M:%S", time.gmtime(row["ts_ms"] / 1000))
        inst = service.instruments[row["symbol"]]
        px = inst.price_text(row["px"]) if row["px"] else "market"
        lines.append(f"  {stamp} order {row['symbol']:10} {row['side']:4} {inst.qty_text(row['qty'])} "
                     f"@ {px} {row['status']}" + (f" ({row['reason']})" if row["reason"] else ""))
    for row in list(service.recorder.recent_fills)[-4:]:
        stamp = time.strftime("%H:%M:%S", time.gmtime(row["ts_ms"] / 1000))
        inst = service.instruments[row["symbol"]]
        lines.append(f"  {stamp} fill  {row['symbol']:10} {row['side']:4} {inst.qty_text(row['qty'])} "
                     f"@ {inst.price_text(row['px'])} {row['liquidity']}, fee {row['fee']:.4f}, "
                     f"realised {row['realized_pnl']:+.4f}")
    return lines


async def live(duration: float, symbols: list[str], rate: float, data_dir: str, tty: bool,
               config_path: str | None = None, user_sets=(), seed: int | None = None) -> int:
    from rtaid.infra import exchange_info
    from rtaid.infra.config import load_config
    from rtaid.daemon import Daemon
    from rtaid.infra.sdnotify import Notifier
    from rtaid.sim import SimConfig, SimExchange
    from rtaid.sim.config import spec_for

    specs = tuple(spec_for(s) for s in symbols)
    # the event sequence is the seed's; event times are the wall clock's, so a seed
    # reproduces the market's path, not every decision to the millisecond
    seed = random.randrange(1 << 31) if seed is None else seed
    sim_cfg = SimConfig(port=0, rate=rate, symbols=specs, seed=seed)
    async with SimExchange(sim_cfg) as sim:
        sets = [f"exchange.rest_url={sim.rest_url}", f"exchange.ws_url={sim.ws_url}",
                "feed.symbols=[" + ",".join(f'"{s}"' for s in symbols) + "]",
                f"storage.data_dir={data_dir}", "metrics.port=0", "daemon.gc_freeze=false",
                f"control.socket={control_socket_path()}",
                f"execution.state_file={os.path.join(data_dir, 'execution', 'state.json')}",
                *DEMO_SETTINGS, *demo_order_sizes(specs),
                *user_sets]          # the user's --set last: they win
        config = load_config(config_path, sets, env={})
        data_dir = config.storage.data_dir
        # decimals and ticks as the daemon gets them at start-up (off the loop: the
        # sim answers on it)
        info = await asyncio.to_thread(exchange_info.fetch, sim.rest_url)
        daemon = Daemon(config, notifier=Notifier({}), scales=exchange_info.scales(info, symbols),
                        ticks=exchange_info.tick_sizes(info, symbols), exchange_info=info)
        task = asyncio.create_task(daemon.run())
        start = time.monotonic()
        last_frames, last_t = 0, start
        rate_now = 0.0
        while not task.done() and time.monotonic() - start < duration:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            frames = sum(c.frames for c in daemon.feed.connections)
            rate_now = (frames - last_frames) / (now - last_t)
            last_frames, last_t = frames, now
            screen = render(daemon, now - start, duration, rate_now)
            if tty:
                sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(screen) + "\n")
                sys.stdout.flush()
            elif int(now - start) % 5 == 0 and now - start >= 1:
                print(screen[1])
        final = render(daemon, time.monotonic() - start, duration, rate_now)[1:]
        daemon.request_stop("demo finished")
        rc = await task
        feed = daemon.feed
        print("\nsummary")
        for line in final:
            print("  " + line)
        print("  demo settings (faster time scales than the defaults): " + " ".join(DEMO_SETTINGS))
        print(f"  synthetic market: seed {seed} (--seed {seed} replays its path), {rate:g} events/s per symbol")
        print("  connections: " + ", ".join(f"{c.name} connects {c.connects}" for c in feed.connections))
        print(f"  snapshots {feed.counters['snapshots']}, snapshot errors {feed.counters['snapshot_errors']}")
        rows = daemon.store.stats()["rows_written"]
        print("  rows written: " + ", ".join(f"{t} {n:,}" for t, n in rows.items() if n))
        print(f"  Parquet dataset: {data_dir}  (<table>/symbol=<SYMBOL>/date=<YYYY-MM-DD>/)")
        return rc


def demo_order_sizes(specs) -> list[str]:
    """``symbols.X.strategy.order_qty`` for the symbols whose default order would be under
    the exchange's minimum notional at the sim's price (ETHUSDT: 0.001 is ~2.6 USDT)."""
    from decimal import ROUND_CEILING, Decimal

    from rtaid.infra.config import StrategyConfig

    sets = []
    for spec in specs:
        step = Decimal(spec.step_size)
        need = (Decimal(str(DEMO_MIN_NOTIONAL)) / Decimal(spec.initial_price) / step).to_integral_value(
            rounding=ROUND_CEILING) * step
        if need > Decimal(str(StrategyConfig().order_qty)):
            sets.append(f"symbols.{spec.symbol}.strategy.order_qty={need}")
    return sets


def control_socket_path() -> str:
    """The demo daemon's control socket: a fresh short path (rtaidctl --socket PATH)."""
    import tempfile

    return os.path.join(tempfile.mkdtemp(prefix="rtaid-demo-ctl-", dir="/tmp"), "rtaid.sock")


def run_live(args) -> int:
    import tempfile

    from rtaid.cli import config_args
    from rtaid.infra.log import setup_logging

    symbols = args.symbols or ["BTCUSDT", "ETHUSDT"]
    # the status screen owns stdout; warnings and errors still reach the terminal
    setup_logging("WARNING", "console", stream=sys.stderr)
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="rtaid-demo-")
    import uvloop

    try:
        path, user_sets = config_args(args)
        return uvloop.run(live(args.duration, symbols, args.rate, data_dir, sys.stdout.isatty(),
                               path, user_sets, args.seed))
    except KeyboardInterrupt:
        return 130
