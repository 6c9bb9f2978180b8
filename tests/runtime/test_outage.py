"""A store outage at the end of a run: the owner gives the run up (RESUMABLE), and the same
process can resume or cancel it once the store answers again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.model import Owner
from flightlog.runtime.monitor import MONITOR
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


def test_a_run_recorded_resumable_after_an_outage_can_be_canceled(
    outage: tuple[Flightlog, Unreachable],
) -> None:
    fl, store = outage

    @fl.workflow
    def flow() -> int:
        store.down = True
        return 1

    with pytest.raises(flightlog.StoreError):
        flow.run(run_id="late")
    store.down = False
    assert wait_for(lambda: store.inner.get_run("late").status.value == "RESUMABLE")  # type: ignore[union-attr]
    fl.cancel("late")  # a stored RESUMABLE run is canceled (it looped for ever)
    assert fl.get_status("late") == "CANCELED"


def test_a_late_resumable_end_does_not_end_another_attempt(
    outage: tuple[Flightlog, Unreachable],
) -> None:
    fl, store = outage

    @fl.workflow
    def flow() -> int:
        store.down = True
        return 1

    with pytest.raises(flightlog.StoreError):
        flow.run(run_id="split")
    # While this process cannot reach the store, another host takes the run over.
    inner = store.inner
    run = inner.get_run("split")
    assert run is not None
    other = Owner(host="elsewhere", pid=1, process_start=1, boot_id="other")
    inner.restart_run(
        "split", expected_resumes=run.resumes, owner=other, start_time=1.0, lease_expires=2e9
    )
    store.down = False
    # The given-up end is tried once the store answers, and must change nothing.
    assert wait_for(lambda: (id(store), "split") not in MONITOR._given_up)
    taken = inner.get_run("split")
    assert taken is not None and taken.status.value == "RUNNING" and taken.owner == other


def test_what_the_run_body_tracked_cannot_leave_it_running(
    outage: tuple[Flightlog, Unreachable],
) -> None:
    fl, store = outage

    @fl.workflow
    def flow() -> int:
        flightlog.track(loss=0.5)
        store.down = True
        return 1

    with pytest.raises(flightlog.StoreError):
        flow.run(run_id="tracked")
    store.down = False
    assert fl.get_status("tracked") == "RESUMABLE"


def test_a_step_whose_end_failed_once_is_recorded_at_the_run_end(
    outage: tuple[Flightlog, Unreachable],
) -> None:
    fl, store = outage
    finish_step = store.inner.finish_step
    failures = {"left": 1}

    def flaky_finish(step: Any, **kwargs: Any) -> None:
        if step.name == "work" and failures["left"]:
            failures["left"] -= 1
            raise flightlog.StoreError("the store hiccuped")
        finish_step(step, **kwargs)

    store.inner.finish_step = flaky_finish  # type: ignore[method-assign]

    @fl.task
    def work() -> int:
        return 7

    @fl.workflow
    def flow() -> int:
        try:
            return work()
        except flightlog.StoreError:
            return -1

    assert flow.run(run_id="hiccup") == -1
    step = fl.get_metadata("hiccup", name="work")
    assert (step["status"], fl.get_step_result("hiccup", "work")) == ("SUCCESSFUL", 7)


def test_an_unreachable_store_does_not_stop_the_monitor_for_other_runs(
    outage: tuple[Flightlog, Unreachable],
) -> None:
    fl, store = outage

    @fl.workflow
    def lost() -> int:
        store.down = True
        return 1

    with pytest.raises(flightlog.StoreError):
        lost.run(run_id="lost")  # its store stays down: its RESUMABLE end waits
    other = flightlog.open("memory://")
    failed_once = threading.Event()

    @other.task(retries=3, retry_delay=30)
    def flaky() -> None:
        failed_once.set()
        raise ConnectionError("down")

    @other.workflow
    def flow() -> None:
        flaky()

    try:
        handle = flow.run_async(run_id="watched")
        assert failed_once.wait(10)
        other.store.request_cancel("watched", end_time=time.time())  # as another process would
        with pytest.raises(flightlog.CanceledError):
            handle.result(10)  # the monitor noticed the request within a poll
    finally:
        store.down = False
        other.close()
