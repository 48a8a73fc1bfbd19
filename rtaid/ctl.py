"""``rtaidctl``: talk to a running rtaid over its unix control socket.

Protocol (rtaid/control.py is the daemon's server)
--------------------------------------------------------
Stream unix socket (``control.socket``). UTF-8 JSON, one object per line (``\\n``
terminated), at most 1 MiB per line. The client sends a request line, the server
answers with exactly one response line; a connection may carry several requests in
turn. rtaidctl sends one and closes.

Requests (``cmd`` is required; unknown fields are an error)::

    {"cmd": "status"}
    {"cmd": "pause"}                      # stop new entries; positions are kept
    {"cmd": "resume"}
    {"cmd": "flatten", "symbol": null}    # null: every symbol; also pauses
    {"cmd": "book", "symbol": "BTCUSDT", "depth": 10}
    {"cmd": "reload"}                     # as SIGHUP: re-read the config, apply live keys

Responses::

    {"ok": true, ...command-specific fields...}
    {"ok": false, "error": "human-readable reason"}

Command-specific fields the server should provide (rtaidctl prints any it gets):

- status: ``state`` (active|reducing|halted), ``uptime_s``, ``version``, ``healthy``,
  ``symbols`` (per symbol: ``synced``, ``last_event_age_ms``, ``lag_ms``, ``bid``,
  ``ask``, ``position``, ``target``, ``pnl``, ``indicators`` and ``oscillators``
  {name: value}), ``feed`` (``connections``, ``reconnects``, ``resyncs``, ``gaps``,
  ``handovers``), ``latency_us`` (per stage: ``p50``, ``p99``, ``p999``, ``count``),
  ``storage`` (``rows_written``, ``rows_dropped``, ``bytes_written``, ``write_errors``),
  ``cpu_dma_latency_us`` (the CPU wake-up latency limit the daemon holds, or null),
  ``orders`` (``sent``, ``rejected`` by reason, ``filled``)
- book: ``symbol``, ``synced``, ``u``, ``bids`` and ``asks`` as ``[[price, qty], ...]``
  (decimal strings), best first
- flatten / pause / resume: optional ``message``

Exit codes (like systemctl status): 0 ok (status: healthy); 1 the daemon answered but
is degraded (status: a book unsynced, a stale feed, trading halted, dropped records) or
refused the request (``"ok": false``), or its reply was unusable; 2 usage; 3 the daemon
cannot be reached (not running, permission denied, timeout).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tomllib
from typing import Any, Mapping, Sequence

from rtaid.infra.config import DEFAULT_CONFIG_PATH, ENV_CONFIG, ControlConfig

ENV_CONTROL_SOCKET = "RTAID_CONTROL_SOCKET"
DEFAULT_SOCKET = ControlConfig().socket
MAX_LINE = 1 << 20
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class ControlError(Exception):
    """The daemon could not be reached, or its reply was unusable."""


class Unreachable(ControlError):
    """No daemon answers at the socket (not running, permission denied, timeout)."""


class DaemonError(ControlError):
    """The daemon answered ``{"ok": false, "error": ...}`` (kept in ``response``)."""

    def __init__(self, message: str, response: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.response = dict(response)


def request(socket_path: str, payload: Mapping[str, Any], timeout: float = 5.0) -> dict:
    """Send one request to the daemon and return its (successful) response.

    Parameters
    ----------
    socket_path : str
        The daemon's control socket.
    payload : mapping
        The request, e.g. ``{"cmd": "status"}``.
    timeout : float
        Seconds allowed for connecting and for the reply.

    Returns
    -------
    dict
        The response object, whose ``ok`` is true.

    Raises
    ------
    ControlError
        No daemon, timeout, connection closed, or a reply that is not a JSON object.
    DaemonError
        The daemon answered ``ok: false``.
    """
    line = json.dumps(dict(payload), separators=(",", ":")).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(socket_path)
        except FileNotFoundError:
            raise Unreachable(f"no daemon at {socket_path} (is rtaid running?)") from None
        except ConnectionRefusedError:
            raise Unreachable(
                f"no daemon listening at {socket_path} (stale socket; is rtaid running?)"
            ) from None
        except PermissionError:
            raise Unreachable(
                f"permission denied on {socket_path} (are you in rtaid's group?)"
            ) from None
        except socket.timeout:
            raise Unreachable(f"timed out connecting to {socket_path}") from None
        except OSError as exc:
            raise Unreachable(f"cannot connect to {socket_path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(line)
            reply = _read_line(sock)
        except socket.timeout:
            raise Unreachable(
                f"timed out after {timeout:g}s waiting for the daemon at {socket_path}"
            ) from None
        except OSError as exc:
            raise ControlError(f"connection to {socket_path} failed: {exc.strerror or exc}") from None
    if not reply:
        raise ControlError(f"daemon at {socket_path} closed the connection without a reply")
    try:
        response = json.loads(reply)
    except (ValueError, UnicodeDecodeError):
        raise ControlError(f"invalid reply from daemon: {reply[:200]!r}") from None
    if not isinstance(response, dict) or "ok" not in response:
        raise ControlError(f"invalid reply from daemon: {reply[:200]!r}")
    if response["ok"] is not True:
        raise DaemonError(str(response.get("error") or "request failed (no reason given)"), response)
    return response


def _read_line(sock: socket.socket) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_LINE:
            raise ControlError(f"reply longer than {MAX_LINE} bytes")
    return b"".join(chunks)


# --------------------------------------------------------------------------- socket path


def resolve_socket(args_socket: str | None, args_config: str | None,
                   env: Mapping[str, str] = os.environ) -> str:
    """Pick the control socket: --socket, then --config's control.socket, then
    ``RTAID_CONTROL_SOCKET``, then the config file rtaid would read, then the default.

    Raises
    ------
    ControlError
        If ``--config`` names a file that cannot be read or parsed.
    """
    if args_socket:
        return args_socket
    if args_config:
        found = _socket_from_file(args_config, strict=True)
        return found or DEFAULT_SOCKET
    if env.get(ENV_CONTROL_SOCKET):
        return env[ENV_CONTROL_SOCKET]
    implicit = next((env[v] for v in ENV_CONFIG if env.get(v)), DEFAULT_CONFIG_PATH)
    # The daemon's file is often readable only by the rtaid user: then use the default.
    return _socket_from_file(implicit, strict=False) or DEFAULT_SOCKET


def _socket_from_file(path: str, strict: bool) -> str | None:
    # Only control.socket is needed: no full validation (that would also require access
    # to the daemon's credentials file).
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        if strict:
            raise ControlError(f"cannot read config {path}: {exc}") from None
        return None
    control = data.get("control")
    value = control.get("socket") if isinstance(control, dict) else None
    if value is not None and not (isinstance(value, str) and value):
        if strict:
            raise ControlError(f"{path}: control.socket must be a non-empty string")
        return None
    return value


# --------------------------------------------------------------------------- output


def format_response(cmd: str, response: Mapping[str, Any]) -> str:
    """Render a response for people."""
    body = {k: v for k, v in response.items() if k != "ok"}
    if cmd == "book" and isinstance(body.get("bids"), list) and isinstance(body.get("asks"), list):
        return _format_book(body)
    if cmd == "status" and isinstance(body.get("symbols"), dict):
        return _format_status(body)
    if cmd in ("flatten", "pause", "resume"):
        message = body.pop("message", None)
        head = f"{cmd}: ok" + (f": {message}" if message else "")
        rest = _format_mapping(body)
        return head + ("\n" + rest if rest else "")
    return _format_mapping(body) or "ok"


def _format_mapping(data: Mapping[str, Any], indent: int = 0) -> str:
    lines = []
    pad = "  " * indent
    for k, v in data.items():
        if isinstance(v, Mapping):
            lines.append(f"{pad}{k}:")
            inner = _format_mapping(v, indent + 1)
            if inner:
                lines.append(inner)
        else:
            lines.append(f"{pad}{k}: {_scalar(v)}")
    return "\n".join(lines)


def _scalar(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(_scalar(x) for x in v)
    return str(v)


def _num(v: Any, fmt: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        return format(v, fmt) if fmt else str(v)
    return str(v)


def _format_status(body: Mapping[str, Any]) -> str:
    """``rtaidctl status``: the state line, a row per symbol, feed, latency, storage."""
    lines = [f"rtaid {body.get('version', '?')}  state {body.get('state', '?')}  "
             f"up {_num(body.get('uptime_s'), '.0f')} s  "
             f"{'healthy' if body.get('healthy') else 'NOT HEALTHY'}"]
    lines.append(f"{'symbol':10} {'book':9} {'bid':>12} {'ask':>12} {'lag ms':>8} "
                 f"{'age ms':>7} {'target':>6} {'position':>10} {'pnl':>10}")
    for sym, s in body["symbols"].items():
        s = s if isinstance(s, Mapping) else {}
        pnl = s.get("pnl")
        total = None
        if isinstance(pnl, Mapping):
            parts = [v for k, v in pnl.items() if isinstance(v, (int, float)) and k != "fees"]
            fees = pnl.get("fees") if isinstance(pnl.get("fees"), (int, float)) else 0.0
            total = sum(parts) - fees if parts else None
        lines.append(f"{sym:10} {_num(s.get('state') or ('synced' if s.get('synced') else 'unsynced')):9} "
                     f"{_num(s.get('bid')):>12} {_num(s.get('ask')):>12} "
                     f"{_num(s.get('lag_ms'), '.1f'):>8} {_num(s.get('last_event_age_ms')):>7} "
                     f"{_num(s.get('target')):>6} {_num(s.get('position')):>10} "
                     f"{_num(total, '.2f'):>10}")
    feed = body.get("feed")
    if isinstance(feed, Mapping):
        conns = feed.get("connections")
        up = (f"{sum(1 for v in conns.values() if v)}/{len(conns)} up"
              if isinstance(conns, Mapping) else _num(conns))
        lines.append(f"feed: connections {up}, frames {_num(feed.get('frames'))}, reconnects "
                     f"{_num(feed.get('reconnects'))}, resyncs {_num(feed.get('resyncs'))}, "
                     f"gaps {_num(feed.get('gaps'))}, handovers {_num(feed.get('handovers'))}")
    latency = body.get("latency_us")
    if isinstance(latency, Mapping) and latency:
        lines.append("latency (us):       p50       p99     p99.9       count")
        for stage, v in latency.items():
            if isinstance(v, Mapping):
                lines.append(f"  {stage:16} {_num(v.get('p50')):>9} {_num(v.get('p99')):>9} "
                             f"{_num(v.get('p999')):>9} {_num(v.get('count')):>11}")
    if body.get("cpu_dma_latency_us") is not None:
        lines.append(f"cpu wake-up latency limit held: {_num(body['cpu_dma_latency_us'])} us "
                     f"(daemon.cpu_dma_latency_us)")
    storage = body.get("storage")
    if isinstance(storage, Mapping):
        lines.append(f"storage: rows written {_num(storage.get('rows_written'))}, dropped "
                     f"{_num(storage.get('rows_dropped'))}, bytes "
                     f"{_num(storage.get('bytes_written'))}, write errors "
                     f"{_num(storage.get('write_errors'))}")
    orders = body.get("orders")
    if isinstance(orders, Mapping):
        rejected = orders.get("rejected")
        rej = (", ".join(f"{k} {v}" for k, v in rejected.items()) or "0"
               if isinstance(rejected, Mapping) else _num(rejected))
        lines.append(f"orders: sent {_num(orders.get('sent'))}, filled "
                     f"{_num(orders.get('filled'))}, rejected {rej}")
    return "\n".join(lines)


def degraded(body: Mapping[str, Any]) -> list[str]:
    """Why a status answer is not healthy (exit 1): rtaid/status.py decides the same."""
    out = []
    symbols = body.get("symbols")
    for sym, s in (symbols.items() if isinstance(symbols, Mapping) else ()):
        if isinstance(s, Mapping) and s.get("state") == "dropped":
            out.append(f"{sym} dropped (delisted)")
        elif isinstance(s, Mapping) and not s.get("synced"):
            out.append(f"{sym} book unsynced")
    if body.get("healthy") is False:
        out.append("feed unhealthy (stale or disconnected)")
    if body.get("state") == "halted":
        out.append("trading halted")
    storage = body.get("storage")
    if isinstance(storage, Mapping) and storage.get("rows_dropped"):
        out.append(f"{storage['rows_dropped']} records dropped")
    return out


def _format_book(body: Mapping[str, Any]) -> str:
    bids, asks = body["bids"], body["asks"]
    head = " ".join(
        f"{k}={_scalar(body[k])}" for k in body if k not in ("bids", "asks")
    )
    rows = [head, f"{'bid qty':>14} {'bid':>14} | {'ask':<14} {'ask qty':<14}"]
    for i in range(max(len(bids), len(asks))):
        bp, bq = _level(bids, i)
        ap, aq = _level(asks, i)
        rows.append(f"{bq:>14} {bp:>14} | {ap:<14} {aq:<14}".rstrip())
    return "\n".join(rows)


def _level(side: list, i: int) -> tuple[str, str]:
    if i < len(side) and isinstance(side[i], (list, tuple)) and len(side[i]) >= 2:
        return str(side[i][0]), str(side[i][1])
    return "", ""


# --------------------------------------------------------------------------- command


def build_parser() -> argparse.ArgumentParser:
    """Return the ``rtaidctl`` argument parser (options before or after the command:
    ``rtaidctl --json status`` and ``rtaidctl status --json`` are the same)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", metavar="PATH", default=argparse.SUPPRESS,
                        help=f"control socket (default: $RTAID_CONTROL_SOCKET, the config's "
                             f"control.socket, else {DEFAULT_SOCKET})")
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="read control.socket from this file")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print the raw JSON response")
    common.add_argument("--timeout", type=float, metavar="S", default=argparse.SUPPRESS,
                        help="seconds to wait for the daemon (default 5; flatten: 60)")
    parser = argparse.ArgumentParser(
        prog="rtaidctl", parents=[common],
        description="Control a running rtaid over its unix socket. Exit status: 0 ok, 1 "
                    "degraded or refused, 2 usage, 3 no daemon reachable.")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    sub.add_parser("status", parents=[common],
                   help="daemon and per-symbol state (exit 1: degraded)")
    flatten = sub.add_parser("flatten", parents=[common],
                             help="cancel every order, close the positions (all, or one "
                                  "symbol) and halt trading")
    flatten.add_argument("symbol", nargs="?", metavar="SYMBOL")
    flatten.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_parser("pause", parents=[common],
                   help="stop opening positions (only orders that reduce one)")
    sub.add_parser("resume", parents=[common],
                   help="trade again after a pause, a halt or a flatten")
    sub.add_parser("reload", parents=[common],
                   help="re-read the config and apply the live keys (as SIGHUP)")
    book = sub.add_parser("book", parents=[common], help="show the local order book of a symbol")
    book.add_argument("symbol", metavar="SYMBOL")
    book.add_argument("--depth", type=_positive_int, default=10, metavar="N",
                      help="levels per side (default 10)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def build_request(args: argparse.Namespace) -> dict:
    """Turn parsed arguments into the request object."""
    if args.cmd == "flatten":
        return {"cmd": "flatten", "symbol": args.symbol.upper() if args.symbol else None}
    if args.cmd == "book":
        return {"cmd": "book", "symbol": args.symbol.upper(), "depth": args.depth}
    return {"cmd": args.cmd}


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    """Run ``rtaidctl`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    for name, default in (("socket", None), ("config", None), ("json", False), ("timeout", 5.0)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.timeout <= 0:
        print("rtaidctl: --timeout must be > 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        path = resolve_socket(args.socket, args.config, env)
    except ControlError as exc:
        print(f"rtaidctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.cmd == "flatten" and not args.yes:
        what = args.symbol.upper() if args.symbol else "every symbol"
        if not sys.stdin.isatty():
            print(f"rtaidctl: flatten {what}: confirm with --yes (no terminal to ask on)",
                  file=sys.stderr)
            return EXIT_USAGE
        answer = input(f"Cancel every order and close the position of {what}, then halt "
                       f"trading? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("rtaidctl: flatten cancelled", file=sys.stderr)
            return EXIT_FAILURE
    # flatten waits at the venue until it is flat: give it the time it needs
    timeout = max(args.timeout, 60.0) if args.cmd == "flatten" else args.timeout
    try:
        response = request(path, build_request(args), timeout=timeout)
    except DaemonError as exc:
        if args.json:
            print(json.dumps(exc.response))
        print(f"rtaidctl: {args.cmd} failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Unreachable as exc:
        print(f"rtaidctl: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ControlError as exc:
        print(f"rtaidctl: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(response, sort_keys=False))
    else:
        print(format_response(args.cmd, response))
    if args.cmd == "status":
        reasons = degraded(response)
        if reasons:
            print("rtaidctl: degraded: " + "; ".join(reasons), file=sys.stderr)
            return EXIT_FAILURE
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
