"""The life of one run: create (or claim) its record, drive it, record its end."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import codec
from ..codec_blobs import BLOBS, StoreBlobs, blob_references, out_of_line
from ..errors import (
    ArgumentMismatchError,
    CanceledError,
    ConflictError,
    FlightlogError,
    SerializationError,
    StoreError,
)
from ..hashing import value_digest
from ..model import ErrorInfo, Run, RunAttempt, Status
from .capture import ensure_capture
from .context import follow_context
from .control import check_stopped
from .environment import run_environment
from .fanout import wait_pending
from .liveness import current_owner, effective_end, effective_status, last_seen
from .monitor import MONITOR
from .names import check_run_id, new_run_id
from .recorded import read_recorded
from .state import CURRENT_RUN, LEASE_SECONDS, RunState
from .tracked import RunHooks, collect, take_run_buffer

if TYPE_CHECKING:
    from ..stores import Store


@dataclass(frozen=True)
class RunRequest:
    """What a caller asks for when starting a run."""

    workflow: str
    source_file: str | None
    arguments: str | None
    run_id: str | None = None
    metadata: dict[str, Any] | None = None
    tag: str | None = None
    serializer: str = "json"
    allow_pickle: bool = False
    entry: dict[str, Any] | None = None  # module, qualname and parameters (task.entry_of)
    signature: inspect.Signature | None = None
    on_start: Callable[[str], None] | None = None
    hooks: RunHooks | None = None
    # Encodes the arguments again, putting their large values again (see _keep_arguments).
    encode_again: Callable[[], str] | None = None


@dataclass(frozen=True)
class Finished:
    """The run under the requested id has already succeeded: here is its encoded output."""

    output: str | None


def begin_run(store: Store, request: RunRequest) -> RunState | Finished:
    """Create the run's record (RUNNING) and start looking after it.

    With an explicit run id that exists already, the call is idempotent: a SUCCESSFUL run gives
    back its output (Finished), a FAILED, CANCELED or RESUMABLE one is resumed, a live RUNNING
    one is refused, and other arguments than recorded are refused.
    """
    if request.run_id is not None:
        check_run_id(request.run_id)
    if request.tag is not None and not isinstance(request.tag, str):
        raise SerializationError(f"tag must be a string, not {type(request.tag).__name__}")
    environment = run_environment(request.source_file)
    if request.entry is not None:
        environment["entry"] = request.entry
    if request.hooks is not None:
        environment.update(request.hooks.describe())
    owner = current_owner()
    for _ in range(50):
        run_id = request.run_id or new_run_id()
        start = time.time()
        run = Run(
            run_id=run_id,
            workflow=request.workflow,
            status=Status.RUNNING,
            tag=request.tag,
            arguments=request.arguments,
            user_metadata=request.metadata or {},
            created_time=start,
            start_time=start,
            environment=environment,
            owner=owner,
            lease_expires=start + LEASE_SECONDS,
        )
        try:
            store.create_run(run)
        except ConflictError:
            if request.run_id is None:
                continue
            existing = store.get_run(request.run_id)
            if existing is None:  # pragma: no cover - deleted in between
                raise
            return claim_run(store, existing, request)
        break
    else:  # pragma: no cover - 25 million names and 50 tries
        raise ConflictError("could not find a free run id after 50 tries")
    _keep_arguments(store, request)
    state = RunState(
        store=store,
        run_id=run_id,
        allow_pickle=request.allow_pickle,
        hooks=request.hooks,
        start_time=start,
    )
    return _start(state, request)


def _keep_arguments(store: Store, request: RunRequest) -> None:
    """The large values of the run's arguments (out of line) were put before the run's record
    referred to them: a gc meanwhile may have taken them. Keep them now (the run is live: a
    later gc leaves them), or put them again if they went."""
    digests = blob_references(request.arguments)
    if digests and store.keep_blobs(sorted(digests)) and request.encode_again is not None:
        request.encode_again()


def _start(state: RunState, request: RunRequest | None) -> RunState:
    MONITOR.register(state)
    ensure_capture()
    if state.hooks is not None:
        state.hooks.run_started(state)
    if request is not None and request.on_start is not None:
        request.on_start(state.run_id)
    return state


def claim_run(
    store: Store,
    run: Run,
    request: RunRequest | None = None,
    *,
    strict: bool = False,
    allow_pickle: bool = False,
    hooks: RunHooks | None = None,
) -> RunState | Finished:
    """Take over an existing run to resume it: replay what succeeded and did not change, run
    the rest. With a request (a run id given again), the request must be for the same workflow
    and arguments, whatever the run's status."""
    if request is not None:
        with out_of_line(store):  # large arguments are compared as read from the blobs
            _check_same_run(run, request)
        allow_pickle = request.allow_pickle
        hooks = request.hooks
    status = effective_status(run)
    if status is Status.SUCCESSFUL:
        return Finished(run.output)
    if status is Status.RUNNING:
        owner = run.owner
        where = f" by process {owner.pid} on {owner.host}" if owner else ""
        raise ConflictError(
            f"run {run.run_id!r} is still RUNNING{where}; it cannot be started or resumed "
            "twice at once (cancel it first, or wait for it)"
        )
    if status is Status.CANCELED:
        check_stopped(run)
    steps = read_recorded(store, run.run_id)
    start = time.time()
    MONITOR.take_back(store, run.run_id)
    store.restart_run(
        run.run_id,
        expected_resumes=run.resumes,
        owner=current_owner(),
        start_time=start,
        lease_expires=start + LEASE_SECONDS,
        history=_history(run, status, steps.latest),
    )
    state = RunState(
        store=store,
        run_id=run.run_id,
        allow_pickle=allow_pickle,
        strict=strict,
        hooks=hooks,
        start_time=start,
        resumes=run.resumes + 1,
    )
    state.resume_from(steps)
    return _start(state, request)


def _check_same_run(run: Run, request: RunRequest) -> None:
    """Refuse a run id given again for another workflow or other arguments."""
    if request.workflow != run.workflow:
        raise ConflictError(
            f"run id {run.run_id!r} belongs to a run of {run.workflow!r}, "
            f"not of {request.workflow!r}"
        )
    if request.arguments != run.arguments:
        difference = describe_difference(run.arguments, request.arguments, request.signature)
        if difference:
            raise ArgumentMismatchError(
                f"run {run.run_id!r} was recorded with other arguments: {difference}"
            )


def _history(run: Run, status: Status, latest: float) -> list[RunAttempt]:
    """The run's attempts as read, the one that just ended last, with its effective status and
    end (one that recorded no end, e.g. canceled while its owner was gone, ends when its
    owner was last seen alive, or when the last of its steps began or ended if later)."""
    end = effective_end(run, status)
    if end is None or status is Status.RESUMABLE:
        seen = [last_seen(run) or 0.0]
        seen.append(latest)  # the latest start or end of its steps
        end = max(seen) if end is None else max(end, *seen)
    return run.attempt_records(status, end)


def describe_difference(
    recorded: str | None, given: str | None, signature: inspect.Signature | None
) -> str:
    """Name the parameters whose values differ ("" when they are the same once bound: the
    same values given by position or by name, or left to their defaults). Values of other
    types differ even when Python calls them equal (1, 1.0 and True)."""
    try:
        old = codec.decode(recorded or "null", allow_pickle=False)
        new = codec.decode(given or "null", allow_pickle=False)
    except SerializationError:
        return "the recorded arguments cannot be compared (they are pickled)"
    if signature is not None and isinstance(old, dict) and isinstance(new, dict):
        try:
            before = signature.bind(*old["args"], **old["kwargs"])
            after = signature.bind(*new["args"], **new["kwargs"])
        except (TypeError, KeyError):
            return f"recorded {old!r:.200}, given {new!r:.200}"
        before.apply_defaults()
        after.apply_defaults()
        names = [
            name
            for name in signature.parameters
            if not _same(before.arguments.get(name), after.arguments.get(name))
        ]
        return "; ".join(
            f"parameter {name!r}: recorded {before.arguments.get(name)!r:.100}, "
            f"given {after.arguments.get(name)!r:.100}"
            for name in names
        )
    return "" if _same(old, new) else f"recorded {old!r:.200}, given {new!r:.200}"


def _same(first: Any, second: Any) -> bool:
    """Equal values of the same types (by their canonical digests where they have one)."""
    try:
        return value_digest(first) == value_digest(second)
    except FlightlogError:
        return bool(first == second)


def end_run(state: RunState, value: Any, error: BaseException | None, serializer: str) -> None:
    """Record what the run's body tracked and the run's outcome.

    Raises StoreError when the store lost its file while the run recorded (see
    :func:`check_store`: nothing of the run is in the store then; the run is given up, as when
    its end cannot be recorded), CanceledError when the run was canceled meanwhile (it stays
    CANCELED, whatever the body did; its end time becomes now), SerializationError when the
    output cannot be encoded (the run is then recorded FAILED with that error), and
    ConflictError when another process took the run over meanwhile (its outcome here is not
    recorded).
    """
    state.ended = True
    MONITOR.unregister(state)
    metrics, attachments = collect(take_run_buffer(state))
    try:
        check_store(state)
        if metrics or attachments:
            state.store.record_tracked(state.run_id, metrics=metrics, attachments=attachments)
        _settle_steps(state)
        _record_outcome(state, value, error, serializer)
    except StoreError:
        MONITOR.give_up(state)  # the store does not answer: this process lets the run go
        raise
    finally:
        if state.hooks is not None:
            state.hooks.run_ended(state, metrics, attachments)


def _settle_steps(state: RunState) -> None:
    """Record again the end of steps whose end record failed (the store did not answer for a
    moment), so that none is left RUNNING in a finished run; and the replayed steps not
    written yet."""
    state.flush_replays()
    for call in list(state.in_flight.values()):
        step = call.step
        if step.end_time is not None:
            state.store.finish_step(step)
            state.in_flight.pop(step.position, None)


def check_store(state: RunState) -> None:
    """Raise StoreError if the run's store lost what the run recorded (its file deleted or
    replaced while the run recorded: see ``Store.check``, which stores may have)."""
    failure = state.failure
    if failure is not None:
        raise type(failure)(str(failure))
    check = getattr(state.store, "check", None)
    if check is not None:
        check()


def _record_outcome(
    state: RunState, value: Any, error: BaseException | None, serializer: str
) -> None:
    end = time.time()
    output: str | None = None
    failure: SerializationError | None = None
    if error is None:
        try:
            output = codec.encode(value, serializer=serializer)
        except SerializationError as problem:
            failure = SerializationError(
                f"run {state.run_id!r}: its output of type {type(value).__name__!r} cannot be "
                f"encoded: {problem}"
            )
            failure.__cause__ = error = problem
    info: ErrorInfo | None = None
    if error is None:
        status = Status.SUCCESSFUL
    elif isinstance(error, CanceledError):
        status = Status.CANCELED
    else:
        status = Status.FAILED
        info = ErrorInfo.from_exception(failure or error)
    recorded = state.store.finish_run(
        state.run_id,
        status=status,
        end_time=end,
        output=output,
        error=info,
        expected_resumes=state.resumes,
    )
    if recorded is Status.CANCELED and status is not Status.CANCELED:
        raise CanceledError(
            f"run {state.run_id!r} was canceled while it ran; no step started after the cancel"
        ) from error
    if recorded is not status:
        raise ConflictError(
            f"run {state.run_id!r} was taken over by another process while this one ran it "
            f"(it is {recorded.value} there); the outcome here was not recorded"
        ) from error
    if failure is not None:
        raise failure


def drive(state: RunState, serializer: str, body: Callable[[], Any]) -> Any:
    """Run ``body`` as the run's code, recording its outcome; values it records that are
    large go out of line, into the store's blobs (see :mod:`flightlog.codec_blobs`)."""
    blobs = BLOBS.set(StoreBlobs(state.store))
    try:
        return _drive(state, serializer, body)
    finally:
        BLOBS.reset(blobs)


def _drive(state: RunState, serializer: str, body: Callable[[], Any]) -> Any:
    token = CURRENT_RUN.set(state)
    follow_context()
    try:
        value = body()
    except BaseException as error:
        CURRENT_RUN.reset(token)
        wait_pending(state)
        end_run(state, None, error, serializer)
        raise
    CURRENT_RUN.reset(token)
    wait_pending(state)
    end_run(state, value, None, serializer)
    return value


async def _wait_pending_async(state: RunState) -> None:
    """wait_pending without blocking the event loop (when the run submitted any step)."""
    import asyncio  # loaded already: an async run runs

    if state.pending or state.committer is not None:
        await asyncio.to_thread(wait_pending, state)


async def drive_async(state: RunState, serializer: str, body: Callable[[], Any]) -> Any:
    """Await ``body()`` as the run's code, recording its outcome (large values out of
    line, as :func:`drive`)."""
    blobs = BLOBS.set(StoreBlobs(state.store))
    try:
        return await _drive_async(state, serializer, body)
    finally:
        BLOBS.reset(blobs)


async def _drive_async(state: RunState, serializer: str, body: Callable[[], Any]) -> Any:
    import asyncio  # loaded already: an async run runs

    state.is_async = True
    state.loop = asyncio.get_running_loop()  # a cancel cancels its async steps there
    token = CURRENT_RUN.set(state)
    follow_context()
    try:
        value = await body()
    except BaseException as error:
        CURRENT_RUN.reset(token)
        await _wait_pending_async(state)
        end_run(state, None, error, serializer)
        raise
    CURRENT_RUN.reset(token)
    await _wait_pending_async(state)
    end_run(state, value, None, serializer)
    return value
