"""Adaptive micro-batching: requests that arrive while the model is busy share its next call.

One model call costs about the same for 1 row as for 50 (scikit-learn: ~5 ms; ONNX: ~0.1 ms
plus a little per row), so under concurrency the service merges whatever is waiting into one
call. Nothing waits for a batch to fill: an idle service scores a lone request at once, and
batches grow only as fast as requests queue up behind a running call.

The call runs on the event loop itself. A worker thread would let the loop read requests during
the call, but each hand-over of the GIL between the two threads can stall for the interpreter's
switch interval (5 ms), which costs far more latency than the call it would overlap. Only small
requests come here: a large body, whose parsing alone would hold the loop for milliseconds, is
parsed and scored in the worker process instead (`offload.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from churn.deliver.serve.inputs import Batch

Model = Callable[[dict[str, Sequence[Any]]], np.ndarray]
# Called with the scores of each model call, for the metrics.
Observer = Callable[[np.ndarray], None]

# A child of uvicorn's logger, so that its handler (configured by uvicorn.run) prints ours too.
log = logging.getLogger(f"uvicorn.error.{__name__}")


class MicroBatcher:
    def __init__(
        self, model: Model, observe: Observer | None = None, merge_rows: int = 256
    ) -> None:
        self._model = model
        # Merging stops at this many rows: past it the per-call overhead is already small, and
        # copying big requests into one would cost more than the calls it saves.
        self._merge_rows = merge_rows
        self._observe = observe
        self._waiting: list[tuple[Batch, asyncio.Future[np.ndarray]]] = []
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()

    async def score(self, batch: Batch) -> np.ndarray:
        """The probabilities for `batch`'s rows, computed in a call shared with other requests."""
        if self._worker is None or self._worker.done():
            raise RuntimeError("the batcher is not running")
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, future))
        self._wakeup.set()
        return await future

    def _take(self) -> list[tuple[Batch, asyncio.Future[np.ndarray]]]:
        """The oldest waiting requests, up to `merge_rows` rows (always at least one request)."""
        taken, rows = 0, 0
        for batch, _ in self._waiting:
            if taken and rows + batch.rows > self._merge_rows:
                break
            taken += 1
            rows += batch.rows
        group, self._waiting = self._waiting[:taken], self._waiting[taken:]
        # A request whose client went away no longer needs its rows scored.
        return [(batch, future) for batch, future in group if not future.cancelled()]

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # One more turn of the loop lets requests that were read together join this call.
            await asyncio.sleep(0)
            while self._waiting:
                group = self._take()
                try:
                    self._call(group)
                except Exception:  # the worker must outlive any one call
                    log.exception("scoring %d request(s) failed", len(group))
                    for _, future in group:
                        if not future.done():
                            future.set_exception(RuntimeError("scoring failed"))

    def _call(self, group: list[tuple[Batch, asyncio.Future[np.ndarray]]]) -> None:
        if not group:
            return
        merged = merge([batch for batch, _ in group])
        try:
            scores = self._model(merged.columns)
        except Exception as exc:  # a failed call fails its requests, not the service
            log.exception("model call on %d rows failed", merged.rows)
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for batch, future in group:
            # done() when the request was cancelled meanwhile (its client went away).
            if not future.done():
                future.set_result(scores[start : start + batch.rows])
            start += batch.rows
        if self._observe is not None:
            self._observe(scores)


def merge(batches: list[Batch]) -> Batch:
    """One batch with the rows of `batches`, in order."""
    if len(batches) == 1:
        return batches[0]
    columns = {
        name: list(itertools.chain.from_iterable(b.columns[name] for b in batches))
        for name in batches[0].columns
    }
    return Batch(columns, sum(b.rows for b in batches))
