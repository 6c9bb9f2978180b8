"""The store conformance suite, for flightlog's own stores and for plugin authors.

Subclass :class:`StoreContract` in a test module and give it a ``store`` fixture that yields a
fresh, empty store; pytest then runs every behaviour that a flightlog store must have::

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(...)
            yield store
            store.close()
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import pytest

from .errors import ConflictError, NotFoundError
from .model import Attempt, ErrorInfo, Origin, Owner, Run, RunAttempt, Status, Step, TaskRecord
from .stores import Store
from .testing_blobs import BlobStoreContract
from .testing_cancel import CancelStoreContract
from .testing_copy import CopyStoreContract
from .testing_deleting import DeletingStoreContract
from .testing_live import LiveStoreContract
from .testing_ordering import OrderingStoreContract
from .testing_resource_uses import ResourceUseStoreContract
from .testing_resources import ResourceStoreContract
from .testing_selection import SelectionStoreContract
from .testing_steps import StepListingStoreContract
from .testing_tracking import TrackingStoreContract

__all__ = ["StoreContract", "make_run", "make_step"]


def make_run(run_id: str = "run-1", **fields: Any) -> Run:
    """A `Run` record for store tests: RUNNING, owned by a made-up live process; ``fields``
    replace any of its values."""
    start = time.time()
    values: dict[str, Any] = {
        "workflow": "pipeline",
        "status": Status.RUNNING,
        "start_time": start,
        "created_time": start,
        "owner": Owner(host="host-a", pid=4242, process_start=99, boot_id="boot"),
        "lease_expires": start + 60,
        "environment": {"host": "host-a", "python": "3.11"},
    }
    values.update(fields)
    return Run(run_id=run_id, **values)


def make_step(run_id: str = "run-1", position: int = 0, **fields: Any) -> Step:
    """A SUCCESSFUL `Step` record at ``position`` of run ``run_id`` for store tests (``add``,
    ``add_1`` ...); ``fields`` replace any of its values."""
    start = time.time()
    values: dict[str, Any] = {
        "name": f"add_{position}" if position else "add",
        "task_name": "add",
        "task_id": "t" * 32,
        "execution_id": f"{position:032x}",
        "status": Status.SUCCESSFUL,
        "start_time": start,
        "end_time": start + 0.5,
        "result": str(position * 2),
        "arguments": f'{{"left":{position},"right":{position}}}',
    }
    values.update(fields)
    return Step(run_id=run_id, position=position, **values)


class StoreContract(
    BlobStoreContract,
    CancelStoreContract,
    LiveStoreContract,
    CopyStoreContract,
    DeletingStoreContract,
    OrderingStoreContract,
    ResourceStoreContract,
    ResourceUseStoreContract,
    SelectionStoreContract,
    StepListingStoreContract,
    TrackingStoreContract,
):
    """Every storage behaviour that flightlog relies on. Needs a ``store`` fixture."""

    # -- runs ----------------------------------------------------------------------------------
    def test_create_and_get_run(self, store: Store) -> None:
        run = make_run(tag="exp1", user_metadata={"k": "v"}, arguments='{"args":[3]}')
        store.create_run(run)
        found = store.get_run("run-1")
        assert found is not None
        assert found.run_id == "run-1"
        assert found.workflow == "pipeline"
        assert found.status is Status.RUNNING
        assert found.tag == "exp1"
        assert found.user_metadata == {"k": "v"}
        assert found.arguments == '{"args":[3]}'
        assert found.start_time == run.start_time
        assert found.end_time is None
        assert found.owner == run.owner
        assert found.environment == run.environment
        assert found.step_count == 0

    def test_unknown_run_is_none(self, store: Store) -> None:
        assert store.get_run("nope") is None
        assert store.list_steps("nope") == []
        assert store.get_step("nope", "add") is None

    def test_duplicate_run_id_conflicts(self, store: Store) -> None:
        store.create_run(make_run())
        with pytest.raises(ConflictError, match="run-1"):
            store.create_run(make_run())

    def test_finish_run_records_outcome(self, store: Store) -> None:
        store.create_run(make_run())
        error = ErrorInfo("ValueError", "bad", "Traceback ...\nValueError: bad\n")
        status = store.finish_run("run-1", status=Status.FAILED, end_time=123.5, error=error)
        assert status is Status.FAILED
        found = store.get_run("run-1")
        assert found is not None
        assert found.status is Status.FAILED
        assert found.end_time == 123.5
        assert found.error == error
        assert found.lease_expires is None  # the owner let go
        store.create_run(make_run("run-2"))
        status = store.finish_run(
            "run-2", status=Status.SUCCESSFUL, end_time=124.0, output="6", expected_resumes=0
        )
        assert status is Status.SUCCESSFUL
        found = store.get_run("run-2")
        assert found is not None and found.output == "6" and found.error is None

    def test_finish_run_leaves_a_finished_run_alone(self, store: Store) -> None:
        store.create_run(make_run())
        store.finish_run("run-1", status=Status.SUCCESSFUL, end_time=5.0, output="6")
        for status in (Status.FAILED, Status.SUCCESSFUL):
            again = store.finish_run(
                "run-1", status=status, end_time=9.0, output="7", error=ErrorInfo("E", "m", "")
            )
            assert again is Status.SUCCESSFUL
        found = store.get_run("run-1")
        assert found is not None
        assert (found.status, found.end_time, found.output, found.error) == (
            Status.SUCCESSFUL,
            5.0,
            "6",
            None,
        )

    def test_finish_unknown_run_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.finish_run("nope", status=Status.FAILED, end_time=1.0)
        with pytest.raises(NotFoundError):
            store.finish_run("nope", status=Status.FAILED, end_time=1.0, expected_resumes=0)
        with pytest.raises(NotFoundError):
            store.request_cancel("nope", end_time=1.0)

    def test_restart_run_hands_it_over(self, store: Store) -> None:
        store.create_run(make_run())
        store.finish_run("run-1", status=Status.FAILED, end_time=5.0, error=None)
        owner = Owner(host="host-b", pid=7, process_start=1, boot_id="b")
        run = store.restart_run(
            "run-1", expected_resumes=0, owner=owner, start_time=10.0, lease_expires=70.0
        )
        assert run.status is Status.RUNNING
        assert run.owner == owner
        assert run.start_time == 10.0
        assert run.end_time is None
        assert run.resumes == 1
        with pytest.raises(ConflictError):  # a second claimer read resumes=0 too: too late
            store.restart_run(
                "run-1", expected_resumes=0, owner=owner, start_time=11.0, lease_expires=None
            )
        with pytest.raises(NotFoundError):
            store.restart_run(
                "nope", expected_resumes=0, owner=owner, start_time=1.0, lease_expires=None
            )

    def test_restart_run_keeps_the_history_it_is_given(self, store: Store) -> None:
        run = make_run()
        store.create_run(run)
        found = store.get_run("run-1")
        assert found is not None and found.history == []
        assert found.created_time == run.created_time
        store.finish_run("run-1", status=Status.FAILED, end_time=5.0)
        first = RunAttempt(1, 1.0, 5.0, Status.FAILED, "host-a", 4242)
        owner = Owner(host="host-b", pid=7, process_start=1, boot_id="b")
        store.restart_run(
            "run-1",
            expected_resumes=0,
            owner=owner,
            start_time=10.0,
            lease_expires=70.0,
            history=[first],
        )
        second = RunAttempt(2, 10.0, 12.0, Status.RESUMABLE, "host-b", 7)
        claimed = store.restart_run(
            "run-1",
            expected_resumes=1,
            owner=owner,
            start_time=20.0,
            lease_expires=80.0,
            history=[first, second],
        )
        assert claimed.history == [first, second]
        assert claimed.last_seen == 20.0
        with pytest.raises(ConflictError):  # a late claimer changes nothing
            store.restart_run(
                "run-1",
                expected_resumes=1,
                owner=owner,
                start_time=30.0,
                lease_expires=None,
                history=[first, second, RunAttempt(3, 20.0, 29.0, Status.FAILED, "x", 1)],
            )
        for read in (store.get_run("run-1"), store.list_runs()[0]):
            assert read is not None
            assert read.history == [first, second]
            assert read.created_time == run.created_time
            assert [attempt.number for attempt in read.attempt_records()] == [1, 2, 3]
            assert read.attempt_records()[-1] == RunAttempt(
                3, 20.0, None, Status.RUNNING, "host-b", 7
            )
            read.history.clear()  # the reader's own
        again = store.get_run("run-1")
        assert again is not None and again.history == [first, second]

    def test_renewing_a_lease_records_when_the_owner_was_seen(self, store: Store) -> None:
        store.create_run(make_run("a"))
        before = time.time()
        store.renew_leases(["a"], before + 60)
        found = store.get_run("a")
        assert found is not None and found.last_seen is not None
        assert before <= found.last_seen <= time.time()

    def test_leases_renew_only_running_runs(self, store: Store) -> None:
        store.create_run(make_run("a"))
        store.create_run(make_run("b"))
        store.finish_run("b", status=Status.SUCCESSFUL, end_time=1.0, output="1")
        store.renew_leases(["a", "b", "missing"], 999.0)
        a, b = store.get_run("a"), store.get_run("b")
        assert a is not None and a.lease_expires == 999.0
        assert b is not None and b.lease_expires != 999.0

    def test_list_runs_filters_newest_first(self, store: Store) -> None:
        for index in range(5):
            store.create_run(
                make_run(f"r{index}", workflow="even" if index % 2 == 0 else "odd", tag=f"t{index}")
            )
        store.finish_run("r1", status=Status.FAILED, end_time=1.0)
        assert [run.run_id for run in store.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
        assert [run.run_id for run in store.list_runs(limit=2)] == ["r4", "r3"]
        assert [run.run_id for run in store.list_runs(workflow="even")] == ["r4", "r2", "r0"]
        assert [run.run_id for run in store.list_runs(tag="t3")] == ["r3"]
        assert [run.run_id for run in store.list_runs(statuses=[Status.FAILED])] == ["r1"]
        assert store.list_runs(statuses=[]) == []

    # -- tasks ---------------------------------------------------------------------------------
    def test_record_task_is_idempotent(self, store: Store) -> None:
        task = TaskRecord("t" * 32, "add", "2", {"retries": 1}, {"k": 1}, {"mod.add": "abc"})
        store.record_task(task)
        store.record_task(TaskRecord("t" * 32, "other"))
        assert store.get_task("t" * 32) == task
        assert store.get_task("x") is None

    def test_task_constants_round_trip(self, store: Store) -> None:
        constants = {"pipeline.SCALE": "3", "pipeline.PID": "= os.getpid()"}
        task = TaskRecord(
            "c" * 32, "scale", components={"pipeline.SCALE": "d1"}, constants=constants
        )
        store.record_task(task)
        assert store.get_task("c" * 32) == task
        assert store.tasks_named("scale") == [task]
        store.record_task(TaskRecord("e" * 32, "plain"))
        plain = store.get_task("e" * 32)
        assert plain is not None and plain.constants == {}

    # -- steps ---------------------------------------------------------------------------------
    def test_steps_round_trip_in_call_order(self, store: Store) -> None:
        store.create_run(make_run())
        store.record_task(TaskRecord("t" * 32, "add"))
        for position in (0, 2, 1):
            store.finish_step(make_step(position=position))
        steps = store.list_steps("run-1")
        assert [step.position for step in steps] == [0, 1, 2]
        assert [step.name for step in steps] == ["add", "add_1", "add_2"]
        assert steps[1] == make_step(
            position=1, start_time=steps[1].start_time, end_time=steps[1].end_time
        )
        found = store.get_run("run-1")
        assert found is not None and found.step_count == 3

    def test_step_fields_round_trip(self, store: Store) -> None:
        store.create_run(make_run())
        store.record_task(TaskRecord("t" * 32, "add"))
        error = ErrorInfo("KeyError", "'x'", "Traceback\nKeyError: 'x'\n")
        step = make_step(
            position=3,
            name="fetch",
            parent="outer",
            status=Status.FAILED,
            result=None,
            error=error,
            user_metadata={"a": [1, 2]},
            options={"recompute": True},
            log="INFO x: hello\nprinted\n",
            attempts=[
                Attempt(1, 10.0, 11.0, Status.FAILED, ErrorInfo("E", "first", "tb1")),
                Attempt(2, 12.0, 13.0, Status.FAILED, error),
            ],
            start_time=10.0,
            end_time=13.0,
        )
        store.finish_step(step)
        found = store.get_step("run-1", "fetch")
        assert found == step

    def test_replayed_and_cached_origins_round_trip(self, store: Store) -> None:
        store.create_run(make_run())
        step = make_step(origin=Origin.CACHED, source_run="old-run", attempts=[])
        store.finish_step(step)
        found = store.get_step("run-1", "add")
        assert found is not None
        assert found.origin is Origin.CACHED and found.source_run == "old-run"

    def test_late_start_never_overwrites_finished_step(self, store: Store) -> None:
        store.create_run(make_run())
        finished = make_step()
        store.finish_step(finished)
        store.start_step(make_step(status=Status.RUNNING, end_time=None, result=None))
        found = store.get_step("run-1", "add")
        assert found is not None and found.status is Status.SUCCESSFUL

    def test_start_then_finish_replaces(self, store: Store) -> None:
        store.create_run(make_run())
        store.start_step(make_step(status=Status.RUNNING, end_time=None, result=None))
        running = store.get_step("run-1", "add")
        assert running is not None and running.status is Status.RUNNING
        store.finish_step(make_step())
        found = store.list_steps("run-1")
        assert len(found) == 1 and found[0].status is Status.SUCCESSFUL

    def test_a_fanout_mark_is_read_while_running_and_after(self, store: Store) -> None:
        # The first step of a ``map`` carries the map's size in its options (flightlog
        # watch draws its bar from it): seen on the running step and on the finished one,
        # the other steps of the map plain (the common record).
        store.create_run(make_run())
        store.start_step(
            make_step(status=Status.RUNNING, end_time=None, result=None, options={"fanout": 3})
        )
        store.start_step(make_step(position=1, name="add_1", status=Status.RUNNING,
                                   end_time=None, result=None))  # fmt: skip
        assert [step.options for step in store.list_steps("run-1")] == [{"fanout": 3}, {}]
        store.finish_step(make_step(options={"fanout": 3}))
        assert [step.options for step in store.steps_page("run-1", limit=1)] == [{"fanout": 3}]

    def test_step_of_unknown_run_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.finish_step(make_step(run_id="ghost"))

    def test_steps_of_runs_stay_apart(self, store: Store) -> None:
        store.create_run(make_run("a"))
        store.create_run(make_run("b"))
        store.finish_step(make_step("a", 0))
        store.finish_step(make_step("b", 0, name="other"))
        assert [step.name for step in store.list_steps("a")] == ["add"]
        assert [step.name for step in store.list_steps("b")] == ["other"]

    def test_find_cached_only_successful_cache_enabled(self, store: Store) -> None:
        store.create_run(make_run())
        store.finish_step(make_step(position=0, cache=False, execution_id="e0"))
        store.finish_step(
            make_step(position=1, cache=True, execution_id="e1", status=Status.FAILED)
        )
        assert store.find_cached("t" * 32, "e0") is None
        assert store.find_cached("t" * 32, "e1") is None
        store.finish_step(make_step(position=2, cache=True, execution_id="e1", result="42"))
        hit = store.find_cached("t" * 32, "e1")
        assert hit is not None and hit.result == "42" and hit.run_id == "run-1"
        assert store.find_cached("other", "e1") is None

    def test_find_cached_skips_steps_served_from_cache(self, store: Store) -> None:
        store.create_run(make_run("a"))
        store.create_run(make_run("b"))
        store.finish_step(make_step("a", 0, cache=True, execution_id="e", result="1"))
        store.finish_step(
            make_step(
                "b",
                0,
                cache=True,
                execution_id="e",
                result="1",
                origin=Origin.CACHED,
                source_run="a",
                end_time=time.time() + 100,
            )
        )
        hit = store.find_cached("t" * 32, "e")
        assert hit is not None and hit.run_id == "a"
        replayed = make_step("a", 0, cache=True, execution_id="e", result="1")
        replayed.origin = Origin.REPLAYED
        replayed.source_run = "a"
        store.finish_step(replayed)
        hit = store.find_cached("t" * 32, "e")
        assert hit is not None and hit.run_id == "a"

    def test_concurrent_writers_lose_nothing(self, store: Store) -> None:
        runs = [f"run-{index}" for index in range(4)]
        for run_id in runs:
            store.create_run(make_run(run_id))
        errors: list[BaseException] = []

        def write(run_id: str) -> None:
            try:
                for position in range(50):
                    store.finish_step(make_step(run_id, position))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=write, args=(run_id,)) for run_id in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for run_id in runs:
            assert len(store.list_steps(run_id)) == 50

    def test_steps_read_are_the_readers_own(self, store: Store) -> None:
        store.create_run(make_run())
        first = Attempt(1, 1.0, 2.0, Status.FAILED, ErrorInfo("ValueError", "no", "tb"))
        store.finish_step(
            make_step(attempts=[first], user_metadata={"k": "v"}, options={"retries": 1})
        )
        for read in (store.get_step("run-1", "add"), store.list_steps("run-1")[0]):
            assert read is not None
            read.attempts.append(first)
            read.user_metadata["k"] = "changed"
            read.options.clear()
            read.status = Status.FAILED
        again = store.get_step("run-1", "add")
        assert again is not None
        assert again.attempts == [first]
        assert again.user_metadata == {"k": "v"}
        assert again.options == {"retries": 1}
        assert again.status is Status.SUCCESSFUL

    def test_readers_see_whole_steps_while_threads_write(self, store: Store) -> None:
        store.create_run(make_run("shared"))
        errors: list[BaseException] = []
        writing = threading.Event()
        writing.set()

        def write(first: int) -> None:
            try:
                for position in range(first, 300, 2):
                    store.start_step(make_step("shared", position, status=Status.RUNNING))
                    store.finish_step(make_step("shared", position))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        def read() -> None:
            try:
                while writing.is_set():
                    for step in store.list_steps("shared"):
                        assert step.status in (Status.RUNNING, Status.SUCCESSFUL)
                        assert step.status is Status.RUNNING or step.result is not None
                    store.get_step("shared", "add_299")
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        readers = [threading.Thread(target=read) for _ in range(2)]
        writers = [threading.Thread(target=write, args=(first,)) for first in (0, 1)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads take turns often: races show
        try:
            for thread in readers + writers:
                thread.start()
            for thread in writers:
                thread.join()
        finally:
            writing.clear()
            for thread in readers:
                thread.join()
            sys.setswitchinterval(interval)
        assert errors == []
        steps = store.list_steps("shared")
        assert [step.position for step in steps] == list(range(300))
        assert {step.status for step in steps} == {Status.SUCCESSFUL}

    def test_schema_version_is_current(self, store: Store) -> None:
        from .stores.base import SCHEMA_VERSION

        assert store.schema_version() == SCHEMA_VERSION
