"""The life of one step: name it, identify it, run its attempts, record its end.

The lifecycle is written once (:class:`StepCall`); :func:`call_step` and
:func:`call_step_async` are the two short loops that drive it for plain and ``async`` tasks.
A step's completion is committed to the store before its value is returned.
"""

from __future__ import annotations

import contextvars
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import CanceledError, FlightlogError, SerializationError
from ..model import Attempt, ErrorInfo, Origin, Status, Step
from . import cache_claims
from . import retries as retrying
from .live import end_chunks
from .monitor import stopped_by_cancel
from .state import CURRENT_STEP, RunState, StepFrame
from .timeouts import interrupted_elsewhere, run_attempt, run_attempt_async
from .tracked import Tracked, collect, take_run_buffer

if TYPE_CHECKING:
    from .task import CallOptions, Task

# Reading a member off an Enum class is slow (~90 ns); every step needs these.
_RUNNING, _SUCCESSFUL, _FAILED = Status.RUNNING, Status.SUCCESSFUL, Status.FAILED
_CANCELED = Status.CANCELED
# flightlog.runtime.fanout.FANOUT: the step option holding a map's size (on its first step)
_FANOUT = "fanout"


def _stopped_by(error: BaseException) -> bool:
    """Whether ``error`` is what a step in flight raises when its run is canceled:
    CanceledError from a step it calls, or (an async step) the cancellation of its asyncio
    task (asyncio's CancelledError, which exists only once asyncio is imported: flightlog
    imports it only for async runs)."""
    if isinstance(error, CanceledError):
        return True
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(error, asyncio.CancelledError)


class StepCall:
    """One call of a task inside a run."""

    __slots__ = (
        "attempt_start",
        "call",
        "children_prefix",
        "deferred",
        "earlier",
        "env_mark",
        "log",
        "log_written",
        "state",
        "step",
        "task",
        "tracked",
    )
    # How much of ``log`` the monitor wrote while the step ran; unset until it has (see live).
    log_written: int

    def __init__(
        self,
        task: Task[Any],
        state: RunState,
        call: CallOptions,
        arguments: str | None,
        execution_id: str | None,
    ) -> None:
        if state.cancel_requested:
            raise stopped(state, call.name)
        self.task = task
        self.state = state
        self.call = call
        # RunState.next_step, inline: the name and position of this step.
        parent = CURRENT_STEP.get()
        base = call.name
        # Sub-steps of a step submitted to an executor are named after it (see fanout.py).
        prefix = "" if parent is None else getattr(parent, "children_prefix", "")
        if prefix:
            base = prefix + base
        self.children_prefix = prefix
        counter = state.names.get(base) or state.name_counter(base)
        count = next(counter)
        name = f"{base}_{count}" if count else base
        resumed = state.resumed_positions
        # A resumed run's step of a recorded name takes its recorded position again.
        position = resumed.pop(name, None) if resumed else None
        if position is None:
            position = next(state.positions)
        start = time.time()
        self.attempt_start = start
        self.step = step = Step(
            state.run_id,
            name,
            position,
            task.name,
            task.task_id,
            execution_id,
            None if parent is None else parent.name,
            _RUNNING,
            start,
            None,
            [],
            arguments,
            None,
            None,
            call.metadata,
            call.options,
        )
        if call.cache:
            step.cache = True
        self.log: list[str] = []
        self.tracked: Tracked | None = None
        # Set (to True) when the step's end is recorded by its run's committer, with others that
        # end at the same time (a step on a thread pool): _finish leaves the record here.
        self.deferred: Any = None
        self.earlier = 0  # attempts recorded by earlier attempts of the run (see continue_from)
        hooks = state.hooks
        if hooks is None:
            self.env_mark: Any = None
        else:
            mark = hooks.mark
            self.env_mark = mark if mark[0] == hooks.watch.version else hooks.step_started()
        state.in_flight[position] = self

    @classmethod
    def prepared(
        cls, task: Task[Any], state: RunState, call: CallOptions, step: Step, earlier: int
    ) -> StepCall:
        """A step whose name, position and identity were decided elsewhere (by the driver
        that submitted it to this worker), with the attempts its record holds so far."""
        self = cls.__new__(cls)
        self.task = task
        self.state = state
        self.call = call
        self.attempt_start = step.start_time = time.time()
        self.step = step
        self.log = []
        self.tracked = None
        self.earlier = earlier
        self.env_mark = None
        self.deferred = None
        self.children_prefix = f"{step.name}."
        state.in_flight[step.position] = self
        return self

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def position(self) -> int:
        return self.step.position

    def tracking(self) -> Tracked:
        """The buffer of what this step tracks (see flightlog.runtime.tracked)."""
        tracked = self.tracked
        if tracked is None:
            tracked = self.tracked = Tracked(self.step.position, self.name)
        return tracked

    # -- attempts ------------------------------------------------------------------------------
    def continue_from(self, recorded: Step) -> None:
        """Run again a step that an earlier attempt of this run recorded (failed, interrupted,
        or with another identity): its attempts stay in the new record's history."""
        history = recorded.attempt_records()
        for attempt in history:
            if attempt.status is _RUNNING:  # its process died while it ran
                attempt.status = Status.RESUMABLE
        self.step.attempts = history
        self.earlier = len(history)
        # The old record is replaced now, not at the end: readers see this step RUNNING (not
        # as it was), and a crash keeps its earlier attempts.
        running = self.step.copy()
        running.status = _RUNNING
        self.state.store.finish_step(running)
        self.state.started.add(running.position)

    def begin_attempt(self) -> contextvars.Token[StepFrame | None]:
        if self.step.attempts:
            self.attempt_start = time.time()
        return CURRENT_STEP.set(self)

    def failed(self, error: BaseException, *, final: bool = False) -> float | None:
        """Record a failed attempt. Returns the delay before the next attempt, or None when the
        step has failed for good (then its end is committed and the caller re-raises).

        An error is retried while retries remain, when it is an Exception (not a cancel, not
        an enclosing step's timeout passing through) that the task's ``retry_on`` accepts."""
        end = time.time()
        status = _FAILED
        if self.state.cancel_requested and _stopped_by(error):
            status = _CANCELED  # stopped by its run's cancel (see monitor.interrupt)
            if not isinstance(error, CanceledError):
                cause, error = error, _canceled_in(self)
                error.__cause__ = cause
        attempts = self.step.attempts
        config = self.task.config
        retry = (
            not final
            and not self.state.cancel_requested  # a canceled run starts no new attempt
            and len(attempts) - self.earlier < config.retries
            and isinstance(error, Exception)
            and not isinstance(error, CanceledError)
            and not interrupted_elsewhere(error, self)
            and retrying.matches(config.retry_on, error)  # may add a note to the error
        )
        info = ErrorInfo.from_exception(error)
        attempts.append(Attempt(len(attempts) + 1, self.attempt_start, end, status, info))
        if retry:
            return retrying.delay_before(config.retry_delay, len(attempts) - self.earlier)
        self._finish(status, end, None, info)
        return None

    def succeeded(self, value: Any) -> Any:
        end = time.time()
        try:
            text = codec.encode(value, self.task.config.serializer)
        except SerializationError as error:
            problem = SerializationError(
                f"step {self.step.name!r} of run {self.state.run_id!r}: its result of type "
                f"{type(value).__name__!r} cannot be encoded: {error}"
            )
            self.failed(problem, final=True)  # the same code would give the same value
            raise problem from error
        attempts = self.step.attempts
        if attempts:
            attempts.append(Attempt(len(attempts) + 1, self.attempt_start, end, _SUCCESSFUL, None))
        self._finish(_SUCCESSFUL, end, text, None)
        return value

    def _finish(
        self, status: Status, end: float, result: str | None, error: ErrorInfo | None
    ) -> None:
        step = self.step
        step.status = status
        step.end_time = end
        step.result = result
        step.error = error
        if self.log:
            step.log = "".join(self.log)
        state = self.state
        hooks = state.hooks
        if hooks is not None and hooks.watch.version != self.env_mark[0]:
            hooks.step_ending(self)
        if state.replays:  # its sub-steps replayed: written before its end
            state.flush_replays()
        if self.deferred is not None:  # the committer writes it (see fanout.py)
            run_buffer = take_run_buffer(state)
            metrics, attachments = collect(run_buffer, self.tracked)
            stored = metrics
            if self.tracked is not None:
                rest = end_chunks(self.tracked)
                if rest is not None:
                    stored = collect(run_buffer)[0] + rest
            self.deferred = (step, stored, attachments, metrics)
            return
        if self.tracked is None and state.tracked is None:
            if not (step.cache and cache_claims.finish_releasing(self)):
                state.store.finish_step(step)
            del state.in_flight[step.position]
            if hooks is not None and hooks.observing:
                hooks.step_ended(state, step, (), ())
            return
        # What the run's own body tracked meanwhile, and what the step tracked, go with the
        # step's end record.
        run_buffer = take_run_buffer(state)
        metrics, attachments = collect(run_buffer, self.tracked)
        stored = metrics
        if self.tracked is not None:
            rest = end_chunks(self.tracked)  # points written while the step ran: not again
            if rest is not None:
                stored = collect(run_buffer)[0] + rest
        if not (step.cache and cache_claims.finish_releasing(self, stored, attachments)):
            state.store.finish_step(step, metrics=stored, attachments=attachments)
        del state.in_flight[step.position]
        if hooks is not None:
            hooks.step_ended(state, step, metrics, attachments)

    def replay(self, recorded: Step, value: Any) -> Any:
        """Record that this run's earlier attempt of the step is reused, as it was (with the
        attempts that made it)."""
        if not recorded.attempts:
            recorded.attempts = recorded.attempt_records()
        recorded.origin = Origin.REPLAYED
        recorded.source_run = recorded.run_id
        mark = self.step.options.get(_FANOUT)
        if recorded.options.get(_FANOUT) != mark:  # the map of this attempt, not the earlier's
            options = {key: value for key, value in recorded.options.items() if key != _FANOUT}
            recorded.options = options if mark is None else {**options, _FANOUT: mark}
        state = self.state
        state.add_replay(recorded)  # written with others: see RunState.replays
        del state.in_flight[recorded.position]
        if state.hooks is not None:
            state.hooks.step_ended(state, recorded, (), ())
        return value

    def finish_from(self, origin: Origin, source: Step, value: Any) -> Any:
        """Record the step as served from an earlier record (replayed or cached)."""
        step = self.step
        step.origin = origin
        step.source_run = source.run_id
        step.status = _SUCCESSFUL
        step.end_time = time.time()
        step.result = source.result
        state = self.state
        state.store.finish_step(step)
        if origin is Origin.CACHED:
            _keep_source(state.store, step)
        del state.in_flight[step.position]
        if state.hooks is not None:
            state.hooks.step_ended(state, step, (), ())
        return value


def _keep_source(store: Any, step: Step, tries: int = 3) -> None:
    """A cached step names a run that exists. Deleting a run refuses while a recorded cached
    step names it, but its source may have been deleted between the lookup and the record:
    then the step names another run holding the same result, or (none left) its own run,
    which holds a copy of the result now. Checked after the record is durable, so a delete
    that comes later sees it."""
    exists = getattr(store, "has_run", None)  # a cheaper check where the store has one
    for _ in range(tries):
        source = step.source_run
        if source is None:
            return
        if exists(source) if exists is not None else store.get_run(source) is not None:
            return
        other = store.find_cached(step.task_id, step.execution_id)
        mine = other is None or other.run_id == step.run_id
        step.source_run = step.run_id if mine else other.run_id
        store.finish_step(step)


def call_step(call: StepCall, function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Drive a plain task's attempts, one at a time."""
    task = call.task
    if task.one_attempt:  # the common case: no retries, no timeout
        token = CURRENT_STEP.set(call)
        try:
            value = function(*args, **kwargs) if kwargs else function(*args)
        except BaseException as error:
            CURRENT_STEP.reset(token)
            call.failed(error)
            raise
        CURRENT_STEP.reset(token)
        return call.succeeded(value)
    timeout = task.config.timeout
    while True:
        token = call.begin_attempt()
        try:
            if timeout is None:
                value = function(*args, **kwargs)
            else:
                value = run_attempt(call, timeout, function, args, kwargs)
        except BaseException as error:
            CURRENT_STEP.reset(token)
            delay = call.failed(error)
            if delay is None:
                raise
            if delay:
                try:
                    retrying.pause(delay, call.state.canceled)
                except BaseException as stopped:
                    _stopped_between_attempts(call, stopped)
                    raise
            if call.state.cancel_requested:  # canceled while it waited: no new attempt
                raise _stopped_between_attempts(call, _canceled_in(call)) from error
            continue
        CURRENT_STEP.reset(token)
        return call.succeeded(value)


async def call_step_async(
    call: StepCall, function: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> Any:
    """Drive an ``async`` task's attempts. A cancel of the run cancels the asyncio task that
    runs them (see monitor.interrupt): the step is recorded CANCELED and raises CanceledError.
    """
    import asyncio  # loaded already: an async step runs

    state = call.state
    position = call.step.position
    state.async_steps[position] = asyncio.current_task()
    try:
        if state.cancel_requested:  # canceled between the call and the start of its coroutine
            error = stopped(state, call.step.name)
            call.failed(error)
            raise error
        return await _attempts_async(call, function, args, kwargs)
    except asyncio.CancelledError as error:
        if stopped_by_cancel(state, error):
            raise _canceled_in(call) from error
        raise
    finally:
        del state.async_steps[position]


def stopped(state: RunState, name: str) -> FlightlogError:
    """Why a step of a canceled (or stopped) run does not start."""
    if state.failure is not None:
        return type(state.failure)(str(state.failure))
    return CanceledError(
        f"run {state.run_id!r} was canceled; no new step starts (step {name!r} did not)"
    )


def _canceled_in(call: StepCall) -> CanceledError:
    return CanceledError(
        f"run {call.state.run_id!r} was canceled while its step {call.step.name!r} ran"
    )


async def _attempts_async(
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
                value = await run_attempt_async(call, timeout, function, args, kwargs)
        except BaseException as error:
            CURRENT_STEP.reset(token)
            delay = call.failed(error)
            if delay is None:
                raise
            if delay:
                try:
                    await retrying.pause_async(delay)
                except BaseException as stopped:
                    _stopped_between_attempts(call, stopped)
                    raise
            continue
        CURRENT_STEP.reset(token)
        return call.succeeded(value)


def _stopped_between_attempts(call: StepCall, error: BaseException) -> BaseException:
    """The wait before a retry was interrupted (an enclosing step's timeout, a cancel, Ctrl-C):
    the step ends after the attempts it made, CANCELED when its run was canceled, else FAILED
    with that error. Returns the error."""
    if call.state.cancel_requested and _stopped_by(error):
        error = error if isinstance(error, CanceledError) else _canceled_in(call)
        call._finish(_CANCELED, time.time(), None, ErrorInfo.from_exception(error))
    else:
        call._finish(_FAILED, time.time(), None, ErrorInfo.from_exception(error))
    return error
