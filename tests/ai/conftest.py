"""Fixtures of the rtaid.ai tests: the ai extra, synthetic recordings and their datasets.

Tests that need LightGBM use the ``ai_extra`` fixture: when the extra is missing it
pip-installs the ``ai`` requirements listed in pyproject.toml into the running
interpreter (as scripts/_bootstrap.sh installs the test extra), so CI on a fresh machine
runs them instead of skipping them.
"""
import importlib
import subprocess
import sys
from multiprocessing import get_context

import pytest

from rtaid.cli import main as rtaid_main
from rtaid.sim.record import record

from tests.ai.helpers import ALPHA_BPS, HOURS, SYMBOLS, _record, _replay, ai_requirements, replay_cli

@pytest.fixture(scope="session")
def ai_extra():
    """LightGBM and matplotlib importable (installed from the ai extra if missing)."""
    try:
        importlib.import_module("lightgbm")
        importlib.import_module("matplotlib")
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *ai_requirements()],
                       check=True)
        importlib.invalidate_caches()
    return importlib.import_module("lightgbm")


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """``{"effect": dataset dir, "none": dataset dir}``: SYMBOLS x HOURS of synthetic
    market with --ofi-alpha-bps ALPHA_BPS and without, replayed (bars_1m and signals)."""
    root = tmp_path_factory.mktemp("planted")
    jobs = []
    for alpha, name in ((ALPHA_BPS, "effect"), (None, "none")):
        for i, sym in enumerate(SYMBOLS):
            seed = 1000 + i if alpha else 2000 + i
            jobs.append((str(root / f"{name}_{sym}.gz"), HOURS * 60, seed, alpha, sym))
    names = ("effect", "none")
    replays = [([j[0] for j in jobs if f"/{name}_" in j[0]], root / f"ds_{name}") for name in names]
    # the recordings, then the two replays, are independent: both cores
    with get_context("spawn").Pool(2) as pool:
        pool.map(_record, jobs)
        return dict(zip(names, pool.map(_replay, replays)))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory, ai_extra):
    """Three symbols x 3 hours with the planted effect, replayed by the CLI."""
    root = tmp_path_factory.mktemp("train")
    files = []
    for i in range(3):
        path = root / f"s{i}.gz"
        record(path, 180, 300 + i, ofi_alpha_bps=2.0, symbol=f"TR{i}USDT")
        files.append(path)
    return replay_cli(files, root / "ds", "bars_1m", "signals")


@pytest.fixture(scope="session")
def trained(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "hybrid.model"
    code = rtaid_main(["train", "--data-dir", str(dataset), "--symbols", "TR0USDT", "TR1USDT",
                       "TR2USDT", "--from", "2024-01-01", "--to", "2024-01-01",
                       "--horizon", "5m", "--folds", "3", "--out", str(out)])
    assert code == 0
    return out
