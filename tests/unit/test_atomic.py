import pytest

from churn import atomic


def test_replaced_dir_swaps_in_new_content(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic.replaced_dir(target) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_replaced_dir_keeps_previous_content_on_failure(tmp_path):
    """A failing stage leaves the previous outputs exactly as they were."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")

    def interrupted_stage() -> None:
        with atomic.replaced_dir(target) as staging:
            (staging / "half.txt").write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        interrupted_stage()
    assert (target / "old.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_write_text_replaces_whole_file(tmp_path):
    target = tmp_path / "nested" / "metrics.json"
    atomic.write_text(target, "{}\n")
    atomic.write_text(target, '{"a": 1}\n')
    assert target.read_text() == '{"a": 1}\n'
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]
