"""Helpers the rtaid.ai tests share (fixtures are in conftest.py)."""
import tomllib

import numpy as np
import pyarrow.dataset as ds

from rtaid.ai.features import BarHistory, feature_matrix
from tests.helpers import ROOT

# The planted-effect datasets: SYMBOLS recordings of HOURS each per condition (one
# symbol's 8 hours is 480 bars; pooled over six, the out-of-sample AUC's spread under
# the null is about 0.02 instead of about 0.05, see docs/ai.md).
HOURS = 8
SYMBOLS = [f"SYN{i}USDT" for i in range(6)]
ALPHA_BPS = 2.0


def ai_requirements() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["optional-dependencies"]["ai"]


def replay_cli(files, out, *tables):
    """``rtaid replay FILE... --out DIR`` through the CLI, as a user runs it."""
    from rtaid.cli import main

    argv = ["replay", *map(str, files), "--out", str(out)]
    if tables:
        argv += ["--set", "storage.tables=[%s]" % ",".join(f'"{t}"' for t in tables)]
    assert main(argv) == 0
    return out


def _record(args):
    from rtaid.sim.record import record

    out, minutes, seed, alpha, symbol = args
    return str(record(out, minutes, seed, ofi_alpha_bps=alpha, symbol=symbol))


def _replay(args):
    files, out = args
    return replay_cli(files, out, "bars_1m", "signals")


def bars_by_symbol(dataset_dir):
    table = ds.dataset(dataset_dir / "bars_1m", partitioning="hive").to_table()
    out = {}
    for sym in sorted(set(table.column("symbol").to_pylist())):
        t = table.filter(ds.field("symbol") == sym).sort_by("minute_ms")
        out[sym] = t
    return out


def assert_batch_equals_incremental(table):
    """Every bar's features computed bar by bar, as the daemon will, equal the batch."""
    batch = feature_matrix(table)
    history = BarHistory()
    rows = table.to_pylist()
    for i, row in enumerate(rows):
        history.append(row)
        live = history.features()
        np.testing.assert_array_equal(live, batch[i])
        # bit for bit, NaN included
        assert live.tobytes() == batch[i].tobytes()
    return batch
