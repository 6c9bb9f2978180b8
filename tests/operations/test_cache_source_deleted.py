"""A cached step whose source run is deleted between the cache lookup and the step's record
still names a run that exists (another holder of the result, or its own run)."""

from __future__ import annotations

from typing import Any

import pytest

from flightlog import Flightlog
from flightlog.model import Origin, Status, Step


def _embed(fl: Flightlog) -> Any:
    @fl.task(cache=True)
    def embed(x: int) -> str:
        return "e" * x

    @fl.workflow
    def pipeline(x: int) -> str:
        return embed(x)

    return pipeline


def _delete_after_lookup(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch, victims: list[str]
) -> None:
    """The store's cache lookup finds its step, then (once) the named runs are deleted,
    as a gc in another process would do before the step is recorded."""
    store = fl.store
    lookup = store.find_cached

    def find_then_delete(task_id: str, execution_id: str) -> Step | None:
        hit = lookup(task_id, execution_id)
        while victims:
            run = store.get_run(victims.pop(0))
            assert run is not None
            assert store.delete_run(
                run.run_id, expected_status=run.status, expected_resumes=run.resumes
            )
        return hit

    monkeypatch.setattr(store, "find_cached", find_then_delete)


def test_a_cached_step_whose_only_source_went_names_its_own_run(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _embed(fl)
    pipeline.run(3, run_id="source")
    _delete_after_lookup(fl, monkeypatch, ["source"])
    pipeline.run(3, run_id="taker")
    (step,) = fl.store.list_steps("taker")
    assert (step.origin, step.status) == (Origin.CACHED, Status.SUCCESSFUL)
    assert fl.store.get_run("source") is None
    assert step.source_run == "taker"
    assert fl.get_step_result("taker", "embed") == "eee"
