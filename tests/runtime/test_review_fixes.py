"""Defects found in a review of the session's changes (lazy resume, fan-out marks, cache
steps), each pinned by the behaviour that was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

import flightlog

pytestmark = pytest.mark.timeout(120)


def test_a_resumed_map_marks_its_own_size_on_a_replayed_first_step(tmp_path: Path) -> None:
    """The first step of a ``map`` carries the map's size; when a resume replays that step,
    the mark must be this attempt's map, not the earlier attempt's (which had other items)."""
    items = [1, 2, 3]
    switch = {"fail": True}
    with flightlog.open(f"sqlite:///{tmp_path}/s.db") as fl:

        @fl.task
        def square(x: int) -> int:
            return x * x

        @fl.task
        def finish(values: list[int]) -> int:
            if switch["fail"]:
                raise RuntimeError("stopped on purpose")
            return sum(values)

        @fl.workflow
        def flow() -> int:
            return finish(square.map(list(items)))

        with pytest.raises(RuntimeError, match="stopped on purpose"):
            flow.run(run_id="m")
        switch["fail"] = False
        items.extend([4, 5])  # the items grew (e.g. new files) before the resume
        assert flow.run(run_id="m") == 55
        progress = fl.progress("m")
        assert progress["fanout"] == "square"
        assert (progress["total"], progress["ended"]) == (5, 5)
        marks = {step["name"]: step["step_options"].get("fanout") for step in fl.steps("m")}
        assert marks["square"] == 5 and marks["square_3"] is None
