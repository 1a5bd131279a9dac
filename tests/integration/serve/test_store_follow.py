"""A running service serves each new pre-scored store that replaces its file (the daily
re-score), without a restart, and keeps serving the one it has when the new file is bad."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from tests.integration.conftest import free_port
from tests.integration.serve.conftest import (
    Pipeline,
    metric,
    running,
    serve_argv,
    server_env,
    wait_until,
)

from churn.artifacts import score_store

pytestmark = pytest.mark.slow


def _rescore(path: Path, ids: list[int], score: float, digest: str) -> None:
    """A new store over the same ids, written the way `churn score` writes one."""
    with score_store.create(path, model_digest=digest, source="rescore", id_type="integer") as w:
        w.add(ids, [score] * len(ids))


def test_a_replaced_store_is_served_without_a_restart_and_a_bad_one_is_refused(
    pipeline: Pipeline, tmp_path: Path, contract
) -> None:
    store = tmp_path / "scores.sqlite"
    shutil.copy(pipeline.scores_db, store)
    with sqlite3.connect(store) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM scores ORDER BY id LIMIT 100")]
    argv = serve_argv("--model", str(pipeline.model_dir), "--scores", str(store))
    with running(argv, server_env(free_port()), tmp_path, tmp_path / "log") as server:

        def served(key: int) -> float:
            response = server.client.get(f"/scores/{key}")
            assert response.status_code == 200, response.text
            return response.json()[contract.probability_field]

        original = served(ids[0])
        _rescore(store, ids, 0.125, "second")
        wait_until(lambda: served(ids[0]) == 0.125)
        assert served(ids[-1]) == 0.125
        assert original != 0.125
        health = server.client.get("/health").json()["scores_store"]
        assert (health["model_digest"], health["rows"]) == ("second", len(ids))
        assert metric(server, "churn_score_store_reloads_total", outcome="ok") == 1

        garbage = tmp_path / "garbage"
        garbage.write_bytes(b"this is not a score store" * 1000)
        os.replace(garbage, store)
        wait_until(lambda: metric(server, "churn_score_store_reloads_total", outcome="failed") == 1)
        assert served(ids[0]) == 0.125
        assert (
            "not a score store"
            in server.client.get("/health").json()["scores_store"]["last_refusal"]
        )

        _rescore(store, ids[:10], 0.875, "third")
        wait_until(lambda: served(ids[0]) == 0.875)
        assert server.client.get(f"/scores/{ids[-1]}").status_code == 404
        assert server.client.get("/health").json()["scores_store"]["last_refusal"] == ""
        assert server.alive()
    log = (tmp_path / "log").read_text()
    assert (
        len([line for line in log.splitlines() if "pre-scored store:" in line and "ERROR" in line])
        == 1
    )
    assert "Traceback" not in log
