"""rtaid.ai: the hybrid strategy's model (features, training, walk-forward report, loading).

The live daemon's API (LightGBM comes with the ``rtaid[ai]`` extra)::

    from rtaid.ai import BarHistory, Model, ModelError

    model = Model.load(path)          # ModelError: missing, damaged, other features, no LightGBM
    history = BarHistory()            # one per symbol
    history.append(bar)               # each closed bars_1m row (mapping or numpy record)
    p_up = model.predict_proba(history.features())

Training: ``rtaid train`` (rtaid.ai.train). Importing this package does not import LightGBM.
"""
from rtaid.ai.features import FEATURE_NAMES, BarHistory, feature_matrix, features_from_bars
from rtaid.ai.model import Model, ModelError

__all__ = ["FEATURE_NAMES", "BarHistory", "Model", "ModelError", "feature_matrix",
           "features_from_bars"]
