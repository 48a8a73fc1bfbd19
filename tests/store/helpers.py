"""Helpers the store tests share (fixtures are in conftest.py)."""
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
