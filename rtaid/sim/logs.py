"""Loggers for the sim that follow ``rtaid.infra.log.setup_logging`` whenever it is called."""
from __future__ import annotations

from typing import Any

import structlog


class LazyLogger:
    """Binds ``structlog.get_logger().bind(logger=name)`` at each call.

    Module-level loggers exist before the CLI configures logging (``rtaid.infra.log``); binding
    late makes them use the configured renderer and carry ``logger=name``, the field
    rtaid's log schema expects. The sim logs only rare events, so the per-call bind
    costs nothing that matters.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, method: str) -> Any:
        return getattr(structlog.get_logger().bind(logger=self.name), method)
