"""The common runs page from the store's indexes gives what reading every run gives."""

from __future__ import annotations

import time

import pytest

import flightlog
from flightlog.browse import RunFilter
from flightlog.browse import runs as runs_module
from flightlog.model import ErrorInfo, Run, Status


def test_the_indexed_page_equals_the_page_read_from_every_run(
    fl: flightlog.Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time() - 1_000
    for number in range(23):
        run_id = f"run-{number:02d}"
        fl.store.create_run(
            Run(run_id, f"flow{number % 3}", Status.RUNNING, tag=f"t{number % 2}",
                arguments="{}", created_time=now + number, start_time=now + number)
        )  # fmt: skip
        failed = number % 4 == 0
        fl.store.finish_run(
            run_id,
            status=Status.FAILED if failed else Status.SUCCESSFUL,
            end_time=now + number + 0.5,
            error=ErrorInfo("ValueError", "bad", "") if failed else None,
            output=None if failed else "1",
        )
    filters = [
        RunFilter(),
        RunFilter(statuses=frozenset({Status.FAILED})),
        RunFilter(statuses=frozenset({Status.SUCCESSFUL, Status.FAILED})),
        RunFilter(since=now + 5, until=now + 12),
        RunFilter(statuses=frozenset({Status.FAILED}), since=now + 4),
    ]
    pages = [(0, 50), (0, 5), (5, 5), (20, 10), (40, 5)]
    indexed = [fl.browse.runs(item, offset=o, limit=n) for item in filters for o, n in pages]
    asked: list[object] = []
    monkeypatch.setattr(runs_module, "indexed_page", lambda *args: asked.append(args))
    every = [fl.browse.runs(item, offset=o, limit=n) for item in filters for o, n in pages]
    assert len(asked) == len(every)  # the reference really read every run
    assert indexed == every
    assert indexed[0]["total"] == 23 and indexed[0]["counts"]["FAILED"] == 6
    assert indexed[0]["workflows"] == ["flow0", "flow1", "flow2"]


def test_the_page_names_a_new_workflow_when_as_many_runs_were_deleted(
    fl: flightlog.Flightlog,
) -> None:
    """A store kept at the same number of runs (old ones deleted as new ones come, as a
    retention policy does) still shows the workflows of its new runs."""

    def record(run_id: str, workflow: str, created: float) -> None:
        fl.store.create_run(
            Run(run_id, workflow, Status.RUNNING, arguments="{}", created_time=created,
                start_time=created)
        )  # fmt: skip
        fl.store.finish_run(run_id, status=Status.SUCCESSFUL, end_time=created + 1, output="1")

    now = time.time() - 1_000
    record("old", "before", now)
    record("kept", "kept", now + 1)
    assert fl.browse.runs()["workflows"] == ["before", "kept"]
    fl.delete_run("old")
    record("new", "after", now + 2)
    page = fl.browse.runs()
    assert [run["run_id"] for run in page["runs"]] == ["new", "kept"]
    assert page["workflows"] == ["after", "kept"]
