"""Submitted steps and the run context in threads, on the in-process executors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import CanceledError, ConfigurationError, SerializationError, StepFuture
from flightlog.executors import Threads
from flightlog.executors.local import Inline
from flightlog.model import Status


@pytest.fixture
def fl(tmp_path: Path) -> Any:
    recorder = flightlog.open(f"sqlite:///{tmp_path}/fan.db", executor="threads")
    yield recorder
    recorder.close()


def _names(fl: flightlog.Flightlog, run_id: str) -> list[str]:
    return sorted(step.name for step in fl.store.list_steps(run_id))


def test_calls_from_a_users_thread_pool_are_steps_of_the_run(fl: flightlog.Flightlog) -> None:
    @fl.task
    def score(x: int) -> int:
        return x * x

    @fl.workflow
    def pool() -> int:
        with concurrent.futures.ThreadPoolExecutor(4) as executor:
            return sum(executor.map(score, range(8)))

    assert pool.run(run_id="pool") == 140
    assert len(fl.store.list_steps("pool")) == 8
    assert [run.run_id for run in fl.store.list_runs()] == ["pool"]  # no run per call


def test_a_pool_made_outside_a_run_serves_the_run_and_not_afterwards(
    fl: flightlog.Flightlog,
) -> None:
    @fl.task
    def score(x: int) -> int:
        return x + 1

    executor = concurrent.futures.ThreadPoolExecutor(2)

    @fl.workflow
    def pool() -> list[int]:
        return list(executor.map(score, range(3)))

    try:
        assert pool.run(run_id="pool") == [1, 2, 3]
        assert executor.submit(score, 10).result() == 11  # after the run: a run of its own
    finally:
        executor.shutdown()
    assert len(fl.store.list_steps("pool")) == 3
    assert len(fl.store.list_runs()) == 2


def test_threads_and_to_thread_inside_a_run_carry_it(fl: flightlog.Flightlog) -> None:
    @fl.task
    def score(x: int) -> int:
        return x

    @fl.workflow
    async def flow() -> int:
        first = await asyncio.to_thread(score, 1)
        results: list[int] = []
        thread = threading.Thread(target=lambda: results.append(score(2)))
        thread.start()
        thread.join()
        return first + results[0]

    assert asyncio.run(flow.run(run_id="flow")) == 3
    assert _names(fl, "flow") == ["score", "score_1"]


def test_submit_names_steps_in_submission_order_and_children_after_their_parent(
    fl: flightlog.Flightlog,
) -> None:
    release = threading.Event()

    @fl.task
    def leaf(x: int) -> int:
        return x

    @fl.task
    def slow(x: int) -> int:
        if x == 0:
            release.wait(10)  # the first submitted ends last
        else:
            release.set()
        return leaf(x) + leaf(x)

    @fl.workflow
    def flow() -> int:
        futures = [slow.submit(x) for x in range(3)]
        assert all(isinstance(f, StepFuture) for f in futures)
        assert [f.step_name for f in futures] == ["slow", "slow_1", "slow_2"]
        return sum(f.result(timeout=10) for f in futures)

    assert flow.run(run_id="order") == 6
    steps = {step.name: step for step in fl.store.list_steps("order")}
    assert sorted(steps) == sorted(
        ["slow", "slow_1", "slow_2"]
        + [f"{p}.leaf{suffix}" for p in ("slow", "slow_1", "slow_2") for suffix in ("", "_1")]
    )
    assert steps["slow_1.leaf_1"].parent == "slow_1"
    assert steps["slow"].result == "0" and steps["slow_2"].result == "4"


def test_map_ends_every_item_then_raises_the_first_failure(fl: flightlog.Flightlog) -> None:
    @fl.task
    def check(x: int) -> int:
        if x % 3 == 1:
            raise ValueError(f"bad {x}")
        return x

    @fl.workflow
    def flow() -> list[Any]:
        try:
            check.map(range(6))
        except ValueError as error:
            first = str(error)
        again = check.options(name="again").map(range(3), return_exceptions=True)
        return [first, *(repr(value) for value in again)]

    first, zero, one, two = flow.run(run_id="map")
    assert first == "bad 1"
    assert (zero, one, two) == ("0", "ValueError('bad 1')", "2")
    statuses = {step.name: step.status for step in fl.store.list_steps("map")}
    assert len(statuses) == 9  # every item recorded, not only those before the failure
    assert [statuses[f"check_{n}" if n else "check"] for n in range(6)] == [
        Status.SUCCESSFUL,
        Status.FAILED,
        Status.SUCCESSFUL,
        Status.SUCCESSFUL,
        Status.FAILED,
        Status.SUCCESSFUL,
    ]


def test_map_zips_several_iterables_and_submit_outside_a_run_is_a_run(
    fl: flightlog.Flightlog,
) -> None:
    @fl.task
    def add(a: int, b: int) -> int:
        return a + b

    @fl.workflow
    def flow() -> list[int]:
        return add.map([1, 2, 3], [10, 20, 30])

    assert flow.run(run_id="zip") == [11, 22, 33]
    future = add.submit(1, 2)
    assert future.done() and future.result() == 3
    assert add.map([1], [2]) == [3]


def test_a_run_ends_after_the_steps_it_submitted(fl: flightlog.Flightlog) -> None:
    started = threading.Event()

    @fl.task
    def late(x: int) -> int:
        started.set()
        return x

    @fl.workflow
    def flow() -> str:
        late.submit(1)  # never waited for by the workflow
        started.wait(10)
        return "done"

    assert flow.run(run_id="late") == "done"
    (step,) = fl.store.list_steps("late")
    assert step.status is Status.SUCCESSFUL
    assert fl.get_status("late") == "SUCCESSFUL"


def test_a_cancel_stops_submission_and_cancels_queued_steps(tmp_path: Path) -> None:
    fl = flightlog.open(f"sqlite:///{tmp_path}/cancel.db")
    entered, release = threading.Event(), threading.Event()

    @fl.task
    def work(x: int) -> int:
        entered.set()
        release.wait(10)
        return x

    @fl.workflow(executor=Threads(max_workers=1))
    def flow() -> None:
        futures = [work.submit(x) for x in range(5)]
        entered.wait(10)
        fl.cancel(flightlog.runtime.state.CURRENT_RUN.get().run_id)  # type: ignore[union-attr]
        release.set()
        with pytest.raises(CanceledError):
            work.submit(99)
        for future in futures[1:]:
            with pytest.raises(CanceledError):
                future.result(timeout=10)

    try:
        with pytest.raises(CanceledError):
            flow.run(run_id="cancel")
        steps = {step.name: step.status for step in fl.store.list_steps("cancel")}
        assert steps["work"] in (Status.SUCCESSFUL, Status.CANCELED)
        assert [steps[f"work_{n}"] for n in range(1, 5)] == [Status.CANCELED] * 4
        assert fl.get_status("cancel") == "CANCELED"
    finally:
        fl.close()


@pytest.mark.filterwarnings("ignore:.*argument 'lock' cannot be hashed:UserWarning")
def test_an_argument_that_cannot_be_sent_names_the_step_and_type(tmp_path: Path) -> None:
    fl = flightlog.open(f"sqlite:///{tmp_path}/send.db", executor=Deferred())

    @fl.task
    def use(lock: Any) -> str:
        return "never"

    @fl.workflow
    def flow() -> str:
        return use.submit(threading.Lock()).result(timeout=60)

    try:
        with pytest.raises(SerializationError, match=r"step 'use' .*_thread.lock"):
            flow.run(run_id="send")
        (step,) = fl.store.list_steps("send")
        assert step.status is Status.FAILED and step.error is not None
        assert "cannot be sent" in step.error.message
    finally:
        fl.close()


class Deferred(Inline):
    """Runs each step in this process, as a worker would, and delivers the outcomes
    only when told: all at once."""

    name = "deferred"
    local = False
    sends_by_value = True  # the tasks of this test are local functions

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[concurrent.futures.Future[Any], Any]] = []

    def _submit(self, function: Any, *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.held.append((future, function(*args)))
        return future

    def deliver(self) -> None:
        for future, outcome in self.held:
            future.set_result(outcome)


def test_completions_that_arrive_together_are_committed_together(tmp_path: Path) -> None:
    batches: list[int] = []

    deferred = Deferred()
    fl = flightlog.open(f"sqlite:///{tmp_path}/batch.db", executor=deferred)
    finish_steps = fl.store.finish_steps

    def counting(finished: Any) -> None:
        batches.append(len(finished))
        finish_steps(finished)

    fl.store.finish_steps = counting  # type: ignore[method-assign]

    @fl.task
    def square(x: int) -> int:
        return x * x

    @fl.workflow
    def flow() -> list[int]:
        futures = [square.submit(x) for x in range(50)]
        assert not any(future.done() for future in futures)
        deferred.deliver()
        return [future.result(timeout=10) for future in futures]

    try:
        assert flow.run(run_id="batch") == [x * x for x in range(50)]
        assert sum(batches) == 50
        assert len(batches) < 50 and max(batches) > 1
    finally:
        fl.close()


def test_bad_executors_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown executor 'gpu'"):
        flightlog.open(f"sqlite:///{tmp_path}/x.db", executor="gpu")
    with pytest.raises(ConfigurationError, match="max_workers must be an integer"):
        Threads(max_workers=0)
    fl = flightlog.open(f"sqlite:///{tmp_path}/y.db")
    try:
        with pytest.raises(ConfigurationError, match="max_workers"):

            @fl.workflow(max_workers=3)
            def flow() -> None: ...

        @fl.task
        async def later() -> None: ...

        with pytest.raises(flightlog.InvalidInputError, match="is async"):
            later.submit()
    finally:
        fl.close()


def test_a_step_on_a_worker_records_its_log_metrics_attachments_retries_and_timeout(
    tmp_path: Path,
) -> None:
    """The remote path (pickled both ways, as for processes, Ray and Dask), in this process."""
    fl = flightlog.open(f"sqlite:///{tmp_path}/remote.db", executor=Deferred())
    tries: list[int] = []

    @fl.task(retries=2)
    def flaky(x: int) -> int:
        tries.append(x)
        print(f"try {len(tries)}")
        flightlog.track(loss=1.0 / len(tries), step=len(tries))
        flightlog.attach("note.txt", f"x={x}".encode())
        if len(tries) < 3:
            raise RuntimeError(f"flaky {len(tries)}")
        return x

    @fl.task(timeout=0.2)
    def slow() -> None:
        import time

        time.sleep(5)

    @fl.workflow
    def flow() -> int:
        first = flaky.submit(7)
        late = slow.submit()
        fl_executor = flow.executor
        assert isinstance(fl_executor, Deferred)
        fl_executor.deliver()
        with pytest.raises(flightlog.StepTimeoutError):
            late.result(timeout=30)
        return first.result(timeout=30)

    try:
        assert flow.run(run_id="remote") == 7
        step = fl.store.get_step("remote", "flaky")
        assert step is not None and step.status is Status.SUCCESSFUL
        assert [a.status for a in step.attempt_records()] == [
            Status.FAILED,
            Status.FAILED,
            Status.SUCCESSFUL,
        ]
        assert step.log == "try 1\ntry 2\ntry 3\n"
        assert [p["value"] for p in fl.metrics("remote", "loss")] == [1.0, 0.5, 1 / 3]
        (attachment,) = {a["name"]: a for a in fl.attachments("remote")}.values()
        assert fl.store.get_blob(attachment["sha256"]) == b"x=7"
        timed_out = fl.store.get_step("remote", "slow")
        assert timed_out is not None and timed_out.status is Status.FAILED
        assert timed_out.error is not None and "StepTimeoutError" in timed_out.error.type
    finally:
        fl.close()


def test_a_queued_step_starts_when_a_thread_takes_it(tmp_path: Path) -> None:
    fl = flightlog.open(f"sqlite:///{tmp_path}/queue.db", executor=Threads(max_workers=1))

    @fl.task
    def nap(x: int) -> int:
        import time

        time.sleep(0.1)
        return x

    @fl.workflow
    def flow() -> int:
        return sum(nap.map(range(5)))

    try:
        assert flow.run(run_id="queue") == 10
        steps = sorted(fl.store.list_steps("queue"), key=lambda step: step.start_time or 0)
        for earlier, later in itertools.pairwise(steps):
            # One thread: a step starts when the thread takes it, after the one before ended,
            # not when it was put in the queue (all five at once).
            assert earlier.end_time is not None and later.start_time is not None
            assert later.start_time >= earlier.end_time, later.name
        assert not [t for t in threading.enumerate() if t.name.startswith("flightlog-commit")]
    finally:
        fl.close()


def test_a_thread_that_outlives_its_run_does_not_write_into_it(fl: flightlog.Flightlog) -> None:
    go, done = threading.Event(), threading.Event()
    late: list[int] = []

    @fl.task
    def square(x: int) -> int:
        return x * x

    def later() -> None:
        go.wait(10)
        late.append(square(3))
        done.set()

    @fl.workflow
    def flow() -> int:
        threading.Thread(target=later, daemon=True).start()
        return square(2)

    assert flow.run(run_id="short") == 4
    go.set()
    assert done.wait(10) and late == [9]
    assert [s.name for s in fl.store.list_steps("short")] == ["square"]
    assert len(fl.store.list_runs()) == 2  # the late call is a run of its own


def test_a_dask_client_of_ones_own_runs_the_steps(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    from flightlog.executors import Dask

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    )
    client = Client(cluster)
    fl = flightlog.open(f"sqlite:///{tmp_path}/dask.db", executor=Dask(client))

    @fl.task
    def triple(x: int) -> int:
        return 3 * x

    @fl.workflow
    def flow() -> list[int]:
        return triple.map(range(3))

    try:
        assert flow.run(run_id="dask") == [0, 3, 6]
        assert len(fl.store.list_steps("dask")) == 3
    finally:
        fl.close()
        client.close()
        cluster.close()


def test_plan_and_explain_of_a_remote_fan_out_agree_with_its_resume(tmp_path: Path) -> None:
    fl = flightlog.open(f"sqlite:///{tmp_path}/plan.db", executor=Deferred())
    bad = {2}

    @fl.task
    def check(x: int) -> int:
        if x in bad:
            raise ValueError(f"bad {x}")
        return x

    @fl.workflow
    def flow() -> list[int]:
        futures = [check.submit(x) for x in range(4)]
        deferred = flow.executor
        assert isinstance(deferred, Deferred)
        deferred.deliver()
        deferred.held.clear()
        return [future.result(timeout=10) for future in futures]

    try:
        with pytest.raises(ValueError):
            flow.run(run_id="plan")
        plan = {row["step"]: row["decision"] for row in fl.plan_resume("plan")}
        assert plan == {"check": "replay", "check_1": "replay", "check_2": "execute",
                        "check_3": "replay"}  # fmt: skip
        assert fl.explain("plan", "check_2")["decision"] == "executed"
        bad.clear()
        assert flow.run(run_id="plan") == [0, 1, 2, 3]
        origins = {s.name: s.origin.value for s in fl.store.list_steps("plan")}
        decided = {"replay": "replayed", "execute": "executed"}
        assert origins == {name: decided[decision] for name, decision in plan.items()}
    finally:
        fl.close()


def test_ray_tells_a_canceled_chunk_from_a_failed_one() -> None:
    from ray.exceptions import RayTaskError, TaskCancelledError

    from flightlog.executors.ray import RayExecutor

    executor = RayExecutor()  # (Ray starts at the first submission, not here)
    assert executor.was_canceled(TaskCancelledError())
    # What a chunk of a map gets when Ray cancels it: a class made from both.
    wrapped = RayTaskError("_call", "traceback", TaskCancelledError()).as_instanceof_cause()
    assert executor.was_canceled(wrapped)
    failed = RayTaskError("_call", "traceback", ValueError("bad")).as_instanceof_cause()
    assert not executor.was_canceled(failed)


def test_a_running_step_that_the_engine_interrupts_for_a_cancel_is_canceled(
    tmp_path: Path,
) -> None:
    deferred = Deferred()
    fl = flightlog.open(f"sqlite:///{tmp_path}/interrupt.db", executor=deferred)

    @fl.task
    def interrupted(x: int) -> int:
        raise KeyboardInterrupt  # what Ray raises in a running step whose run is canceled

    @fl.workflow
    def flow() -> int:
        future = interrupted.submit(1)
        chunked = threading.Thread(target=lambda: interrupted.map([2, 3], return_exceptions=True))
        chunked.start()
        while len(deferred.held) < 2:  # the submitted step, and the map's chunk
            time.sleep(0.01)
        fl.cancel("interrupt")
        deferred.deliver()
        chunked.join(10)
        return future.result(timeout=10)

    try:
        with pytest.raises(CanceledError):
            flow.run(run_id="interrupt")
        steps = fl.store.list_steps("interrupt")
        assert len(steps) == 3
        for step in steps:
            assert step.status is Status.CANCELED, step.name
            assert step.error is not None and step.error.type.endswith("CanceledError")
            assert [a.status for a in step.attempt_records()] == [Status.CANCELED]
        assert fl.get_status("interrupt") == "CANCELED"
    finally:
        fl.close()
