"""``flightlog.copy`` writes steps in batches, and the finished runs it copies keep their step
counts in the destination (``counts`` and ``list_runs`` read them instead of the steps)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.operations import copy as copy_module
from tests.store_urls import store_url


def _recorded(url: str, steps: int) -> None:
    with flightlog.open(url) as fl:

        @fl.task
        def add(value: int) -> int:
            if value < 0:
                raise ValueError("negative")
            return value + 1

        @fl.workflow
        def flow(values: list[int]) -> int:
            total = 0
            for value in values:
                try:
                    total += add(value)
                except ValueError:
                    pass
            return total

        flow.run([*range(steps), -1], run_id="many")
        flow.run([1, 2], run_id="few")


def _kept(path: Path) -> dict[str, tuple[Any, Any]]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute("SELECT run_id, step_count, step_counts FROM runs").fetchall()
    finally:
        connection.close()
    return {row[0]: (row[1], row[2]) for row in rows}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_copied_runs_keep_their_counts_and_steps_go_in_batches(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copy_module, "STEP_BATCH", 100)
    source = f"sqlite:///{tmp_path}/source.db"
    _recorded(source, 250)
    with flightlog.open(store_url(kind, request, tmp_path)) as target:
        batches: list[int] = []
        singles: list[str] = []
        write_many, write_one = target.store.finish_steps, target.store.finish_step
        monkeypatch.setattr(
            target.store,
            "finish_steps",
            lambda found: (batches.append(len(found)), write_many(found)),
        )
        monkeypatch.setattr(
            target.store,
            "finish_step",
            lambda step, **more: (singles.append(step.name), write_one(step, **more)),
        )
        report = flightlog.copy(source, target)
        assert report.steps == 253
        assert sorted(batches) == [2, 51, 100, 100] and singles == []
        assert target.counts() == {
            "runs": {"SUCCESSFUL": 2},
            "steps": {"SUCCESSFUL": 252, "FAILED": 1},
        }
        assert target.get_metadata("many")["step_count"] == 251
        again = flightlog.copy(source, target)
        assert (again.runs, again.steps, again.unchanged) == (0, 0, 2)
    if kind == "sqlite":
        kept = _kept(tmp_path / "store.db")
        assert kept["many"][0] == 251 and '"FAILED":1' in kept["many"][1].replace(" ", "")
        assert kept["few"][0] == 2
