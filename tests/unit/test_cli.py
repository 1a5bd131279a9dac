from pathlib import Path

import pytest

from churn import cli

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad_data"


def test_prepare_rejects_bad_data_with_exit_2_and_keeps_outputs(tmp_path, capsys):
    """A user error is a message and exit code 2, not a traceback; outputs stay as they were."""
    out = tmp_path / "prepared"
    out.mkdir()
    (out / "train.parquet").write_bytes(b"previous")
    code = cli.main(
        [
            "prepare",
            "--raw",
            str(BAD / "unknown_category.csv"),
            "--out",
            str(out),
            "--params",
            str(ROOT / "params.yaml"),
        ]
    )
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("churn prepare: raw data failed validation")
    assert "payment_method" in err
    assert (out / "train.parquet").read_bytes() == b"previous"


def test_bad_params_file_is_reported(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("prepare: {test_size: 0.2}\n")
    code = cli.main(
        [
            "prepare",
            "--raw",
            str(BAD / "no_rows.csv"),
            "--out",
            str(tmp_path / "o"),
            "--params",
            str(params),
        ]
    )
    assert code == cli.EXIT_ERROR
    assert "params.yaml is invalid" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as caught:
        cli.main(["fly"])
    assert caught.value.code == 2
