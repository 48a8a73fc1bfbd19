"""``rtaid dashboard [--data-dir DIR] [--socket PATH] [--port 8501] [--address HOST]``.

Checks what can be checked at start (the extra is installed, the config is valid, the
port is free), then replaces itself with ``python -m streamlit run app.py`` so that
signals (Ctrl-C, systemd's SIGTERM) reach Streamlit directly. Streamlit is imported
only by that process: without the extra the command says how to install it.
"""
from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import socket
import sys
from pathlib import Path

from rtaid.dashboard.settings import (DEFAULT_ADDRESS, DEFAULT_PORT, DEFAULT_REFRESH_S,
                                      ENV_SETTINGS, from_config)

EXTRA_MODULES = ("streamlit", "plotly", "duckdb")
INSTALL_HINT = "pip install 'rtaid[dashboard]'"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
APP = Path(__file__).resolve().parent / "app.py"


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """The ``dashboard`` subcommand (rtaid/cli.py registers it)."""
    p = sub.add_parser("dashboard", parents=[common],
                       help="web dashboard (Streamlit) over the dataset and the live daemon")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="the dataset (default: storage.data_dir)")
    p.add_argument("--socket", metavar="PATH", default=None,
                   help="the daemon's control socket (default: $RTAID_CONTROL_SOCKET, else "
                        "control.socket)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"HTTP port (default {DEFAULT_PORT})")
    p.add_argument("--address", metavar="HOST", default=DEFAULT_ADDRESS,
                   help=f"address to listen on (default {DEFAULT_ADDRESS}: this machine only; "
                        f"the dashboard has no login)")
    p.add_argument("--refresh", type=_positive_float, default=DEFAULT_REFRESH_S, metavar="S",
                   help=f"seconds between live updates on the Health page (default "
                        f"{DEFAULT_REFRESH_S:g})")
    p.set_defaults(handler="rtaid.dashboard.cli:main")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def missing_extra() -> list[str]:
    """The modules of the ``dashboard`` extra that cannot be imported."""
    missing = []
    for name in EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def streamlit_argv(address: str, port: int) -> list[str]:
    """The Streamlit command line: headless, no usage statistics, no file watching."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--server.fileWatcherType", "none",
            "--server.runOnSave", "false", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer"]


def main(args: argparse.Namespace) -> int:
    """Run the dashboard (does not return on success: the process becomes Streamlit)."""
    missing = missing_extra()
    if missing:
        print(f"rtaid dashboard needs the optional 'dashboard' extra ({', '.join(missing)} "
              f"not installed): {INSTALL_HINT}", file=sys.stderr)
        return EXIT_FAILURE
    from rtaid.cli import load_config_from_args

    config = load_config_from_args(args)  # ConfigError: rtaid's usual message, exit 2
    settings = from_config(config, args.data_dir, args.socket, args.refresh)
    if not os.path.isdir(settings.data_dir):
        print(f"rtaid dashboard: warning: the data directory {settings.data_dir} does not "
              f"exist (yet); the pages will say so until it does", file=sys.stderr)
    problem = _port_problem(args.address, args.port)
    if problem:
        print(f"rtaid dashboard: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    env = dict(os.environ)
    env[ENV_SETTINGS] = settings.to_env()
    print(f"rtaid dashboard: http://{_url_host(args.address)}:{args.port}/ "
          f"(data {settings.data_dir}, socket {settings.socket})", file=sys.stderr, flush=True)
    argv = streamlit_argv(args.address, args.port)
    os.execve(argv[0], argv, env)
    return EXIT_FAILURE  # not reached


def _port_problem(address: str, port: int) -> str | None:
    """Why Streamlit could not listen on ``address:port`` (None when it can)."""
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot listen on {address!r}: {exc.strerror}"
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {address} is in use (another dashboard?); use --port"
            if exc.errno == errno.EACCES:
                return f"not allowed to listen on port {port} (ports below 1024 need root)"
            return f"cannot listen on {address}:{port}: {exc.strerror or exc}"
    return None


def _url_host(address: str) -> str:
    if address in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{address}]" if ":" in address else address
