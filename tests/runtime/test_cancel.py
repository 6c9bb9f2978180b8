"""Cancel means canceled: once ``fl.cancel`` returns the run reads CANCELED, and stays so.

The moment of the cancel is controlled with events: the step in flight waits until the test
has canceled the run, then ends. Nothing here races the clock.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog

WAIT = 10.0
SRC = str(Path(flightlog.__file__).resolve().parent.parent)


def _workflow_waiting_in_last_step(
    fl: Flightlog,
) -> tuple[Any, threading.Event, threading.Event, list[str]]:
    """A workflow of two steps whose last one waits for ``release`` after setting ``entered``."""
    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    @fl.task
    def prepare(x: int) -> int:
        calls.append("prepare")
        return x + 1

    @fl.task
    def last(x: int) -> int:
        calls.append("last")
        entered.set()
        assert release.wait(WAIT), "the test never released the step"
        return x * 10

    @fl.workflow
    def flow(x: int) -> int:
        return last(prepare(x))

    return flow, entered, release, calls


def test_cancel_while_the_last_step_runs_ends_canceled(fl: Flightlog) -> None:
    flow, entered, release, calls = _workflow_waiting_in_last_step(fl)
    handle = flow.run_async(1, run_id="late")
    assert entered.wait(WAIT)
    try:
        fl.cancel("late")
        # As in Ray Workflows: CANCELED as soon as cancel returns, from any reader.
        assert fl.get_status("late") == "CANCELED"
        assert handle.status() == "CANCELED"
    finally:
        release.set()
    with pytest.raises(flightlog.CanceledError, match="late"):
        handle.result(WAIT)
    run = fl.get_metadata("late")
    assert run["status"] == "CANCELED"
    assert fl.get_status("late") == "CANCELED"
    # The step in flight finished and is recorded as it ended, with its result.
    steps = {step["name"]: step for step in fl.steps("late")}
    assert steps["last"]["status"] == "SUCCESSFUL"
    assert fl.get_metadata("late", "last")["status"] == "SUCCESSFUL"
    assert fl.get_step_result("late", "last") == 20
    # The run ended when its owner really stopped: after its last step, not at the cancel.
    assert run["stats"]["end_time"] >= steps["last"]["stats"]["end_time"]
    assert calls == ["prepare", "last"]
    with pytest.raises(flightlog.NoOutputError):
        fl.get_output("late")


def test_run_raises_canceled_error_even_when_its_body_returns(fl: Flightlog) -> None:
    flow, entered, release, _ = _workflow_waiting_in_last_step(fl)
    seen: dict[str, str] = {}

    def cancel_from_another_thread() -> None:
        assert entered.wait(WAIT)
        fl.cancel("sync")
        seen["status"] = fl.get_status("sync")
        release.set()

    canceler = threading.Thread(target=cancel_from_another_thread)
    canceler.start()
    try:
        with pytest.raises(flightlog.CanceledError, match="sync"):
            flow.run(1, run_id="sync")
    finally:
        release.set()
        canceler.join(WAIT)
    assert seen == {"status": "CANCELED"}
    assert fl.get_status("sync") == "CANCELED"
    assert [step["status"] for step in fl.steps("sync")] == ["SUCCESSFUL", "SUCCESSFUL"]


def test_no_new_step_starts_after_the_cancel(fl: Flightlog) -> None:
    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    @fl.task
    def first() -> int:
        calls.append("first")
        entered.set()
        assert release.wait(WAIT)
        return 1

    @fl.task
    def second(x: int) -> int:
        calls.append("second")
        return x + 1

    @fl.workflow
    def flow() -> int:
        return second(first())

    handle = flow.run_async(run_id="two")
    assert entered.wait(WAIT)
    fl.cancel("two")
    release.set()
    with pytest.raises(flightlog.CanceledError, match="no new step starts"):
        handle.result(WAIT)
    assert calls == ["first"]
    assert [(s["name"], s["status"]) for s in fl.steps("two")] == [("first", "SUCCESSFUL")]
    assert fl.get_status("two") == "CANCELED"


def test_resume_after_a_cancel_in_the_last_step(fl: Flightlog) -> None:
    flow, entered, release, calls = _workflow_waiting_in_last_step(fl)
    handle = flow.run_async(2, run_id="again")
    assert entered.wait(WAIT)
    fl.cancel("again")
    release.set()
    with pytest.raises(flightlog.CanceledError):
        handle.result(WAIT)
    calls.clear()
    assert fl.resume("again") == 30
    assert calls == []  # both steps succeeded before: both replay
    assert fl.get_status("again") == "SUCCESSFUL"
    run = fl.get_metadata("again")
    assert run["resumes"] == 1
    assert fl.get_output("again") == 30


def test_resume_waits_until_the_canceled_owner_has_stopped(fl: Flightlog) -> None:
    flow, entered, release, calls = _workflow_waiting_in_last_step(fl)
    handle = flow.run_async(2, run_id="stopping")
    assert entered.wait(WAIT)
    fl.cancel("stopping")
    try:
        # Its step is still running here: a resume now would run it twice at once.
        with pytest.raises(flightlog.ConflictError, match="still stopping"):
            fl.resume("stopping")
        with pytest.raises(flightlog.ConflictError, match="still stopping"):
            flow.run(2, run_id="stopping")
    finally:
        release.set()
    with pytest.raises(flightlog.CanceledError):
        handle.result(WAIT)
    assert fl.resume("stopping") == 30
    assert calls == ["prepare", "last"]


def test_cancel_of_a_finished_run_says_so(fl: Flightlog) -> None:
    @fl.workflow
    def done() -> int:
        return 1

    @fl.workflow
    def broken() -> None:
        raise ValueError("no")

    done.run(run_id="ok")
    with pytest.raises(ValueError):
        broken.run(run_id="bad")
    for run_id, status in (("ok", "SUCCESSFUL"), ("bad", "FAILED")):
        with pytest.raises(flightlog.ConflictError) as caught:
            fl.cancel(run_id)
        assert str(caught.value) == (
            f"run {run_id!r} has already finished ({status}); nothing to cancel"
        )
        assert fl.get_status(run_id) == status
    assert fl.get_output("ok") == 1


def test_a_second_cancel_says_the_run_is_canceled(fl: Flightlog) -> None:
    flow, entered, release, _ = _workflow_waiting_in_last_step(fl)
    handle = flow.run_async(1, run_id="twice")
    assert entered.wait(WAIT)
    try:
        fl.cancel("twice")
        with pytest.raises(flightlog.ConflictError, match=r"already finished \(CANCELED\)"):
            handle.cancel()
    finally:
        release.set()
    with pytest.raises(flightlog.CanceledError):
        handle.result(WAIT)


# ----------------------------------------------------------------------------- async steps
def test_async_step_in_flight_is_cancelled(fl: Flightlog) -> None:
    entered = threading.Event()
    after: list[str] = []

    @fl.task
    async def slow(x: int) -> int:
        entered.set()
        await asyncio.sleep(60)
        after.append("slept")  # never: the sleep is cancelled
        return x

    @fl.task
    async def quick(x: int) -> int:
        return x + 1

    @fl.workflow
    async def flow(x: int) -> int:
        value = await quick(x)
        return await slow(value)

    handle = flow.run_async(1, run_id="async")
    assert entered.wait(WAIT)
    started = time.monotonic()
    fl.cancel("async")
    with pytest.raises(flightlog.CanceledError, match="async"):
        handle.result(WAIT)
    assert time.monotonic() - started < WAIT
    assert after == []
    assert fl.get_status("async") == "CANCELED"
    steps = {step["name"]: step for step in fl.steps("async")}
    assert steps["quick"]["status"] == "SUCCESSFUL"
    assert steps["slow"]["status"] == "CANCELED"
    assert steps["slow"]["error"]["type"] == "flightlog.errors.CanceledError"
    assert "canceled" in steps["slow"]["error"]["message"]
    run = fl.get_metadata("async")
    assert run["stats"]["end_time"] >= steps["slow"]["stats"]["end_time"]


def test_gathered_async_steps_in_flight_are_all_cancelled(fl: Flightlog) -> None:
    entered: list[int] = []
    both = threading.Event()

    @fl.task
    async def wait(i: int) -> int:
        entered.append(i)
        if len(entered) == 2:
            both.set()
        await asyncio.Event().wait()
        return i

    @fl.workflow
    async def flow() -> list[int]:
        return list(await asyncio.gather(wait(1), wait(2)))

    handle = flow.run_async(run_id="gathered")
    assert both.wait(WAIT)
    fl.cancel("gathered")
    with pytest.raises(flightlog.CanceledError):
        handle.result(WAIT)
    assert sorted(step["status"] for step in fl.steps("gathered")) == ["CANCELED", "CANCELED"]
    assert fl.get_status("gathered") == "CANCELED"


def test_an_async_step_called_before_the_cancel_does_not_start_after_it(fl: Flightlog) -> None:
    entered = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    @fl.task
    def first() -> int:
        entered.set()
        assert release.wait(WAIT)
        return 1

    @fl.task
    async def second(x: int) -> int:
        calls.append("second")
        return x

    @fl.workflow
    async def flow() -> int:
        pending = second(5)  # the step is named here; its coroutine starts below
        first()
        return await pending

    handle = flow.run_async(run_id="pending")
    assert entered.wait(WAIT)
    fl.cancel("pending")
    release.set()
    with pytest.raises(flightlog.CanceledError, match="step 'second' did not"):
        handle.result(WAIT)
    assert calls == []
    steps = {step["name"]: step for step in fl.steps("pending")}
    assert steps["first"]["status"] == "SUCCESSFUL"
    assert steps["second"]["status"] == "CANCELED"


def test_a_canceled_async_run_resumes(fl: Flightlog) -> None:
    entered = threading.Event()
    hold = {"yes": True}

    @fl.task
    async def slow(x: int) -> int:
        entered.set()
        if hold["yes"]:
            await asyncio.sleep(60)
        return x * 2

    @fl.workflow
    async def flow(x: int) -> int:
        return await slow(x)

    handle = flow.run_async(4, run_id="async-again")
    assert entered.wait(WAIT)
    fl.cancel("async-again")
    with pytest.raises(flightlog.CanceledError):
        handle.result(WAIT)
    hold["yes"] = False
    assert fl.resume("async-again") == 8
    assert fl.get_status("async-again") == "SUCCESSFUL"
    (step,) = fl.steps("async-again")
    assert step["status"] == "SUCCESSFUL" and step["origin"] == "executed"


def test_cancel_from_inside_the_run_stops_it(fl: Flightlog) -> None:
    calls: list[str] = []

    @fl.task
    def first() -> int:
        calls.append("first")
        fl.cancel("self")
        assert fl.get_status("self") == "CANCELED"
        return 1

    @fl.task
    def second(x: int) -> int:
        calls.append("second")
        return x

    @fl.workflow
    def flow() -> int:
        return second(first())

    with pytest.raises(flightlog.CanceledError):
        flow.run(run_id="self")
    assert calls == ["first"]
    assert fl.get_status("self") == "CANCELED"


# ------------------------------------------------------------------ from another process
OWNER = """
import os, sys, time
sys.path.insert(0, {src!r})
import flightlog

fl = flightlog.open({url!r})


@fl.task
def prepare(x: int) -> int:
    return x + 1


@fl.task
def last(x: int) -> int:
    open({entered!r}, "w").close()
    deadline = time.monotonic() + 30
    while not os.path.exists({release!r}):  # the test creates it once it has canceled
        if time.monotonic() > deadline:
            sys.exit(4)
        time.sleep(0.01)
    return x * 10


@fl.workflow
def flow(x: int) -> int:
    return last(prepare(x))


try:
    print(flow.run(1, run_id="other"))
except flightlog.CanceledError as error:
    print("CANCELED:", error)
    sys.exit(3)
"""


@pytest.mark.timeout(120)
def test_cancel_from_another_process_while_its_last_step_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    entered, release = tmp_path / "entered", tmp_path / "release"
    script = OWNER.format(src=SRC, url=url, entered=str(entered), release=str(release))
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not entered.exists():
            assert owner.poll() is None, owner.communicate()[0]
            assert time.monotonic() < deadline, "the owner never reached its last step"
            time.sleep(0.01)
        with flightlog.open(url) as fl:

            @fl.workflow
            def flow(x: int) -> int:  # the same workflow, for the refused resume below
                raise AssertionError("never runs")

            fl.cancel("other")
            assert fl.get_status("other") == "CANCELED"
            # Its owner still runs the step: neither a resume nor a run under its id may
            # start that step a second time meanwhile.
            with pytest.raises(flightlog.ConflictError, match="still stopping"):
                flow.run(1, run_id="other")
            with pytest.raises(flightlog.ConflictError, match="still stopping"):
                fl.resume("other")
            release.touch()
            output, _ = owner.communicate(timeout=60)
            assert owner.returncode == 3, output
            assert "CANCELED: run 'other' was canceled" in output
            run = fl.get_metadata("other")
            assert run["status"] == "CANCELED"
            steps = fl.steps("other")
            assert [(s["name"], s["status"]) for s in steps] == [
                ("prepare", "SUCCESSFUL"),
                ("last", "SUCCESSFUL"),
            ]
            assert fl.get_step_result("other", "last") == 20
            assert run["stats"]["end_time"] >= steps[-1]["stats"]["end_time"]
    finally:
        release.touch()
        if owner.poll() is None:
            owner.kill()
        owner.communicate(timeout=60)


# ------------------------------------------------------------------------------ the docs
README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "timeouts-retries-cancel.md"


def test_readme_cancel_example(capsys: pytest.CaptureFixture[str]) -> None:
    section = README.read_text().split("## Cancel", 1)[1].split("\n## ", 1)[0]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(example, str(README), "exec"), namespace)
    fl = namespace["fl"]
    try:
        assert capsys.readouterr().out == (
            "run 'nightly-1' was canceled; no new step starts (step 'publish' did not)\n"
        )
        steps = fl.steps("nightly-1")
        assert [(s["name"], s["status"], s["origin"]) for s in steps] == [
            ("train", "SUCCESSFUL", "replayed"),
            ("publish", "SUCCESSFUL", "executed"),
        ]
    finally:
        fl.close()


def test_a_cancel_stops_the_retries_of_the_step_in_flight(fl: Flightlog) -> None:
    failed_once = threading.Event()
    tries: list[int] = []

    @fl.task(retries=4, retry_delay=30)
    def flaky() -> None:
        tries.append(1)
        failed_once.set()
        raise ConnectionError("down")

    @fl.workflow
    def flow() -> None:
        flaky()

    handle = flow.run_async(run_id="retrying")
    assert failed_once.wait(10)
    fl.cancel("retrying")  # while the step waits 30 s before its second attempt
    with pytest.raises(flightlog.CanceledError):
        handle.result(10)  # the wait ends at once
    assert tries == [1]
    step = fl.get_metadata("retrying", name="flaky")
    assert step["status"] == "CANCELED"
    assert [a["status"] for a in step["attempts"]] == ["FAILED"]
    assert fl.get_status("retrying") == "CANCELED"


def test_a_cancel_stops_the_retries_of_an_async_step_in_flight(fl: Flightlog) -> None:
    failed_once = threading.Event()
    tries: list[int] = []

    @fl.task(retries=4, retry_delay=30)
    async def flaky() -> None:
        tries.append(1)
        failed_once.set()
        raise ConnectionError("down")

    @fl.workflow
    async def flow() -> None:
        await flaky()

    handle = flow.run_async(run_id="retrying-async")
    assert failed_once.wait(10)
    fl.cancel("retrying-async")
    with pytest.raises(flightlog.CanceledError):
        handle.result(10)
    assert tries == [1]
    step = fl.get_metadata("retrying-async", name="flaky")
    assert step["status"] == "CANCELED"
    assert [a["status"] for a in step["attempts"]] == ["FAILED"]
