"""indicators.md section 8 (the weight w): on a default replay of the shared recordings the
oscillators reach 0 or 100 only in the heavy tails, not through a warm-up artefact
(without w, 16-38% of all *_osc values sat at 0/100 for about tau after the start)."""
import numpy as np

from rtaid.store.tables import TABLES
from tests.helpers import read_table

OSC = [c for c in TABLES["indicators"].schema.names if c.endswith("_osc")]


def extreme_share(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.mean((values <= 0.01) | (values >= 99.99))) if len(values) else 0.0


def test_default_replay_shows_only_tail_extremes(replayed):
    root, _ = replayed
    ind = read_table(root, "indicators")
    shares = {}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        mask = np.array(ind.column("symbol").to_pylist()) == symbol
        ts = ind.column("ts_ms").to_numpy()[mask]
        first = ts[0] + 60_000    # the first minute after the normalisers' warm-up
        for col in OSC:
            values = ind.column(col).to_numpy(zero_copy_only=False)[mask]
            if np.isnan(values).all():
                continue          # vpin: not calibrated within the recording (600 s)
            shares[(symbol, col)] = extreme_share(values)
            early = values[ts < first]
            # no warm-up artefact: the first minute is no more extreme than the tails allow
            assert extreme_share(early) < 0.10, (symbol, col, extreme_share(early))
    assert len(shares) >= 16
    assert max(shares.values()) < 0.05, sorted(shares.items(), key=lambda kv: -kv[1])[:3]
