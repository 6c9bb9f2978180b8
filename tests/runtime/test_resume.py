"""Resume: finished work is never redone; only unfinished steps run."""

from __future__ import annotations

import threading
import time

import pytest

import flightlog
from flightlog import Flightlog


def make_flaky(fl: Flightlog, calls: list[str], fail_at: set[int]):  # type: ignore[no-untyped-def]
    @fl.task
    def work(i: int) -> int:
        calls.append(f"work {i}")
        if i in fail_at:
            raise RuntimeError(f"failing at {i}")
        return i * 10

    @fl.workflow
    def flow(n: int) -> int:
        return sum(work(i) for i in range(n))

    return flow


def test_resume_replays_successful_steps(fl: Flightlog) -> None:
    calls: list[str] = []
    fail_at = {3}
    flow = make_flaky(fl, calls, fail_at)
    with pytest.raises(RuntimeError):
        flow.run(5, run_id="r")
    assert calls == ["work 0", "work 1", "work 2", "work 3"]
    assert fl.get_status("r") == "FAILED"
    fail_at.clear()
    calls.clear()
    assert fl.resume("r") == 100
    assert calls == ["work 3", "work 4"]
    run = fl.get_metadata("r")
    assert run["status"] == "SUCCESSFUL"
    assert run["resumes"] == 1
    origins = {s["name"]: s["origin"] for s in fl.steps("r")}
    assert origins == {
        "work": "replayed",
        "work_1": "replayed",
        "work_2": "replayed",
        "work_3": "executed",
        "work_4": "executed",
    }
    # stats are those of the latest attempt of the run
    assert run["stats"]["start_time"] >= fl.get_metadata("r", name="work_2")["stats"]["end_time"]


def test_resume_successful_run_returns_output_without_running(fl: Flightlog) -> None:
    calls: list[str] = []
    flow = make_flaky(fl, calls, set())
    assert flow.run(3, run_id="done") == 30
    calls.clear()
    assert fl.resume("done") == 30
    assert flow.run(3, run_id="done") == 30
    assert calls == []


def test_explicit_run_id_again_resumes_a_failed_run(fl: Flightlog) -> None:
    calls: list[str] = []
    fail_at = {1}
    flow = make_flaky(fl, calls, fail_at)
    with pytest.raises(RuntimeError):
        flow.run(3, run_id="again")
    fail_at.clear()
    calls.clear()
    assert flow.run(3, run_id="again") == 30
    assert calls == ["work 1", "work 2"]


def test_explicit_run_id_with_other_arguments_is_refused(fl: Flightlog) -> None:
    calls: list[str] = []
    flow = make_flaky(fl, calls, {1})
    with pytest.raises(RuntimeError):
        flow.run(3, run_id="args")
    with pytest.raises(
        flightlog.ArgumentMismatchError, match=r"parameter 'n': recorded 3, given 4"
    ):
        flow.run(4, run_id="args")


def test_changed_arguments_run_again_and_strict_refuses_them(fl: Flightlog) -> None:
    calls: list[str] = []
    fail_at = {2}
    arguments = {"offset": 0}

    @fl.task
    def work(i: int) -> int:
        calls.append(f"work {i}")
        if i in fail_at:
            raise RuntimeError("boom")
        return i

    @fl.workflow
    def flow() -> int:
        return sum(work(i + arguments["offset"]) for i in range(3))

    with pytest.raises(RuntimeError):
        flow.run(run_id="nd")
    fail_at.clear()
    arguments["offset"] = 1  # the workflow now calls work(1) where it called work(0)
    with pytest.raises(
        flightlog.NondeterminismError, match=r"step 'work'.*parameter 'i' was 0 then, now 1"
    ):
        fl.resume("nd", strict=True)
    assert fl.get_status("nd") == "FAILED"
    calls.clear()
    assert fl.resume("nd") == 1 + 2 + 3
    assert calls == ["work 1", "work 2", "work 3"]
    assert [s["origin"] for s in fl.steps("nd")] == ["executed"] * 3
    assert "parameter 'i' was 0 then, now 1" in fl.explain("nd", "work")["why"]


def test_replayed_parent_skips_its_children(fl: Flightlog) -> None:
    calls: list[str] = []
    fail = {"last": True}

    @fl.task
    def inner(x: int) -> int:
        calls.append(f"inner {x}")
        return x

    @fl.task
    def outer(x: int) -> int:
        return inner(x) + inner(x + 1)

    @fl.task
    def last() -> int:
        calls.append("last")
        if fail["last"]:
            raise RuntimeError("late failure")
        return 100

    @fl.workflow
    def flow() -> int:
        return outer(1) + inner(5) + last()

    with pytest.raises(RuntimeError):
        flow.run(run_id="tree")
    fail["last"] = False
    calls.clear()
    assert fl.resume("tree") == 1 + 2 + 5 + 100
    assert calls == ["last"]
    names = [s["name"] for s in fl.steps("tree")]
    assert names == ["outer", "inner", "inner_1", "inner_2", "last"]


def test_resume_of_a_live_run_is_refused(fl: Flightlog) -> None:
    release = threading.Event()
    entered = threading.Event()

    @fl.task
    def wait() -> int:
        entered.set()
        release.wait(10)
        return 1

    @fl.workflow
    def flow() -> int:
        return wait()

    handle = flow.run_async(run_id="live")
    assert entered.wait(10)
    try:
        with pytest.raises(flightlog.ConflictError, match="still RUNNING"):
            fl.resume("live")
        with pytest.raises(flightlog.ConflictError, match="still RUNNING"):
            flow.run(run_id="live")
    finally:
        release.set()
    assert handle.result(10) == 1
    assert handle.status() == "SUCCESSFUL"


def test_run_async_and_cancel(fl: Flightlog) -> None:
    started = threading.Event()
    calls: list[int] = []

    @fl.task
    def tick(i: int) -> int:
        calls.append(i)
        started.set()
        time.sleep(0.005)
        return i

    @fl.workflow
    def flow(n: int) -> int:
        return sum(tick(i) for i in range(n))

    handle = flow.run_async(300)
    assert started.wait(10)
    assert handle.status() == "RUNNING"
    handle.cancel()
    with pytest.raises(flightlog.CanceledError):
        handle.result(10)
    run = fl.get_metadata(handle.run_id)
    assert run["status"] == "CANCELED"
    # It ended when its owner stopped: at the end of the step in flight at the cancel.
    last_end = max(step["stats"]["end_time"] for step in fl.steps(handle.run_id))
    assert last_end <= run["stats"]["end_time"] <= time.time()
    done = len(calls)
    assert done < 300
    calls.clear()
    assert fl.resume(handle.run_id) == sum(range(300))
    assert calls[0] == done  # only the unfinished steps ran
    assert fl.get_status(handle.run_id) == "SUCCESSFUL"


def test_run_async_handle_gives_errors(fl: Flightlog) -> None:
    @fl.workflow
    def flow() -> None:
        raise ValueError("nope")

    handle = flow.run_async()
    with pytest.raises(ValueError, match="nope"):
        handle.result(10)
    assert handle.status() == "FAILED"


def test_resume_unknown_run(fl: Flightlog) -> None:
    with pytest.raises(flightlog.NotFoundError, match="ghost"):
        fl.resume("ghost")
    with pytest.raises(flightlog.NotFoundError, match="ghost"):
        fl.cancel("ghost")


def test_lone_task_run_resumes(fl: Flightlog) -> None:
    fail = {"yes": True}

    @fl.task
    def lone(x: int) -> int:
        if fail["yes"]:
            raise RuntimeError("first time")
        return x + 1

    with pytest.raises(RuntimeError):
        lone(1)
    (run,) = fl.list_runs()
    fail["yes"] = False
    assert fl.resume(run["run_id"]) == 2
    assert fl.get_status(run["run_id"]) == "SUCCESSFUL"
