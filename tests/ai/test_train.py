"""rtaid train: the model file, its metadata and refusal of other features, the report."""
import json
import sys

import numpy as np
import pytest

from rtaid.ai.features import FEATURE_NAMES
from rtaid.cli import main as rtaid_main


def test_report_has_the_oos_metrics_and_folds(trained):
    report = json.loads(open(f"{trained}.report.json").read())
    oos = report["oos"]
    for key in ("auc", "hit_rate", "ic"):
        assert isinstance(oos[key], float)
    assert set(oos["pnl_bps"]) == {"rule", "model", "hybrid", "flat"}
    assert oos["pnl_bps"]["flat"] == 0.0
    assert len(report["folds"]) == 3
    # the rule traded and the hybrid took a subset of its trades
    assert 0 < oos["trades"]["rule"]
    assert oos["trades"]["hybrid"] <= oos["trades"]["rule"]
    table = open(f"{trained}.report.md").read()
    assert "| OOS |" in table and "PnL hybrid" in table
    with open(f"{trained}.report.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_folds_are_in_time_order_with_a_purge_gap(trained):
    import datetime as dt

    def ms(text):
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000

    report = json.loads(open(f"{trained}.report.json").read())
    previous_end = None
    for fold in report["folds"]:
        assert ms(fold["train_to"]) + (5 + 1) * 60_000 <= ms(fold["test_from"])
        if previous_end is not None:
            assert ms(fold["test_from"]) > previous_end
        previous_end = ms(fold["test_to"])


def test_model_file_carries_its_metadata_and_predicts(trained, dataset):
    from rtaid.ai import BarHistory, Model
    from rtaid.ai.dataset import load_bars

    model = Model.load(str(trained))
    meta = model.metadata
    assert meta["features"] == list(FEATURE_NAMES)
    assert meta["horizon_min"] == 5
    assert meta["train_range"]["from"].startswith("2024-01-01T00:")
    assert meta["metrics"]["oos"]["auc"] == json.loads(open(f"{trained}.report.json").read())["oos"]["auc"]
    assert meta["rtaid_version"] and len(model.sha256) == 64
    bars = load_bars(str(dataset), ["TR1USDT"])["TR1USDT"]
    history = BarHistory()
    probs = []
    for i in range(len(bars["minute_ms"])):
        history.append({c: v[i] for c, v in bars.items()})
        probs.append(model.predict_proba(history.features()))
    from rtaid.ai.features import feature_matrix
    batch = model.predict_proba(feature_matrix(bars))
    assert np.array_equal(np.array(probs), batch)
    assert 0.0 < batch.min() < batch.max() < 1.0


def _rewrite(path, out, edit):
    """A copy of the model file with ``edit(doc)`` applied and a consistent hash."""
    from rtaid.ai.model import _digest

    doc = json.loads(open(path).read())
    edit(doc)
    doc["sha256"] = _digest(doc["metadata"], doc["booster"])
    out.write_text(json.dumps(doc))
    return out


def test_a_model_trained_on_other_features_is_refused(trained, tmp_path):
    from rtaid.ai import Model, ModelError

    renamed = _rewrite(trained, tmp_path / "renamed.model",
                       lambda d: d["metadata"]["features"].__setitem__(0, "obi_v2_last"))
    with pytest.raises(ModelError, match=r"trained on other features.*missing \['obi_last'\].*unknown \['obi_v2_last'\]"):
        Model.load(str(renamed))

    def swap(d):
        f = d["metadata"]["features"]
        f[0], f[1] = f[1], f[0]
    with pytest.raises(ModelError, match="another order"):
        Model.load(str(_rewrite(trained, tmp_path / "swapped.model", swap)))


def test_damaged_missing_and_foreign_files_are_clear_errors(trained, tmp_path):
    from rtaid.ai import Model, ModelError

    doc = json.loads(open(trained).read())
    doc["metadata"]["horizon_min"] = 15        # edited without rehashing
    edited = tmp_path / "edited.model"
    edited.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="sha256 does not match"):
        Model.load(str(edited))
    with pytest.raises(ModelError, match="No such file"):
        Model.load(str(tmp_path / "none.model"))
    junk = tmp_path / "junk.model"
    junk.write_text("tree\nversion=v4\n")
    with pytest.raises(ModelError, match="not an rtaid model file"):
        Model.load(str(junk))


def test_missing_lightgbm_says_how_to_install(trained, monkeypatch):
    from rtaid.ai import Model, ModelError

    monkeypatch.setitem(sys.modules, "lightgbm", None)     # import lightgbm -> ImportError
    with pytest.raises(ModelError, match=r"pip install 'rtaid\[ai\]'"):
        Model.load(str(trained))


@pytest.mark.parametrize("argv, code, message", [
    (["--horizon", "90s"], 2, "whole number of minutes"),
    (["--horizon", "five"], 2, "use minutes like 5m"),
    (["--from", "2024-13-01"], 2, "--from '2024-13-01' is not a date"),
    (["--from", "2024-02-01", "--to", "2024-01-01"], 2, "is after --to"),
    (["--symbols", "NOPEUSDT"], 1, "no bars_1m rows for NOPEUSDT"),
    (["--from", "2025-01-01"], 1, "between 2025-01-01 and the end"),
    (["--threshold", "0.3"], 1, "--threshold must be in [0.5, 1)"),
    (["--out", "/nonexistent/dir/m.model"], 1, "directory /nonexistent/dir does not exist"),
])
def test_bad_arguments_are_named(dataset, tmp_path, capsys, argv, code, message):
    base = {"--symbols": ["TR0USDT"], "--horizon": ["5m"], "--out": [str(tmp_path / "m.model")]}
    args = ["train", "--data-dir", str(dataset)]
    given = {a for a in argv if a.startswith("--")}
    for flag, values in base.items():
        if flag not in given:
            args += [flag, *values]
    assert rtaid_main(args + argv) == code
    assert message in capsys.readouterr().err


def test_no_dataset_is_named(tmp_path, capsys, ai_extra):
    assert rtaid_main(["train", "--data-dir", str(tmp_path / "nothing"), "--symbols", "BTCUSDT",
                       "--out", str(tmp_path / "m.model")]) == 1
    assert "nothing/bars_1m: no such directory" in capsys.readouterr().err


def test_pipeline_end_to_end_on_the_shared_recordings(replayed, tmp_path, ai_extra):
    """A smoke test of the pipeline on real bars: the recordings are 346 s long (7 bars a
    symbol), so the numbers mean nothing; it checks that real datasets flow through."""
    root, _ = replayed
    out = tmp_path / "real.model"
    assert rtaid_main(["train", "--data-dir", str(root), "--symbols", "BTCUSDT", "ETHUSDT",
                       "--horizon", "1m", "--folds", "2", "--cost-bps", "0",
                       "--out", str(out)]) == 0
    report = json.loads(open(f"{out}.report.json").read())
    # 7 bars a symbol (the last closed at the end of the input): 6 with a 1-minute return
    assert report["train_range"]["bars"] == 12
    assert {"auc", "hit_rate", "ic", "pnl_bps"} <= set(report["oos"])
    from rtaid.ai import Model
    assert Model.load(str(out)).metadata["symbols"] == ["BTCUSDT", "ETHUSDT"]
