"""Walk-forward evaluation by time with a purge gap, and the out-of-sample metrics.

The labelled minutes (all symbols pooled) are cut into ``folds + 1`` consecutive blocks
of equal length; fold k (1..folds) tests block k with a model trained on the bars before
it whose label windows end before the block starts (purge: a training bar of minute m
needs m + horizon < the block's first minute). Nothing of a test block, nor anything
after it, is seen by its model.

Metrics on the pooled out-of-sample predictions (and per fold):

- ``auc``: ranking of P(up) against the bars whose move paid the cost (up vs down);
- ``hit_rate``: share of those bars where P(up) > 0.5 called the direction;
- ``ic``: Spearman correlation of P(up) with the forward return, every labelled bar;
- ``pnl_bps``: summed bps per unit position after the cost (``cost_bps`` a round trip):
  ``rule`` the mean-reversion strategy's own trades (from the ``signals`` table, at its
  mids), ``model`` a position for the horizon when P(up) >= threshold (long) or
  <= 1 - threshold (short), one at a time, ``hybrid`` the rule's trades that the model
  agreed with at entry (the last closed out-of-sample bar before the entry), ``flat`` 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rtaid.ai.dataset import SymbolBars
from rtaid.ai.features import MINUTE_MS

LGB_PARAMS = {
    "objective": "binary",
    # small trees, many bars per leaf: a few thousand noisy bars (calibrated on the
    # synthetic recordings, docs/ai.md)
    "learning_rate": 0.03,
    "num_leaves": 4,
    "max_depth": 2,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "verbosity": -1,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": 1,
}
NUM_ROUNDS = 150


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties averaged."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x))
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN with one class."""
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    r = _ranks(np.asarray(score, dtype=np.float64))
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return math.nan
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    ra -= ra.mean()
    rb -= rb.mean()
    den = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else math.nan


def train_booster(x: np.ndarray, y_up: np.ndarray, seed: int, feature_names):
    """A LightGBM binary booster of P(up) (``y_up`` 1/0)."""
    from rtaid.ai.model import require_lightgbm

    lgb = require_lightgbm()
    params = dict(LGB_PARAMS, seed=seed,
                  min_data_in_leaf=max(2, min(LGB_PARAMS["min_data_in_leaf"], len(y_up) // 10)))
    data = lgb.Dataset(x, label=y_up, feature_name=list(feature_names), free_raw_data=True,
                       params={"verbosity": -1, "feature_pre_filter": False})
    return lgb.train(params, data, num_boost_round=NUM_ROUNDS)


@dataclass
class Samples:
    """Every labelled bar, all symbols pooled, in (minute, symbol) order."""

    symbol: np.ndarray
    minute_ms: np.ndarray
    x: np.ndarray
    fwd_bps: np.ndarray
    label: np.ndarray            # 1 up, -1 down, 0 flat

    @classmethod
    def pool(cls, bars: list[SymbolBars], label_fn) -> "Samples":
        parts = []
        for b in bars:
            ok = np.isfinite(b.fwd_bps)
            parts.append((np.full(int(ok.sum()), b.symbol, dtype=object), b.minute_ms[ok],
                          b.features[ok], b.fwd_bps[ok]))
        sym = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, object)
        minute = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        x = np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, 0))
        fwd = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0)
        order = np.lexsort((sym.astype(str), minute))
        return cls(sym[order], minute[order], x[order], fwd[order], label_fn(fwd[order]))


@dataclass
class Fold:
    index: int
    test_from_ms: int
    test_to_ms: int              # last test minute
    train_to_ms: int | None      # last training minute (None: no training data)
    n_train: int = 0
    n_test: int = 0
    test_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def make_folds(minutes: np.ndarray, folds: int, horizon_min: int) -> list[Fold]:
    """Blocks of the labelled minutes; fold k tests block k (k >= 1)."""
    unique = np.unique(minutes)
    if len(unique) < folds + 1:
        raise ValueError(f"{len(unique)} labelled minutes cannot make {folds} folds "
                         f"(need at least {folds + 1}; record more, or use fewer --folds)")
    blocks = np.array_split(unique, folds + 1)
    out = []
    for k in range(1, folds + 1):
        start, end = int(blocks[k][0]), int(blocks[k][-1])
        purge_end = start - (horizon_min + 1) * MINUTE_MS   # train minute m: m + h < start
        train_to = int(unique[unique <= purge_end].max()) if np.any(unique <= purge_end) else None
        out.append(Fold(k, start, end, train_to))
    return out


def rule_trades(signals: dict) -> list[tuple[int, int, float, int, float]]:
    """Round trips of the strategy: ``(entry_ts, side, entry_mid, exit_ts, exit_mid)``.

    A reversal closes one trade and opens the next; a position still open at the end of
    the data is left out (its exit is unknown).
    """
    trades = []
    pos, entry_ts, entry_mid = 0, 0, 0.0
    for ts, target, mid in zip(signals["ts_ms"], signals["target"], signals["mid"]):
        target = int(np.sign(target))
        if target == pos:
            continue
        if pos != 0:
            trades.append((entry_ts, pos, entry_mid, int(ts), float(mid)))
        pos = target
        if pos != 0:
            entry_ts, entry_mid = int(ts), float(mid)
    return trades


@dataclass
class Evaluation:
    folds: list[dict]
    oos: dict
    curve: dict                     # cumulative PnL in time, for the PNG


def _metrics(p, fwd, label) -> dict:
    moved = label != 0
    up = label[moved] > 0
    return {
        "auc": auc(p[moved], up),
        "hit_rate": float(np.mean((p[moved] > 0.5) == up)) if moved.any() else math.nan,
        "ic": spearman(p, fwd),
        "n": int(len(p)),
        "n_moved": int(moved.sum()),
    }


def walk_forward(samples: Samples, signals: dict[str, dict], *, folds: int, horizon_min: int,
                 cost_bps: float, threshold: float, seed: int, feature_names) -> Evaluation:
    """Train and test each fold; pooled out-of-sample metrics and PnL."""
    fold_list = make_folds(samples.minute_ms, folds, horizon_min)
    p_oos = np.full(len(samples.minute_ms), np.nan)
    fold_of = np.zeros(len(samples.minute_ms), dtype=np.int64)
    for fold in fold_list:
        test = np.flatnonzero((samples.minute_ms >= fold.test_from_ms)
                              & (samples.minute_ms <= fold.test_to_ms))
        fold.n_test = len(test)
        fold.test_idx = test
        if fold.train_to_ms is None:
            continue
        train = np.flatnonzero((samples.minute_ms <= fold.train_to_ms) & (samples.label != 0))
        fold.n_train = len(train)
        if len(train) == 0:
            continue
        booster = train_booster(samples.x[train], (samples.label[train] > 0).astype(np.float64),
                                seed, feature_names)
        p_oos[test] = booster.predict(samples.x[test], num_threads=1)
        fold_of[test] = fold.index

    trades = {sym: rule_trades(sig) for sym, sig in signals.items()}
    out_folds = []
    totals = {"rule": [], "model": [], "hybrid": []}
    for fold in fold_list:
        idx = fold.test_idx[np.isfinite(p_oos[fold.test_idx])]
        row = {"fold": fold.index,
               "train_to": fold.train_to_ms, "test_from": fold.test_from_ms,
               "test_to": fold.test_to_ms, "n_train": fold.n_train, "n_test": fold.n_test}
        if len(idx) == 0:
            row.update(skipped="no training data before the purge gap")
            out_folds.append(row)
            continue
        row.update(_metrics(p_oos[idx], samples.fwd_bps[idx], samples.label[idx]))
        pnl = _fold_pnl(samples, idx, p_oos, trades, fold, horizon_min=horizon_min,
                        cost_bps=cost_bps, threshold=threshold)
        row["pnl_bps"] = {k: float(sum(v for _, v in pnl[k])) for k in totals}
        row["pnl_bps"]["flat"] = 0.0
        row["trades"] = {k: len(pnl[k]) for k in totals}
        for k in totals:
            totals[k].extend(pnl[k])
        out_folds.append(row)
    tested = np.isfinite(p_oos)
    if not tested.any():
        raise ValueError("no fold had training data before its purge gap: record more "
                         "minutes, or use fewer --folds or a shorter --horizon")
    oos = _metrics(p_oos[tested], samples.fwd_bps[tested], samples.label[tested])
    oos["pnl_bps"] = {k: float(sum(v for _, v in totals[k])) for k in totals}
    oos["pnl_bps"]["flat"] = 0.0
    oos["trades"] = {k: len(totals[k]) for k in totals}
    oos["test_from"] = int(samples.minute_ms[tested].min())
    oos["test_to"] = int(samples.minute_ms[tested].max())
    curve = {k: sorted(v) for k, v in totals.items()}
    return Evaluation(out_folds, oos, curve)


def _fold_pnl(samples: Samples, idx, p_oos, trades, fold: Fold, *, horizon_min, cost_bps,
              threshold) -> dict[str, list[tuple[int, float]]]:
    """``{strategy: [(ts_ms, pnl_bps)]}`` of the trades entered in this fold's test block."""
    out = {"rule": [], "model": [], "hybrid": []}
    start, end = fold.test_from_ms, fold.test_to_ms + MINUTE_MS
    for sym in np.unique(samples.symbol[idx]):
        mine = idx[samples.symbol[idx] == sym]
        minutes, p, fwd = samples.minute_ms[mine], p_oos[mine], samples.fwd_bps[mine]
        busy_until = -1
        for m, pi, f in zip(minutes, p, fwd):
            if m < busy_until:
                continue
            side = 1 if pi >= threshold else -1 if pi <= 1.0 - threshold else 0
            if side:
                out["model"].append((int(m) + MINUTE_MS, side * float(f) - cost_bps))
                busy_until = m + horizon_min * MINUTE_MS
        # bar closes (minute + 1 min) of this fold's tested bars, for the hybrid's gate
        closes = minutes + MINUTE_MS
        for entry_ts, side, entry_mid, exit_ts, exit_mid in trades.get(sym, ()):
            if not start <= entry_ts < end:
                continue
            pnl = side * 1e4 * (exit_mid / entry_mid - 1.0) - cost_bps
            out["rule"].append((exit_ts, pnl))
            k = np.searchsorted(closes, entry_ts, side="right") - 1
            # the model's view at entry: the symbol's last bar, if it closed in the last 2 min
            if k >= 0 and entry_ts - closes[k] < 2 * MINUTE_MS and p[k] == p[k]:
                agree = p[k] >= threshold if side > 0 else 1.0 - p[k] >= threshold
                if agree:
                    out["hybrid"].append((exit_ts, pnl))
    return out
