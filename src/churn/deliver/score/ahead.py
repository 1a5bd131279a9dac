"""Produce the items of an iterable in a background thread, a bounded number ahead of their use.

`churn score` reads and checks the next block (PyArrow, which releases the GIL) while the model
scores the current one: on two cores the reading and checking mostly vanish from the wall time.
Order is kept, an error raised while producing an item is raised where that item would have come,
and at most `depth` items wait, so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()
# How often a producer blocked on a full queue looks whether the consumer has gone.
_POLL_SECONDS = 0.1


def ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of `items`, in order, each produced before it is asked for."""
    waiting: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                waiting.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            offer((_END, error))
            return
        offer((_END, None))

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, error = waiting.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        producer.join()
