"""Workflows: decorated functions whose calls are recorded as runs."""

from __future__ import annotations

import contextvars
import inspect
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..codec_blobs import out_of_line
from ..errors import InvalidInputError
from ..executors import resolve_executor
from ..model import Run
from .control import cancel_run, run_status
from .fanout import check_record
from .runs import Finished, RunRequest, begin_run, claim_run, drive, drive_async
from .state import CURRENT_RUN, RunState
from .task import (
    callable_name,
    check_metadata,
    copy_names,
    encode_run_arguments,
    entry_of,
    is_async_callable,
    source_file,
)

if TYPE_CHECKING:
    from ..stores import Store
    from .recorder import Recorder

R = TypeVar("R")


class Workflow(Generic[R]):
    """A function whose calls are runs (``@fl.workflow``). Inside another run it is plain code."""

    def __init__(
        self,
        recorder: Recorder,
        function: Callable[..., R],
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        executor: Any = None,
        max_workers: int | None = None,
        record: str | None = None,
    ) -> None:
        if not callable(function):
            raise InvalidInputError(f"@workflow needs a function, not {type(function).__name__}")
        # Where this workflow's submitted steps run (None: inline; see flightlog.executors);
        # max_workers alone: the store's default kind of executor, with that many workers.
        self.executor = (
            recorder.executor
            if executor is None and max_workers is None
            else resolve_executor(executor or recorder.executor_spec, max_workers)
        )
        self.record_in_worker = (
            recorder.record_in_worker if record is None else check_record(record, recorder.store)
        )
        self.function = function
        self.name = name or callable_name(function)
        self.metadata = check_metadata(metadata, f"workflow {self.name!r} metadata")
        self.is_async = is_async_callable(function)
        self._recorder = recorder
        self._signature = inspect.signature(function)
        # Set by the Flightlog that made this workflow: judges a plan (see ``plan``).
        self.planner: Callable[[Workflow[Any], str | None], list[dict[str, Any]]] | None = None
        self._entry: dict[str, Any] | None = None
        copy_names(self, function)

    def plan(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Which steps a run with these arguments would replay, serve from cache or execute,
        and why, without executing anything; judged on the latest recorded run's steps."""
        request = self._request(args, kwargs, None, None, None)
        assert self.planner is not None, "workflow made outside flightlog.open()"
        return self.planner(self, request.arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return self.run(*args, **kwargs)

    def _request(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_id: str | None,
        metadata: dict[str, Any] | None,
        tag: str | None,
        on_start: Callable[[str], None] | None = None,
    ) -> RunRequest:
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}(): {error}") from None
        merged = dict(self.metadata)
        merged.update(check_metadata(metadata, "metadata"))
        store, serializer = self._recorder.store, self._recorder.serializer
        return RunRequest(
            workflow=self.name,
            source_file=source_file(self.function),
            arguments=encode_run_arguments(args, kwargs, self._recorder.serializer, store),
            encode_again=lambda: encode_run_arguments(args, kwargs, serializer, store),
            run_id=run_id,
            metadata=merged,
            tag=tag,
            serializer=self._recorder.serializer,
            allow_pickle=self._recorder.allow_pickle,
            entry=self._entry or self._find_entry(),
            signature=self._signature,
            on_start=on_start,
            hooks=self._recorder.hooks,
        )

    def _find_entry(self) -> dict[str, Any] | None:
        """Where this workflow can be imported from again (see ``entry_of``)."""
        self._entry = entry_of(self.function, self, self._signature)
        return self._entry

    def run(
        self,
        *args: Any,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tag: str | None = None,
        **kwargs: Any,
    ) -> R:
        """Run the workflow as a new run (or, inside a run, as plain code).

        With the ``run_id`` of an existing run: a SUCCESSFUL run gives back its output without
        executing, a FAILED, CANCELED or RESUMABLE run is resumed, a live one is refused.
        """
        current = CURRENT_RUN.get()
        if current is not None and not current.ended:
            return self.function(*args, **kwargs)
        request = self._request(args, kwargs, run_id, metadata, tag)
        if self.is_async:
            return self._run_async(request, args, kwargs)  # type: ignore[return-value]
        return cast(R, self._go(begin_run(self._recorder.store, request), args, kwargs))

    def _go(self, state: RunState | Finished, args: Any, kwargs: Any) -> Any:
        if isinstance(state, Finished):
            return self._output(state)
        state.executor = self.executor
        state.record_in_worker = self.record_in_worker
        return drive(state, self._recorder.serializer, lambda: self.function(*args, **kwargs))

    def _output(self, finished: Finished) -> Any:
        if finished.output is None:
            return None
        return self._recorder.decode(finished.output, self._recorder.allow_pickle)

    async def _run_async(self, request: RunRequest, args: Any, kwargs: Any) -> Any:
        state = begin_run(self._recorder.store, request)
        if isinstance(state, Finished):
            return self._output(state)
        state.executor = self.executor
        state.record_in_worker = self.record_in_worker
        return await drive_async(state, request.serializer, lambda: self.function(*args, **kwargs))

    def resume_run(
        self, store: Store, run: Run, *, strict: bool = False, allow_pickle: bool = False
    ) -> Any:
        """Resume a recorded run of this workflow in ``store`` (see ``Flightlog.resume``)."""
        state = claim_run(
            store,
            run,
            strict=strict,
            allow_pickle=allow_pickle or self._recorder.allow_pickle,
            hooks=self._recorder.hooks,
        )
        if isinstance(state, Finished):
            return self._output(state)
        with out_of_line(store):  # large arguments: in the store's blobs
            recorded: Any = self._recorder.decode(run.arguments, state.allow_pickle)
        return self._drive(state, recorded["args"], recorded["kwargs"])

    def _drive(self, state: RunState, args: Any, kwargs: Any) -> Any:
        """Drive a claimed run to its end in this thread (an async one in its own loop)."""
        serializer = self._recorder.serializer
        state.executor = self.executor
        state.record_in_worker = self.record_in_worker
        if self.is_async:
            import asyncio  # only for async workflows

            return asyncio.run(
                drive_async(state, serializer, lambda: self.function(*args, **kwargs))
            )
        return drive(state, serializer, lambda: self.function(*args, **kwargs))

    def run_async(
        self,
        *args: Any,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tag: str | None = None,
        **kwargs: Any,
    ) -> RunHandle[R]:
        """Start the run in a background thread and return a handle to it at once."""
        handle: RunHandle[R] = RunHandle(self)
        request = self._request(args, kwargs, run_id, metadata, tag, on_start=handle._started)

        def target() -> None:
            try:
                state = begin_run(self._recorder.store, request)
                if isinstance(state, Finished):
                    handle._started(run_id)
                    handle._value = self._output(state)
                else:
                    handle._value = self._drive(state, args, kwargs)
            except BaseException as error:
                handle._error = error
            finally:
                handle._started(None)

        thread = threading.Thread(target=contextvars.Context().run, args=(target,), daemon=True)
        handle._thread = thread
        thread.start()
        return handle

    def __repr__(self) -> str:
        return f"<flightlog workflow {self.name!r}>"


class RunHandle(Generic[R]):
    """A run started with ``run_async``: its id, outcome, status and a way to cancel it."""

    def __init__(self, workflow: Workflow[R]) -> None:
        self._workflow = workflow
        self._run_id: str | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._value: Any = None
        self._error: BaseException | None = None

    def _started(self, run_id: str | None) -> None:
        if not self._ready.is_set():
            self._run_id = run_id
            self._ready.set()

    @property
    def run_id(self) -> str:
        """The run's id, once the run has started (waits for that)."""
        self._ready.wait()
        if self._run_id is None:
            assert self._error is not None
            raise self._error
        return self._run_id

    def result(self, timeout: float | None = None) -> R:
        """Wait for the run to end; return its value or raise its error."""
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"run {self._run_id!r} did not end within {timeout} s")
        if self._error is not None:
            raise self._error
        return cast(R, self._value)

    def status(self) -> str:
        """The run's status now (RUNNING, SUCCESSFUL, CANCELED, …)."""
        return run_status(self._workflow._recorder.store, self.run_id).value

    def cancel(self) -> None:
        """Cancel the run: it reads CANCELED at once (see ``Flightlog.cancel``); a run that has
        finished is a ConflictError."""
        cancel_run(self._workflow._recorder.store, self.run_id)
