"""A followed score store moves to each sound store that replaces it, and keeps serving the one
it has when the replacement is missing, damaged or of another kind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from churn.artifacts import score_store
from churn.artifacts.score_store import FollowedScoreStore, ScoreStoreError


def _build(path: Path, scores: dict, digest: str = "d1", id_type: str = "integer") -> None:
    with score_store.create(path, model_digest=digest, source="in.csv", id_type=id_type) as w:
        w.add(list(scores), list(scores.values()))


class Reports(list):
    def __call__(self, outcome: str, message: str) -> None:
        self.append((outcome, message))


@pytest.fixture
def followed(tmp_path: Path):
    path = tmp_path / "scores.sqlite"
    _build(path, {1: 0.1, 2: 0.2})
    reports = Reports()
    store = FollowedScoreStore(path, reports)
    yield store, path, reports
    store.close()


def test_a_replacement_is_served_after_refresh_and_not_before(followed) -> None:
    store, path, reports = followed
    _build(path, {1: 0.9, 3: 0.3}, digest="d2")
    assert store.get(1) == 0.1  # until refreshed, the store it had
    store.refresh()
    assert (store.get(1), store.get(2), store.get(3)) == (0.9, None, 0.3)
    assert store.info()["model_digest"] == "d2"
    assert [outcome for outcome, _ in reports] == ["ok"]
    store.refresh()  # the same file again: nothing to do
    assert len(reports) == 1


def _scribbled(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + b"\xff" * 4096 + data[middle + 4096 :]


def _damage(path: Path, data: bytes) -> None:
    staging = path.with_name("incoming")
    staging.write_bytes(data)
    os.replace(staging, path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: _damage(path, b"not a database at all" * 100),
        # A real store cut short: SQLite refuses to open it.
        lambda path: _damage(path, path.read_bytes()[: len(path.read_bytes()) // 2]),
        # A real store with one page overwritten: it opens, but some lookups would fail.
        lambda path: _damage(path, _scribbled(path.read_bytes())),
        lambda path: path.unlink(),
        lambda path: _build(path, {"a": 0.5}, id_type="string"),
    ],
    ids=["garbage", "truncated", "scribbled", "missing", "other-id-type"],
)
def test_a_bad_replacement_is_refused_once_and_lookups_go_on(followed, damage) -> None:
    store, path, reports = followed
    _build(path, {1: 0.7} | dict.fromkeys(range(10, 5000), 0.5))  # a few pages, to cut
    store.refresh()
    assert store.get(1) == 0.7
    damage(path)
    store.refresh()
    store.refresh()
    assert store.get(1) == 0.7
    assert [outcome for outcome, _ in reports] == ["ok", "failed"]
    assert "still serving" in reports[-1][1]
    assert store.info()["last_refusal"]
    _build(path, {1: 0.8})
    store.refresh()
    assert store.get(1) == 0.8
    assert [outcome for outcome, _ in reports] == ["ok", "failed", "ok"]
    assert store.info()["last_refusal"] == ""


def test_the_replaced_store_is_closed_one_refresh_later(followed) -> None:
    store, path, _ = followed
    before = store._store
    _build(path, {1: 0.9})
    store.refresh()
    assert before.get(1) == 0.1  # a lookup that began on it still finishes
    store.refresh()
    with pytest.raises(Exception, match="closed"):
        before.get(1)


def test_a_missing_store_at_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises((ScoreStoreError, FileNotFoundError)):
        FollowedScoreStore(tmp_path / "none.sqlite")


def test_check_passes_a_sound_store_and_names_a_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _build(path, dict.fromkeys(range(5000), 0.5))
    with score_store.ScoreStore.open(path) as store:
        store.check()
    _damage(path, _scribbled(path.read_bytes()))
    store = score_store.ScoreStore.open(path)
    with pytest.raises(ScoreStoreError, match="damaged"):
        store.check()
    store.close()
