"""The score store: round trip, lookups by primary key, atomic replacement, clear errors."""

from __future__ import annotations

import os
import sqlite3
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from churn.artifacts import score_store
from churn.artifacts.score_store import DuplicateIdError, ScoreStore, ScoreStoreError


def _build(path: Path, scores: dict[int, float], digest: str = "d1", batch: int = 3) -> None:
    ids = list(scores)
    with score_store.create(
        path, model_digest=digest, source="input.csv", id_type="integer"
    ) as writer:
        for start in range(0, len(ids), batch):
            part = ids[start : start + batch]
            writer.add(part, [scores[i] for i in part])


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".partial")]


def test_round_trip_returns_every_score_exactly(tmp_path):
    """It stores each id's score as the exact double it was given, across several batches."""
    rng = np.random.default_rng(7)
    scores = dict(zip(rng.permutation(1000).tolist(), rng.random(1000).tolist(), strict=True))
    path = tmp_path / "scores.sqlite"
    _build(path, scores, digest="abc123", batch=97)

    with ScoreStore.open(path) as store:
        assert all(store.get(i) == s for i, s in scores.items())
        assert store.get(5000) is None
        assert store.get(np.int64(next(iter(scores)))) == scores[next(iter(scores))]
        info = store.info()
    assert info["rows"] == 1000
    assert info["model_digest"] == "abc123"
    assert info["source"] == "input.csv"
    assert info["format_version"] == score_store.FORMAT_VERSION
    assert datetime.fromisoformat(info["created_at"]).tzinfo is not None


def test_ids_beyond_64_bits_or_of_another_type_are_simply_absent(tmp_path):
    """It answers None, not an overflow error, for ids SQLite cannot hold or of another type."""
    path = tmp_path / "s.sqlite"
    _build(path, {1: 0.5})
    with ScoreStore.open(path) as store:
        assert store.get(2**63) is None
        assert store.get(-(2**63) - 1) is None
        assert store.get("1") is None  # a string is never an integer id
        assert store.get(1.0) is None
        assert store.get(True) is None


def test_lookup_goes_through_the_primary_key(tmp_path):
    """The lookup is a rowid search by design, never a table scan (constant work per call)."""
    path = tmp_path / "s.sqlite"
    _build(path, dict.fromkeys(range(50), 0.1))
    with sqlite3.connect(path) as connection:
        plan = connection.execute(f"EXPLAIN QUERY PLAN {score_store.LOOKUP}", (7,)).fetchall()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "INTEGER PRIMARY KEY" in detail
    assert "SCAN" not in detail


@pytest.mark.parametrize("interruption", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_build_leaves_the_previous_store_untouched(tmp_path, interruption):
    """An error mid-build deletes the partial file and keeps the old store as it was."""
    path = tmp_path / "scores.sqlite"
    _build(path, {1: 0.25, 2: 0.75}, digest="old")
    before = path.read_bytes()

    def interrupted_build() -> None:
        with score_store.create(
            path, model_digest="new", source="x.csv", id_type="integer"
        ) as writer:
            writer.add([1, 2, 3], [0.9, 0.9, 0.9])
            raise interruption

    with pytest.raises(type(interruption)):
        interrupted_build()
    assert path.read_bytes() == before
    with ScoreStore.open(path) as store:
        assert store.get(1) == 0.25
        assert store.get(3) is None
        assert store.info()["model_digest"] == "old"
    assert _leftovers(tmp_path) == []


def test_open_reader_keeps_its_store_while_a_new_one_replaces_it(tmp_path):
    """Replacement is a rename: a reader sees the old store whole, a new reader the new one."""
    path = tmp_path / "scores.sqlite"
    _build(path, {1: 0.25}, digest="old")
    with ScoreStore.open(path) as old_reader:
        _build(path, {1: 0.5, 2: 0.5}, digest="new")
        assert old_reader.get(1) == 0.25
        assert old_reader.info()["rows"] == 1
        with ScoreStore.open(path) as new_reader:
            assert new_reader.get(1) == 0.5
            assert new_reader.info()["model_digest"] == "new"


@pytest.mark.parametrize(
    ("batches", "duplicates"),
    [
        ([[1, 2], [3, 4, 2, 5, 1]], [1, 2]),  # already stored by an earlier batch
        ([[1, 2], [6, 7, 6, 8]], [6]),  # twice in one batch
        ([[1, 2], [9, 2, 9]], [2, 9]),  # both
    ],
)
def test_duplicate_ids_are_refused_and_named(tmp_path, batches, duplicates):
    """It names every repeated id of the batch, and the store is not created."""
    path = tmp_path / "s.sqlite"

    def build() -> None:
        with score_store.create(path, model_digest="d", source="x", id_type="integer") as writer:
            for batch in batches:
                writer.add(batch, [0.5] * len(batch))

    with pytest.raises(DuplicateIdError) as error:
        build()
    assert error.value.ids == duplicates
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_store_is_readable_by_other_users(tmp_path):
    """The finished file gets the usual permissions, so a service user can read it."""
    previous = os.umask(0o022)
    try:
        _build(tmp_path / "s.sqlite", {1: 0.5})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "s.sqlite").stat().st_mode) & 0o044 == 0o044


def test_concurrent_lookups_from_threads(tmp_path):
    """One store object serves lookups from many threads at once (as a web server does)."""
    path = tmp_path / "s.sqlite"
    scores = {i: i / 1000 for i in range(1000)}
    _build(path, scores, batch=250)
    with ScoreStore.open(path) as store, ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(store.get, range(1000)))
    assert found == [scores[i] for i in range(1000)]


def test_open_refuses_what_is_not_a_store(tmp_path):
    """Missing files, non-databases and foreign databases get a clear error, not a crash."""
    with pytest.raises(ScoreStoreError, match="no score store at"):
        ScoreStore.open(tmp_path / "absent.sqlite")
    text = tmp_path / "notes.sqlite"
    text.write_text("this is not a database, just text long enough to have a header" * 4)
    with pytest.raises(ScoreStoreError, match="is not a score store"):
        ScoreStore.open(text)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE other (x)")
    with pytest.raises(ScoreStoreError, match="no scores/meta tables"):
        ScoreStore.open(foreign)


def test_string_ids_are_stored_and_found_exactly(tmp_path):
    path = tmp_path / "s.sqlite"
    keys = ["7590-VHVEG", "0042", "42", "a b", "é"]
    with score_store.create(path, model_digest="d", source="x", id_type="string") as writer:
        writer.add(keys, [0.1, 0.2, 0.3, 0.4, 0.5])
    with ScoreStore.open(path) as store:
        assert [store.get(k) for k in keys] == [0.1, 0.2, 0.3, 0.4, 0.5]
        assert store.get(42) is None  # "42" is a string key, not the number
        assert store.info()["id_type"] == "string"
    with (
        pytest.raises(DuplicateIdError),
        score_store.create(path, model_digest="d", source="x", id_type="string") as writer,
    ):
        writer.add(["x", "x"], [0.1, 0.2])


_KILLED_BUILD = """
import sys, time
from churn.artifacts import score_store
with score_store.create(sys.argv[1], model_digest="d", source="x", id_type="integer") as w:
    w.add([1], [0.5])
    print("building", flush=True)
    time.sleep(600)
"""


def test_a_killed_build_leaves_litter_that_the_next_build_removes(tmp_path):
    """A build killed with SIGKILL cannot clean up; the next one removes its staging file and
    leaves a live build's alone."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "s.sqlite"
    command = [sys.executable, "-c", _KILLED_BUILD, str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as killed:
        assert killed.stdout.readline().strip() == "building"
        killed.send_signal(signal.SIGKILL)
    assert len(_leftovers(tmp_path)) == 1
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as live:
        try:
            assert live.stdout.readline().strip() == "building"
            _build(path, {1: 0.5})
            # The killed build's file is gone; the live build's is still there.
            assert len(_leftovers(tmp_path)) == 1
        finally:
            live.kill()
