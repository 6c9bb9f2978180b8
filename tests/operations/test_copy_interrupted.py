"""A copy interrupted after a finished run's steps were written, and run again, leaves the
run's step counts right in the destination (the counts a finished run keeps are taken when
the run is written, which the first copy did before its steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.operations import copy as copy_module
from flightlog.selection import RunSelection
from flightlog.stores import open_store

pytestmark = pytest.mark.timeout(120)


class Interrupted(Exception):
    pass


def test_a_copy_run_again_after_an_interruption_counts_the_steps(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path}/source.db"
    target = open_store(f"sqlite:///{tmp_path}/target.db")
    failing = {"at": 3}
    with flightlog.open(source_url) as fl:

        @fl.task
        def add(value: int) -> int:
            if value == failing["at"]:
                raise ValueError("not yet")
            return value + 1

        @fl.workflow
        def flow(n: int) -> int:
            return sum(add(value) for value in range(n))

        with pytest.raises(ValueError):
            flow.run(6, run_id="five")
        copy_module.copy_store(source_url, target)  # the failed run, its 4 steps
        failing["at"] = -1
        flow.run(6, run_id="five")  # resumed: 6 steps now, and SUCCESSFUL

    try:
        put_run = target.put_run
        calls: list[Any] = []

        def stopping(run: Any) -> None:  # the process stops before writing the run again
            calls.append(run)
            if len(calls) == 2:  # (the first wrote it SUCCESSFUL, before its new steps)
                raise Interrupted
            put_run(run)

        target.put_run = stopping  # type: ignore[method-assign]
        with pytest.raises(Interrupted):
            copy_module.copy_store(source_url, target)
        target.put_run = put_run  # type: ignore[method-assign]
        copy_module.copy_store(source_url, target)
        found = target.get_run("five")
        assert found is not None and found.step_count == 6
        counted = target.count_statuses(RunSelection())
        assert counted.steps == flightlog_counts(target, "five")
    finally:
        target.close()


def flightlog_counts(store: Any, run_id: str) -> Any:
    """The counts as the steps give them (read and counted one by one)."""
    counted: dict[Any, int] = {}
    for step in store.list_steps(run_id):
        counted[step.status] = counted.get(step.status, 0) + 1
    return counted
