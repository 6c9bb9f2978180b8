"""The life of one run: create (or claim) its record, drive it, record its end."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import CanceledError, ConflictError, SerializationError
from ..model import ErrorInfo, Run, Status
from .environment import current_owner, run_environment
from .monitor import MONITOR
from .names import check_run_id, new_run_id
from .state import CURRENT_RUN, LEASE_SECONDS, RunState

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


def begin_run(store: Store, request: RunRequest) -> RunState:
    """Create the run's record (RUNNING) and start looking after it."""
    if request.run_id is not None:
        check_run_id(request.run_id)
    if request.tag is not None and not isinstance(request.tag, str):
        raise SerializationError(f"tag must be a string, not {type(request.tag).__name__}")
    environment = run_environment(request.source_file)
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
            if request.run_id is not None:
                raise
            continue
        break
    else:  # pragma: no cover - 25 million names and 50 tries
        raise ConflictError("could not find a free run id after 50 tries")
    state = RunState(store=store, run_id=run_id, allow_pickle=request.allow_pickle)
    MONITOR.register(state)
    return state


def end_run(state: RunState, value: Any, error: BaseException | None, serializer: str) -> None:
    """Record the run's outcome. Raises SerializationError when the output cannot be encoded
    (the run is then recorded FAILED with that error)."""
    MONITOR.unregister(state)
    store = state.store
    end = time.time()
    if error is not None:
        if isinstance(error, CanceledError):
            store.finish_run(state.run_id, status=Status.CANCELED, end_time=None)
        else:
            store.finish_run(
                state.run_id,
                status=Status.FAILED,
                end_time=end,
                error=ErrorInfo.from_exception(error),
            )
        return
    try:
        output = codec.encode(value, serializer=serializer)
    except SerializationError as problem:
        failure = SerializationError(
            f"run {state.run_id!r}: its output of type {type(value).__name__!r} cannot be "
            f"encoded: {problem}"
        )
        store.finish_run(
            state.run_id,
            status=Status.FAILED,
            end_time=end,
            error=ErrorInfo.from_exception(failure),
        )
        raise failure from problem
    store.finish_run(state.run_id, status=Status.SUCCESSFUL, end_time=end, output=output)


def drive(state: RunState, serializer: str, body: Callable[[], Any]) -> Any:
    """Run ``body`` as the run's code, recording its outcome."""
    token = CURRENT_RUN.set(state)
    try:
        value = body()
    except BaseException as error:
        CURRENT_RUN.reset(token)
        end_run(state, None, error, serializer)
        raise
    CURRENT_RUN.reset(token)
    end_run(state, value, None, serializer)
    return value


async def drive_async(state: RunState, serializer: str, body: Callable[[], Any]) -> Any:
    """Await ``body()`` as the run's code, recording its outcome."""
    token = CURRENT_RUN.set(state)
    try:
        value = await body()
    except BaseException as error:
        CURRENT_RUN.reset(token)
        end_run(state, None, error, serializer)
        raise
    CURRENT_RUN.reset(token)
    end_run(state, value, None, serializer)
    return value
