"""`churn score --engine`: the pandas engine refuses the Spark engine's options, the Spark engine
needs an output, and without PySpark it says how to get it; each is exit code 2 with one line."""

from __future__ import annotations

import importlib.util

import pytest

from churn import cli


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "s.sqlite", "--out-parquet", "p"], "--out-parquet needs --engine spark"),
        (["--out", "s.sqlite", "--master", "local[2]"], "--master needs --engine spark"),
        ([], "--out is required: the score store to write"),
        (["--engine", "spark"], "--engine spark needs --out, --out-parquet or both"),
    ],
)
def test_options_that_do_not_fit_the_engine_are_refused(extra, message, capsys, tmp_path):
    code = cli.main(["score", "--model", str(tmp_path), "--input", "rows.csv", *extra])
    assert code == cli.EXIT_ERROR
    assert capsys.readouterr().err.strip() == f"churn score: {message}"


def test_the_spark_engine_without_pyspark_says_how_to_get_it():
    """The project's own environment (.venv) has no PySpark: the engine stops at once."""
    if importlib.util.find_spec("pyspark") is not None:
        pytest.skip("PySpark is installed here (.venv-spark?): this is about .venv")
    from churn.deliver.score.run import ScoreError
    from churn.engines.spark import session

    with pytest.raises(ScoreError, match="make spark-env"):
        session.start()
