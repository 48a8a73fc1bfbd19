"""Reference mean-reversion strategy (indicators.md section 9) and the `none` strategy.

The strategy is evaluated once after every indicators row of its symbol (any event
type), on the values of that row; at most one transition per row (Decision (S1)).

Decisions:
* (S2) "ofi_osc" is ``ofi_norm_osc``; "vpin_osc" is ``vpin_osc``; "dev_osc" is
  ``dev_bps_osc``.  A NaN oscillator makes its comparison false (no entry; no
  dev-based exit).
* (S3) held = row T - entry row T (exchange ms); exit when held > max_hold_ms (strict).
* (S4) loss in bps against the mid at entry: long 1e4 * (entry_mid - M) / entry_mid,
  short 1e4 * (M - entry_mid) / entry_mid, M = current L1 mid; exit when loss > stop_bps.
* (S5) exit reason priority when several hold: exit_mid, then max_hold, then stop_loss
  (the order of the table).
* (S6) cooldown: after an exit at T_x, no entry on rows with T < T_x + cooldown_ms.
* (S7) "book synced" = the symbol's L2 book (RefBook) is synced at the row (a symbol
  without a depth stream therefore never enters).  "last event older than stale_ms" =
  row T - T of the last applied L1 update > stale_ms (exchange time only; no L1 state
  at all also blocks entries).  Unsynced/stale block ENTRIES only; exits still happen.
* (S8) signals are emitted only when the target changes.
* (S10) hybrid: mean reversion whose ENTRIES need the model to agree: a long when
  p_up >= strategy.model_threshold, a short when 1 - p_up >= it; exits as the rules say.
  p_up is set from outside (the model at each bar close) with the exchange time from
  which it applies; the first row at or after that time takes it. NaN p (no model value
  yet, or a failed model) allows no entry. Signals carry the p in effect (``model_p``;
  NaN for the other strategies).
"""
from __future__ import annotations

import math

NAN = float("nan")
SIGNAL_COLUMNS = ["symbol", "ts_ms", "seq", "prev_target", "target", "target_qty", "reason",
                  "mid", "dev_osc", "ofi_osc", "vpin_osc", "model_p"]


class NoStrategy:
    """strategy.name = none: never trades."""

    target = 0

    def on_row(self, row, mid, l1_T, book_synced):
        return None


class MeanReversion:
    def __init__(self, entry_low=10.0, entry_high=90.0, exit_mid=50.0, toxic_max=80.0,
                 max_hold_ms=120_000, stop_bps=15.0, cooldown_ms=30_000, stale_ms=1000,
                 order_qty=0.001):
        self.entry_low = entry_low
        self.entry_high = entry_high
        self.exit_mid = exit_mid
        self.toxic_max = toxic_max
        self.max_hold_ms = max_hold_ms
        self.stop_bps = stop_bps
        self.cooldown_ms = cooldown_ms
        self.stale_ms = stale_ms
        self.order_qty = order_qty
        self.target = 0
        self.entry_T = None
        self.entry_mid = None
        self.exit_T = None
        self.model_p = NAN

    def allows(self, side: int) -> bool:
        """Whether an entry on ``side`` is allowed beyond the rules (hybrid: the model)."""
        return True

    def _signal(self, row, new, reason, mid):
        sig = {
            "symbol": row["symbol"], "ts_ms": row["ts_ms"], "seq": row["seq"],
            "prev_target": self.target, "target": new, "target_qty": new * self.order_qty,
            "reason": reason, "mid": mid, "dev_osc": row["dev_bps_osc"],
            "ofi_osc": row["ofi_norm_osc"], "vpin_osc": row["vpin_osc"],
            "model_p": self.model_p,
        }
        self.target = new
        return sig

    def on_row(self, row, mid, l1_T, book_synced):
        T = row["ts_ms"]
        dev = row["dev_bps_osc"]
        ofi = row["ofi_norm_osc"]
        vpin = row["vpin_osc"]
        if self.target == 0:
            if self.exit_T is not None and T < self.exit_T + self.cooldown_ms:
                return None
            if not book_synced or l1_T is None or T - l1_T > self.stale_ms or math.isnan(mid):
                return None
            if dev <= self.entry_low and ofi >= 50.0 and vpin <= self.toxic_max \
                    and self.allows(1):
                new, reason = 1, "entry_long"
            elif dev >= self.entry_high and ofi <= 50.0 and vpin <= self.toxic_max \
                    and self.allows(-1):
                new, reason = -1, "entry_short"
            else:
                return None
            self.entry_T = T
            self.entry_mid = mid
            return self._signal(row, new, reason, mid)
        if self.target == 1:
            loss = 1e4 * (self.entry_mid - mid) / self.entry_mid
            dev_exit = dev >= self.exit_mid
        else:
            loss = 1e4 * (mid - self.entry_mid) / self.entry_mid
            dev_exit = dev <= self.exit_mid
        if dev_exit:
            reason = "exit_mid"
        elif T - self.entry_T > self.max_hold_ms:
            reason = "max_hold"
        elif loss > self.stop_bps:
            reason = "stop_loss"
        else:
            return None
        self.exit_T = T
        return self._signal(row, 0, reason, mid)


class Hybrid(MeanReversion):
    """strategy.name = hybrid (Decision (S10))."""

    def __init__(self, *args, model_threshold=0.55):
        super().__init__(*args)
        self.model_threshold = model_threshold
        self.pending = None              # (p, from_ms)

    def set_model_p(self, p: float, from_ms: int) -> None:
        self.pending = (p, from_ms)

    def allows(self, side: int) -> bool:
        p = self.model_p
        if math.isnan(p):
            return False
        return p >= self.model_threshold if side > 0 else 1.0 - p >= self.model_threshold

    def on_row(self, row, mid, l1_T, book_synced):
        if self.pending is not None and row["ts_ms"] >= self.pending[1]:
            self.model_p = self.pending[0]
            self.pending = None
        return super().on_row(row, mid, l1_T, book_synced)


def make_strategy(p):
    if p.strategy_name == "none":
        return NoStrategy()
    if p.strategy_name not in ("mean_reversion", "hybrid"):
        raise ValueError(f"unknown strategy {p.strategy_name!r}")
    args = (p.strategy_entry_low, p.strategy_entry_high, p.strategy_exit_mid,
            p.strategy_toxic_max, p.strategy_max_hold_ms, p.strategy_stop_bps,
            p.strategy_cooldown_ms, p.strategy_stale_ms, p.strategy_order_qty)
    if p.strategy_name == "hybrid":
        return Hybrid(*args, model_threshold=p.strategy_model_threshold)
    return MeanReversion(*args)
