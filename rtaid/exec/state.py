"""The trading state: ``active``, ``reducing`` (only orders that shrink a position) or
``halted`` (no order but the closing ones of a flatten), kept in a file so that a halt
survives a restart until ``rtaidctl resume``.

The file (JSON, written atomically and fsynced) also keeps the day's realised PnL, so
that ``risk.max_daily_loss_usd`` counts the whole UTC day across restarts.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

ACTIVE, REDUCING, HALTED = "active", "reducing", "halted"
STATES = (ACTIVE, REDUCING, HALTED)


class StateFileError(Exception):
    """The state file cannot be read or written; ``str()`` names it."""


@dataclass
class TradingState:
    """The state and why; ``flatten``: the symbols a flatten keeps flat while halted.

    Parameters
    ----------
    path : str or None
        The state file; None keeps the state in memory only (a replay).
    """

    path: str | None = None
    state: str = ACTIVE
    reason: str = ""
    since_ms: int = 0
    flatten: set = field(default_factory=set)
    day: str = ""
    day_realized: float = 0.0

    @classmethod
    def load(cls, path: str | None) -> "TradingState":
        """The state kept in ``path`` (active when the file does not exist yet).

        Raises
        ------
        StateFileError
            The file exists and is not a state file, or the directory cannot take one.
        """
        st = cls(path)
        if path is None:
            return st
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            st.save()    # proves at start that the file can be written
            return st
        except (OSError, ValueError) as exc:
            raise StateFileError(f"execution.state_file {path}: cannot read it ({exc})") from None
        if not isinstance(data, dict) or data.get("state") not in STATES:
            raise StateFileError(f"execution.state_file {path}: not a trading state file "
                                 f"(expected a JSON object with state {'/'.join(STATES)})")
        st.state = data["state"]
        st.reason = str(data.get("reason", ""))
        st.since_ms = int(data.get("since_ms", 0))
        st.flatten = set(data.get("flatten", ()))
        st.day = str(data.get("day", ""))
        st.day_realized = float(data.get("day_realized", 0.0))
        return st

    # ------------------------------------------------------------------ changes
    def halt(self, reason: str, flatten=()) -> None:
        """Halt (again): no new orders; ``flatten`` symbols are closed and kept flat."""
        self.flatten |= set(flatten)
        if self.state != HALTED or self.reason != reason:
            self.state, self.reason, self.since_ms = HALTED, reason, _now_ms()
        self.save()

    def pause(self) -> str | None:
        """Reducing only; returns why not (None: done)."""
        if self.state == HALTED:
            return f"trading is halted ({self.reason}): resume first"
        if self.state != REDUCING:
            self.state, self.reason, self.since_ms = REDUCING, "paused", _now_ms()
            self.save()
        return None

    def resume(self) -> None:
        """Active again; a flatten's symbols are no longer kept flat."""
        self.state, self.reason, self.since_ms = ACTIVE, "", _now_ms()
        self.flatten.clear()
        self.save()

    def note_day(self, day: str, realized: float) -> None:
        """The day's realised PnL net of fees (kept for a restart the same day)."""
        if day != self.day or realized != self.day_realized:
            self.day, self.day_realized = day, realized
            self.save()

    # ------------------------------------------------------------------ file
    def save(self) -> None:
        if self.path is None:
            return
        data = {"state": self.state, "reason": self.reason, "since_ms": self.since_ms,
                "flatten": sorted(self.flatten), "day": self.day,
                "day_realized": self.day_realized}
        tmp = self.path + ".tmp"
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StateFileError(f"execution.state_file {self.path}: cannot write it "
                                 f"({exc.strerror or exc})") from None

    def as_dict(self) -> dict:
        return {"state": self.state, "reason": self.reason, "since_ms": self.since_ms,
                "flatten": sorted(self.flatten)}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
