"""Helpers the store tests share (fixtures are in conftest.py)."""
import string

import numpy as np

from rtaid.store.tables import TABLES

BBO = TABLES["bbo"]
DAY_MS = 86_400_000
T0 = 19_943 * DAY_MS  # 2024-08-08 00:00 UTC


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def push_bbo(rings, start_u, n, E=T0 + 1000, sym=0):
    rec = np.zeros(n, dtype=BBO.dtype)
    rec["u"] = np.arange(start_u, start_u + n)
    rec["E"] = E
    rec["T"] = E
    rec["recv_ns"] = E * 1_000_000
    rec["bid_px"] = 6180020
    rec["bid_qty"] = 2507
    rec["ask_px"] = 6180030
    rec["ask_qty"] = 2510
    rec["sym"] = sym
    for r in rec:
        assert rings.push("bbo", r.tobytes())


def random_records(table, n, rng):
    """``n`` records of ``table`` with random values in every field (enum codes and
    bools valid, 5 % NaN in float fields)."""
    rec = np.zeros(n, dtype=table.dtype)
    for name in table.dtype.names:
        base = table.dtype[name]
        if name in table.bools:
            rec[name] = rng.integers(0, 2, n)
        elif name in table.enums:
            rec[name] = rng.integers(0, len(table.enums[name]), n)
        elif base.kind == "S":
            letters = np.array(list(string.ascii_letters.encode()), dtype=np.uint8)
            rec[name] = [bytes(rng.choice(letters, rng.integers(0, base.itemsize + 1)))
                         for _ in range(n)]
        elif base.kind == "f":
            values = rng.normal(0, 1e3, n)
            values[rng.random(n) < 0.05] = np.nan
            rec[name] = values
        elif base.kind in "iu":
            info = np.iinfo(base)
            rec[name] = rng.integers(max(info.min, -(1 << 40)), min(info.max, 1 << 40), n,
                                     dtype=np.int64).astype(base)
    return rec
