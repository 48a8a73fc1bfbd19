"""``rtaidctl``: talk to a running rtaid over its unix control socket.

Protocol (the daemon's control socket server speaks the same; it is not implemented yet)
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

Responses::

    {"ok": true, ...command-specific fields...}
    {"ok": false, "error": "human-readable reason"}

Command-specific fields the server should provide (rtaidctl prints any it gets):

- status: ``state``, ``paused``, ``uptime_s``, ``version``, and ``symbols``:
  ``{"BTCUSDT": {"synced": true, "position": 0.0, "target": 0, "age_ms": 12}}``
- book: ``symbol``, ``synced``, ``u``, ``bids`` and ``asks`` as ``[[price, qty], ...]``
  (decimal strings), best first
- flatten / pause / resume: optional ``message``

Exit codes: 0 ok; 1 no daemon, timeout, bad reply or ``"ok": false``; 2 usage.
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
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class ControlError(Exception):
    """The daemon could not be reached, or its reply was unusable."""


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
            raise ControlError(f"no daemon at {socket_path} (is rtaid running?)") from None
        except ConnectionRefusedError:
            raise ControlError(
                f"no daemon listening at {socket_path} (stale socket; is rtaid running?)"
            ) from None
        except PermissionError:
            raise ControlError(
                f"permission denied on {socket_path} (are you in rtaid's group?)"
            ) from None
        except socket.timeout:
            raise ControlError(f"timed out connecting to {socket_path}") from None
        except OSError as exc:
            raise ControlError(f"cannot connect to {socket_path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(line)
            reply = _read_line(sock)
        except socket.timeout:
            raise ControlError(
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
    """Return the ``rtaidctl`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="rtaidctl", description="Control a running rtaid over its unix socket."
    )
    parser.add_argument("--socket", metavar="PATH",
                        help=f"control socket (default: $RTAID_CONTROL_SOCKET, the config's "
                             f"control.socket, else {DEFAULT_SOCKET})")
    parser.add_argument("--config", metavar="PATH", help="read control.socket from this file")
    parser.add_argument("--json", action="store_true", help="print the raw JSON response")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds to wait for the daemon (default 5)")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND", required=True)
    sub.add_parser("status", help="daemon and per-symbol state")
    flatten = sub.add_parser("flatten", help="close positions (all, or one symbol) and pause")
    flatten.add_argument("symbol", nargs="?", metavar="SYMBOL")
    sub.add_parser("pause", help="stop opening positions")
    sub.add_parser("resume", help="allow opening positions again")
    book = sub.add_parser("book", help="show the local order book of a symbol")
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
    if args.timeout <= 0:
        print("rtaidctl: --timeout must be > 0", file=sys.stderr)
        return EXIT_USAGE
    try:
        path = resolve_socket(args.socket, args.config, env)
    except ControlError as exc:
        print(f"rtaidctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        response = request(path, build_request(args), timeout=args.timeout)
    except DaemonError as exc:
        if args.json:
            print(json.dumps(exc.response))
        print(f"rtaidctl: {args.cmd} failed: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except ControlError as exc:
        print(f"rtaidctl: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(response, sort_keys=False))
    else:
        print(format_response(args.cmd, response))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
