from pathlib import Path

import pytest
from tests.generated import defects, sample, write

from churn import cli

ROOT = Path(__file__).resolve().parents[2]


def _prepare(raw: Path, out: Path, params: Path = ROOT / "params.yaml") -> int:
    return cli.main(
        [
            "prepare",
            "--contract",
            str(ROOT / "contract.yaml"),
            "--raw",
            str(raw),
            "--out",
            str(out),
            "--params",
            str(params),
        ]
    )


def test_prepare_rejects_bad_data_with_exit_2_and_keeps_outputs(
    contract, raw_csv, tmp_path, capsys
):
    """A user error is a message and exit code 2, not a traceback; outputs stay as they were."""
    out = tmp_path / "prepared"
    out.mkdir()
    (out / "train.parquet").write_bytes(b"previous")
    defect = next(d for d in defects(contract) if d.name == "unknown target label")
    raw = write(defect.mutate(sample(raw_csv)), tmp_path / "raw.csv")
    assert _prepare(raw, out) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("churn prepare: the data failed validation")
    for fragment in defect.expected:
        assert fragment in err
    assert (out / "train.parquet").read_bytes() == b"previous"


@pytest.mark.parametrize("label", ["positive", "negative"])
def test_prepare_refuses_a_table_with_too_few_rows_of_a_class(
    contract, raw_csv, tmp_path, capsys, label
):
    """One class, or a handful of one class, cannot train a model: refused in one line."""
    rows = sample(raw_csv, 200)
    target = contract.target
    rows[target.name] = getattr(target, "negative" if label == "positive" else "positive")
    raw = write(rows, tmp_path / "raw.csv")
    assert _prepare(raw, tmp_path / "out") == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert f"0 row(s) are '{getattr(target, label)}'" in err
    assert "prepare.min_rows_per_class" in err
    assert not (tmp_path / "out").exists()


def test_bad_params_file_is_reported(raw_csv, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("prepare: {test_size: 0.2}\n")
    code = _prepare(raw_csv, tmp_path / "o", params)
    assert code == cli.EXIT_ERROR
    assert "params.yaml is invalid" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as caught:
        cli.main(["fly"])
    assert caught.value.code == 2
