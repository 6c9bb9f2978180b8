"""Tasks: decorated functions whose calls become recorded steps."""

from __future__ import annotations

import functools
import inspect
import json
import sys
import types
import warnings
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .. import codec
from ..codec_blobs import blob_references, out_of_line
from ..errors import FlightlogError, InvalidInputError, SerializationError
from ..hashing import fingerprint, module_name, scalar_fingerprint
from ..identity import TaskIdentity, UnhashableArgumentError, task_identity
from ..model import Run, TaskRecord
from . import cache_claims
from .fanout import StepFuture, gather, map_steps, submit
from .remote import task_reduction
from .retries import (
    RetryDelay,
    RetryOn,
    check_retry_delay,
    check_retry_on,
    recorded_delay,
    recorded_retry_on,
)
from .runs import Finished, RunRequest, begin_run, claim_run, drive, drive_async
from .state import CURRENT_RUN, CURRENT_STEP, MISSING, RunState
from .steps import StepCall, call_step, call_step_async

if TYPE_CHECKING:
    from ..stores import Store
    from .recorder import Recorder

R = TypeVar("R")

_SERIALIZERS = ("json", "pickle")


@dataclass(frozen=True)
class TaskOptions:
    """The options a task was declared with."""

    name: str | None = None
    version: str | None = None
    retries: int = 0
    retry_delay: RetryDelay = 0.0
    timeout: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    cache: bool = False
    serializer: str = "json"
    retry_on: RetryOn = None

    def check(self, what: str) -> TaskOptions:
        """These options, checked: a bad value raises InvalidInputError naming ``what`` (the
        task) and the option. Lists come back as tuples."""
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise InvalidInputError(
                f"{what}: retries must be an integer >= 0, not {self.retries!r}"
            )
        if self.timeout is not None and (
            not isinstance(self.timeout, (int, float))
            or isinstance(self.timeout, bool)
            or not self.timeout > 0
            or self.timeout == float("inf")
        ):
            raise InvalidInputError(
                f"{what}: timeout must be a positive number of seconds, not {self.timeout!r}"
            )
        if self.serializer not in _SERIALIZERS:
            raise InvalidInputError(
                f"{what}: unknown serializer {self.serializer!r}; use one of {_SERIALIZERS}"
            )
        check_metadata(self.metadata, f"{what}: metadata")
        return replace(
            self,
            retry_delay=check_retry_delay(self.retry_delay, what),
            retry_on=check_retry_on(self.retry_on, what),
        )

    def recorded(self) -> dict[str, Any]:
        """The options as stored with the task (``step_options`` in metadata)."""
        return {
            "retries": self.retries,
            "retry_delay": recorded_delay(self.retry_delay),
            "retry_on": recorded_retry_on(self.retry_on),
            "timeout": self.timeout,
            "cache": self.cache,
            "serializer": self.serializer,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class CallOptions:
    """What one call adds: its step name, metadata and per-call options."""

    name: str
    metadata: dict[str, Any]
    options: dict[str, Any]
    cache: bool
    recompute: bool = False


def check_metadata(metadata: Any, what: str) -> dict[str, Any]:
    """Refuse metadata that is not a JSON-serialisable dict; the error names the key."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"{what} must be a dict, not {type(metadata).__name__}")
    try:
        codec.encode_json(metadata, what=what)
    except SerializationError as error:  # a bad value given, not a value that cannot be stored
        raise InvalidInputError(str(error)) from None
    return metadata


class Task(Generic[R]):
    """A function whose calls are recorded as steps (``@fl.task``)."""

    def __init__(
        self, recorder: Recorder, function: Callable[..., R], options: TaskOptions
    ) -> None:
        if not callable(function):
            raise InvalidInputError(f"@task needs a function, not {type(function).__name__}")
        self.function = function
        self.name = options.name or callable_name(function)
        self.config = options.check(f"task {self.name!r}")
        self.is_async = is_async_callable(function)
        self._recorder = recorder
        self._signature = inspect.signature(function)
        parameters = list(self._signature.parameters.values())
        self._names = tuple(parameter.name for parameter in parameters)
        plain = all(
            parameter.kind
            in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for parameter in parameters
        )
        # Positional calls with every parameter given skip inspect's binding.
        self._arity = len(self._names) if plain else -1
        # The JSON keys of a positional call's plain scalar values: most steps take that path.
        self._keys = (
            codec.argument_keys(self._names)
            if self._arity > 0 and self.config.serializer == "json"
            else None
        )
        self._identity: TaskIdentity | None = None
        # The stores this task version is recorded in: by id, with a weak reference that tells
        # a store from a later one at the same address.
        self._recorded_in: dict[int, weakref.ref[Store]] = {}
        self.one_attempt = not self.config.retries and self.config.timeout is None
        self._warned = False
        self._call = CallOptions(
            name=self.name, metadata={}, options={}, cache=options.cache, recompute=False
        )
        self._entry: dict[str, Any] | None = None
        copy_names(self, function)

    # -- identity ------------------------------------------------------------------------------
    @property
    def identity(self) -> TaskIdentity:
        """Computed once, at the first call (the module is complete by then)."""
        identity = self._identity
        if identity is None:
            identity = self._identity = task_identity(
                self.function, name=self.config.name, version=self.config.version
            )
        return identity

    @functools.cached_property
    def task_id(self) -> str:
        """The task's code identity (then a plain attribute: every step reads it)."""
        return self.identity.task_id

    def record(self) -> TaskRecord:
        """This task version as the store records it."""
        sent = self.__dict__.get("_sent_record")
        if sent is not None:  # a task sent by value to a worker: as its driver knows it
            return cast(TaskRecord, sent)
        identity = self.identity
        return TaskRecord(
            task_id=identity.task_id,
            name=self.name,
            version=self.config.version,
            options=self.config.recorded(),
            user_metadata=self.config.metadata,
            components=dict(identity.components),
            constants=dict(identity.constants),
        )

    def _record_task(self, state: RunState) -> None:
        store = state.store
        known = self._recorded_in.get(id(store))
        if known is not None and known() is store:
            return
        store.record_task(self.record())
        self._recorded_in[id(store)] = weakref.ref(store)

    # -- arguments -----------------------------------------------------------------------------
    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Parameter name -> value, defaults applied, in parameter order."""
        if not kwargs and len(args) == self._arity:
            return dict(zip(self._names, args, strict=False))
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.name}(): {error}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def _identify(self, bound: dict[str, Any]) -> tuple[str | None, str | None]:
        """The encoded arguments and the execution id (None when they cannot be had)."""
        try:
            return fingerprint(bound, self.config.serializer)
        except UnhashableArgumentError as error:
            if self._call.cache:
                raise UnhashableArgumentError(
                    f"task {self.name!r} has cache=True, but its argument "
                    f"{error.parameter!r} cannot be hashed: {error}",
                    parameter=error.parameter,
                ) from None
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"task {self.name!r}: argument {error.parameter!r} cannot be hashed, so "
                    f"its steps are recorded without an execution id ({error})",
                    stacklevel=4,
                )
        try:
            return codec.encode_arguments(bound, serializer=self.config.serializer), None
        except FlightlogError:  # arguments that cannot be stored are not stored
            return None, None

    # -- calling -------------------------------------------------------------------------------
    def options(
        self,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        recompute: bool | None = None,
    ) -> BoundTask[R]:
        """This task with options for the next call: step name, metadata, recompute."""
        return BoundTask(self, with_options(self._call, name, metadata, recompute))

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        state = CURRENT_RUN.get()
        if state is None or state.ended:
            alone: R = self._run_alone(self._call, args, kwargs)
            return alone
        value: R = self._step(state, self._call, args, kwargs)
        return value

    def _invoke(self, call: CallOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        state = CURRENT_RUN.get()
        if state is None or state.ended:
            return self._run_alone(call, args, kwargs)
        return self._step(state, call, args, kwargs)

    def _step(
        self, state: RunState, call: CallOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self.is_async:
            self._check_awaitable(state)
            step, served = self._begin(state, call, args, kwargs)
            return self._async_step(step, served, args, kwargs)
        step, served = self._begin(state, call, args, kwargs)
        if served is not MISSING:
            return served
        if call.cache:  # it may hold its cache key's claim: let go of it at its end
            try:
                return call_step(step, self.function, args, kwargs)
            finally:
                cache_claims.release(step)
        return call_step(step, self.function, args, kwargs)

    def _begin(
        self, state: RunState, call: CallOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[StepCall, Any]:
        """Name, place and identify a step of this task; its value when an earlier record
        serves it (replayed, cached; then it is recorded), else MISSING: it must execute."""
        known = self._recorded_in.get(id(state.store))
        if known is None or known() is not state.store:
            self._record_task(state)
        found: tuple[str | None, str | None] | None = None
        keys = self._keys
        if keys is not None and not kwargs and len(args) == self._arity:
            found = scalar_fingerprint(keys, args)
        if found is None:
            found = self._identify(self.bind(args, kwargs))
        step = StepCall(self, state, call, found[0], found[1])
        if call.recompute:
            step.step.reason = "recompute=True was asked"
        if call.cache or state.recorded:
            served = self._recorder.serve(self, step)
            if served is not MISSING or not state.replays:
                return step, served
        if state.replays:  # the steps replayed before this one are written before it runs
            state.flush_replays()
        return step, MISSING

    # -- fan-out -------------------------------------------------------------------------------
    def submit(self, *args: Any, **kwargs: Any) -> StepFuture[R]:
        """Submit a step to the run's executor and return its future at once (see
        :mod:`flightlog.runtime.fanout`). Outside a workflow the call is a run of its own,
        done when this returns."""
        return self._submit(self._call, args, kwargs)

    def map(self, *iterables: Iterable[Any], return_exceptions: bool = False) -> list[R]:
        """One step per item (several iterables are zipped), run on the run's executor; the
        values in input order. Fails only after every item ended, with the first failing
        item's error; ``return_exceptions=True`` gives errors back as values instead."""
        return self._map(self._call, iterables, return_exceptions)

    def _submit(
        self, call: CallOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> StepFuture[R]:
        self._refuse_async("submit")
        state = CURRENT_RUN.get()
        if state is None or state.ended:
            future: StepFuture[R] = StepFuture(self.name)
            try:
                future.set_result(self._run_alone(call, args, kwargs))
            except BaseException as error:
                future.set_exception(error)
            return future
        return submit(self, state, call, args, kwargs)

    def _map(
        self, call: CallOptions, iterables: tuple[Iterable[Any], ...], return_exceptions: bool
    ) -> list[R]:
        self._refuse_async("map")
        if not iterables:
            raise TypeError(f"{self.name}.map() needs at least one iterable")
        state = CURRENT_RUN.get()
        if state is None or state.ended:
            futures = [
                self._submit(call, tuple(items), {}) for items in zip(*iterables, strict=False)
            ]
            return gather(futures, return_exceptions)
        return map_steps(self, state, call, iterables, return_exceptions)

    def _refuse_async(self, method: str) -> None:
        if self.is_async:
            raise InvalidInputError(
                f"task {self.name!r} is async: instead of {method}(), await several calls at "
                f"once (`await asyncio.gather(*({self.name}(x) for x in items))`)"
            )

    def __reduce__(self) -> tuple[Any, ...]:
        """A task crosses to a worker by name, or by value (see runtime/remote.py)."""
        return task_reduction(self)

    def _check_awaitable(self, state: RunState) -> None:
        """Refuse an async task called where nobody can await it (before its coroutine is
        made: no step is recorded, no "never awaited" warning)."""
        name = self.name
        caller = CURRENT_STEP.get()
        if isinstance(caller, StepCall):
            if not caller.task.is_async:
                raise InvalidInputError(
                    f"task {name!r} is async, but the plain task {caller.task.name!r} calls it: "
                    f"make that task async too (`async def` + `await {name}(...)`), or make "
                    f"{name!r} a plain function"
                )
        elif not state.is_async:
            raise InvalidInputError(
                f"task {name!r} is async: call it from an async workflow (`async def` + "
                f"`await {name}(...)`), or make the task a plain function"
            )

    async def _async_step(self, step: StepCall, served: Any, args: Any, kwargs: Any) -> Any:
        if served is not MISSING:
            return served
        if step.call.cache:  # one computation per cache key (see cache_claims)
            served = await self._recorder.serve_async(self, step)
            if served is not MISSING:
                return served
            try:
                return await call_step_async(step, self.function, args, kwargs)  # type: ignore[arg-type]
            finally:
                cache_claims.release(step)
        return await call_step_async(step, self.function, args, kwargs)  # type: ignore[arg-type]

    def _run_alone(self, call: CallOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A task called outside any workflow is a run of its own, with one step."""
        self.bind(args, kwargs)  # a wrong call fails before a run is recorded
        store = self._recorder.store
        request = RunRequest(
            workflow=self.name,
            source_file=source_file(self.function),
            arguments=encode_run_arguments(args, kwargs, self.config.serializer, store),
            encode_again=lambda: encode_run_arguments(args, kwargs, self.config.serializer, store),
            serializer=self.config.serializer,
            entry=self.entry(),
            hooks=self._recorder.hooks,
        )
        state = begin_run(self._recorder.store, request)
        assert isinstance(state, RunState)  # a new run id is never a finished run
        state.executor = self._recorder.executor
        state.record_in_worker = self._recorder.record_in_worker
        if self.is_async:
            return drive_async(
                state, self.config.serializer, lambda: self._step(state, call, args, kwargs)
            )
        return drive(state, self.config.serializer, lambda: self._step(state, call, args, kwargs))

    def resume_run(
        self, store: Store, run: Run, *, strict: bool = False, allow_pickle: bool = False
    ) -> Any:
        """Resume a recorded lone run of this task (see ``Flightlog.resume``)."""
        pickled_ok = allow_pickle or self.config.serializer == "pickle"
        state = claim_run(
            store,
            run,
            strict=strict,
            allow_pickle=pickled_ok,
            hooks=self._recorder.hooks,
        )
        if isinstance(state, Finished):
            return self._recorder.decode(state.output, pickled_ok)
        with out_of_line(store):  # large arguments: in the store's blobs
            recorded: Any = self._recorder.decode(run.arguments, pickled_ok)
        args, kwargs = tuple(recorded["args"]), dict(recorded["kwargs"])
        state.executor = self._recorder.executor
        state.record_in_worker = self._recorder.record_in_worker
        body = lambda: self._step(state, self._call, args, kwargs)  # noqa: E731
        if self.is_async:
            import asyncio  # only for async tasks

            return asyncio.run(drive_async(state, self.config.serializer, body))
        return drive(state, self.config.serializer, body)

    def entry(self) -> dict[str, Any] | None:
        """Where this task can be imported from again (see :func:`entry_of`)."""
        if self._entry is None:
            self._entry = entry_of(self.function, self, self._signature)
        return self._entry

    def __repr__(self) -> str:
        return f"<flightlog task {self.name!r}>"


class BoundTask(Generic[R]):
    """A task with options for its next calls (``task.options(...)``)."""

    def __init__(self, task: Task[R], call: CallOptions) -> None:
        self.task = task
        self._call = call

    def options(
        self,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        recompute: bool | None = None,
    ) -> BoundTask[R]:
        """These options with others on top: a later name or recompute wins, metadata merges
        (a later key wins)."""
        return BoundTask(self.task, with_options(self._call, name, metadata, recompute))

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return cast(R, self.task._invoke(self._call, args, kwargs))

    def submit(self, *args: Any, **kwargs: Any) -> StepFuture[R]:
        """``task.submit`` with these options."""
        return self.task._submit(self._call, args, kwargs)

    def map(self, *iterables: Iterable[Any], return_exceptions: bool = False) -> list[R]:
        """``task.map`` with these options (a step name gives ``name``, ``name_1`` …)."""
        return self.task._map(self._call, iterables, return_exceptions)

    def __repr__(self) -> str:
        return f"<flightlog task {self.task.name!r} as step {self._call.name!r}>"


def with_options(
    call: CallOptions, name: str | None, metadata: dict[str, Any] | None, recompute: bool | None
) -> CallOptions:
    """``call`` with the options of ``task.options(...)`` applied (None: keep as it is)."""
    if name is not None:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"step name must be a non-empty string, not {name!r}")
        call = replace(call, name=name)
    if metadata is not None:
        added = check_metadata(metadata, f"step {call.name!r} metadata")
        call = replace(call, metadata={**call.metadata, **added})
    if recompute is not None:
        if not isinstance(recompute, bool):
            raise InvalidInputError(f"recompute must be True or False, not {recompute!r}")
        options = {key: value for key, value in call.options.items() if key != "recompute"}
        if recompute:
            options["recompute"] = True
        call = replace(call, recompute=recompute, options=options)
    return call


def encode_run_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], serializer: str, store: Store | None = None
) -> str:
    """A run's arguments as recorded (and given back to the function on resume); large
    values go out of line into ``store``'s blobs, as a step's arguments do."""
    value = {"args": list(args), "kwargs": kwargs}
    try:
        if store is None:
            return codec.encode(value, serializer=serializer)
        with out_of_line(store):
            return codec.encode(value, serializer=serializer)
    except SerializationError as error:
        raise SerializationError(f"the run's arguments cannot be recorded: {error}") from error


def unwrap_partial(function: Any) -> Any:
    """The callable a ``functools.partial`` (of a partial …) calls in the end."""
    while isinstance(function, functools.partial):
        function = function.func
    return function


def callable_name(function: Callable[..., Any]) -> str:
    """The name of a task or workflow made of ``function``: a function's own name, a partial's
    function's name, a callable instance's class name."""
    target = unwrap_partial(function)
    name = getattr(target, "__name__", None)
    return name if isinstance(name, str) and name else type(target).__name__


def is_async_callable(function: Callable[..., Any]) -> bool:
    """True for an ``async def`` function, a partial of one, or an instance whose class has an
    ``async def __call__``."""
    target = unwrap_partial(function)
    if inspect.iscoroutinefunction(target):
        return True
    if isinstance(target, (types.FunctionType, types.MethodType, type)):
        return False
    return inspect.iscoroutinefunction(type(target).__call__)


def copy_names(wrapper: Callable[..., Any], function: Callable[..., Any]) -> None:
    """Give a task or workflow its function's names and docstring, as ``functools.wraps``
    does; a partial lends its function's, a callable instance its class's (never the
    instance's attributes). ``__wrapped__`` is ``function`` itself, so that
    ``inspect.signature`` sees the parameters left to give."""
    if isinstance(function, (types.FunctionType, types.MethodType)):
        functools.update_wrapper(wrapper, function)
        return
    target = unwrap_partial(function)
    source = target if hasattr(target, "__name__") else type(target)
    names = ("__module__", "__name__", "__qualname__", "__doc__")
    functools.update_wrapper(wrapper, source, assigned=names, updated=())
    wrapper.__wrapped__ = function  # type: ignore[attr-defined]


def entry_of(
    function: Callable[..., Any],
    holder: object = None,
    signature: inspect.Signature | None = None,
) -> dict[str, Any] | None:
    """Where the function can be imported from again (to resume its runs elsewhere), and, with
    its ``signature``, its parameters (:func:`parameter_names`), so that readers name a run's
    arguments without importing its code.

    A function is found by its module and qualified name (a decorated one: the task or
    workflow that replaced it there). A partial or a callable instance has no name of its
    own: the module-level name that holds ``holder`` (the task or workflow made of it) is
    looked up in the module of its function or class. None when neither is known.
    """
    entry: dict[str, Any] = _place(function, holder) or {}
    if signature is not None:
        entry["parameters"] = parameter_names(signature)
        defaults = parameter_defaults(signature)
        if defaults:
            entry["defaults"] = defaults
    return entry or None


def _place(function: Callable[..., Any], holder: object) -> dict[str, Any] | None:
    qualname = getattr(function, "__qualname__", None)
    if isinstance(qualname, str):
        return {"module": module_name(function.__module__), "qualname": qualname}
    target = unwrap_partial(function)
    home = getattr(target if hasattr(target, "__name__") else type(target), "__module__", None)
    module = sys.modules.get(home) if isinstance(home, str) else None
    if holder is None or module is None:
        return None
    for name, value in list(vars(module).items()):
        if value is holder:
            return {"module": module_name(home), "qualname": name}
    return None


def parameter_names(signature: inspect.Signature) -> list[str]:
    """The parameters as they are written in a ``def``: names in order, ``*args`` and
    ``**kwargs`` with their stars, ``"/"`` after positional-only ones and ``"*"`` before
    keyword-only ones that follow no ``*args`` (``["a", "/", "b", "*", "c"]``)."""
    names: list[str] = []
    positional_only = starred = False
    for parameter in signature.parameters.values():
        kind = parameter.kind
        if positional_only and kind is not inspect.Parameter.POSITIONAL_ONLY:
            names.append("/")
        positional_only = kind is inspect.Parameter.POSITIONAL_ONLY
        if kind is inspect.Parameter.VAR_POSITIONAL:
            starred = True
            names.append(f"*{parameter.name}")
        elif kind is inspect.Parameter.VAR_KEYWORD:
            names.append(f"**{parameter.name}")
        else:
            if kind is inspect.Parameter.KEYWORD_ONLY and not starred:
                starred = True
                names.append("*")
            names.append(parameter.name)
    if positional_only:
        names.append("/")
    return names


DEFAULT_TEXT_LIMIT = 1024
"""The longest encoded default recorded with a workflow's parameters (longer ones are left out:
every run records them)."""


def parameter_defaults(signature: inspect.Signature) -> dict[str, Any]:
    """The parameters' default values, encoded (JSON, as stored; see :mod:`flightlog.codec`),
    so that readers find a run by a parameter it left at its default without importing its
    code. A default that cannot be encoded without pickling, or whose encoding is longer
    than ``DEFAULT_TEXT_LIMIT``, is left out."""
    defaults: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.default is inspect.Parameter.empty:
            continue
        try:
            text = codec.encode(parameter.default)
        except FlightlogError:
            continue
        if len(text) <= DEFAULT_TEXT_LIMIT and not blob_references(text):
            defaults[name] = json.loads(text)
    return defaults


def source_file(function: Callable[..., Any]) -> str | None:
    """The file that defines the function (a partial's function, an instance's ``__call__``)."""
    target = unwrap_partial(function)
    code = getattr(target, "__code__", None)
    if code is None:
        code = getattr(type(target).__call__, "__code__", None)
    return None if code is None else str(code.co_filename)
