"""``rtaid-sim``: run the simulated exchange from the command line."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from rtaid.infra.log import setup_logging
from rtaid.sim.config import SimConfig, load_config, spec_for


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rtaid-sim", description="Local Binance USD-M futures exchange simulator. "
        "'rtaid-sim record --help': write a synthetic recording instead (no server).")
    p.add_argument("--config", help="TOML file with a [sim] table")
    p.add_argument("--host", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port, 0 = ephemeral (default 8765)")
    p.add_argument("--symbols", help="comma-separated symbols of the synthetic market (default BTCUSDT,ETHUSDT)")
    p.add_argument("--replay", nargs="+", metavar="FILE", help="recordings to replay instead of a synthetic market")
    p.add_argument("--speed", type=float, help="replay speed multiple, 0 = as fast as possible (default 1)")
    p.add_argument("--rate", type=float, help="synthetic events per second per symbol (default 50)")
    p.add_argument("--rates", metavar="SYMBOL=RATE,...",
                   help="per-symbol rates overriding --rate, e.g. BTCUSDT=2000,ETHUSDT=2000")
    p.add_argument("--seed", type=int, help="random seed of the synthetic market")
    p.add_argument("--log-level", help="debug, info, warning, error (default info)")
    p.add_argument("--log-format", choices=("json", "console"), default="json",
                   help="JSON lines (default, like rtaid) or human-readable")
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Config file first, then CLI flags on top."""
    cfg = load_config(args.config) if args.config else SimConfig()
    if args.host is not None:
        cfg.host = args.host
    if args.port is not None:
        cfg.port = args.port
    if args.symbols:
        cfg.symbols = tuple(spec_for(s.strip()) for s in args.symbols.split(",") if s.strip())
    if args.replay:
        cfg.replay = tuple(args.replay)
    if args.speed is not None:
        cfg.speed = args.speed
    if args.rate is not None:
        cfg.rate = args.rate
    if args.rates:
        cfg.rates = dict(cfg.rates)
        for item in args.rates.split(","):
            symbol, sep, rate = item.partition("=")
            try:
                cfg.rates[symbol.strip().upper()] = float(rate)
            except ValueError:
                raise ValueError(f"--rates: {item!r} is not SYMBOL=RATE") from None
            if not sep or not symbol.strip():
                raise ValueError(f"--rates: {item!r} is not SYMBOL=RATE")
    if args.seed is not None:
        cfg.seed = args.seed
    if args.log_level:
        cfg.log_level = args.log_level
    return cfg


async def _serve(cfg: SimConfig) -> None:
    from rtaid.sim.server import SimExchange

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # pragma: no cover - non-Unix
            pass
    async with SimExchange(cfg) as sim:
        print(f"rtaid-sim listening: {sim.rest_url} {sim.ws_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rtaid-sim``; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["record"]:
        from rtaid.sim.record import main as record_main

        return record_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except (OSError, ValueError) as exc:
        print(f"rtaid-sim: {exc}")
        return 2
    try:
        setup_logging(cfg.log_level, args.log_format)
    except ValueError as exc:
        print(f"rtaid-sim: {exc}")
        return 2
    try:
        import uvloop

        uvloop.run(_serve(cfg))
    except ImportError:  # pragma: no cover
        asyncio.run(_serve(cfg))
    except KeyboardInterrupt:
        pass
    return 0
