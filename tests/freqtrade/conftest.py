"""Fixtures of the freqtrade integration tests.

``dataset``: both shared recordings replayed by ``rtaid replay`` with fast warm-ups, so
that the strategy trades and the ``signals`` table (the frames' ``target``) is not empty.
``ft_python``: a separate venv with a pinned freqtrade from PyPI (``.venv-freqtrade`` in
the repo root, made once and reused; freqtrade pins pandas < 4 and its own numpy).
"""
import subprocess
import sys

import pytest

from tests.freqtrade.helpers import FREQTRADE_VERSION, FT_VENV, clean_env
from tests.helpers import QUICK_TRADING_CONFIG
from tests.helpers import BTC_RECORDING, ETH_RECORDING, ROOT



@pytest.fixture(scope="session")
def dataset(shared_data, tmp_path_factory):
    """Root of a dataset of both recordings, with target changes."""
    tmp = tmp_path_factory.mktemp("ft_dataset")
    config = tmp / "fast.toml"
    config.write_text(QUICK_TRADING_CONFIG)
    out = tmp / "data"
    done = subprocess.run([sys.executable, "-m", "rtaid", "replay", "--config", str(config),
                           str(BTC_RECORDING), str(ETH_RECORDING), "--out", str(out)],
                          cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="session")
def ft_python():
    """The python of a venv with freqtrade==FREQTRADE_VERSION (installed once, cached)."""
    python = FT_VENV / "bin" / "python"
    stamp = FT_VENV / ".rtaid-freqtrade"
    if not (python.exists() and stamp.exists() and stamp.read_text() == FREQTRADE_VERSION):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(FT_VENV)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q",
                               f"freqtrade=={FREQTRADE_VERSION}"],
                              capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        stamp.write_text(FREQTRADE_VERSION)
    return python


