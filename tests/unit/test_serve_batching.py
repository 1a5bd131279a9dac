"""Micro-batching: concurrent requests share model calls, each gets its own rows back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from churn.deliver.serve.batching import MicroBatcher, merge
from churn.deliver.serve.inputs import Batch


def _batch(*values: float) -> Batch:
    return Batch({"x": list(values), "y": [str(v) for v in values]}, len(values))


class Doubler:
    """A stand-in model: the score of a row is twice its `x`; it records each call's size."""

    def __init__(self, fail_on: float | None = None) -> None:
        self.calls: list[int] = []
        self.fail_on = fail_on

    def __call__(self, columns: dict[str, Sequence[Any]]) -> np.ndarray:
        self.calls.append(len(columns["x"]))
        if self.fail_on in columns["x"]:
            raise ValueError("model failure")
        return np.asarray(columns["x"], dtype=np.float64) * 2


def test_merge_keeps_row_order() -> None:
    merged = merge([_batch(1, 2), _batch(3), _batch(4, 5)])
    assert merged.rows == 5
    assert merged.columns["x"] == [1, 2, 3, 4, 5]
    assert merged.columns["y"] == ["1", "2", "3", "4", "5"]


async def _score_all(batcher: MicroBatcher, batches: list[Batch]) -> list[Any]:
    await batcher.start()
    try:
        return await asyncio.gather(*(batcher.score(b) for b in batches), return_exceptions=True)
    finally:
        await batcher.stop()


def test_concurrent_requests_share_calls_and_get_their_own_rows() -> None:
    model = Doubler()
    observed: list[int] = []
    batcher = MicroBatcher(model, observe=lambda scores: observed.append(len(scores)))
    batches = [_batch(i, i + 0.5) for i in range(20)]
    results = asyncio.run(_score_all(batcher, batches))
    for i, scores in enumerate(results):
        assert list(scores) == [2 * i, 2 * i + 1]
    assert sum(model.calls) == 40
    assert len(model.calls) < len(batches)  # merged, not one call per request
    assert observed == model.calls


def test_calls_stop_growing_at_merge_rows() -> None:
    model = Doubler()
    batcher = MicroBatcher(model, merge_rows=6)
    results = asyncio.run(_score_all(batcher, [_batch(1, 2, 3, 4)] * 5 + [_batch(*range(10))]))
    assert all(not isinstance(r, Exception) for r in results)
    assert max(model.calls) == 10  # a big request still goes, alone
    assert all(size <= 6 for size in model.calls if size != 10)


def test_a_failing_call_fails_its_requests_and_the_batcher_goes_on() -> None:
    model = Doubler(fail_on=13.0)
    batcher = MicroBatcher(model)

    async def scenario() -> tuple[list[Any], np.ndarray]:
        await batcher.start()
        try:
            first = await asyncio.gather(
                batcher.score(_batch(13)), batcher.score(_batch(1)), return_exceptions=True
            )
            later = await batcher.score(_batch(2))
            return first, later
        finally:
            await batcher.stop()

    first, later = asyncio.run(scenario())
    assert isinstance(first[0], ValueError)
    assert list(later) == [4.0]


def test_a_cancelled_request_does_not_break_the_others() -> None:
    batcher = MicroBatcher(Doubler())

    async def scenario() -> np.ndarray:
        await batcher.start()
        try:
            gone = asyncio.ensure_future(batcher.score(_batch(1)))
            kept = asyncio.ensure_future(batcher.score(_batch(2)))
            await asyncio.sleep(0)
            gone.cancel()
            return await kept
        finally:
            await batcher.stop()

    assert list(asyncio.run(scenario())) == [4.0]


def test_scoring_before_start_is_an_error() -> None:
    batcher = MicroBatcher(Doubler())
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(batcher.score(_batch(1)))
