"""The release's model card: rendered from the saved model's metadata and the metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from churn import cli
from churn.release import model_card


def saved_model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.pkl").write_bytes(b"pickle bytes")
    spec = {
        "flavors": {
            "sklearn": {
                "pickled_model": "model.pkl",
                "sklearn_version": "1.9.1",
                "serialization_format": "cloudpickle",
            }
        },
        "metadata": {
            "data_sha256": "ab" * 32,
            "train_rows": 5634,
            "params": {"classifier": {"kind": "logistic_regression", "C": 0.5}},
        },
        "signature": {"inputs": json.dumps([{"name": "tenure", "type": "double"}])},
    }
    (model / "MLmodel").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return model


def test_card_shows_metrics_params_and_data_hash(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"roc_auc": 0.84197, "f1": 0.6}), encoding="utf-8")
    card = model_card.read(saved_model(tmp_path), metrics)
    text = model_card.render(card, version="v1.2.0", commit="abc123")
    assert text.startswith("# Model card: churn model v1.2.0")
    assert "| roc_auc | 0.8420 |" in text
    assert "| `classifier.C` | `0.5` |" in text
    assert f"`{'ab' * 32}`" in text
    assert "Training rows: 5634" in text
    assert "tenure (double)" in text
    assert "`abc123`" in text
    # The model file's hash identifies exactly which model shipped.
    assert card["model_sha256"] in text


def test_flatten_gives_dotted_keys():
    assert model_card.flatten({"a": {"b": 1, "c": {"d": None}}, "e": 2}) == {
        "a.b": 1,
        "a.c.d": None,
        "e": 2,
    }


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(model_card.ModelCardError, match="no MLmodel"):
        model_card.read(tmp_path, tmp_path / "metrics.json")
    with pytest.raises(model_card.ModelCardError, match=r"metrics\.json does not exist"):
        model_card.read(saved_model(tmp_path), tmp_path / "metrics.json")


def test_cli_writes_the_card(tmp_path, capsys):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"roc_auc": 0.8}), encoding="utf-8")
    out = tmp_path / "dist" / "model-card.md"
    args = ["--model", str(saved_model(tmp_path)), "--metrics", str(metrics), "--out", str(out)]
    assert cli.main(["model-card", *args, "--version", "v2.0.0"]) == 0
    assert out.read_text().startswith("# Model card: churn model v2.0.0")
    assert f"wrote {out}" in capsys.readouterr().out


def test_cli_names_what_is_missing(tmp_path, capsys):
    out = tmp_path / "card.md"
    args = ["--model", str(tmp_path), "--metrics", str(tmp_path / "m.json"), "--out", str(out)]
    assert cli.main(["model-card", *args]) == 2
    assert "no MLmodel file" in capsys.readouterr().err
    assert not out.exists()


def test_register_skips_with_a_clear_message_without_a_tracking_server(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["--model", str(tmp_path), "--metrics", str(tmp_path / "m.json"), "--name", "churn"]
    assert cli.main(["register", *args]) == 0
    out = capsys.readouterr().out
    assert "MLFLOW_TRACKING_URI is not set: skipping model registration" in out
    assert "'champion'" in out
