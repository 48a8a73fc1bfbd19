"""Logging: structlog JSON lines on stdout, one schema for our logs and libraries'.

Every line is one ASCII-only JSON object with ``timestamp`` (ISO 8601, UTC), ``level``,
``logger`` and ``event``. Records from the standard :mod:`logging` module (asyncio,
aiohttp, ccxt) are rendered the same way, so journald and log shippers see one format.

Values that are :class:`~rtaid.infra.secrets.Secret`, and values of keys that name
credentials (``api_key``, ``api_secret``, ``signature``, ...), are written as ``***``.

The hot path logs only rare events, through :class:`RateLimitedLog`, so that a burst of
bad frames yields one line per interval with a count instead of a flood.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Callable, TextIO

import structlog

from rtaid.infra.secrets import REDACTED, Secret

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
# Keys whose values are credentials whatever their type.
SECRET_KEYS = frozenset(
    {"api_key", "api_secret", "secret", "password", "signature", "listen_key", "listenkey", "token"}
)

_METHOD_LEVELS = {
    "debug": 10, "info": 20, "msg": 20, "warning": 30, "warn": 30,
    "error": 40, "exception": 40, "critical": 50, "fatal": 50,
}
_handler: logging.Handler | None = None
_root_level_before: int | None = None
_min_level = LEVELS["INFO"]


def _filter_level(logger: Any, method: str, event: dict) -> dict:
    # A processor rather than structlog's filtering wrapper: bound loggers made before a
    # SIGHUP then follow the new level too.
    if _METHOD_LEVELS.get(method, 20) < _min_level:
        raise structlog.DropEvent
    return event


def redact_secrets(logger: Any, method: str, event: dict) -> dict:
    """structlog processor: replace credentials in an event dict by ``***``.

    Nested dicts and lists are searched too (a logged request or config section).
    """
    return _redact(event)


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, Secret) or (key.lower() in SECRET_KEYS and value is not None):
        return REDACTED
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(v) for v in value]
    return value


def _json_dumps(obj: Any, **kw: Any) -> str:
    # ensure_ascii: log lines stay 7-bit whatever a symbol or an exchange message holds.
    kw["ensure_ascii"] = True
    kw.setdefault("default", repr)
    return json.dumps(obj, **kw)


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]


def foreign_event(logger: Any, method: str, event: dict) -> dict:
    """Processor for records of the logging module (libraries): a stable ``event``, the
    library's name (the first part of the logger's: ``picows``, ``asyncio``, ``aiohttp``,
    ``ccxt``; the whole name stays in ``logger``), and their text in ``message``, so that
    ``jq 'select(.event == "picows")'`` works on every line."""
    name = event.get("logger") or "logging"
    event["message"] = event.get("event")
    event["event"] = name.split(".", 1)[0]
    return event


def _renderer(fmt: str):
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer(serializer=_json_dumps)


def setup_logging(level: str = "INFO", fmt: str = "json", stream: TextIO | str | None = None) -> None:
    """Configure structlog and the standard logging module.

    Calling it again (e.g. on SIGHUP with a new ``log.level``) replaces the previous
    configuration; loggers obtained before keep working and follow the new level.

    Parameters
    ----------
    level : str
        DEBUG, INFO, WARNING, ERROR or CRITICAL (case-insensitive).
    fmt : str
        ``"json"`` (default) or ``"console"`` (human-readable, for development).
    stream : file-like, "stderr" or None
        Where to write; default ``sys.stdout`` at the time of each write ("stderr":
        ``sys.stderr`` at the time of each write).
    """
    global _handler, _min_level, _root_level_before
    levelno = LEVELS.get(level.upper())
    if levelno is None:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    _min_level = levelno
    shared = _shared_processors()
    structlog.configure(
        processors=[
            _filter_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            _renderer(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=_StreamLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    else:
        _root_level_before = root.level
    _handler = logging.StreamHandler(_StdoutProxy(stream))
    _handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _renderer(fmt),
            ],
            foreign_pre_chain=[
                *shared, structlog.stdlib.add_logger_name, foreign_event,
                structlog.processors.format_exc_info,
            ],
        )
    )
    root.addHandler(_handler)
    root.setLevel(levelno)


def reset_logging() -> None:
    """Undo :func:`setup_logging` (structlog defaults, our stdlib handler removed)."""
    global _handler, _min_level
    structlog.reset_defaults()
    if _handler is not None:
        root = logging.getLogger()
        root.removeHandler(_handler)
        root.setLevel(_root_level_before if _root_level_before is not None else logging.WARNING)
        _handler = None
    _min_level = LEVELS["INFO"]


class _StdoutProxy:
    """Writes to the given stream, or to whatever sys.stdout (sys.stderr for "stderr")
    is at write time."""

    def __init__(self, stream: TextIO | str | None) -> None:
        self._stream = stream

    def _target(self) -> TextIO:
        if self._stream is None:
            return sys.stdout
        if self._stream == "stderr":
            return sys.stderr
        return self._stream

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()


class _StreamLoggerFactory:
    def __init__(self, stream: TextIO | str | None) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> structlog.PrintLogger:
        return structlog.PrintLogger(_StdoutProxy(self._stream))


def get_logger(name: str | None = None, **bound: Any):
    """Return a structlog logger, with ``logger=name`` and ``bound`` in every line."""
    if name is not None:
        bound["logger"] = name
    return _LazyLogger(bound)


class _LazyLogger:
    """Binds on first use: module-level loggers are created at import, before
    setup_logging, and binding then would freeze structlog's default (console)
    configuration into them."""

    __slots__ = ("_bound", "_logger")

    def __init__(self, bound: dict):
        self._bound = bound
        self._logger = None

    def __getattr__(self, name: str):
        if self._logger is None:
            self._logger = structlog.get_logger().bind(**self._bound)
        return getattr(self._logger, name)


class RateLimitedLog:
    """Log at most once per interval per key; count what was held back.

    For the hot path's rare-but-burstable events (bad frames, resyncs, rejects): the
    first event of a key is logged at once; further events of that key within
    ``interval_s`` are only counted, and the next line logged for the key carries
    ``suppressed=N``. Keys should come from a bounded set (e.g. ``("gap", symbol)``):
    each distinct key is remembered for the life of the object.

    Parameters
    ----------
    logger : structlog logger
        Where lines go.
    interval_s : float
        Minimum seconds between two lines of the same key.
    clock : callable
        Monotonic time source in seconds (injectable for tests).
    """

    def __init__(self, logger: Any, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if interval_s < 0:
            raise ValueError("interval_s must be >= 0")
        self._logger = logger
        self._interval = interval_s
        self._clock = clock
        self._last: dict[Any, float] = {}
        self._suppressed: dict[Any, int] = {}

    def log(self, key: Any, event: str, level: str = "warning", **fields: Any) -> bool:
        """Log ``event`` under ``key`` unless the key logged less than an interval ago.

        Returns
        -------
        bool
            True if a line was written, False if the event was counted as suppressed.
        """
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            fields["suppressed"] = suppressed
        getattr(self._logger, level)(event, key=_key_text(key), **fields)
        return True

    def warning(self, key: Any, event: str, **fields: Any) -> bool:
        """Shortcut for ``log(key, event, "warning", ...)``."""
        return self.log(key, event, "warning", **fields)

    def error(self, key: Any, event: str, **fields: Any) -> bool:
        """Shortcut for ``log(key, event, "error", ...)``."""
        return self.log(key, event, "error", **fields)

    def suppressed(self, key: Any) -> int:
        """Number of events of ``key`` held back since its last line."""
        return self._suppressed.get(key, 0)

    def flush(self, event: str = "suppressed_events", level: str = "warning") -> None:
        """Log one line per key with events still held back (e.g. at shutdown)."""
        for key, count in sorted(self._suppressed.items(), key=lambda kv: str(kv[0])):
            getattr(self._logger, level)(event, key=_key_text(key), suppressed=count)
        self._suppressed.clear()


def _key_text(key: Any) -> Any:
    return key if isinstance(key, (str, int)) else str(key)
