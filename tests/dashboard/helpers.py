"""Helpers the dashboard tests share (fixtures are in conftest.py)."""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
import tomllib

import pyarrow.dataset as ds

from tests.helpers import ROOT

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


def read(root, table: str, columns=None):
    """A table of the dataset for SYMBOL, whole, straight from pyarrow (the reference)."""
    data = ds.dataset(root / table, partitioning="hive").to_table(
        filter=ds.field("symbol") == SYMBOL)
    return data.select(columns) if columns else data


def settings_env(data_dir, socket_path, overrides=OVERRIDES, refresh_s=2.0) -> str:
    from rtaid.dashboard.settings import Settings

    return Settings(data_dir=str(data_dir), socket=str(socket_path), config=None,
                    overrides=tuple(overrides), refresh_s=refresh_s).to_env()


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
