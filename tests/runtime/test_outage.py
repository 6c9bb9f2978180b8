"""A store outage at the end of a run: the owner gives the run up (RESUMABLE), and the same
process can resume or cancel it once the store answers again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.stores import Store, open_store

from ..store_urls import STORE_KINDS, store_url


class Unreachable:
    """A store whose every call fails while ``down`` is set, as an outage longer than its
    retry window would (the real stores raise StoreError once their retries run out)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.down = False
        self.url = inner.url

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise flightlog.StoreError(f"store {self.url} is unreachable (test outage)")
            return attribute(*args, **kwargs)

        return call


@pytest.fixture(params=STORE_KINDS)
def outage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Flightlog, Unreachable]]:
    store = Unreachable(open_store(store_url(request.param, request, tmp_path)))
    recorder = Flightlog(store)  # type: ignore[arg-type]
    yield recorder, store
    store.down = False
    recorder.close()


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_run_whose_end_cannot_be_recorded_ends_resumable(
    outage: tuple[Flightlog, Unreachable],
) -> None:
    fl, store = outage
    calls: list[str] = []

    @fl.task
    def first() -> int:
        calls.append("first")
        return 1

    @fl.task
    def second(x: int) -> int:
        calls.append("second")
        store.down = len(calls) == 2  # the store goes away while the first call runs
        return x + 1

    @fl.workflow
    def flow() -> int:
        return second(first())

    with pytest.raises(flightlog.StoreError, match="unreachable"):
        flow.run(run_id="out")
    store.down = False
    assert fl.get_status("out") == "RESUMABLE"  # at once, in this process
    # ... and in the store itself, for every other reader, once it answers again
    assert wait_for(lambda: store.inner.get_run("out").status.value == "RESUMABLE")  # type: ignore[union-attr]
    run = store.inner.get_run("out")
    assert run is not None and run.end_time is not None
    calls.clear()
    assert fl.resume("out") == 2
    assert calls == ["second"]
    assert fl.get_status("out") == "SUCCESSFUL"


def test_a_run_given_up_can_be_canceled_by_its_own_process(
    outage: tuple[Flightlog, Unreachable],
) -> None:
    fl, store = outage

    @fl.workflow
    def flow() -> int:
        store.down = not fl.get_metadata("gone")["resumes"]  # down during the first attempt
        return 1

    with pytest.raises(flightlog.StoreError):
        flow.run(run_id="gone")
    store.down = False
    fl.cancel("gone")
    assert fl.get_status("gone") == "CANCELED"
    assert fl.resume("gone") == 1
