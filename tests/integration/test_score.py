"""`churn score` with the real pipeline's model: exact scores, chunking, bad input, interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.integration.conftest import Trained

from churn import cli, data
from churn.artifacts import prepared_split, saved_model
from churn.artifacts.score_store import ScoreStore
from churn.contract import schema
from churn.deliver.score import run as score

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(trained: Trained) -> saved_model.SavedModel:
    return saved_model.load(trained.model_dir)


def _score(trained: Trained, source: Path, out: Path, chunk_rows: int) -> int:
    return cli.main(
        [
            "score",
            "--model",
            str(trained.model_dir),
            "--input",
            str(source),
            "--out",
            str(out),
            "--chunk-rows",
            str(chunk_rows),
        ]
    )


def _snapshot(path: Path) -> tuple[bytes, dict, list[float | None]]:
    with ScoreStore.open(path) as store:
        return path.read_bytes(), store.info(), [store.get(i) for i in range(1, 200)]


def test_scores_of_the_test_split_equal_predict_proba(trained, model, tmp_path, capsys):
    """Parquet in many small chunks: every stored score is the pipeline's probability, exactly."""
    out = tmp_path / "scores.sqlite"
    assert _score(trained, trained.test_split, out, chunk_rows=100) == 0
    assert "scored 1409 rows" in capsys.readouterr().out

    test = pd.read_parquet(trained.test_split)
    expected = model.predict_proba(data.features(test))
    with ScoreStore.open(out) as store:
        stored = [store.get(i) for i in test[schema.ID].tolist()]
        info = store.info()
    np.testing.assert_array_equal(np.array(stored), expected)
    assert info["rows"] == len(test)
    assert info["model_digest"] == model.digest
    assert info["source"] == prepared_split.TEST_FILE


def test_raw_rows_without_a_label_score_like_the_pipeline(trained, model, tmp_path):
    """Raw CSV (blank totals, no churn column): validate + clean semantics, chunk by chunk."""
    unlabelled = tmp_path / "customers.csv"
    raw = data.load_raw(trained.raw_csv)
    raw.drop(columns=[schema.TARGET]).to_csv(unlabelled, index=False)
    assert (raw["total_charges"].str.strip() == "").any()
    out = tmp_path / "scores.sqlite"

    info = score.run(trained.model_dir, unlabelled, out, chunk_rows=1000, progress=False)

    cleaned = data.clean(data.validate(raw))
    expected = dict(
        zip(cleaned[schema.ID], model.predict_proba(data.features(cleaned)), strict=True)
    )
    assert info["rows"] == len(raw)
    with ScoreStore.open(out) as store:
        assert all(store.get(i) == p for i, p in expected.items())


def test_progress_bar_counts_rows_chunk_by_chunk(trained, tmp_path, capsys):
    """The bar on stderr knows the total up front and advances once per chunk."""
    score.run(trained.model_dir, trained.test_split, tmp_path / "s.sqlite", chunk_rows=500)
    err = capsys.readouterr().err
    assert "scoring" in err
    assert "500/1409" in err
    assert "1000/1409" in err
    assert "1409/1409" in err


def _bad_value_late(raw: pd.DataFrame, path: Path) -> None:
    raw.loc[2500, "tenure"] = "twelve"
    raw.to_csv(path, index=False)


def _duplicate_across_chunks(raw: pd.DataFrame, path: Path) -> None:
    raw.loc[3000, schema.ID] = raw.loc[10, schema.ID]
    raw.to_csv(path, index=False)


def _missing_column(raw: pd.DataFrame, path: Path) -> None:
    raw.drop(columns=["contract"]).to_csv(path, index=False)


def _header_only(raw: pd.DataFrame, path: Path) -> None:
    raw.head(0).to_csv(path, index=False)


@pytest.mark.parametrize(
    ("make_input", "messages"),
    [
        (_bad_value_late, ["column 'tenure': not a number", "line 2502 ('twelve')"]),
        (_duplicate_across_chunks, ["column 'customer_id': duplicate id", "line 3002 (11)"]),
        (_missing_column, ["missing column(s): contract"]),
        (_header_only, ["no rows"]),
    ],
)
def test_bad_input_stops_the_run_and_keeps_the_previous_store(
    trained, tmp_path, capsys, make_input, messages
):
    """Exit 2 with the column and the file's line named; the old store is intact and readable."""
    out = tmp_path / "scores.sqlite"
    assert _score(trained, trained.raw_csv, out, chunk_rows=5000) == 0
    before = _snapshot(out)
    bad = tmp_path / "bad.csv"
    make_input(data.load_raw(trained.raw_csv), bad)
    capsys.readouterr()

    assert _score(trained, bad, out, chunk_rows=1000) == 2

    err = capsys.readouterr().err
    for message in messages:
        assert message in err
    assert "Traceback" not in err
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".partial"] == []


def test_interrupted_run_keeps_the_previous_store(trained, tmp_path, monkeypatch):
    """Ctrl-C during the third chunk: the previous store is unchanged and still readable."""
    out = tmp_path / "scores.sqlite"
    score.run(trained.model_dir, trained.raw_csv, out, chunk_rows=5000, progress=False)
    before = _snapshot(out)

    real = saved_model.SavedModel.predict_proba
    calls = []

    def interrupted(self, features):
        calls.append(len(features))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, features)

    monkeypatch.setattr(saved_model.SavedModel, "predict_proba", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score.run(trained.model_dir, trained.raw_csv, out, chunk_rows=1000, progress=False)

    assert len(calls) == 3
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".partial"] == []


def test_bad_parquet_rows_are_named_and_an_empty_file_refused(trained, tmp_path, capsys):
    """Parquet gets the same checks as CSV: the row's line number, and no empty store."""
    test = pd.read_parquet(trained.test_split)
    broken = test.astype({"tenure": "float64"})
    broken.loc[700, "tenure"] = -3.0
    bad = tmp_path / "bad.parquet"
    broken.to_parquet(bad, index=False)
    empty = tmp_path / "empty.parquet"
    test.head(0).to_parquet(empty, index=False)
    out = tmp_path / "scores.sqlite"

    assert _score(trained, bad, out, chunk_rows=300) == 2
    assert "column 'tenure': outside [0, 120] in 1 row(s): line 702 ('-3')" in (
        capsys.readouterr().err
    )
    assert _score(trained, empty, out, chunk_rows=300) == 2
    assert "has no rows to score" in capsys.readouterr().err
    assert not out.exists()
