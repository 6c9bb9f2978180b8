"""Timeouts and retries: one attempt at a time, each recorded as it really ran.

The alarm only works while SIGALRM is free, so these tests have pytest-timeout watch them
from a thread (its default method installs a SIGALRM handler of its own). The moments that
matter are controlled: a body that is interrupted sleeps far longer than any timeout, and a
body that must outlive its timeout sleeps for a fixed time (it can only run longer).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.runtime import retries

pytestmark = pytest.mark.timeout(300, method="thread")

FOREVER = 30.0  # a body that must be interrupted sleeps this long; the tests end far sooner


def attempts_of(fl: Flightlog, run_id: str, name: str) -> list[dict[str, Any]]:
    attempts: list[dict[str, Any]] = fl.get_metadata(run_id, name=name)["attempts"]
    return attempts


def assert_one_after_another(attempts: list[dict[str, Any]]) -> None:
    for earlier, later in itertools.pairwise(attempts):
        assert earlier["end_time"] is not None
        assert later["start_time"] >= earlier["end_time"], (earlier, later)


def assert_alarm_is_free() -> None:
    """The alarm's handler and timer are as they were before the step."""
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


class Concurrency:
    """Counts the attempts running at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


# -- the reproduction -------------------------------------------------------------------
def test_a_plain_task_on_the_main_thread_is_interrupted(fl: Flightlog, tmp_path: Path) -> None:
    out = tmp_path / "written.txt"
    threads: list[int] = []

    @fl.task(timeout=0.3, retries=1)
    def slow() -> None:
        threads.append(threading.get_ident())
        time.sleep(FOREVER)
        with out.open("a") as file:
            file.write("written\n")

    @fl.workflow
    def flow() -> None:
        slow()

    started = time.monotonic()
    with pytest.raises(flightlog.StepTimeoutError, match="attempt 2"):
        flow.run(run_id="main")
    assert time.monotonic() - started < FOREVER / 2
    assert not out.exists()
    assert threads == [threading.get_ident()] * 2  # in the caller's thread, none left running
    assert_alarm_is_free()
    attempts = attempts_of(fl, "main", "slow")
    assert [a["status"] for a in attempts] == ["FAILED", "FAILED"]
    assert_one_after_another(attempts)
    for number, attempt in enumerate(attempts, 1):
        assert attempt["error"]["type"] == "flightlog.errors.StepTimeoutError"
        assert attempt["error"]["message"] == (
            f"step 'slow' attempt {number} ran longer than its timeout of 0.3 s and was interrupted"
        )
        assert "time.sleep(FOREVER)" in attempt["error"]["traceback"]  # raised in the task
        assert attempt["duration"] >= 0.3
    run = fl.get_metadata("main")
    assert run["status"] == "FAILED"
    assert run["stats"]["end_time"] >= attempts[-1]["end_time"]


def test_a_plain_task_on_another_thread_runs_its_attempts_one_after_another(
    fl: Flightlog, tmp_path: Path
) -> None:
    out = tmp_path / "written.txt"
    running = Concurrency()
    seen: list[str] = []

    @fl.task(timeout=0.2, retries=1)
    def slow() -> None:
        with running:
            time.sleep(0.5)  # longer than the timeout, whatever the machine's load
            with out.open("a") as file:
                file.write(f"{time.time()!r}\n")
            seen.append(fl.get_status("worker"))  # the run is not yet recorded as ended

    @fl.workflow
    def flow() -> None:
        slow()

    handle = flow.run_async(run_id="worker")
    with pytest.raises(flightlog.StepTimeoutError, match="attempt 2"):
        handle.result(timeout=60)
    written = [float(line) for line in out.read_text().splitlines()]
    assert len(written) == 2  # each attempt ran to its end, and only once
    assert running.most == 1
    assert seen == ["RUNNING", "RUNNING"]
    attempts = attempts_of(fl, "worker", "slow")
    assert [a["status"] for a in attempts] == ["FAILED", "FAILED"]
    assert_one_after_another(attempts)
    for number, (attempt, when) in enumerate(zip(attempts, written, strict=True), 1):
        assert attempt["start_time"] <= when <= attempt["end_time"]  # when it really ended
        assert attempt["duration"] >= 0.5
        assert attempt["error"]["type"] == "flightlog.errors.StepTimeoutError"
        message = attempt["error"]["message"]
        assert message.startswith(f"step 'slow' attempt {number} ran 0.")
        assert "longer than its timeout of 0.2 s" in message
        assert "a plain task outside the main thread cannot be interrupted" in message
    run = fl.get_metadata("worker")
    assert run["status"] == "FAILED"
    assert run["stats"]["end_time"] >= attempts[-1]["end_time"]


def test_an_attempt_that_outlives_its_timeout_succeeds_on_a_retry(fl: Flightlog) -> None:
    calls: list[int] = []

    @fl.task(timeout=0.2, retries=1)
    def sometimes_slow() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.4)
        return f"call {len(calls)}"

    @fl.workflow
    def flow() -> str:
        return sometimes_slow()

    handle = flow.run_async(run_id="late")
    assert handle.result(timeout=60) == "call 2"  # the first call's value was discarded
    attempts = attempts_of(fl, "late", "sometimes_slow")
    assert [a["status"] for a in attempts] == ["FAILED", "SUCCESSFUL"]
    assert "what it returned was discarded" in attempts[0]["error"]["message"]
    assert_one_after_another(attempts)


def test_an_attempt_that_swallows_the_alarm_is_still_timed_out(fl: Flightlog) -> None:
    @fl.task(timeout=0.2)
    def stubborn() -> str:
        try:
            time.sleep(FOREVER)
        except flightlog.StepTimeoutError:
            pass
        return "too late"

    @fl.workflow
    def flow() -> str:
        return stubborn()

    with pytest.raises(flightlog.StepTimeoutError, match="went on after it was interrupted"):
        flow.run(run_id="stubborn")
    assert fl.get_metadata("stubborn", name="stubborn")["status"] == "FAILED"
    assert_alarm_is_free()


# -- async tasks ----------------------------------------------------------------------------------
def test_an_async_attempt_is_cancelled_and_ends_when_it_has_finished_cancelling(
    fl: Flightlog,
) -> None:
    cleaned: list[float] = []

    @fl.task(timeout=0.2, retries=1)
    async def slow() -> None:
        try:
            await asyncio.Event().wait()  # never set
        finally:
            await asyncio.sleep(0.1)  # the attempt is not over until this has run
            cleaned.append(time.time())

    @fl.workflow
    async def flow() -> None:
        await slow()

    with pytest.raises(flightlog.StepTimeoutError, match="attempt 2"):
        asyncio.run(flow.run(run_id="async"))
    attempts = attempts_of(fl, "async", "slow")
    assert [a["status"] for a in attempts] == ["FAILED", "FAILED"]
    assert len(cleaned) == 2
    assert attempts[0]["end_time"] >= cleaned[0]
    assert attempts[1]["start_time"] >= cleaned[0]
    assert attempts[1]["end_time"] >= cleaned[1]
    assert attempts[0]["error"]["message"] == (
        "step 'slow' attempt 1 ran longer than its timeout of 0.2 s and was cancelled"
    )
    assert fl.get_metadata("async")["stats"]["end_time"] >= cleaned[1]


def test_an_async_attempt_that_ignores_its_cancellation_is_timed_out(fl: Flightlog) -> None:
    @fl.task(timeout=0.1)
    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass
        return "too late"

    @fl.workflow
    async def flow() -> str:
        return await stubborn()

    with pytest.raises(flightlog.StepTimeoutError, match="went on after it was cancelled"):
        asyncio.run(flow.run(run_id="ignored"))
    assert fl.get_metadata("ignored", name="stubborn")["status"] == "FAILED"


def test_an_async_tasks_own_timeout_error_is_not_taken_for_its_timeout(fl: Flightlog) -> None:
    @fl.task(timeout=10)
    async def own() -> None:
        raise TimeoutError("the server did not answer")

    @fl.workflow
    async def flow() -> None:
        await own()

    with pytest.raises(TimeoutError, match="the server did not answer") as raised:
        asyncio.run(flow.run(run_id="own"))
    assert not isinstance(raised.value, flightlog.StepTimeoutError)


# -- nested steps ---------------------------------------------------------------------------------
def test_an_enclosing_steps_deadline_interrupts_an_inner_step_without_retrying_it(
    fl: Flightlog,
) -> None:
    @fl.task(timeout=5, retries=2)
    def inner() -> None:
        time.sleep(FOREVER)

    @fl.task(timeout=0.3, retries=1)
    def outer() -> None:
        inner()

    @fl.workflow
    def flow() -> None:
        outer()

    started = time.monotonic()
    with pytest.raises(flightlog.StepTimeoutError, match="step 'outer' attempt 2"):
        flow.run(run_id="nested")
    assert time.monotonic() - started < 5
    assert_alarm_is_free()
    outer_attempts = attempts_of(fl, "nested", "outer")
    assert [a["status"] for a in outer_attempts] == ["FAILED", "FAILED"]
    assert_one_after_another(outer_attempts)
    for name, number in (("inner", 1), ("inner_1", 2)):
        step = fl.get_metadata("nested", name=name)
        assert step["parent"] == "outer"
        assert [a["status"] for a in step["attempts"]] == ["FAILED"]  # not retried
        assert step["error"]["message"].startswith(f"step 'outer' attempt {number} ran longer")
        assert step["stats"]["end_time"] <= outer_attempts[number - 1]["end_time"]


def test_an_enclosing_steps_deadline_outlives_an_inner_one(fl: Flightlog) -> None:
    @fl.task(timeout=0.1)
    def inner() -> None:
        time.sleep(FOREVER)

    @fl.task(timeout=0.6)
    def outer() -> str:
        try:
            inner()
        except flightlog.StepTimeoutError:
            pass
        assert signal.getsignal(signal.SIGALRM) is not signal.SIG_DFL  # still watched
        time.sleep(FOREVER)
        return "never"

    @fl.workflow
    def flow() -> str:
        return outer()

    started = time.monotonic()
    with pytest.raises(flightlog.StepTimeoutError, match="step 'outer' attempt 1"):
        flow.run(run_id="outlives")
    assert time.monotonic() - started < 5
    assert_alarm_is_free()
    inner_step = fl.get_metadata("outlives", name="inner")
    assert inner_step["error"]["message"] == (
        "step 'inner' attempt 1 ran longer than its timeout of 0.1 s and was interrupted"
    )
    outer_step = fl.get_metadata("outlives", name="outer")
    assert outer_step["stats"]["duration"] >= 0.6
    assert inner_step["stats"]["end_time"] <= outer_step["stats"]["end_time"]


def test_an_enclosing_steps_deadline_ends_an_inner_steps_wait_between_attempts(
    fl: Flightlog,
) -> None:
    @fl.task(retries=3, retry_delay=FOREVER)
    def flaky() -> None:
        raise ConnectionError("down")

    @fl.task(timeout=0.3)
    def outer() -> None:
        flaky()

    @fl.workflow
    def flow() -> None:
        outer()

    started = time.monotonic()
    with pytest.raises(flightlog.StepTimeoutError, match="step 'outer' attempt 1"):
        flow.run(run_id="waiting")
    assert time.monotonic() - started < 5
    step = fl.get_metadata("waiting", name="flaky")
    assert step["status"] == "FAILED"  # recorded as ended, not left RUNNING
    assert [a["error"]["type"] for a in step["attempts"]] == ["ConnectionError"]
    assert step["error"]["type"] == "flightlog.errors.StepTimeoutError"


def test_an_inner_steps_timeout_is_an_ordinary_error_for_the_step_around_it(
    fl: Flightlog,
) -> None:
    calls: list[int] = []

    @fl.task(timeout=0.1)
    def inner() -> None:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(FOREVER)

    @fl.task(retries=1)
    def outer() -> None:
        inner()

    @fl.workflow
    def flow() -> None:
        outer()

    flow.run(run_id="ordinary")
    assert [a["status"] for a in attempts_of(fl, "ordinary", "outer")] == ["FAILED", "SUCCESSFUL"]
    assert_alarm_is_free()


# -- SIGALRM taken --------------------------------------------------------------------------------
def test_a_sigalrm_handler_of_the_users_is_left_alone(fl: Flightlog) -> None:
    called: list[int] = []

    def mine(signum: int, frame: object) -> None:
        called.append(signum)

    previous = signal.signal(signal.SIGALRM, mine)
    try:

        @fl.task(timeout=0.2)
        def slow() -> str:
            time.sleep(0.4)
            return "done"

        @fl.workflow
        def flow() -> str:
            return slow()

        with pytest.raises(flightlog.StepTimeoutError, match="SIGALRM has a handler of its own"):
            flow.run(run_id="taken")
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert called == []
    finally:
        signal.signal(signal.SIGALRM, previous)
    (attempt,) = attempts_of(fl, "taken", "slow")
    assert attempt["duration"] >= 0.4


# -- retry delays ---------------------------------------------------------------------------------
@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between attempts, recorded instead of slept."""
    waited: list[float] = []

    async def pause_async(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(retries, "pause", lambda seconds, stop=None: waited.append(seconds))
    monkeypatch.setattr(retries, "pause_async", pause_async)
    return waited


def failing_flow(fl: Flightlog, **options: Any) -> Any:
    @fl.task(**options)
    def flaky() -> None:
        raise ConnectionError("down")

    @fl.workflow
    def flow() -> None:
        flaky()

    return flow


@pytest.mark.parametrize(
    ("retry_delay", "expected"),
    [
        (2, [2.0, 2.0, 2.0, 2.0, 2.0]),
        ([1, 5, 30], [1.0, 5.0, 30.0, 30.0, 30.0]),
        ((0.5,), [0.5] * 5),
        (flightlog.backoff(initial=1, factor=2, maximum=5, jitter=0), [1.0, 2.0, 4.0, 5.0, 5.0]),
    ],
)
def test_retry_delay(fl: Flightlog, pauses: list[float], retry_delay: Any, expected: Any) -> None:
    with pytest.raises(ConnectionError):
        failing_flow(fl, retries=5, retry_delay=retry_delay).run(run_id="delays")
    assert pauses == expected
    assert len(attempts_of(fl, "delays", "flaky")) == 6


def test_backoff_jitter_stays_within_its_fraction(pauses: list[float]) -> None:
    fl = flightlog.open("memory://")
    jittered = flightlog.backoff(initial=1, factor=3, maximum=20, jitter=0.5)
    with pytest.raises(ConnectionError):
        failing_flow(fl, retries=40, retry_delay=jittered).run()
    bases = [min(3.0**n, 20.0) for n in range(40)]
    for wait, base in zip(pauses, bases, strict=True):
        assert 0.5 * base <= wait <= min(1.5 * base, 20.0)
    assert len(set(pauses)) > 1


def test_async_tasks_wait_between_attempts_too(pauses: list[float]) -> None:
    fl = flightlog.open("memory://")

    @fl.task(retries=2, retry_delay=[3, 4])
    async def flaky() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        asyncio.run(flaky())
    assert pauses == [3.0, 4.0]


def test_the_wait_between_attempts_is_real() -> None:
    fl = flightlog.open("memory://")
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        failing_flow(fl, retries=2, retry_delay=[0.1, 0.2]).run(run_id="real")
    assert time.monotonic() - started >= 0.3
    attempts = attempts_of(fl, "real", "flaky")
    assert attempts[1]["start_time"] - attempts[0]["end_time"] >= 0.1
    assert attempts[2]["start_time"] - attempts[1]["end_time"] >= 0.2


# -- which errors are retried ---------------------------------------------------------------------
def raising(fl: Flightlog, errors: list[BaseException], **options: Any) -> Any:
    """A flow whose task raises these errors in turn, then returns "ok"."""

    @fl.task(**options)
    def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    @fl.workflow
    def flow() -> str:
        return flaky()

    return flow


def predicate(error: BaseException) -> bool:
    return "again" in str(error)


@pytest.mark.parametrize(
    "retry_on",
    [ConnectionError, (KeyError, ConnectionError), predicate, lambda e: "again" in str(e)],
)
def test_retry_on_limits_which_errors_are_retried(
    fl: Flightlog, pauses: list[float], retry_on: Any
) -> None:
    flow = raising(fl, [ConnectionError("again")], retries=3, retry_on=retry_on)
    assert flow.run(run_id="matched") == "ok"
    assert len(attempts_of(fl, "matched", "flaky")) == 2

    flow = raising(fl, [ValueError("bad"), ValueError("bad")], retries=3, retry_on=retry_on)
    with pytest.raises(ValueError, match="bad"):
        flow.run(run_id="other")
    assert [a["status"] for a in attempts_of(fl, "other", "flaky")] == ["FAILED"]
    assert fl.get_status("other") == "FAILED"


def test_a_timeout_is_retried_only_when_retry_on_accepts_it() -> None:
    fl = flightlog.open("memory://")
    calls: list[int] = []

    def sleepy(**options: Any) -> Any:
        @fl.task(timeout=0.1, retries=1, **options)
        def sleepy() -> None:
            calls.append(1)
            time.sleep(FOREVER)

        return sleepy

    with pytest.raises(flightlog.StepTimeoutError, match="attempt 1"):
        sleepy(retry_on=ConnectionError)()
    assert len(calls) == 1
    with pytest.raises(flightlog.StepTimeoutError, match="attempt 2"):
        sleepy(retry_on=TimeoutError)()
    assert len(calls) == 3


def test_a_retry_on_predicate_that_fails_does_not_retry(pauses: list[float]) -> None:
    fl = flightlog.open("memory://")

    def broken(error: BaseException) -> bool:
        raise RuntimeError("no idea")

    flow = raising(fl, [ConnectionError("down")], retries=3, retry_on=broken)
    with pytest.raises(ConnectionError) as raised:
        flow.run(run_id="broken")
    assert len(attempts_of(fl, "broken", "flaky")) == 1
    if sys.version_info >= (3, 11):
        assert "retry_on predicate" in "".join(raised.value.__notes__)
        assert (
            "raised RuntimeError: no idea"
            in fl.get_metadata("broken", name="flaky")["error"]["traceback"]
        )


def test_a_cancel_is_never_retried(pauses: list[float]) -> None:
    fl = flightlog.open("memory://")
    flow = raising(fl, [flightlog.CanceledError("stop")], retries=3)
    with pytest.raises(flightlog.CanceledError):
        flow.run(run_id="stop")
    assert len(attempts_of(fl, "stop", "flaky")) == 1


# -- the record and bad values ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "recorded"),
    [
        ({}, {"retry_delay": 0.0, "retry_on": None}),
        ({"retry_delay": [1, 5]}, {"retry_delay": [1.0, 5.0], "retry_on": None}),
        (
            {"retry_delay": flightlog.backoff(), "retry_on": ConnectionError},
            {
                "retry_delay": {"initial": 1.0, "factor": 2.0, "maximum": 60.0, "jitter": 0.1},
                "retry_on": ["ConnectionError"],
            },
        ),
        (
            {"retry_on": (ConnectionError, flightlog.StoreError)},
            {"retry_delay": 0.0, "retry_on": ["ConnectionError", "flightlog.errors.StoreError"]},
        ),
        (
            {"retry_on": predicate},
            {"retry_delay": 0.0, "retry_on": f"predicate {__name__}.predicate"},
        ),
    ],
)
def test_retry_options_are_recorded_as_json(
    fl: Flightlog, options: dict[str, Any], recorded: dict[str, Any]
) -> None:
    @fl.task(retries=1, **options)
    def fine() -> int:
        return 1

    @fl.workflow
    def flow() -> int:
        return fine()

    flow.run(run_id="options")
    step_options = fl.get_metadata("options", name="fine")["step_options"]
    assert {key: step_options[key] for key in recorded} == recorded
    assert step_options["retries"] == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retries": -1}, "retries must be an integer >= 0, not -1"),
        ({"retries": 1.5}, "retries must be an integer >= 0, not 1.5"),
        ({"retries": True}, "retries must be an integer >= 0, not True"),
        ({"timeout": 0}, "timeout must be a positive number of seconds, not 0"),
        ({"timeout": float("nan")}, "timeout must be a positive number of seconds, not nan"),
        ({"timeout": "1"}, "timeout must be a positive number of seconds, not '1'"),
        ({"retry_delay": -1}, "retry_delay must be >= 0 seconds, not -1"),
        ({"retry_delay": float("inf")}, "retry_delay must be a number of seconds"),
        ({"retry_delay": "5"}, "retry_delay must be a number of seconds, a list of them"),
        ({"retry_delay": []}, "retry_delay must not be an empty list"),
        ({"retry_delay": [1, -2]}, "every delay in retry_delay must be a number >= 0 seconds"),
        ({"retry_delay": [1, None]}, "every delay in retry_delay must be a number >= 0 seconds"),
        ({"retry_delay": [True]}, "every delay in retry_delay must be a number >= 0 seconds"),
        ({"retry_on": 42}, "retry_on must be an exception type, a tuple of them, or a function"),
        ({"retry_on": int}, "retry_on must be an exception type, not the class 'int'"),
        ({"retry_on": ()}, "retry_on must not be an empty tuple"),
        ({"retry_on": (ValueError, "KeyError")}, "retry_on must hold exception types only"),
        ({"retry_on": [ValueError]}, "retry_on must be an exception type, a tuple of them"),
    ],
)
def test_bad_retry_and_timeout_options_are_refused(options: dict[str, Any], message: str) -> None:
    fl = flightlog.open("memory://")

    def sample() -> None:
        pass

    with pytest.raises(flightlog.InvalidInputError) as raised:
        fl.task(**options)(sample)
    assert str(raised.value).startswith("task 'sample': ")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial": -1}, "backoff: initial must be >= 0 seconds, not -1"),
        ({"factor": 0.5}, "backoff: factor must be >= 1, not 0.5"),
        ({"maximum": 0.5}, "backoff: maximum (0.5) must be >= initial (1.0)"),
        ({"jitter": 1.5}, "backoff: jitter must be a fraction between 0 and 1, not 1.5"),
        ({"jitter": -0.1}, "backoff: jitter must be a fraction between 0 and 1, not -0.1"),
        ({"initial": "1"}, "backoff: initial must be a finite number, not '1'"),
        ({"maximum": float("inf")}, "backoff: maximum must be a finite number, not inf"),
    ],
)
def test_bad_backoffs_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(flightlog.InvalidInputError) as raised:
        flightlog.backoff(**options)
    assert str(raised.value) == message


def test_a_backoff_is_a_frozen_value() -> None:
    delay = flightlog.backoff(initial=0.5)
    assert delay == flightlog.Backoff(initial=0.5, factor=2.0, maximum=60.0, jitter=0.1)
    with pytest.raises(AttributeError):
        delay.initial = 2  # type: ignore[misc]
