"""``rtaid train``: features and labels from ``bars_1m``, walk-forward evaluation, the model.

Writes ``MODEL`` (the model trained on every labelled bar, with its metadata), and beside
it ``MODEL.report.json`` (out-of-sample metrics and folds), ``MODEL.report.md`` (the
table, also printed) and ``MODEL.report.png`` (cumulative out-of-sample PnL and the
folds' AUC; only with matplotlib, which the ai extra installs).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from rtaid import __version__
from rtaid.ai import dataset
from rtaid.ai.evaluate import LGB_PARAMS, NUM_ROUNDS, Samples, train_booster, walk_forward
from rtaid.ai.features import FEATURE_NAMES, LOOKBACK_MINUTES
from rtaid.ai.model import Model, ModelError, require_lightgbm

DEFAULT_COST_BPS = 4.0       # round trip: 2 bps a side, the maker fee (lpi.maker_fee_bps)
DEFAULT_THRESHOLD = 0.55
DEFAULT_FOLDS = 5
DEFAULT_SEED = 1


@dataclass
class TrainResult:
    model: Model
    report: dict
    table: str
    paths: dict


def _iso(ms) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(obj):
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def train(data_dir: str, symbols, *, horizon_min: int, out: str, date_from=None, date_to=None,
          cost_bps: float = DEFAULT_COST_BPS, threshold: float = DEFAULT_THRESHOLD,
          folds: int = DEFAULT_FOLDS, seed: int = DEFAULT_SEED, shuffle_labels: bool = False,
          plot: bool = True) -> TrainResult:
    """Train, evaluate walk-forward and write the model and its report (see module doc).

    ``shuffle_labels`` permutes the labels (with ``seed``) before anything else: a control
    whose out-of-sample AUC must be about 0.5.
    """
    require_lightgbm()
    if not 0.5 <= threshold < 1.0:
        raise ValueError(f"--threshold must be in [0.5, 1), got {threshold}")
    if cost_bps < 0 or not math.isfinite(cost_bps):
        raise ValueError(f"--cost-bps must be >= 0, got {cost_bps}")
    if folds < 1:
        raise ValueError(f"--folds must be at least 1, got {folds}")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir) or not os.access(out_dir, os.W_OK):
        raise ValueError(f"--out {out}: directory {out_dir} does not exist or is not writable")
    symbols = list(dict.fromkeys(s.upper() for s in symbols))
    bars = dataset.load_bars(data_dir, symbols, date_from, date_to)
    signals = dataset.load_signals(data_dir, symbols, date_from, date_to)
    per_symbol = dataset.build(bars, horizon_min)

    def label_fn(fwd):
        return dataset.labels(fwd, cost_bps)

    samples = Samples.pool(per_symbol, label_fn)
    if shuffle_labels:
        perm = np.random.default_rng(seed).permutation(len(samples.fwd_bps))
        samples.fwd_bps = samples.fwd_bps[perm]
        samples.label = samples.label[perm]
    if len(samples.label) == 0:
        raise ValueError(f"no bar has a {horizon_min}-minute forward return: the data holds "
                         f"{sum(len(b.minute_ms) for b in per_symbol)} bars")
    evaluation = walk_forward(samples, signals, folds=folds, horizon_min=horizon_min,
                              cost_bps=cost_bps, threshold=threshold, seed=seed,
                              feature_names=FEATURE_NAMES)
    moved = samples.label != 0
    if not moved.any():
        raise ValueError(f"no bar moved more than the cost ({cost_bps} bps) over {horizon_min} min")
    booster = train_booster(samples.x[moved], (samples.label[moved] > 0).astype(np.float64),
                            seed, FEATURE_NAMES)
    train_range = {"from": _iso(samples.minute_ms.min()), "to": _iso(samples.minute_ms.max()),
                   "bars": int(len(samples.label)), "moved": int(moved.sum()),
                   "date_from": date_from, "date_to": date_to}
    oos = _clean(evaluation.oos)
    folds_out = _clean([dict(f, train_to=_iso(f["train_to"]), test_from=_iso(f["test_from"]),
                             test_to=_iso(f["test_to"])) for f in evaluation.folds])
    oos["test_from"], oos["test_to"] = _iso(oos["test_from"]), _iso(oos["test_to"])
    metadata = {
        "features": list(FEATURE_NAMES),
        "lookback_min": LOOKBACK_MINUTES,
        "horizon_min": horizon_min,
        "cost_bps": cost_bps,
        "threshold": threshold,
        "label": "P(up): forward mid return > cost_bps, among bars whose |return| > cost_bps",
        "symbols": symbols,
        "train_range": train_range,
        "metrics": {"oos": oos},
        "walk_forward": {"folds": folds, "purge_min": horizon_min + 1},
        "shuffled_labels": shuffle_labels,
        "lightgbm": {"params": dict(LGB_PARAMS, seed=seed), "num_rounds": NUM_ROUNDS,
                     "version": require_lightgbm().__version__},
        "rtaid_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    model = Model.from_booster(booster, metadata)
    model.save(out)
    report = {"model": out, "sha256": model.sha256, "horizon_min": horizon_min,
              "cost_bps": cost_bps, "threshold": threshold, "symbols": symbols,
              "train_range": train_range, "shuffled_labels": shuffle_labels,
              "oos": oos, "folds": folds_out}
    paths = {"model": out, "report": f"{out}.report.json", "table": f"{out}.report.md"}
    with open(paths["report"], "w") as fh:
        json.dump(report, fh, indent=2)
    table = format_table(report)
    with open(paths["table"], "w") as fh:
        fh.write(table + "\n")
    if plot:
        png = f"{out}.report.png"
        if write_png(png, report, evaluation.curve):
            paths["png"] = png
    return TrainResult(model, report, table, paths)


def _f(value, fmt="{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def format_table(report: dict) -> str:
    """The walk-forward table (markdown): one row per fold and the pooled out-of-sample row."""
    lines = [f"Walk-forward, horizon {report['horizon_min']} min, cost {report['cost_bps']:g} bps "
             f"a round trip, threshold {report['threshold']:g}, symbols "
             f"{', '.join(report['symbols'])}" + (" (labels SHUFFLED: a control)"
                                                 if report["shuffled_labels"] else ""),
             "",
             "| fold | test from | test to | train bars | test bars | AUC | hit rate | IC "
             "| PnL rule | PnL model | PnL hybrid | PnL flat | trades r/m/h |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = list(report["folds"]) + [dict(report["oos"], fold="OOS", test_from=report["oos"]["test_from"],
                                         n_train=None, n_test=report["oos"]["n"])]
    for r in rows:
        pnl = r.get("pnl_bps") or {}
        tr = r.get("trades") or {}
        lines.append(
            f"| {r['fold']} | {r.get('test_from') or '-'} | {r.get('test_to') or '-'} "
            f"| {_f(r.get('n_train'), '{}')} | {_f(r.get('n_test'), '{}')} "
            f"| {_f(r.get('auc'))} | {_f(r.get('hit_rate'))} | {_f(r.get('ic'))} "
            f"| {_f(pnl.get('rule'), '{:.1f}')} | {_f(pnl.get('model'), '{:.1f}')} "
            f"| {_f(pnl.get('hybrid'), '{:.1f}')} | {_f(pnl.get('flat'), '{:.1f}')} "
            f"| {tr.get('rule', '-')}/{tr.get('model', '-')}/{tr.get('hybrid', '-')} |")
    lines.append("")
    lines.append("PnL: summed bps per unit position after the cost; rule = the mean-reversion "
                 "strategy's trades, model = the model alone, hybrid = the rule's entries the "
                 "model agreed with, flat = no position.")
    return "\n".join(lines)


def write_png(path: str, report: dict, curve: dict) -> bool:
    """Cumulative out-of-sample PnL and AUC by fold; False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    for name, color in (("rule", "tab:blue"), ("model", "tab:orange"), ("hybrid", "tab:green")):
        pts = curve.get(name) or []
        if pts:
            t = [dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc) for ts, _ in pts]
            ax1.step(t, np.cumsum([v for _, v in pts]), where="post", color=color,
                     label=f"{name} ({len(pts)} trades)")
    ax1.axhline(0.0, color="grey", lw=1, label="flat")
    ax1.set_title(f"Out-of-sample PnL after {report['cost_bps']:g} bps cost")
    ax1.set_ylabel("cumulative bps")
    ax1.legend(loc="best", fontsize=8)
    ax1.tick_params(axis="x", labelrotation=30, labelsize=7)
    folds = [f for f in report["folds"] if f.get("auc") is not None]
    ax2.bar([str(f["fold"]) for f in folds], [f["auc"] for f in folds], color="tab:purple")
    ax2.axhline(0.5, color="grey", lw=1)
    oos_auc = report["oos"].get("auc")
    ax2.set_title(f"AUC by fold (OOS {_f(oos_auc)})")
    ax2.set_ylim(0.3, 0.8)
    ax2.set_xlabel("fold")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(args) -> int:
    """``rtaid train``: the handler ``rtaid.cli`` dispatches to."""
    from rtaid.cli import load_config_from_args

    try:
        horizon = dataset.parse_horizon(args.horizon)
        date_from = dataset.parse_date(args.date_from, "--from") if args.date_from else None
        date_to = dataset.parse_date(args.date_to, "--to") if args.date_to else None
        if date_from and date_to and date_from > date_to:
            raise ValueError(f"--from {date_from} is after --to {date_to}")
    except ValueError as exc:
        print(f"rtaid train: {exc}", file=sys.stderr)
        return 2
    data_dir = args.data_dir or load_config_from_args(args).storage.data_dir
    symbols = [s for item in args.symbols for s in item.split(",") if s.strip()]
    try:
        result = train(data_dir, symbols, horizon_min=horizon, out=args.out,
                       date_from=date_from, date_to=date_to, cost_bps=args.cost_bps,
                       threshold=args.threshold, folds=args.folds, seed=args.seed,
                       shuffle_labels=args.shuffle_labels, plot=not args.no_plot)
    except ModelError as exc:
        print(f"rtaid train: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"rtaid train: {exc}", file=sys.stderr)
        return 1
    print(result.table)
    print()
    for kind, path in result.paths.items():
        print(f"{kind}: {path}")
    if not args.no_plot and "png" not in result.paths:
        print("png: skipped (matplotlib is not installed; pip install 'rtaid[ai]')")
    return 0
