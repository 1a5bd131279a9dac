"""`churn serve` settings: PORT and SCORES_DB from the environment, arguments first."""

from __future__ import annotations

from pathlib import Path

import pytest

from churn import cli
from churn.deliver.serve import main


def _args(*argv: str):
    return cli.build_parser().parse_args(["serve", "--model", "m", *argv])


def test_port_defaults_to_8080_then_env_then_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    assert main._port(_args()) == 8080
    monkeypatch.setenv("PORT", "9001")
    assert main._port(_args()) == 9001
    assert main._port(_args("--port", "9002")) == 9002


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1"])
def test_a_bad_port_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PORT", value)
    with pytest.raises(ValueError, match="PORT"):
        main._port(_args())


def test_scores_come_from_the_argument_or_scores_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCORES_DB", raising=False)
    assert main.settings_from(_args()).scores_path is None
    monkeypatch.setenv("SCORES_DB", "env.sqlite")
    assert main.settings_from(_args()).scores_path == Path("env.sqlite")
    chosen = main.settings_from(_args("--scores", "arg.sqlite"))
    assert chosen.scores_path == Path("arg.sqlite")


def test_limits_come_from_the_arguments() -> None:
    settings = main.settings_from(_args("--max-rows", "7", "--max-body-mb", "0.5"))
    assert settings.max_rows == 7
    assert settings.max_body_bytes == 512 * 1024


def test_serve_refuses_a_missing_model_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["serve", "--model", str(tmp_path)])
    assert code == 2
    assert "no MLmodel file" in capsys.readouterr().err


def test_a_port_in_use_is_exit_2_like_every_start_up_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code = cli.main(["serve", "--model", str(tmp_path), "--port", str(port)])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
