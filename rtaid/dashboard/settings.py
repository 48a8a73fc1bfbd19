"""What ``rtaid dashboard`` hands the Streamlit app: the data dir, the control socket,
and the config (for the strategy's thresholds and the retention).

Streamlit runs the app as a script in its own server process, so the command passes
them in one environment variable, :data:`ENV_SETTINGS` (JSON). Without it (the app
started by ``streamlit run`` directly) the app resolves them as ``rtaid`` and
``rtaidctl`` would: the config file rtaid reads, ``RTAID_DATA_DIR``,
``RTAID_CONTROL_SOCKET``.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Mapping

from rtaid.ctl import ENV_CONTROL_SOCKET
from rtaid.infra.config import Config, load_config

ENV_SETTINGS = "RTAID_DASHBOARD_SETTINGS"
DEFAULT_PORT = 8501
DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_REFRESH_S = 2.0


@dataclass(frozen=True)
class Settings:
    """The dashboard's inputs.

    Parameters
    ----------
    data_dir : str
        Root of the Parquet dataset.
    socket : str
        The daemon's control socket.
    config : str or None
        Config file (None: the one rtaid would read, else defaults).
    overrides : tuple of str
        ``--set`` texts.
    refresh_s : float
        Seconds between two reads of the live state on the Health page.
    """

    data_dir: str
    socket: str
    config: str | None = None
    overrides: tuple[str, ...] = field(default_factory=tuple)
    refresh_s: float = DEFAULT_REFRESH_S

    def to_env(self) -> str:
        """The JSON for :data:`ENV_SETTINGS`."""
        return json.dumps({**asdict(self), "overrides": list(self.overrides)})

    def load_config(self) -> Config:
        """The validated config these settings name (raises ConfigError)."""
        return load_config(self.config, self.overrides)


def from_config(config: Config, data_dir: str | None = None, socket: str | None = None,
                refresh_s: float = DEFAULT_REFRESH_S,
                env: Mapping[str, str] = os.environ) -> Settings:
    """Settings from a loaded config: ``data_dir`` or ``storage.data_dir``; ``socket``,
    else ``RTAID_CONTROL_SOCKET``, else ``control.socket``."""
    return Settings(
        data_dir=os.path.abspath(data_dir or config.storage.data_dir),
        socket=socket or env.get(ENV_CONTROL_SOCKET) or config.control.socket,
        config=config.source, overrides=tuple(config.overrides), refresh_s=refresh_s,
    )


def from_env(env: Mapping[str, str] = os.environ) -> Settings:
    """The settings ``rtaid dashboard`` passed, else those of the default config.

    Raises
    ------
    ValueError
        :data:`ENV_SETTINGS` is not the JSON this module writes.
    rtaid.infra.config.ConfigError
        No settings passed and the default config is invalid.
    """
    text = env.get(ENV_SETTINGS)
    if not text:
        return from_config(load_config(None, (), env), env=env)
    try:
        raw = json.loads(text)
        return Settings(
            data_dir=str(raw["data_dir"]), socket=str(raw["socket"]),
            config=raw.get("config"), overrides=tuple(raw.get("overrides") or ()),
            refresh_s=float(raw.get("refresh_s", DEFAULT_REFRESH_S)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{ENV_SETTINGS} is not valid dashboard settings JSON: {exc}") from None
