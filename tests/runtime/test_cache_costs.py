"""What a cache-enabled step writes and reads on the SQL stores: a step that computes its key
ends with one transaction (its end record and the release of its claim); a hit checks that
the run it names is still there with one key read, not by reading that run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.model import Origin, ResourceStatus, Status
from flightlog.runtime.cache_claims import collection_of

from ..store_urls import store_url

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_fl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flightlog]:
    recorder = flightlog.open(store_url(request.param, request, tmp_path))
    yield recorder
    recorder.close()


def counting(fl: Flightlog, *names: str) -> dict[str, int]:
    """Count the calls of these store methods made by this thread, which runs the steps
    (background threads, e.g. the run's monitor, read the store too). The methods still run."""
    calls = dict.fromkeys(names, 0)
    mine = threading.get_ident()
    for name in names:
        method = getattr(fl.store, name)

        def counted(
            *args: Any, _name: str = name, _method: Callable[..., Any] = method, **kwargs: Any
        ) -> Any:
            if threading.get_ident() == mine:
                calls[_name] += 1
            return _method(*args, **kwargs)

        setattr(fl.store, name, counted)
    return calls


def test_a_computing_step_ends_and_lets_go_of_its_claim_in_one_write(sql_fl: Flightlog) -> None:
    @sql_fl.task(cache=True)
    def square(x: int) -> int:
        return x * x

    @sql_fl.workflow
    def flow(n: int) -> int:
        return sum(square(i) for i in range(n))

    calls = counting(sql_fl, "finish_step_releasing", "finish_resource", "finish_step")
    assert flow.run(3, run_id="first") == 5
    assert calls["finish_step_releasing"] == 3
    assert calls["finish_resource"] == 0
    steps = sql_fl.store.list_steps("first")
    assert [step.status for step in steps] == [Status.SUCCESSFUL] * 3
    for step in steps:
        assert step.execution_id is not None
        claim = sql_fl.store.get_resource(collection_of(step.task_id), step.execution_id)
        assert claim is not None and claim.status is ResourceStatus.COMPLETED
        assert claim.owner is None and claim.lease_expires is None


def test_a_failing_step_lets_go_of_its_claim_with_its_error(sql_fl: Flightlog) -> None:
    @sql_fl.task(cache=True)
    def broken(x: int) -> int:
        raise ValueError(f"no {x}")

    @sql_fl.workflow
    def flow() -> int:
        return broken(1)

    with pytest.raises(ValueError, match="no 1"):
        flow.run(run_id="failed")
    step = sql_fl.store.get_step("failed", "broken")
    assert step is not None and step.status is Status.FAILED and step.execution_id is not None
    claim = sql_fl.store.get_resource(collection_of(step.task_id), step.execution_id)
    assert claim is not None and claim.status is ResourceStatus.ERROR
    assert claim.error is not None and claim.error.message == "no 1"
    assert claim.owner is None


def test_a_hit_checks_its_source_without_reading_the_run(sql_fl: Flightlog) -> None:
    @sql_fl.task(cache=True)
    def square(x: int) -> int:
        return x * x

    @sql_fl.workflow
    def flow(n: int) -> int:
        return sum(square(i) for i in range(n))

    flow.run(4, run_id="source")
    calls = counting(sql_fl, "get_run", "has_run")
    assert flow.run(4, run_id="served") == 14
    assert calls["has_run"] == 4
    assert calls["get_run"] == 0
    for step in sql_fl.store.list_steps("served"):
        assert step.origin is Origin.CACHED and step.source_run == "source"


def test_has_run_agrees_with_get_run(sql_fl: Flightlog) -> None:
    @sql_fl.workflow
    def flow() -> int:
        return 1

    flow.run(run_id="here")
    assert sql_fl.store.has_run("here")  # type: ignore[attr-defined]
    assert not sql_fl.store.has_run("not-here")  # type: ignore[attr-defined]
    sql_fl.delete_run("here")
    assert not sql_fl.store.has_run("here")  # type: ignore[attr-defined]


def test_finish_step_releasing_respects_the_claims_attempt(sql_fl: Flightlog) -> None:
    """The claim is let go only while it is still the attempt the step took (compare-and-set,
    as ``finish_resource``); the step's end is recorded in any case."""

    @sql_fl.task(cache=True)
    def square(x: int) -> int:
        return x * x

    @sql_fl.workflow
    def flow() -> int:
        return square(2)

    flow.run(run_id="r")
    step = sql_fl.store.get_step("r", "square")
    assert step is not None and step.execution_id is not None
    collection = collection_of(step.task_id)
    claim = sql_fl.store.get_resource(collection, step.execution_id)
    assert claim is not None
    stale = step.copy()
    stale.reason = "recorded again"
    claim.status = ResourceStatus.ERROR
    claim.end_time = time.time()
    claim.attempt += 1  # not the stored attempt: the resource must stay as it is
    sql_fl.store.finish_step_releasing(stale, claim)  # type: ignore[attr-defined]
    again = sql_fl.store.get_step("r", "square")
    assert again is not None and again.reason == "recorded again"
    kept = sql_fl.store.get_resource(collection, step.execution_id)
    assert kept is not None and kept.status is ResourceStatus.COMPLETED
