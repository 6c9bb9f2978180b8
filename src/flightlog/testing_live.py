"""The store conformance suite, part 4: live recording (a running step's log, appended to
while it runs, and metric chunks written before its end).

Mixed into :class:`flightlog.testing.StoreContract`; see there for how to use it.
"""

from __future__ import annotations

import threading
import time
from array import array

from .model import MetricChunk, Owner, Run, Status, Step
from .stores import Store

__all__ = ["LiveStoreContract"]


def _run(run_id: str = "run-1") -> Run:
    start = time.time()
    return Run(
        run_id=run_id,
        workflow="pipeline",
        status=Status.RUNNING,
        start_time=start,
        created_time=start,
        owner=Owner(host="host-a", pid=4242, process_start=99, boot_id="boot"),
        lease_expires=start + 60,
    )


def _step(status: Status = Status.RUNNING, log: str = "", position: int = 0) -> Step:
    start = time.time()
    step = Step(
        run_id="run-1",
        name=f"work_{position}" if position else "work",
        position=position,
        task_name="work",
        task_id="a" * 32,
        execution_id=f"{position:032x}",
        status=status,
        start_time=start,
    )
    if status is not Status.RUNNING:
        step.end_time = start + 1
        step.result = "1"
    step.log = log
    return step


class LiveStoreContract:
    """``append_step_log`` and metrics written while a step runs. Needs a ``store`` fixture."""

    def test_appending_to_a_running_step_log(self, store: Store) -> None:
        store.create_run(_run())
        store.start_step(_step())
        assert store.append_step_log("run-1", 0, "first line\n") is True
        assert store.append_step_log("run-1", 0, "second ") is True
        assert store.append_step_log("run-1", 0, "line\n") is True
        found = store.get_step("run-1", "work")
        assert found is not None
        assert found.status is Status.RUNNING
        assert found.log == "first line\nsecond line\n"

    def test_the_end_record_replaces_the_live_log(self, store: Store) -> None:
        store.create_run(_run())
        store.start_step(_step())
        store.append_step_log("run-1", 0, "partial\n")
        store.finish_step(_step(Status.SUCCESSFUL, log="partial\nwhole\n"))
        found = store.get_step("run-1", "work")
        assert found is not None and found.log == "partial\nwhole\n"

    def test_a_late_append_never_changes_a_finished_step(self, store: Store) -> None:
        store.create_run(_run())
        store.start_step(_step())
        store.finish_step(_step(Status.SUCCESSFUL, log="all of it\n"))
        assert store.append_step_log("run-1", 0, "late\n") is False
        found = store.get_step("run-1", "work")
        assert found is not None
        assert found.status is Status.SUCCESSFUL and found.log == "all of it\n"

    def test_appending_to_an_absent_step_or_run_does_nothing(self, store: Store) -> None:
        assert store.append_step_log("no-such-run", 0, "x") is False
        store.create_run(_run())
        assert store.append_step_log("run-1", 3, "x") is False
        assert store.list_steps("run-1") == []

    def test_appends_keep_other_fields_and_steps(self, store: Store) -> None:
        store.create_run(_run())
        running = _step()
        running.arguments = '{"x":1}'
        running.user_metadata = {"k": "v"}
        store.start_step(running)
        store.start_step(_step(position=1))
        store.append_step_log("run-1", 1, "only the second\n")
        first, second = store.list_steps("run-1")
        assert first.log == "" and first.arguments == '{"x":1}'
        assert first.user_metadata == {"k": "v"}
        assert second.log == "only the second\n"

    def test_appends_from_threads_lose_nothing(self, store: Store) -> None:
        store.create_run(_run())
        store.start_step(_step())

        def append(index: int) -> None:
            for line in range(10):
                store.append_step_log("run-1", 0, f"{index}:{line}\n")

        threads = [threading.Thread(target=append, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        found = store.get_step("run-1", "work")
        assert found is not None
        assert sorted(found.log.splitlines()) == sorted(
            f"{index}:{line}" for index in range(4) for line in range(10)
        )

    def test_metric_chunks_of_a_running_step_before_its_end(self, store: Store) -> None:
        store.create_run(_run())
        store.start_step(_step())
        early = MetricChunk("loss", 0, "work", array("q", [0, 1]), [0.9, 0.8], array("d", [1, 2]))
        store.record_tracked("run-1", metrics=[early])
        late = MetricChunk("loss", 0, "work", array("q", [2]), [0.7], array("d", [3]))
        store.finish_step(_step(Status.SUCCESSFUL), metrics=[late])
        chunks = store.list_metrics("run-1", "loss")
        assert [list(chunk.steps) for chunk in chunks] == [[0, 1], [2]]
        assert [chunk.position for chunk in chunks] == [0, 0]
        assert [chunk.step_name for chunk in chunks] == ["work", "work"]
