"""Resuming a big run reads only what it needs: the steps' names and positions at once, each
step's record in pages as the workflow calls it; replayed steps are written together."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.model import Step
from flightlog.runtime import recorded as recorded_module
from flightlog.runtime import state as state_module
from flightlog.runtime.recorded import RecordedSteps, read_recorded
from flightlog.runtime.state import REPLAY_BATCH
from tests.store_urls import store_url

pytestmark = pytest.mark.timeout(120)


def define(fl: Flightlog, switch: dict[str, Any]) -> Any:
    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.task
    def finish(total: int) -> int:
        check = switch.get("check")
        if check is not None:
            check()
        if switch.get("fail"):
            raise RuntimeError("stopped on purpose")
        return total

    @fl.workflow
    def pipeline(n: int) -> int:
        total = 0
        for index in range(n):
            total += add(index, 1)
        return finish(total)

    return pipeline


def failed_run(fl: Flightlog, steps: int) -> dict[str, Any]:
    switch: dict[str, Any] = {"fail": True}
    pipeline = define(fl, switch)
    with pytest.raises(RuntimeError, match="stopped on purpose"):
        pipeline.run(steps, run_id="big")
    switch.clear()
    return switch


def counting(store: Any, name: str, calls: list[Any]) -> None:
    """Count the calls of one method of this store object (its own attribute wraps it)."""
    method = getattr(store, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        found = method(*args, **kwargs)
        calls.append((args, kwargs, found))
        return found

    setattr(store, name, wrapper)


def test_resume_of_a_big_run_reads_its_records_a_page_at_a_time(sqlite_url: str) -> None:
    steps = 3000
    with flightlog.open(sqlite_url) as fl:
        failed_run(fl, steps)
        whole: list[Any] = []
        pages: list[Any] = []
        counting(fl.store, "list_steps", whole)
        counting(fl.store, "steps_page", pages)
        assert fl.resume("big") == sum(range(1, steps + 1))
        assert not [call for call in whole if call[0] == ("big",)]
        sizes = [len(found) for _, _, found in pages]
        assert max(sizes) <= recorded_module.PAGE
        assert sum(sizes) <= steps + recorded_module.PAGE  # each record read about once
        assert len(pages) < steps // 100
        origins = [step["origin"] for step in fl.iter_steps("big")]
        assert origins == ["replayed"] * steps + ["executed"]


def test_resume_holds_a_fraction_of_what_the_whole_run_takes(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages and batches smaller than a real run's, for a run small enough for a test: what
    # is held then is the names and positions, and a page.
    monkeypatch.setattr(recorded_module, "PAGE", 128)
    monkeypatch.setattr(state_module, "REPLAY_BATCH", 100)
    steps = 4000
    with flightlog.open(sqlite_url) as fl:
        switch = {"fail": True}

        @fl.task
        def text(index: int) -> str:
            return f"{index:06d}" * 300  # a result of 1,800 characters

        @fl.task
        def finish(count: int) -> int:
            if switch.get("fail"):
                raise RuntimeError("stopped on purpose")
            return count

        @fl.workflow
        def pipeline(n: int) -> int:
            return finish(sum(len(text(index)) for index in range(n)))

        with pytest.raises(RuntimeError, match="stopped on purpose"):
            pipeline.run(steps, run_id="big")
        switch.clear()
        tracemalloc.start()
        try:
            held = fl.store.list_steps("big")
            whole = tracemalloc.get_traced_memory()[0]
            del held
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            fl.resume("big")
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert fl.get_status("big") == "SUCCESSFUL"
        assert peak < whole / 3, (peak, whole)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_replayed_steps_are_written_together(
    kind: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    steps = 2 * REPLAY_BATCH + 7
    with flightlog.open(store_url(kind, request, tmp_path)) as fl:
        failed_run(fl, steps)
        single: list[Any] = []
        batches: list[Any] = []
        counting(fl.store, "finish_step", single)
        counting(fl.store, "finish_steps", batches)
        fl.resume("big")
        replayed = [len(call[0][0]) for call in batches]
        assert replayed == [REPLAY_BATCH, REPLAY_BATCH, 7]
        # only the step run again (its RUNNING record, with its earlier attempt; its end)
        assert [call[0][0].name for call in single] == ["finish", "finish"]
        assert [step["origin"] for step in fl.steps("big")].count("replayed") == steps


def test_replays_are_written_before_a_step_executes(sqlite_url: str) -> None:
    with flightlog.open(sqlite_url) as fl:
        switch = failed_run(fl, 10)
        seen: list[list[str]] = []

        def look() -> None:
            with flightlog.open(sqlite_url) as reader:  # another connection
                seen.append([step["origin"] for step in reader.steps("big")])

        switch["check"] = look
        fl.resume("big")
        assert seen == [["replayed"] * 10 + ["executed"]]


def test_recorded_steps_read_lazily_claim_each_record_once(sqlite_url: str) -> None:
    steps = 300
    with flightlog.open(sqlite_url) as fl:
        failed_run(fl, steps)
        recorded = read_recorded(fl.store, "big")
        assert len(recorded) == steps + 1 and recorded.reads == 0
        assert recorded.latest > 0
        first = recorded.pop("add")
        assert isinstance(first, Step) and first.result == "1" and recorded.reads == 1
        assert recorded.pop("add") is None
        recorded.discard("add_1")
        assert recorded.pop("add_1") is None
        rest = list(recorded.values())
        assert [step.position for step in rest] == list(range(2, steps + 1))
        assert recorded.pop("finish") is not None and recorded.pop("nope") is None


def test_recorded_steps_out_of_order_shrink_their_pages() -> None:
    made = [Step("r", f"s_{n}", n, "s", "t") for n in range(5000)]
    reads: list[int] = []

    def fetch(position: int, limit: int) -> list[Step]:
        reads.append(limit)
        return made[position : position + limit]

    recorded = RecordedSteps({step.name: step.position for step in made}, {}, fetch)
    order: Callable[[int], int] = lambda n: (n * 2654435761) % 5000  # noqa: E731
    names = {f"s_{order(n)}" for n in range(5000)}
    assert len(names) == 5000
    for name in sorted(names, key=lambda name: order(int(name[2:]))):
        step = recorded.pop(name)
        assert step is not None and step.name == name
    assert max(reads) <= recorded_module.PAGE
    assert sum(reads) <= 2 * len(reads) * recorded_module.FIRST_PAGE  # pages shrank


def test_sub_steps_replayed_on_a_worker_come_back_replayed(tmp_path: Any) -> None:
    from tests.executors.test_fanout import Deferred

    fl = flightlog.open(f"sqlite:///{tmp_path}/remote.db", executor=Deferred())
    bad = {"on": True}

    @fl.task
    def part(x: int) -> int:
        return x

    @fl.task
    def whole(n: int) -> int:
        total = sum(part(x) for x in range(n))
        if bad["on"]:  # after its sub-steps: on resume, they all replay
            raise ValueError("not yet")
        return total

    @fl.workflow
    def flow() -> int:
        future = whole.submit(3)
        deferred = flow.executor
        assert isinstance(deferred, Deferred)
        deferred.deliver()
        deferred.held.clear()
        return future.result(timeout=10)

    try:
        with pytest.raises(ValueError):
            flow.run(run_id="remote")
        bad["on"] = False
        assert flow.run(run_id="remote") == 3
        origins = {step.name: step.origin.value for step in fl.store.list_steps("remote")}
        assert origins == {
            "whole": "executed",
            "whole.part": "replayed",
            "whole.part_1": "replayed",
            "whole.part_2": "replayed",
        }
    finally:
        fl.close()


def test_remote_steps_on_resume_read_only_their_own_sub_steps(tmp_path: Any) -> None:
    """Each step sent to a worker takes its recorded sub-steps along: found by name, not by
    reading every record the run has left (which made a resume of a remote fan-out read the
    run once per step)."""
    from tests.executors.test_fanout import Deferred

    fl = flightlog.open(f"sqlite:///{tmp_path}/remote.db", executor=Deferred())
    bad = {"on": True}
    items = 150

    @fl.task
    def part(x: int) -> int:
        return x

    @fl.task
    def whole(n: int) -> int:
        total = part(n) + part(n + 1)
        if bad["on"]:  # after its sub-steps: on resume, they replay
            raise ValueError("not yet")
        return total

    @fl.workflow
    def flow() -> int:
        futures = [whole.submit(n) for n in range(items)]
        deferred = flow.executor
        assert isinstance(deferred, Deferred)
        deferred.deliver()
        deferred.held.clear()
        return sum(future.result(timeout=10) for future in futures)

    try:
        with pytest.raises(Exception, match="not yet"):
            flow.run(run_id="remote")
        bad["on"] = False
        pages: list[Any] = []
        counting(fl.store, "steps_page", pages)
        assert flow.run(run_id="remote") == sum(2 * n + 1 for n in range(items))
        read = sum(len(found) for _, _, found in pages)
        assert read <= 2 * 3 * items, f"{read} records read for {3 * items} recorded"
        origins = [step.origin.value for step in fl.store.list_steps("remote")]
        assert origins.count("replayed") == 2 * items
    finally:
        fl.close()
