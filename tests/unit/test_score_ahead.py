"""Read-ahead for `churn score`: same items in the same order, errors where they happened, at most
`depth` items produced beyond what was taken, and the producer ends when the consumer does."""

from __future__ import annotations

import threading

import pytest

from churn.deliver.score.ahead import ahead


def test_items_arrive_in_order():
    assert list(ahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_is_raised_after_the_items_before_it():
    def items():
        yield from (1, 2)
        raise ValueError("bad block")

    taken = []

    def take_all() -> None:
        for item in ahead(items()):
            taken.append(item)

    with pytest.raises(ValueError, match="bad block"):
        take_all()
    assert taken == [1, 2]


def test_the_producer_waits_for_the_consumer():
    """With depth 1, after taking one item the producer has made at most three: the one taken,
    the one waiting, and the one it is trying to hand over."""
    made = []
    gate = threading.Event()

    def items():
        for number in range(100):
            made.append(number)
            if len(made) == 3:
                gate.set()
            yield number

    reader = ahead(items(), depth=1)
    assert next(reader) == 0
    gate.wait(timeout=30)
    assert len(made) == 3
    reader.close()


def test_leaving_early_stops_the_producer():
    produced = threading.Event()

    def endless():
        number = 0
        while True:
            produced.set()
            yield number
            number += 1

    before = threading.active_count()
    for item in ahead(endless(), depth=2):
        if item == 5:
            break
    assert produced.is_set()
    assert threading.active_count() == before
