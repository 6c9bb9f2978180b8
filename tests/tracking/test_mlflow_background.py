"""The background sender under MLflowTracker: order, batches, flush with a timeout, errors,
close and start again. The destination is held at an Event, never raced against the clock."""

from __future__ import annotations

import threading
from typing import Any

from flightlog.tracking.background import BackgroundSender


class Destination:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()

    def send(self, batch: list[Any]) -> None:
        self.entered.set()
        assert self.open.wait(timeout=30)
        if "boom" in batch:
            raise RuntimeError("refused")
        self.batches.append(batch)


def test_items_arrive_in_order_in_few_batches_and_flush_waits_for_them() -> None:
    destination = Destination()
    destination.open.clear()
    sender = BackgroundSender(destination.send, name="test-sender", interval=0.01)
    sender.start()
    sender.put(0)
    assert destination.entered.wait(timeout=30)  # the first batch is held at the destination
    for item in range(1, 1000):
        sender.put(item)
    assert sender.pending() == 999
    destination.open.set()
    assert sender.flush(timeout=30)
    assert [item for batch in destination.batches for item in batch] == list(range(1000))
    assert len(destination.batches) == 2  # the held one, then all that gathered meanwhile
    assert sender.close(timeout=30)
    assert sender._thread is None


def test_a_flush_gives_up_after_its_timeout_and_the_rest_is_sent_later() -> None:
    destination = Destination()
    destination.open.clear()
    sender = BackgroundSender(destination.send, name="test-sender")
    sender.start()
    sender.put("a")
    assert not sender.flush(timeout=0.05)
    sender.put("b")
    destination.open.set()
    assert sender.close(timeout=30)
    assert [item for batch in destination.batches for item in batch] == ["a", "b"]


def test_errors_are_kept_and_the_thread_goes_on_and_starts_again_after_close() -> None:
    destination = Destination()
    sender = BackgroundSender(destination.send, name="test-sender")
    sender.start()
    sender.put("boom")
    assert sender.flush(timeout=30)
    sender.put("after")
    assert sender.close(timeout=30)
    errors = sender.take_errors()
    assert [str(error) for error in errors] == ["refused"] and sender.take_errors() == []
    sender.put("again")  # a closed sender starts again when flushed
    assert sender.flush(timeout=30)
    assert destination.batches == [["after"], ["again"]]
    assert sender.close(timeout=30)
