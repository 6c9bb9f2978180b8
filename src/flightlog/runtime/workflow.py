"""Workflows: decorated functions whose calls are recorded as runs."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ..errors import InvalidInputError
from .runs import RunRequest, begin_run, drive, drive_async
from .state import CURRENT_RUN
from .task import check_metadata, encode_run_arguments, source_file

if TYPE_CHECKING:
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
    ) -> None:
        if not callable(function):
            raise InvalidInputError(f"@workflow needs a function, not {type(function).__name__}")
        self.function = function
        self.name = name or function.__name__
        self.metadata = check_metadata(metadata, f"workflow {self.name!r} metadata")
        self.is_async = inspect.iscoroutinefunction(function)
        self._recorder = recorder
        self._signature = inspect.signature(function)
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return self.run(*args, **kwargs)

    def run(
        self,
        *args: Any,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tag: str | None = None,
        **kwargs: Any,
    ) -> R:
        """Run the workflow as a new run (or, inside a run, as plain code)."""
        if CURRENT_RUN.get() is not None:
            return self.function(*args, **kwargs)
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}(): {error}") from None
        merged = dict(self.metadata)
        merged.update(check_metadata(metadata, "metadata"))
        request = RunRequest(
            workflow=self.name,
            source_file=source_file(self.function),
            arguments=encode_run_arguments(args, kwargs, self._recorder.serializer),
            run_id=run_id,
            metadata=merged,
            tag=tag,
            serializer=self._recorder.serializer,
            allow_pickle=self._recorder.allow_pickle,
        )
        if self.is_async:
            return self._run_async(request, args, kwargs)  # type: ignore[return-value]
        state = begin_run(self._recorder.store, request)
        return cast(R, drive(state, request.serializer, lambda: self.function(*args, **kwargs)))

    async def _run_async(self, request: RunRequest, args: Any, kwargs: Any) -> Any:
        state = begin_run(self._recorder.store, request)
        return await drive_async(
            state,
            request.serializer,
            lambda: self.function(*args, **kwargs),
        )

    def __repr__(self) -> str:
        return f"<flightlog workflow {self.name!r}>"
