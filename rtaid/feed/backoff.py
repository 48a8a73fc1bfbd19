"""Reconnect and retry delays: exponential with full jitter, capped."""
from __future__ import annotations

import random


def backoff_delay(attempt: int, min_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (0 = the first retry).

    The first retry waits between min_s/2 and min_s, so a dropped connection comes
    back well under a second; later ones double up to max_s. Jitter keeps many
    instances (rtaid@ shards) from reconnecting in lockstep.
    """
    rng = rng or random
    ceiling = min(max_s, min_s * (2 ** min(attempt, 30)))
    return rng.uniform(ceiling / 2, ceiling)
