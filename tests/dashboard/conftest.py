"""Fixtures of the dashboard tests: the ``dashboard`` extra, a dataset made by
``rtaid replay`` of the BTC recording, and AppTest runs of the app against it.

The extra is installed here, into the running interpreter, when it is missing (CI is a
fresh venv; the rest of the suite does not need Streamlit, so scripts/_bootstrap.sh
keeps installing ``.[test]`` only). Its requirements are read from pyproject.toml, the
one place they are declared. Test modules import Streamlit and Plotly only inside
fixtures and tests, after this has run.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
import tomllib

import pyarrow.dataset as ds
import pytest

from tests.conftest import BTC_RECORDING, ROOT

APP = ROOT / "rtaid" / "dashboard" / "app.py"
SYMBOL = "BTCUSDT"
DAYS = ("2024-08-08", "2024-08-09")  # the recording crosses midnight UTC
# The recordings are ~6 minutes long: calibrate VPIN and warm the z-scores up quickly so
# the strategy trades; toxic_max 100 lets VPIN through. The dashboard reads the same
# config (its thresholds are these).
OVERRIDES = ("vpin.calibration_ms=10000", "norm.warmup=20", "strategy.toxic_max=100")
PAGES = ("market", "trading", "health", "data")


def ensure_dashboard_extra() -> None:
    """pip-install the ``dashboard`` extra's requirements unless they are all there (their
    distribution names are their module names: streamlit, plotly, duckdb)."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        requirements = tomllib.load(fh)["project"]["optional-dependencies"]["dashboard"]
    modules = [re.match(r"[A-Za-z0-9_.-]+", r).group(0).replace("-", "_") for r in requirements]
    if all(importlib.util.find_spec(m) is not None for m in modules):
        return
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *requirements], check=True)
    importlib.invalidate_caches()


ensure_dashboard_extra()  # before any test module of this directory is imported


@pytest.fixture(scope="session")
def dataset_dir(shared_data, tmp_path_factory):
    """The BTC recording replayed by ``rtaid replay`` (the real command)."""
    from rtaid import cli

    out = tmp_path_factory.mktemp("dashboard") / "data"
    argv = ["replay", str(BTC_RECORDING), "--out", str(out)]
    for text in OVERRIDES:
        argv += ["--set", text]
    assert cli.main(argv) == 0
    return out


def read(root, table: str, columns=None):
    """A table of the dataset for SYMBOL, whole, straight from pyarrow (the reference)."""
    data = ds.dataset(root / table, partitioning="hive").to_table(
        filter=ds.field("symbol") == SYMBOL)
    return data.select(columns) if columns else data


def settings_env(data_dir, socket_path, overrides=OVERRIDES, refresh_s=2.0) -> str:
    from rtaid.dashboard.settings import Settings

    return Settings(data_dir=str(data_dir), socket=str(socket_path), config=None,
                    overrides=tuple(overrides), refresh_s=refresh_s).to_env()


@pytest.fixture
def open_app(monkeypatch, tmp_path):
    """``open_app(data_dir, page, socket=None, query=...)``: an AppTest of the app, run
    on ``page`` with the pickers preselected by query parameters."""
    from streamlit.testing.v1 import AppTest

    from rtaid.dashboard.settings import ENV_SETTINGS

    def opener(data_dir, page="market", socket_path=None, query=None, overrides=OVERRIDES):
        socket_path = socket_path or tmp_path / "no-daemon.sock"
        monkeypatch.setenv(ENV_SETTINGS, settings_env(data_dir, socket_path, overrides))
        at = AppTest.from_file(str(APP), default_timeout=120)
        params = {"symbol": SYMBOL, "from": DAYS[0], "to": DAYS[1]} if query is None else query
        for key, value in params.items():
            at.query_params[key] = value
        at.run()
        if page != "market":
            at.switch_page(f"views/{page}.py").run()
        return at

    return opener


def figure(at, index: int = 0) -> dict:
    """The ``index``-th Plotly chart's figure (its proto spec JSON)."""
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def dataframe(at, column: str):
    """The first ``st.dataframe`` shown with a column named ``column`` (a DataFrame)."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no dataframe with a column {column!r}")


def trace(fig: dict, name: str) -> dict:
    found = [t for t in fig["data"] if t.get("name") == name]
    assert len(found) == 1, (name, [t.get("name") for t in fig["data"]])
    return found[0]


def values(data):
    """A trace's array as numpy: Plotly >= 6 writes typed arrays (``{dtype, bdata}``)."""
    import base64

    import numpy as np

    if isinstance(data, dict) and "bdata" in data:
        out = np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"]))
        if "shape" in data:
            out = out.reshape([int(n) for n in str(data["shape"]).split(",")])
        return out
    if data and isinstance(data[0], str):
        return np.array(data, dtype="datetime64[ms]")
    return np.array([np.nan if v is None else v for v in data], dtype=float)


def ms(values_ms):
    """Epoch ms as the datetime64 values a figure's time axis carries."""
    import numpy as np

    return np.asarray(values_ms, dtype="int64").astype("datetime64[ms]")
