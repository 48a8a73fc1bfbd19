"""The ``rtaid`` command: an argparse dispatcher over subcommands.

Adding a subcommand is one function here::

    def add_replay_parser(sub, common):
        p = sub.add_parser("replay", parents=[common], help="...")
        p.add_argument(...)
        p.set_defaults(handler="rtaid.replay:main")   # "module:function", imported lazily

and its name in :data:`PARSERS`. The handler receives the parsed arguments and returns
the exit code; :func:`load_config_from_args` gives it the validated :class:`Config`.
Handlers are imported only when their subcommand runs, so ``rtaid config check`` never
imports the Cython kernels.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error,
130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from typing import Callable, Mapping, Sequence

from rtaid import __version__
from rtaid.infra.config import ConfigError, dump_toml, load_config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def common_parser() -> argparse.ArgumentParser:
    """Return the parent parser with the options every subcommand accepts.

    Defaults are SUPPRESS so that ``rtaid --config X config show`` and
    ``rtaid config show --config X`` both work: read them with :func:`config_args`.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS,
        help="config file (default: $RTAID_CONFIG, else /etc/rtaid/rtaid.toml if present)",
    )
    common.add_argument(
        "--set", dest="overrides", metavar="SECTION.KEY=VALUE", action="append",
        default=argparse.SUPPRESS,
        help="override one config key, value as TOML (repeatable), "
             "e.g. --set feed.symbols='[\"BTCUSDT\"]' --set norm.warmup=50",
    )
    return common


def config_args(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """Return ``(--config path or None, list of --set texts)`` from parsed arguments."""
    return getattr(args, "config", None), list(getattr(args, "overrides", None) or [])


def load_config_from_args(args: argparse.Namespace, env: Mapping[str, str] = os.environ):
    """Load and validate the config named by ``--config`` / ``--set`` (raises ConfigError).

    The command then logs as ``log.level`` and ``log.format`` say, to stderr: a
    command's results go to stdout (``rtaid run`` sets up its own logging, to stdout)."""
    from rtaid.infra.log import setup_logging

    path, overrides = config_args(args)
    config = load_config(path, overrides, env)
    setup_logging(config.log.level, config.log.format, stream="stderr")
    return config


# --------------------------------------------------------------------------- config


def add_config_parser(sub, common: argparse.ArgumentParser) -> None:
    """``rtaid config check|show``."""
    p = sub.add_parser("config", parents=[common], help="check or show the configuration")
    csub = p.add_subparsers(dest="config_command", metavar="{check,show}", required=True)
    check = csub.add_parser(
        "check", parents=[common], help="validate a config file (exit 0: valid, 2: invalid)"
    )
    check.add_argument("path", nargs="?", metavar="PATH",
                       help="file to check (default: the one rtaid would read)")
    check.set_defaults(handler="rtaid.cli:cmd_config_check")
    show = csub.add_parser("show", parents=[common],
                           help="print the effective configuration (secrets redacted)")
    show.add_argument("--json", action="store_true", help="JSON instead of TOML")
    show.set_defaults(handler="rtaid.cli:cmd_config_show")


def cmd_config_check(args: argparse.Namespace) -> int:
    """``rtaid config check [PATH]``: print ``ok: PATH`` or raise ConfigError."""
    path, overrides = config_args(args)
    if args.path and path and os.path.abspath(args.path) != os.path.abspath(path):
        print(f"rtaid config check: two files given ({path} with --config, {args.path} as PATH): "
              "give one", file=sys.stderr)
        return EXIT_USAGE
    path = args.path or path
    config = load_config(path, overrides)
    print(f"ok: {config.source or '(defaults, no config file)'}")
    return EXIT_OK


def cmd_config_show(args: argparse.Namespace) -> int:
    """``rtaid config show [--json]``: print the effective config, secrets redacted."""
    config = load_config_from_args(args)
    data = config.to_dict(redact=True)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"# rtaid effective configuration (file: {config.source or 'none, defaults'})")
        sys.stdout.write(dump_toml(data))
    return EXIT_OK


# --------------------------------------------------------------------------- dispatch

def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
    return value


def symbol_list(text: str) -> list[str]:
    """argparse type: comma-separated symbols, each like BTCUSDT."""
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    bad = [s for s in symbols if not re.fullmatch(r"[A-Z0-9]{2,20}", s)]
    if not symbols or bad:
        raise argparse.ArgumentTypeError(
            f"{', '.join(bad) or repr(text)}: not a symbol (2-20 letters and digits, e.g. BTCUSDT)")
    return symbols


# Each adds one subcommand; add yours here.
def add_demo_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="run the daemon against an embedded rtaid-sim and show its status")
    p.add_argument("--duration", type=positive_float, default=30.0, metavar="S",
                   help="seconds to run (default 30)")
    p.add_argument("--symbols", type=symbol_list, metavar="A,B",
                   help="symbols (default BTCUSDT,ETHUSDT)")
    p.add_argument("--rate", type=positive_float, default=200.0,
                   help="sim events per second per symbol")
    p.add_argument("--seed", type=int, metavar="N",
                   help="seed of the synthetic market (default: a random one, printed with the summary)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset goes (default: a new temp dir)")
    p.add_argument("--recording", nargs="*", metavar="FILE",
                   help="instead: replay real recordings through the kernels (default: the shared ones)")
    p.set_defaults(handler="rtaid.demo:main")


def add_run_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "run", parents=[common], help="run the daemon (systemd: Type=notify)",
        description="Run the daemon: connect to the exchange's market-data streams, keep "
                    "every configured symbol's book synced, compute the indicators and the "
                    "strategy's targets, and record everything to the Parquet dataset. "
                    "Logs are JSON lines on stdout; SIGTERM stops it cleanly, SIGHUP "
                    "reloads the config. Exit status: 0 after a clean stop, 1 after a "
                    "failure or lost data, 2 for a configuration error found at start.")
    p.set_defaults(handler="rtaid.daemon:main")


def add_replay_parser(sub, common: argparse.ArgumentParser) -> None:
    """``rtaid replay FILE... [--out DIR]``."""
    p = sub.add_parser("replay", parents=[common],
                       help="run recordings (or the raw journal) through the kernels, signals "
                            "included, into a Parquet dataset")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="collector recordings (gzip or plain), in chain order")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="dataset directory (default: ./out)")
    p.add_argument("--exchange-info", metavar="FILE", default=None,
                   help="a GET /fapi/v1/exchangeInfo answer: price and quantity precision and "
                        "tick size per symbol (default: exchange.exchange_info_file, else "
                        "inferred from the data)")
    p.set_defaults(handler="rtaid.replay:main")


def add_train_parser(sub, common: argparse.ArgumentParser) -> None:
    """``rtaid train --data-dir DIR --symbols S... --horizon 5m --out MODEL`` (rtaid.ai)."""
    p = sub.add_parser("train", parents=[common],
                       help="train the hybrid strategy's model on bars_1m, walk-forward "
                            "evaluated (needs the ai extra: pip install 'rtaid[ai]')")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="dataset written by rtaid run or rtaid replay (default: storage.data_dir)")
    p.add_argument("--symbols", nargs="+", required=True, metavar="S", help="symbols to learn from")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first date (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last date (YYYY-MM-DD)")
    p.add_argument("--horizon", default="5m", help="label horizon in whole minutes, e.g. 5m (default)")
    p.add_argument("--out", required=True, metavar="MODEL",
                   help="model file; MODEL.report.json, .report.md and .report.png go beside it")
    p.add_argument("--cost-bps", type=float, default=4.0,
                   help="cost of a round trip in bps: labels and PnL are net of it (default 4)")
    p.add_argument("--threshold", type=float, default=0.55,
                   help="probability at which the model takes (or lets the rule take) a "
                        "position, for the report's PnL (default 0.55)")
    p.add_argument("--folds", type=int, default=5, help="walk-forward test folds (default 5)")
    p.add_argument("--seed", type=int, default=1, help="LightGBM seed (default 1)")
    p.add_argument("--shuffle-labels", action="store_true",
                   help="control run: permute the labels (its AUC must be about 0.5)")
    p.add_argument("--no-plot", action="store_true", help="no PNG")
    p.set_defaults(handler="rtaid.ai.train:main")


def add_dashboard_parser(sub, common: argparse.ArgumentParser) -> None:
    """``rtaid dashboard``: declared in rtaid/dashboard/cli.py (imports no Streamlit)."""
    from rtaid.dashboard.cli import add_parser

    add_parser(sub, common)


def add_export_parser(sub, common: argparse.ArgumentParser) -> None:
    """``rtaid export freqtrade DATADIR``."""
    p = sub.add_parser("export", parents=[common], help="write rtaid's data for other programs")
    esub = p.add_subparsers(dest="export_command", metavar="{freqtrade}", required=True)
    ft = esub.add_parser(
        "freqtrade", parents=[common],
        help="rtaid's bars (storage.data_dir) as freqtrade OHLCV files in a freqtrade datadir")
    ft.add_argument("datadir", metavar="DATADIR",
                    help="freqtrade's datadir (e.g. user_data/data/binance); files go to "
                         "DATADIR/futures/BTC_USDT_USDT-1m-futures.feather")
    ft.add_argument("--pairs", metavar="A,B", default=None,
                    help="pairs (BTC/USDT:USDT) or symbols (BTCUSDT); default: every symbol "
                         "with bars in the dataset")
    ft.add_argument("--timeframes", metavar="TF,TF", default="1m",
                    help="timeframes to write, e.g. 1m,5m,1h (default 1m)")
    ft.add_argument("--data-format", choices=("feather", "parquet"), default="feather",
                    help="freqtrade's dataformat_ohlcv (default feather, freqtrade's default)")
    ft.set_defaults(handler="rtaid.freqtrade.export:main")


PARSERS: list[Callable] = [add_config_parser, add_run_parser, add_demo_parser,
                           add_replay_parser, add_dashboard_parser, add_train_parser,
                           add_export_parser]


def build_parser() -> argparse.ArgumentParser:
    """Return the full ``rtaid`` argument parser."""
    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="rtaid", parents=[common],
        description="Low-latency market-microstructure daemon for Binance USD-M futures.",
    )
    parser.add_argument("--version", action="version", version=f"rtaid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in PARSERS:
        add(sub, common)
    for action in sub._choices_actions:          # `rtaid X --help` says what X does
        if sub.choices[action.dest].description is None:
            sub.choices[action.dest].description = action.help
    return parser


def resolve_handler(spec: str | Callable) -> Callable[[argparse.Namespace], int]:
    """Import a ``"module:function"`` handler (or return a callable as is)."""
    if callable(spec):
        return spec
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``rtaid`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(resolve_handler(args.handler)(args) or 0)
    except ConfigError as exc:
        where = f" {exc.source}" if exc.source else ""
        print(f"rtaid: invalid configuration{where}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `rtaid config show | head`: the reader left; not an error worth a traceback.
        _silence_stdout()
        return EXIT_OK


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
