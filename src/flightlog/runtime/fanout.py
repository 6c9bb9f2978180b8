"""Submitted steps: ``task.submit(...)`` and ``task.map(...)``.

A submitted step is named, placed and identified at once, in the submitting thread, in
submission order: a resumed run meets the same names whatever order its steps finished in.
A step served from an earlier record (replayed on resume, or a cache hit) is recorded at once and
its future is done. The others go to the run's executor:

- on a *local* executor (inline, threads) the step runs its usual lifecycle where it runs, in the
  context of its submission (its run, its parent step), and records itself as a called step does;
- on a *remote* one (processes, Ray, Dask) a worker runs it (see :mod:`flightlog.runtime.remote`)
  and sends back its outcome; the run's :class:`Committer` writes the records of completions
  that arrived together in one transaction, then resolves their futures.

A step submitted inside a step runs where its parent runs (inline there): a pool never waits for
itself. A run ends only after every step it submitted has ended.

The first step of a ``map`` of N items carries ``options["fanout"] = N`` (:data:`FANOUT`), so
that readers (``flightlog watch``) know the fan-out's size before its steps are recorded; the
other steps keep the common record.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import CanceledError, ConfigurationError, FlightlogError, SerializationError
from ..model import AttachmentRecord, Attempt, ErrorInfo, MetricChunk, Status, Step
from ..redaction import redact
from . import cache_claims
from .remote import Work, dumps, run_sent, run_sent_many
from .state import CURRENT_STEP, MISSING, RunState, next_worker_block
from .steps import _FANOUT, StepCall, call_step, stopped

if TYPE_CHECKING:
    from ..executors import Executor
    from .remote import Outcome
    from .task import Task

R = TypeVar("R")

FANOUT = _FANOUT
"""The step option that the first step of a ``map`` carries: how many items the map has."""


class StepFuture(Future[R], Generic[R]):
    """The future outcome of a submitted step (a :class:`concurrent.futures.Future`: ``result``,
    ``exception``, ``done``, ``add_done_callback``, ``concurrent.futures.wait`` …), with the
    name the step is recorded under."""

    def __init__(self, step_name: str) -> None:
        super().__init__()
        self.step_name = step_name
        self.engine_future: Future[Any] | None = None

    def cancel(self) -> bool:
        """A submitted step is recorded to its end: it cannot be cancelled by itself (cancel its
        run instead: its steps not started yet are then recorded CANCELED). Returns False."""
        return False

    def __repr__(self) -> str:
        return f"<StepFuture {self.step_name!r} {self._state.lower()}>"


RECORD_PLACES = ("driver", "worker")


def check_record(record: Any, store: Any) -> bool:
    """Whether submitted steps record themselves in their workers (``record="worker"``), which
    needs a store the workers share (PostgreSQL); ``"driver"`` (the default): the driver
    records what the workers send back."""
    if record not in RECORD_PLACES:
        raise ConfigurationError(f"record must be 'driver' or 'worker', not {record!r}")
    if record == "worker" and not getattr(store, "shared", False):
        raise ConfigurationError(
            f"record='worker' needs a store that workers on other machines open by its URL "
            f"(PostgreSQL); {redact(store.url)} is not one: use record='driver'"
        )
    return bool(record == "worker")


def submit(
    task: Task[Any], state: RunState, call_options: Any, args: tuple[Any, ...], kwargs: Any
) -> StepFuture[Any]:
    """Submit one call of ``task`` in the run ``state`` (see the module's docstring)."""
    call, served = task._begin(state, call_options, args, kwargs)
    future: StepFuture[Any] = StepFuture(call.step.name)
    if served is not MISSING:
        future.set_result(served)
        return future
    executor = state.executor
    parent = CURRENT_STEP.get()
    if executor is not None and parent is None and call.call.cache:
        cache_claims.hand_over(call)
    if executor is None or parent is not None or executor.local:
        _submit_local(executor, state, call, future, args, kwargs)
    else:
        _submit_remote(executor, state, call, future, args, kwargs)
    return future


def map_steps(
    task: Task[Any],
    state: RunState,
    call_options: Any,
    iterables: tuple[Iterable[Any], ...],
    return_exceptions: bool,
) -> list[Any]:
    """``task.map``: one step per item (several iterables: zipped, as ``map`` does), values in
    input order. Fails only after every item ended, with the first item's error in input order
    (``return_exceptions=True``: errors are given back as values)."""
    futures: list[StepFuture[Any]] = []
    executor = state.executor
    items = [tuple(values) for values in zip(*iterables, strict=False)]
    first = replace(call_options, options={**call_options.options, FANOUT: len(items)})
    try:
        if executor is not None and not executor.local and CURRENT_STEP.get() is None:
            _map_remote(executor, task, state, (first, call_options), items, futures)
        else:
            for index, args in enumerate(items):
                futures.append(submit(task, state, call_options if index else first, args, {}))
    finally:
        _wait_all(futures)
    return gather(futures, return_exceptions)


def _map_remote(
    executor: Executor,
    task: Task[Any],
    state: RunState,
    call_options: tuple[Any, Any],
    items: list[tuple[Any, ...]],
    futures: list[StepFuture[Any]],
) -> None:
    """``map`` on a remote executor: the steps go to the workers in chunks (one engine task
    each), so that a fan-out of many short steps does not pay the engine's cost per step.
    ``call_options``: those of the first step (marked with the fan-out's size), the others'."""
    size = max(1, min(MAX_CHUNK, -(-len(items) // (4 * executor.parallelism()))))
    chunk: list[tuple[StepCall, StepFuture[Any], Work]] = []
    for index, args in enumerate(items):
        call, served = task._begin(state, call_options[index > 0], args, {})
        future: StepFuture[Any] = StepFuture(call.step.name)
        futures.append(future)
        if served is not MISSING:
            future.set_result(served)
            continue
        if call.call.cache:
            cache_claims.hand_over(call)
        chunk.append((call, future, _work(state, call, args, {})))
        if len(chunk) >= size:
            _send_chunk(executor, state, chunk)
            chunk = []
    if chunk:
        _send_chunk(executor, state, chunk)


# The most steps one engine task of a ``map`` carries.
MAX_CHUNK = 64


def _send_chunk(
    executor: Executor, state: RunState, chunk: list[tuple[StepCall, StepFuture[Any], Work]]
) -> None:
    committer = _committer(state)
    for _, future, _ in chunk:
        _track(state, future)
    try:
        data = dumps([work for _, _, work in chunk], executor.sends_by_value)
    except Exception:  # one of them cannot be sent: each goes alone and says which
        for call, future, work in chunk:
            _send(executor, committer, call, future, work)
        return
    try:
        engine = executor.submit(run_sent_many, data)
    except BaseException as error:
        for call, future, _ in chunk:
            committer.put(call, future, None, error)
        return
    for _, future, _ in chunk:
        future.engine_future = engine
    engine.add_done_callback(lambda done: _chunk_arrived(committer, executor, chunk, done))


def _chunk_arrived(
    committer: Committer,
    executor: Executor,
    chunk: list[tuple[StepCall, StepFuture[Any], Work]],
    engine: Future[Any],
) -> None:
    if engine.cancelled() or engine.exception() is not None:
        for call, future, work in chunk:  # each as if it had been sent alone
            _arrived(committer, call, future, executor, engine, work)
        return
    for (call, future, _), outcome in zip(chunk, engine.result(), strict=True):
        committer.put(call, future, outcome, None)


def gather(futures: list[StepFuture[Any]], return_exceptions: bool) -> list[Any]:
    """The futures' values in order, once all ended; the first error raised (or given back)."""
    _wait_all(futures)
    results: list[Any] = []
    first: BaseException | None = None
    for future in futures:
        error = future.exception()
        if error is None:
            results.append(future.result())
        elif return_exceptions:
            results.append(error)
        elif first is None:
            first = error
    if first is not None:
        raise first
    return results


def _wait_all(futures: Iterable[Future[Any]]) -> None:
    for future in futures:
        try:
            future.exception()
        except CancelledError:
            pass


def _track(state: RunState, future: StepFuture[Any]) -> None:
    with state.pending_lock:
        state.pending.add(future)
    future.add_done_callback(lambda done: _untrack(state, done))


def _untrack(state: RunState, future: Future[Any]) -> None:
    with state.pending_lock:
        state.pending.discard(future)


def wait_pending(state: RunState) -> None:
    """Wait until every step the run submitted has ended (called before the run ends); then the
    run's committer, if it has one, ends."""
    while True:
        with state.pending_lock:
            pending = list(state.pending)
        if not pending:
            break
        _wait_all(pending)
    committer = state.committer
    if committer is not None:
        state.committer = None
        committer.close()


# -- local executors ---------------------------------------------------------------------------
def _submit_local(
    executor: Executor | None,
    state: RunState,
    call: StepCall,
    future: StepFuture[Any],
    args: tuple[Any, ...],
    kwargs: Any,
) -> None:
    function = call.task.function
    if executor is None or CURRENT_STEP.get() is not None:
        _run_local(call, function, args, kwargs, future)
        return
    context = contextvars.copy_context()
    call.children_prefix = f"{call.step.name}."  # its sub-steps' names do not race
    _track(state, future)
    committer = _committer(state)
    state.started.add(call.step.position)  # queued: no start record until a thread takes it

    def run() -> None:
        context.run(_run_local, call, function, args, kwargs, future, committer)

    executor.run_soon(run)


def _run_local(
    call: StepCall,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Any,
    future: StepFuture[Any],
    committer: Committer | None = None,
) -> None:
    """Run a step where this is called. With a ``committer`` (a step on a thread pool) its end
    record goes to the committer, which writes it with others and then resolves ``future``."""
    if future.done():
        return
    state = call.state
    if committer is not None:  # on a thread pool: it starts now (not when it was submitted)
        call.deferred = True
        call.attempt_start = call.step.start_time = time.time()
        state.started.discard(call.step.position)
    value: Any = None
    error: BaseException | None = None
    try:
        if state.cancel_requested:  # canceled while it waited for a worker
            stopping = stopped(state, call.step.name)
            call.failed(stopping, final=True)
            raise stopping
        value = call_step(call, function, args, kwargs)
    except BaseException as raised:
        error = raised
    record = call.deferred
    if committer is not None and isinstance(record, tuple):
        committer.put_recorded(call, future, record, value, error)
        return
    call.deferred = None
    _release(call)
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


def _release(call: StepCall) -> None:
    """Let go of the step's cache key claim, if it holds one (after its end is recorded)."""
    if call.call.cache:
        cache_claims.release(call)


# -- remote executors --------------------------------------------------------------------------
def _submit_remote(
    executor: Executor,
    state: RunState,
    call: StepCall,
    future: StepFuture[Any],
    args: tuple[Any, ...],
    kwargs: Any,
) -> None:
    work = _work(state, call, args, kwargs)
    committer = _committer(state)
    _track(state, future)
    _send(executor, committer, call, future, work)


def _work(state: RunState, call: StepCall, args: tuple[Any, ...], kwargs: Any) -> Work:
    return Work(
        task=call.task,
        call=call.call,
        step=call.step.copy(),
        earlier=call.earlier,
        args=args,
        kwargs=dict(kwargs),
        recorded=_recorded_below(state, call.step.name),
        allow_pickle=state.allow_pickle,
        store_url=state.store.url if state.record_in_worker else None,
        first_position=next_worker_block(state.worker_blocks) if state.record_in_worker else 0,
    )


def _committer(state: RunState) -> Committer:
    committer = state.committer
    if committer is None:
        with state.pending_lock:
            committer = state.committer
            if committer is None:
                committer = state.committer = Committer(state)
    return committer


def _send(
    executor: Executor, committer: Committer, call: StepCall, future: StepFuture[Any], work: Work
) -> None:
    try:
        data = dumps(work, executor.sends_by_value)
    except Exception as error:
        committer.put(call, future, None, _unsendable_step(call, executor, error))
        return
    try:
        engine = executor.submit(run_sent, data)
    except BaseException as error:
        committer.put(call, future, None, error)
        return
    future.engine_future = engine
    engine.add_done_callback(lambda done: _arrived(committer, call, future, executor, done, work))


def _recorded_below(state: RunState, name: str) -> list[Step]:
    """The records an earlier attempt of the run made of the step's sub-steps (on resume)."""
    if not state.recorded:
        return []
    prefix = f"{name}."
    recorded = state.recorded
    # Found by name (held in memory), then read: never every record the run has left.
    names = sorted(
        (position, below) for below, position in recorded.positions.items()
        if below.startswith(prefix)
    )  # fmt: skip
    found = [recorded.pop(below) for _, below in names]
    return [step for step in found if step is not None]


def _arrived(
    committer: Committer,
    call: StepCall,
    future: StepFuture[Any],
    executor: Executor,
    engine: Future[Any],
    work: Work,
) -> None:
    if engine.cancelled():
        committer.put(call, future, None, stopped(call.state, call.step.name))
        return
    error = engine.exception()
    if error is None:
        committer.put(call, future, engine.result(), None)
        return
    if call.state.cancel_requested and executor.was_canceled(error):
        committer.put(call, future, None, stopped(call.state, call.step.name))
        return
    # The engine lost the step: its worker died (or the engine failed it otherwise). The
    # attempt is recorded; the task's retries apply, as to an attempt that raised.
    lost = executor.lost(error)
    now = time.time()
    info = ErrorInfo.from_exception(lost)
    step = call.step
    step.attempts.append(
        Attempt(len(step.attempts) + 1, step.start_time or now, now, Status.FAILED, info)
    )
    retries = call.task.config.retries
    state = call.state
    # A step lost with its worker is sent again once whatever its retries (a pool that breaks
    # takes the steps of its other workers with it); after that, its task's retries apply.
    send_again = len(step.attempts) - call.earlier <= retries or not work.resent
    if send_again and not state.cancel_requested:
        if len(step.attempts) - call.earlier > retries:
            work.resent = True
        work.step.attempts = list(step.attempts)
        try:
            again = executor.submit(run_sent, dumps(work, executor.sends_by_value))
        except BaseException as failure:
            committer.put(call, future, None, failure)
            return
        future.engine_future = again
        again.add_done_callback(
            lambda done: _arrived(committer, call, future, executor, done, work)
        )
        return
    committer.put(call, future, None, lost)


def _unsendable_step(call: StepCall, executor: Executor, error: BaseException) -> BaseException:
    """The step's function or arguments cannot be sent to the workers: an error naming the
    step and what could not be sent."""
    problem = SerializationError(
        f"step {call.step.name!r} of run {call.state.run_id!r} cannot be sent to the "
        f"{executor.name} executor's workers: {type(error).__name__}: {error}"
    )
    problem.__cause__ = error
    return problem


class Committer:
    """Writes the outcomes of a run's remote steps: those that arrived together go to the store
    in one transaction, then their futures resolve (in arrival order)."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._loop, name=f"flightlog-commit-{state.run_id}", daemon=True
        )
        self._thread.start()

    def put(
        self,
        call: StepCall,
        future: StepFuture[Any],
        outcome: Outcome | None,
        error: BaseException | None,
    ) -> None:
        self._queue.put((call, future, outcome, error))

    def put_recorded(
        self,
        call: StepCall,
        future: StepFuture[Any],
        record: tuple[Step, Any, Any, Any],
        value: Any,
        error: BaseException | None,
    ) -> None:
        """A step that ran here (a thread pool) and left its end record to be written."""
        self._queue.put((call, future, record, (value, error)))

    def close(self) -> None:
        """End the committer's thread once what it was given is written (the run ended), and
        wait for it to end (it has at most a last batch to write)."""
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            closing = False
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            self._commit(batch)
            if closing:
                return

    def _commit(self, batch: list[Any]) -> None:
        state = self.state
        records: list[tuple[Step, list[MetricChunk], list[AttachmentRecord]]] = []
        resolutions: list[tuple[StepFuture[Any], Any, BaseException | None]] = []
        ended: list[tuple[Step, list[MetricChunk], list[AttachmentRecord]]] = []
        try:
            for call, future, outcome, error in batch:
                if isinstance(outcome, tuple):  # ended in a thread of this process
                    step, stored, attachments, metrics = outcome
                    records.append((step, stored, attachments))
                    ended.append((step, metrics, attachments))
                    resolutions.append((future, error[0], error[1]))
                    continue
                if outcome is None:
                    step = _failed_record(call, error or FlightlogError("no outcome"))
                    records.append((step, [], []))
                    ended.append((step, [], []))
                    resolutions.append((future, None, error))
                    continue
                if outcome.recorded_in_worker:
                    state.in_flight.pop(call.step.position, None)
                    resolutions.append((future, outcome.value, outcome.error))
                    continue
                made = _adopt(state, call, outcome)
                records.extend(made)
                ended.append(made[-1])
                resolutions.append((future, outcome.value, outcome.error))
            if records:
                state.store.finish_steps(records)
        except BaseException as failure:  # the store failed: every step of the batch says so
            for future, _, _ in resolutions:
                if not future.done():
                    future.set_exception(failure)
            for call, future, _, _ in batch:
                _release(call)
                if not future.done():
                    future.set_exception(failure)
            return
        for step, metrics, attachments in ended:
            state.in_flight.pop(step.position, None)
            hooks = state.hooks
            if hooks is not None:
                try:
                    hooks.step_ended(state, step, metrics, attachments)
                except Exception:  # a tracker's failure is its own (it reports it)
                    pass
        for call, _, _, _ in batch:
            _release(call)
        for future, value, error in resolutions:
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)


def _failed_record(call: StepCall, error: BaseException) -> Step:
    """The end record of a step whose outcome never came back."""
    step = call.step.copy()
    end = time.time()
    canceled = isinstance(error, CanceledError) and call.state.cancel_requested
    status = Status.CANCELED if canceled else Status.FAILED
    info = ErrorInfo.from_exception(error)
    start = step.start_time or end
    if not step.attempts or step.attempts[-1].error != info:
        step.attempts.append(Attempt(len(step.attempts) + 1, start, end, status, info))
    step.status, step.end_time, step.error = status, end, info
    return step


def _adopt(
    state: RunState, call: StepCall, outcome: Outcome
) -> list[tuple[Step, list[MetricChunk], list[AttachmentRecord]]]:
    """The records a worker made, placed in the run: sub-steps take their recorded positions
    (on resume) or the run's next ones; tasks and blobs are written first."""
    store = state.store
    for task in outcome.tasks:
        if task.task_id != call.task.task_id:
            store.record_task(task)
    for data in outcome.blobs.values():
        store.put_blob(data)
    main = call.step.position
    places: dict[int, int] = {main: main}
    made: list[tuple[Step, list[MetricChunk], list[AttachmentRecord]]] = []
    for step, metrics, attachments in outcome.finished:
        position = places.get(step.position)
        if position is None:
            position = (
                state.resumed_positions.pop(step.name, None) if state.resumed_positions else None
            )
            if position is None:
                position = next(state.positions)
            places[step.position] = position
        step.position = position
        for chunk in metrics:
            if chunk.position is not None:
                chunk.position = places.get(chunk.position, chunk.position)
        made.append((step, metrics, attachments))
    # The step's own end record goes last (a crash in between leaves it unfinished, resumable).
    own = [item for item in made if item[0].position == main]
    return [item for item in made if item[0].position != main] + own[-1:]
