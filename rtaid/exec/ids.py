"""Client order ids: unique across restarts, recognisable as ours, Binance-valid.

``rt-<epoch>-<symbol index>-<counter>`` (base 36), at most 36 characters of
``[.A-Z:/a-z0-9_-]``. The epoch is the process's start time (ms) for a live venue: a
restart starts later, so its ids cannot repeat an earlier run's, and a retried order
keeps its id (the venue refuses a duplicate of an open order). The paper venue takes
as a symbol's epoch the exchange time of the first event it handles for it, so that a
replay of the same stream names its orders exactly as the live run did; counters are
per symbol for the same reason (a replay runs the recorded symbols one after another).
"""
from __future__ import annotations

import re

PREFIX = "rt-"
VALID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int) -> str:
    if n < 0:
        raise ValueError("base36 of a negative number")
    out = []
    while True:
        n, r = divmod(n, 36)
        out.append(_DIGITS[r])
        if n == 0:
            return "".join(reversed(out))


def is_ours(client_id: str) -> bool:
    """An id this program made (any run)."""
    return client_id.startswith(PREFIX)


class ClientIds:
    """Allocate client order ids.

    Parameters
    ----------
    epoch_ms : int or None
        The start time shared by every symbol (live venues); None: each symbol's epoch
        is the ``now_ms`` of its first id (the paper venue, on exchange time).
    """

    def __init__(self, epoch_ms: int | None = None) -> None:
        self.epoch_ms = epoch_ms
        self._epochs: dict[int, str] = {}
        self._counters: dict[int, int] = {}

    def next(self, sym: int, now_ms: int) -> str:
        """A new id for an order of symbol index ``sym`` decided at ``now_ms``."""
        cid = self.peek(sym, now_ms)
        self._counters[sym] = self._counters.get(sym, 0) + 1
        return cid

    def peek(self, sym: int, now_ms: int) -> str:
        """The id :meth:`next` gives next (nothing consumed)."""
        head = self._epochs.get(sym)
        if head is None:
            epoch = self.epoch_ms if self.epoch_ms is not None else max(now_ms, 0)
            head = self._epochs[sym] = f"{PREFIX}{base36(epoch)}-{base36(sym)}-"
            # base 36 digits and dashes: valid; at most 3 + 9 + 2 + 2 + 8 characters
            if not VALID.match(head + "0"):
                raise ValueError(f"client id {head!r}... is not valid for Binance")
        return head + base36(self._counters.get(sym, 0) + 1)
