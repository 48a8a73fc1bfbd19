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

from tests.ai.helpers import ALPHA_BPS, HOURS, SYMBOLS, _record, _replay, ai_requirements

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
