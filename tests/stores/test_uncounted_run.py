"""``get_status`` reads a run without counting its steps, where the store can
(``UncountedRunStore``: the SQL stores count a live run's steps when they read it)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.stores import UncountedRunStore
from tests.store_urls import store_url


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_status_of_a_live_run_is_read_without_its_steps(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with flightlog.open(store_url(kind, request, tmp_path)) as fl:
        store: Any = fl.store
        assert isinstance(store, UncountedRunStore)
        seen: list[str] = []

        @fl.task
        def add(value: int) -> int:
            return value + 1

        @fl.task
        def look() -> None:
            counted = store.get_run("live")
            assert counted is not None and counted.step_count == 30  # (this one is not written yet)
            uncounted = store.get_run_uncounted("live")
            assert uncounted == dataclasses.replace(counted, step_count=0)
            counting = store.get_run
            here = threading.get_ident()

            def get_run(*args: Any) -> Any:
                if threading.get_ident() == here:  # (not the monitor thread's reads)
                    seen.append("get_run")
                return counting(*args)

            with monkeypatch.context() as patch:
                patch.setattr(store, "get_run", get_run)
                seen.append(fl.get_status("live"))

        @fl.workflow
        def flow() -> None:
            for value in range(30):
                add(value)
            look()

        flow.run(run_id="live")
        assert seen == ["RUNNING"]
        assert store.get_run_uncounted("nope") is None
        assert fl.get_status("live") == "SUCCESSFUL"
