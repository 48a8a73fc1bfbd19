"""The model file: a LightGBM booster plus the metadata that says what it was trained on.

File format (JSON, one object)::

    {"format": "rtaid-model/1",
     "metadata": {"features": [...], "horizon_min": 5, "cost_bps": 4.0, "threshold": 0.55,
                  "symbols": [...], "train_range": {...}, "metrics": {...},
                  "rtaid_version": "...", "lightgbm_version": "...", "created": "..."},
     "booster": "<LightGBM model text>",
     "sha256": "<hex of sha256 over the canonical metadata JSON and the booster text>"}

:meth:`Model.load` checks the format, the hash (a damaged or edited file is refused) and
that the feature names and order are exactly :data:`rtaid.ai.features.FEATURE_NAMES`:
a model trained on other features is refused with the differences named.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtaid.ai.features import FEATURE_NAMES

FORMAT = "rtaid-model/1"
INSTALL_HINT = "the ai extra is not installed: pip install 'rtaid[ai]' (LightGBM)"


class ModelError(ValueError):
    """A model file that cannot be used (missing, damaged, other features, no LightGBM)."""


def require_lightgbm():
    """Import LightGBM or raise ModelError saying how to install it."""
    try:
        import lightgbm
    except ImportError as exc:
        raise ModelError(f"{INSTALL_HINT} ({exc})") from None
    return lightgbm


def _digest(metadata: dict, booster_text: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode())
    h.update(b"\0")
    h.update(booster_text.encode())
    return h.hexdigest()


def feature_mismatch(names) -> str | None:
    """None when ``names`` are today's features in today's order, else what differs."""
    names = list(names)
    want = list(FEATURE_NAMES)
    if names == want:
        return None
    missing = [n for n in want if n not in names]
    extra = [n for n in names if n not in want]
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unknown {extra}")
    if not parts:
        first = next(i for i, (a, b) in enumerate(zip(names, want)) if a != b)
        parts.append(f"same names in another order (position {first}: {names[first]!r}, "
                     f"expected {want[first]!r})")
    return "; ".join(parts)


@dataclass
class Model:
    """A trained model: ``predict_proba(features) -> P(up)`` and its metadata."""

    booster: Any
    metadata: dict
    sha256: str
    path: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.metadata["features"])

    @property
    def horizon_min(self) -> int:
        return int(self.metadata["horizon_min"])

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    def predict_proba(self, x) -> float | np.ndarray:
        """P(the mid goes up by more than the cost | it moves by more than the cost).

        ``x``: one feature vector (1-D, :data:`FEATURE_NAMES` order) -> a float, or a
        2-D array of them -> an array.
        """
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 1
        x2 = x.reshape(1, -1) if single else x
        if x2.shape[1] != len(self.features):
            raise ModelError(f"feature vector has {x2.shape[1]} values, the model takes "
                             f"{len(self.features)}")
        p = self.booster.predict(x2, num_threads=1)
        return float(p[0]) if single else np.asarray(p, dtype=np.float64)

    @classmethod
    def from_booster(cls, booster, metadata: dict) -> "Model":
        text = booster.model_to_string()
        return cls(booster, metadata, _digest(metadata, text))

    def save(self, path: str) -> None:
        """Write the model file (atomically: a reader never sees half a file)."""
        text = self.booster.model_to_string()
        doc = {"format": FORMAT, "metadata": self.metadata, "booster": text,
               "sha256": _digest(self.metadata, text)}
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
        self.path = path

    @classmethod
    def load(cls, path: str) -> "Model":
        """Read and validate a model file; ModelError (naming the file) if unusable."""
        try:
            with open(path) as fh:
                doc = json.load(fh)
        except OSError as exc:
            raise ModelError(f"model {path}: {exc.strerror or exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelError(f"model {path}: not an rtaid model file (not JSON)") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise ModelError(f"model {path}: format {found!r}, this rtaid reads {FORMAT!r}")
        try:
            metadata, text, digest = doc["metadata"], doc["booster"], doc["sha256"]
            names = metadata["features"]
        except (KeyError, TypeError) as exc:
            raise ModelError(f"model {path}: incomplete model file (no {exc})") from None
        if _digest(metadata, text) != digest:
            raise ModelError(f"model {path}: sha256 does not match its content (damaged or edited)")
        problem = feature_mismatch(names)
        if problem:
            raise ModelError(f"model {path} was trained on other features than this rtaid "
                             f"computes ({problem}); retrain it with rtaid train")
        lgb = require_lightgbm()
        try:
            booster = lgb.Booster(model_str=text)
        except Exception as exc:   # LightGBM raises its own LightGBMError
            raise ModelError(f"model {path}: LightGBM cannot read the booster ({exc})") from None
        if booster.num_feature() != len(names):
            raise ModelError(f"model {path}: the booster takes {booster.num_feature()} features, "
                             f"the metadata names {len(names)}")
        return cls(booster, metadata, digest, path)
