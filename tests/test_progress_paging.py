"""``fl.progress`` (what ``flightlog watch`` polls) reads a run a page of steps at a time, and
counts as it did when it read the run whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import live_query


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_progress_reads_pages_and_counts_a_map(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path}/p.db"
    with flightlog.open(url) as fl:

        @fl.task
        def square(x: int) -> int:
            if x == 7:
                raise ValueError("seven")
            return x * x

        @fl.workflow
        def fan() -> int:
            return len(square.map(range(25), return_exceptions=True))

        fan.run(run_id="fan")
        expected = live_query.fanouts(fl.steps("fan"))
        monkeypatch.setattr(live_query, "LOG_PAGE", 4)
        pages: list[Any] = []
        for name in ("steps_page", "step_rows"):
            method = getattr(fl.store, name, None)
            if method is not None:

                def counted(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
                    found = _method(*args, **kwargs)
                    pages.append(len(found))
                    return found

                monkeypatch.setattr(fl.store, name, counted)

        def whole(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("progress read the whole run")

        if kind == "sqlite":  # (the memory store's pages are cut from the whole run)
            monkeypatch.setattr(fl.store, "list_steps", whole)
        found = fl.progress("fan")
    assert pages and max(pages) <= 4 and sum(pages) == 25
    assert (found["done"], found["failed"], found["running"]) == (24, 1, 0)
    assert (found["total"], found["ended"], found["fanout"]) == (25, 25, "square")
    assert expected == [
        {"step": "square", "task_name": "square", "parent": None, "total": 25, "ended": 25,
         "done": 24, "failed": 1}
    ]  # fmt: skip
