"""`churn serve` settings for large requests and the prediction log: flags, then environment
variables, then the defaults; personal columns never in the log's columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn import cli
from churn.deliver.serve import main
from churn.deliver.serve.recorder import LogSettings, row_format_for

VARIABLES = [variable for variable, _, _ in main.LOG_FLAGS.values()]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def _settings(*argv: str):
    return main.settings_from(cli.build_parser().parse_args(["serve", "--model", "m", *argv]))


def test_the_log_is_off_by_default_and_offload_on() -> None:
    settings = _settings()
    assert settings.log is None
    assert settings.offload_workers == 1
    assert settings.offload_bytes == 64 * 1024


def test_a_directory_turns_the_log_on_with_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICTION_LOG_DIR", "/logs")
    assert _settings().log == LogSettings(Path("/logs"))


def test_flags_come_before_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICTION_LOG_DIR", "/env")
    monkeypatch.setenv("PREDICTION_LOG_SAMPLE_RATE", "0.25")
    monkeypatch.setenv("PREDICTION_LOG_ROTATE_MB", "2")
    monkeypatch.setenv("PREDICTION_LOG_ROTATE_SECONDS", "60")
    monkeypatch.setenv("PREDICTION_LOG_EXCLUDE", "tenure, contract")
    monkeypatch.setenv("PREDICTION_LOG_SEED", "7")
    from_env = _settings().log
    assert from_env == LogSettings(
        Path("/env"),
        sample_rate=0.25,
        rotate_bytes=2 * 1024 * 1024,
        rotate_seconds=60.0,
        exclude=("tenure", "contract"),
        seed=7,
    )
    from_flags = _settings(
        "--log-dir", "/flag", "--log-sample-rate", "0.5", "--log-exclude", "tenure",
        "--log-seed", "8", "--log-rotate-mb", "1", "--log-rotate-seconds", "5",
    ).log  # fmt: skip
    assert from_flags == LogSettings(
        Path("/flag"),
        sample_rate=0.5,
        rotate_bytes=1024 * 1024,
        rotate_seconds=5.0,
        exclude=("tenure",),
        seed=8,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PREDICTION_LOG_SAMPLE_RATE", "often", "PREDICTION_LOG_SAMPLE_RATE"),
        ("PREDICTION_LOG_SEED", "1.5", "PREDICTION_LOG_SEED"),
        ("PREDICTION_LOG_SAMPLE_RATE", "2", "sample rate"),
        ("PREDICTION_LOG_ROTATE_MB", "0", "rotation"),
    ],
)
def test_a_bad_value_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("PREDICTION_LOG_DIR", "/logs")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        _settings()


def test_negative_offload_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="offload"):
        _settings("--offload-workers", "-1")


def test_serve_exits_2_naming_a_bad_log_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PREDICTION_LOG_DIR", "/logs")
    monkeypatch.setenv("PREDICTION_LOG_SAMPLE_RATE", "often")
    monkeypatch.setenv("PORT", "0")  # never reached: the settings are refused first
    code = cli.main(["serve", "--model", "m", "--port", "1"])
    assert code == 2
    assert "PREDICTION_LOG_SAMPLE_RATE" in capsys.readouterr().err


def test_personal_columns_are_never_logged_and_more_can_be_excluded(contract) -> None:
    row_format = row_format_for(contract, "digest", 0.5)
    assert not set(contract.personal) & {*row_format.columns, row_format.id_name}
    assert set(row_format.columns) == set(contract.feature_names) - set(contract.personal)
    extra = next(name for name in row_format.columns)
    fewer = row_format_for(contract, "digest", 0.5, exclude=(extra, contract.id.name))
    assert extra not in fewer.columns
    assert fewer.id_name is None


def test_excluding_a_column_the_model_does_not_have_is_refused(contract) -> None:
    with pytest.raises(ValueError, match="no_such_column"):
        row_format_for(contract, "digest", 0.5, exclude=("no_such_column",))
