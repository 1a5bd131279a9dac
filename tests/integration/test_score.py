"""`churn score` with the real pipeline's model: exact scores, exact keys, chunking, bad input,
interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.generated import defects, read_text
from tests.integration.conftest import Trained

from churn import cli
from churn.artifacts import prepared_split, saved_model
from churn.artifacts.score_store import ScoreStore
from churn.contract import table
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


def _snapshot(path: Path, keys: list) -> tuple[bytes, dict, list[float | None]]:
    with ScoreStore.open(path) as store:
        return path.read_bytes(), store.info(), [store.get(k) for k in keys]


def test_scores_of_the_test_split_equal_predict_proba(trained, model, contract, tmp_path, capsys):
    """Parquet in many small chunks: every stored score is the pipeline's probability, exactly,
    under its exact key."""
    out = tmp_path / "scores.sqlite"
    test = pd.read_parquet(trained.test_split)
    assert _score(trained, trained.test_split, out, chunk_rows=100) == 0
    assert f"scored {len(test)} rows" in capsys.readouterr().out

    expected = model.predict_proba(table.features(contract, test))
    with ScoreStore.open(out) as store:
        stored = [store.get(k) for k in test[contract.id.name].tolist()]
        info = store.info()
    np.testing.assert_array_equal(np.array(stored), expected)
    assert info["rows"] == len(test)
    assert info["model_digest"] == model.digest
    assert info["source"] == prepared_split.TEST_FILE
    assert info["id_type"] == contract.id.type


def test_raw_rows_without_a_label_score_like_the_pipeline(trained, model, contract, tmp_path):
    """The raw CSV without its label column: the same checks and blank rules as training."""
    unlabelled = tmp_path / "rows.csv"
    raw = read_text(trained.raw_csv)
    raw.drop(columns=[contract.target.name]).to_csv(unlabelled, index=False)
    out = tmp_path / "scores.sqlite"

    info = score.run(trained.model_dir, unlabelled, out, chunk_rows=1000, progress=False)

    typed = table.load(contract, trained.raw_csv)
    probabilities = model.predict_proba(table.features(contract, typed))
    expected = dict(zip(typed[contract.id.name].tolist(), probabilities, strict=True))
    assert info["rows"] == len(raw)
    with ScoreStore.open(out) as store:
        assert all(store.get(k) == p for k, p in expected.items())


def test_progress_bar_counts_rows_chunk_by_chunk(trained, tmp_path, capsys):
    """The bar on stderr knows the total up front and advances once per chunk."""
    total = len(pd.read_parquet(trained.test_split))
    chunk = total // 3  # three chunks and a remainder, whatever the table's size
    score.run(trained.model_dir, trained.test_split, tmp_path / "s.sqlite", chunk_rows=chunk)
    err = capsys.readouterr().err
    assert "scoring" in err
    assert f"{chunk}/{total}" in err
    assert f"{total}/{total}" in err


def _late(defect_name: str):
    """A generated defect, moved to a row in a later chunk."""

    def make(contract, raw: pd.DataFrame, path: Path) -> list[str]:
        defect = next(d for d in defects(contract) if d.name == defect_name)
        late = len(raw) - 40
        head, tail = raw.iloc[:late], raw.iloc[late:].reset_index(drop=True)
        broken = pd.concat([head, defect.mutate(tail)], ignore_index=True)
        broken.drop(columns=[contract.target.name]).to_csv(path, index=False)
        # The defect's lines, moved by the rows before it.
        return [
            f"line {int(e.split()[1]) + late}" if e.startswith("line ") else e
            for e in (part.split(" (")[0] for part in defect.expected)
        ]

    return make


def _missing_column(contract, raw: pd.DataFrame, path: Path) -> list[str]:
    name = contract.features[0].name
    raw.drop(columns=[name, contract.target.name]).to_csv(path, index=False)
    return [f"missing column(s): {name}"]


def _header_only(contract, raw: pd.DataFrame, path: Path) -> list[str]:
    raw.head(0).to_csv(path, index=False)
    return ["no rows"]


def _duplicate_across_chunks(contract, raw: pd.DataFrame, path: Path) -> list[str]:
    raw = raw.copy()
    raw.loc[len(raw) - 5, contract.id.name] = raw.loc[10, contract.id.name]
    raw.to_csv(path, index=False)
    return [f"column '{contract.id.name}': duplicate id", f"line {len(raw) - 5 + 2}"]


@pytest.mark.parametrize(
    "make_input",
    [
        _late("not a number"),
        _late("unknown category"),
        _late("not an id"),
        _duplicate_across_chunks,
        _missing_column,
        _header_only,
    ],
    ids=["bad number late", "bad category late", "bad id late", "duplicate", "missing", "empty"],
)
def test_bad_input_stops_the_run_and_keeps_the_previous_store(
    trained, contract, tmp_path, capsys, make_input
):
    """Exit 2 with the column and the file's line named; the old store is intact and readable."""
    out = tmp_path / "scores.sqlite"
    assert _score(trained, trained.raw_csv, out, chunk_rows=5000) == 0
    keys = table.load(contract, trained.raw_csv)[contract.id.name].tolist()[:200]
    before = _snapshot(out, keys)
    bad = tmp_path / "bad.csv"
    try:
        messages = make_input(contract, read_text(trained.raw_csv), bad)
    except StopIteration:
        pytest.skip("this contract cannot have that defect")
    capsys.readouterr()

    assert _score(trained, bad, out, chunk_rows=1000) == 2

    err = capsys.readouterr().err
    for message in messages:
        assert message in err
    assert "Traceback" not in err
    assert _snapshot(out, keys) == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".partial"] == []


def test_ids_are_stored_exactly_and_never_through_a_float(trained, contract, tmp_path, capsys):
    """Integer ids of 19 digits keep every digit; an id past 2^63 - 1 is refused with its line
    and column, not wrapped to a negative number."""
    if contract.id.type != "integer":
        pytest.skip("string ids are text throughout")
    raw = read_text(trained.raw_csv).drop(columns=[contract.target.name]).head(300)
    big = [str(9_000_000_000_000_000_000 + i) for i in range(len(raw))]
    raw[contract.id.name] = big
    exact = tmp_path / "exact.csv"
    raw.to_csv(exact, index=False)
    out = tmp_path / "scores.sqlite"
    assert _score(trained, exact, out, chunk_rows=100) == 0
    with ScoreStore.open(out) as store:
        assert all(store.get(int(k)) is not None for k in big)
        assert store.get(int(big[0]) + 10_000) is None
    raw.loc[150, contract.id.name] = "99999999999999999999"
    too_big = tmp_path / "too_big.csv"
    raw.to_csv(too_big, index=False)
    capsys.readouterr()
    assert _score(trained, too_big, out, chunk_rows=100) == 2
    err = capsys.readouterr().err
    assert f"column '{contract.id.name}': not an integer id" in err
    assert "line 152 ('99999999999999999999')" in err


def test_interrupted_run_keeps_the_previous_store(trained, contract, tmp_path, monkeypatch):
    """Ctrl-C during the third chunk: the previous store is unchanged and still readable."""
    out = tmp_path / "scores.sqlite"
    score.run(trained.model_dir, trained.raw_csv, out, chunk_rows=5000, progress=False)
    ids = table.load(contract, trained.raw_csv)[contract.id.name].tolist()
    keys = ids[:200]
    before = _snapshot(out, keys)

    real = saved_model.SavedModel.predict_proba
    calls = []

    def interrupted(self, features):
        calls.append(len(features))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, features)

    monkeypatch.setattr(saved_model.SavedModel, "predict_proba", interrupted)
    # At least four chunks, whatever the table's size: the third is interrupted.
    chunk = max(1, len(ids) // 4)
    with pytest.raises(KeyboardInterrupt):
        score.run(trained.model_dir, trained.raw_csv, out, chunk_rows=chunk, progress=False)

    assert len(calls) == 3
    assert _snapshot(out, keys) == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".partial"] == []


def test_bad_parquet_rows_are_named_and_an_empty_file_refused(trained, contract, tmp_path, capsys):
    """Parquet gets the same checks as CSV: the row's line number, and no empty store."""
    bounded = next(
        (f for f in contract.features if f.kind == "number" and f.minimum is not None), None
    )
    if bounded is None:
        pytest.skip("no number column with a minimum")
    test = pd.read_parquet(trained.test_split)
    broken = test.copy()
    broken.loc[700 % len(test), bounded.name] = bounded.minimum - 3
    bad = tmp_path / "bad.parquet"
    broken.to_parquet(bad, index=False)
    empty = tmp_path / "empty.parquet"
    test.head(0).to_parquet(empty, index=False)
    out = tmp_path / "scores.sqlite"

    assert _score(trained, bad, out, chunk_rows=300) == 2
    low, high = bounded.bounds
    row = 700 % len(test)
    assert f"column '{bounded.name}': outside [{low:g}, {high:g}] in 1 row(s): line {row + 2}" in (
        capsys.readouterr().err
    )
    assert _score(trained, empty, out, chunk_rows=300) == 2
    assert "no rows" in capsys.readouterr().err
    assert not out.exists()


def test_the_exact_onnx_graph_scores_like_the_pipeline(pipeline, model, contract, tmp_path, capsys):
    """With the compiled model, `churn score` scores with ONNX Runtime (it was recorded within
    1e-9 of this pipeline): the stored scores are the pipeline's within 1e-9."""
    out = tmp_path / "scores.sqlite"
    test = pd.read_parquet(prepared_split.test_file(pipeline.prepared_dir))
    code = cli.main(
        [
            *("score", "--model", str(pipeline.model_dir), "--compiled"),
            *(
                str(pipeline.compiled_dir),
                "--input",
                str(prepared_split.test_file(pipeline.prepared_dir)),
            ),
            *("--out", str(out), "--chunk-rows", "300", "--no-progress"),
        ]
    )
    assert code == 0
    assert "(onnx)" in capsys.readouterr().out
    expected = model.predict_proba(table.features(contract, test))
    with ScoreStore.open(out) as store:
        stored = np.array([store.get(k) for k in test[contract.id.name].tolist()])
    np.testing.assert_allclose(stored, expected, rtol=0, atol=1e-9)
