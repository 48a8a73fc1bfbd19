"""Fixtures of the dashboard tests: the ``dashboard`` extra, a dataset made by
``rtaid replay`` of the BTC recording, and AppTest runs of the app against it.

The extra is installed here, into the running interpreter, when it is missing (CI is a
fresh venv; the rest of the suite does not need Streamlit, so scripts/_bootstrap.sh
keeps installing ``.[test]`` only). Its requirements are read from pyproject.toml, the
one place they are declared. Test modules import Streamlit and Plotly only inside
fixtures and tests, after this has run.
"""
from __future__ import annotations

import pytest

from tests.dashboard.helpers import APP, DAYS, OVERRIDES, SYMBOL, settings_env
from tests.helpers import BTC_RECORDING


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
