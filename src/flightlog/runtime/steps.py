"""The life of one step: name it, identify it, run its attempts, record its end.

The lifecycle is written once (:class:`StepCall`); :func:`call_step` and
:func:`call_step_async` are the two short loops that drive it for plain and ``async`` tasks.
A step's completion is committed to the store before its value is returned.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import CanceledError, SerializationError, StepTimeoutError
from ..model import Attempt, ErrorInfo, Origin, Status, Step
from .capture import CAPTURE, ensure_capture
from .state import CURRENT_STEP, RunState, StepFrame

if TYPE_CHECKING:
    from .task import CallOptions, Task

_Token = tuple[contextvars.Token[Any], contextvars.Token[Any]]


class StepCall:
    """One call of a task inside a run."""

    __slots__ = ("attempt", "call", "done", "log", "state", "step", "task", "value")

    def __init__(
        self,
        task: Task[Any],
        state: RunState,
        call: CallOptions,
        arguments: str | None,
        execution_id: str | None,
    ) -> None:
        if state.cancel_requested:
            raise CanceledError(f"run {state.run_id!r} was canceled; no new step starts")
        self.task = task
        self.state = state
        self.call = call
        self.done = False
        self.value: Any = None
        self.log: list[str] = []
        self.attempt: Attempt | None = None
        name, position = state.next_step(call.name)
        parent = CURRENT_STEP.get()
        self.step = Step(
            run_id=state.run_id,
            name=name,
            position=position,
            task_name=task.name,
            task_id=task.identity.task_id,
            execution_id=execution_id,
            parent=None if parent is None else parent.name,
            start_time=time.time(),
            arguments=arguments,
            user_metadata=call.metadata,
            options=call.options,
            cache=call.cache,
        )
        state.in_flight[position] = self.step

    # -- attempts ------------------------------------------------------------------------------
    def begin_attempt(self) -> _Token:
        number = len(self.step.attempts) + 1
        start = self.step.start_time if number == 1 else time.time()
        assert start is not None
        self.attempt = Attempt(number=number, start_time=start)
        self.step.attempts.append(self.attempt)
        ensure_capture()
        return (
            CAPTURE.set(self.log),
            CURRENT_STEP.set(StepFrame(self.state, self.step.name)),
        )

    @staticmethod
    def end_attempt(token: _Token) -> None:
        CURRENT_STEP.reset(token[1])
        CAPTURE.reset(token[0])

    def failed(self, error: BaseException) -> float | None:
        """Record a failed attempt. Returns the delay before the next attempt, or None when the
        step has failed for good (then its end is committed and the caller re-raises)."""
        end = time.time()
        info = ErrorInfo.from_exception(error)
        attempt = self.attempt
        assert attempt is not None
        attempt.end_time = end
        attempt.status = Status.FAILED
        attempt.error = info
        retry = isinstance(error, Exception) and not isinstance(error, CanceledError)
        if retry and attempt.number <= self.task.config.retries:
            return self.task.config.retry_delay
        self._finish(Status.FAILED, end, None, info)
        return None

    def succeeded(self, value: Any) -> Any:
        end = time.time()
        try:
            text = codec.encode(value, serializer=self.task.config.serializer)
        except SerializationError as error:
            problem = SerializationError(
                f"step {self.step.name!r} of run {self.state.run_id!r}: its result of type "
                f"{type(value).__name__!r} cannot be encoded: {error}"
            )
            failure = ErrorInfo.from_exception(problem)
            assert self.attempt is not None
            self.attempt.end_time = end
            self.attempt.status = Status.FAILED
            self.attempt.error = failure
            self._finish(Status.FAILED, end, None, failure)
            raise problem from error
        attempt = self.attempt
        assert attempt is not None
        attempt.end_time = end
        attempt.status = Status.SUCCESSFUL
        self._finish(Status.SUCCESSFUL, end, text, None)
        return value

    def _finish(
        self, status: Status, end: float, result: str | None, error: ErrorInfo | None
    ) -> None:
        step = self.step
        step.status = status
        step.end_time = end
        step.result = result
        step.error = error
        step.log = "".join(self.log)
        self.state.store.finish_step(step)
        self.state.in_flight.pop(step.position, None)

    def finish_from(self, origin: Origin, source: Step, value: Any) -> Any:
        """Record the step as served from an earlier record (replayed or cached)."""
        step = self.step
        step.origin = origin
        step.source_run = source.run_id
        step.status = Status.SUCCESSFUL
        step.end_time = time.time()
        step.result = source.result
        step.attempts = []
        self.state.store.finish_step(step)
        self.state.in_flight.pop(step.position, None)
        self.done = True
        self.value = value
        return value


def _run_with_timeout(
    call: StepCall, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    timeout = call.task.config.timeout
    if timeout is None:
        return function(*args, **kwargs)
    context = contextvars.copy_context()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = context.run(function, *args, **kwargs)
        except BaseException as error:
            box["error"] = error

    worker = threading.Thread(target=target, name=f"flightlog-{call.step.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise StepTimeoutError(
            f"step {call.step.name!r} (attempt {len(call.step.attempts)}) ran longer than its "
            f"timeout of {timeout} s"
        )
    if "error" in box:
        raise box["error"]
    return box["value"]


def call_step(call: StepCall, function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Drive a plain task's attempts."""
    while True:
        token = call.begin_attempt()
        try:
            value = _run_with_timeout(call, function, args, kwargs)
        except BaseException as error:
            call.end_attempt(token)
            delay = call.failed(error)
            if delay is None:
                raise
            if delay:
                time.sleep(delay)
            continue
        call.end_attempt(token)
        return call.succeeded(value)


async def call_step_async(
    call: StepCall, function: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> Any:
    """Drive an ``async`` task's attempts."""
    timeout = call.task.config.timeout
    while True:
        token = call.begin_attempt()
        try:
            if timeout is None:
                value = await function(*args, **kwargs)
            else:
                try:
                    value = await asyncio.wait_for(function(*args, **kwargs), timeout)
                except asyncio.TimeoutError as error:
                    raise StepTimeoutError(
                        f"step {call.step.name!r} (attempt {len(call.step.attempts)}) ran "
                        f"longer than its timeout of {timeout} s"
                    ) from error
        except BaseException as error:
            call.end_attempt(token)
            delay = call.failed(error)
            if delay is None:
                raise
            if delay:
                await asyncio.sleep(delay)
            continue
        call.end_attempt(token)
        return call.succeeded(value)
