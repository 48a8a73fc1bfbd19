"""Synthetic collector recordings with gaps, resyncs, crossed books, stale bookTickers,
late trades and quiet stretches, to compare the kernels with the reference on paths
the real recordings never take."""
import json
import random


def _px(p):
    return f"{p / 100:.2f}"


def _qty(q):
    return f"{q / 1000:.3f}"


def make_recording(path, seed=0, n_events=3000, with_bbo=True, symbol="TSTUSDT"):
    """Write a recording to ``path``; returns counts of what it contains."""
    rng = random.Random(seed)
    low = symbol.lower()
    bids = {p: rng.randint(1, 5000) for p in range(9950, 10000)}
    asks = {p: rng.randint(1, 5000) for p in range(10000, 10050)}
    u = 1000
    T = 1_700_000_000_000
    trade_id = 1
    last_bbo_u = 0
    lines = []
    pending_snap = None          # (emit after this many more diffs, lastUpdateId, book copy)
    counts = {"gap": 0, "crossed": 0, "snapshot": 0, "stale_bbo": 0, "late_trade": 0}
    unsynced = True              # until a snapshot is scheduled after a break

    def emit(obj):
        lines.append(f"{T * 1_000_000} {json.dumps(obj, separators=(',', ':'))}")

    def schedule_snapshot():
        nonlocal pending_snap
        pending_snap = (rng.randint(0, 6), u, dict(bids), dict(asks))

    for _ in range(n_events):
        r = rng.random()
        T += rng.choice([0, 1, 3, 7, 15, 40, 90])
        if rng.random() < 0.004:
            T += rng.randint(1_000, 75_000)        # quiet stretch: empty intervals, bars
        if r < 0.45:
            # depth diff: change a few levels, sometimes delete the touch
            U = u + 1
            u = U + rng.randint(0, 3)
            b_out, a_out = [], []
            for _ in range(rng.randint(1, 4)):
                p = rng.randint(9950, 9999)
                q = 0 if rng.random() < 0.3 else rng.randint(1, 8000)
                b_out.append([_px(p), _qty(q)])
            for _ in range(rng.randint(1, 4)):
                p = rng.randint(10000, 10049)
                q = 0 if rng.random() < 0.3 else rng.randint(1, 8000)
                a_out.append([_px(p), _qty(q)])
            crossed = rng.random() < 0.003
            if crossed:
                b_out.append([_px(10000), _qty(5)])
                counts["crossed"] += 1
            apply_levels(bids, asks, b_out, a_out)
            lost = rng.random() < 0.004 and not unsynced
            diff = {"e": "depthUpdate", "E": T, "T": T, "s": symbol, "U": U, "u": u,
                    "pu": U - 1, "b": b_out, "a": a_out}
            if crossed:
                # the exchange's book never crosses: the receiver's does, after this diff
                bids.pop(10000, None)
            if lost:
                counts["gap"] += 1           # the next diff's pu will not match
            else:
                emit({"stream": f"{low}@depth@0ms", "data": diff})
            if lost or crossed:
                unsynced = True
                schedule_snapshot()
            elif unsynced and pending_snap is None:
                schedule_snapshot()
            if pending_snap is not None:
                left, last, sb, sa = pending_snap
                if left == 0:
                    emit({"lastUpdateId": last, "E": T, "T": T,
                          "bids": [[_px(p), _qty(q)] for p, q in sorted(sb.items(), reverse=True)],
                          "asks": [[_px(p), _qty(q)] for p, q in sorted(sa.items())]})
                    counts["snapshot"] += 1
                    pending_snap = None
                    unsynced = False
                else:
                    pending_snap = (left - 1, last, sb, sa)
        elif r < 0.75:
            if not with_bbo:
                continue
            bb = max(bids) if bids else 9900
            ba = min(asks) if asks else 10100
            stale = rng.random() < 0.02 and last_bbo_u > 5
            bu = last_bbo_u - rng.randint(1, 5) if stale else u + rng.randint(0, 2)
            if bu >= last_bbo_u:
                last_bbo_u = bu
            else:
                counts["stale_bbo"] += 1
            qb = bids.get(bb, 1) if rng.random() < 0.97 else 0
            qa = asks.get(ba, 1) if rng.random() < 0.97 or qb else 0
            emit({"stream": f"{low}@bookTicker",
                  "data": {"e": "bookTicker", "u": bu, "s": symbol, "b": _px(bb), "B": _qty(qb),
                           "a": _px(ba), "A": _qty(qa), "T": T, "E": T}})
        else:
            late = rng.random() < 0.05
            tT = T - rng.randint(1, 3000) if late else T
            counts["late_trade"] += late
            p = rng.randint(9990, 10010)
            emit({"stream": f"{low}@aggTrade",
                  "data": {"e": "aggTrade", "E": T, "a": trade_id, "s": symbol, "p": _px(p),
                           "q": _qty(rng.choice([1, 5, 20, 100, 1500, 9000])),
                           "f": trade_id, "l": trade_id, "T": tT, "m": rng.random() < 0.5}})
            trade_id += 1
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return counts


# Parameter sets (config keys) for the synthetic recordings: windows, warm-ups and rings
# short enough that every path of the kernels runs within a few thousand events.
SHORT = {
    "tobi.trade_window_ms": 500, "ofi.window_ms": 700, "kyle.interval_ms": 100,
    "kyle.window": 25, "kyle.min_intervals": 5, "lpi.horizon_ms": 300,
    "lpi.half_life_ms": 2000, "norm.warmup": 3, "norm.tau_ms": 5000, "dev.ema_ms": 3000,
    "vpin.calibration_ms": 2000, "vpin.buckets": 5, "strategy.toxic_max": 100.0,
    "strategy.max_hold_ms": 3000, "strategy.cooldown_ms": 500, "strategy.stale_ms": 200,
    "strategy.stop_bps": 3.0, "tobi.levels": 5, "ofi.levels": 4, "wall.levels": 7,
    "strategy.entry_low": 25.0, "strategy.entry_high": 75.0,
}
CONFIGURED_BUCKET = {**SHORT, "vpin.bucket_volume": 0.5, "tobi.decay": 0.7,
                     "lpi.maker_fee_bps": 0.5}


def apply_levels(bids: dict, asks: dict, b_out, a_out) -> None:
    """A diff's levels (``[[price, qty], ...]`` text, 2 and 3 decimals) applied to books
    kept as ``{price ticks: qty lots}``; quantity 0 removes the level."""
    for side, out in ((bids, b_out), (asks, a_out)):
        for p, q in out:
            p, q = round(float(p) * 100), round(float(q) * 1000)
            if q:
                side[p] = q
            else:
                side.pop(p, None)
