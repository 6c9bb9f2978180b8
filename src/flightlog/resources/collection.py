"""A named collection of resources and the function that computes them, and the
:class:`Resource` objects that ``fetch`` returns."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import FlightlogError, InvalidInputError
from ..identity import TaskIdentity, task_identity
from ..model import Attempt, ResourceRecord, Status, TaskRecord
from ..runtime.task import entry_of

if TYPE_CHECKING:
    from .engine import ResourceEngine

_SERIALIZERS = ("json", "pickle")
_UNSET: Any = object()


@dataclass(frozen=True)
class CollectionOptions:
    """How a collection was declared: code version, result encoding, log rotation."""

    version: str | None = None
    serializer: str = "json"
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3

    def check(self, name: str) -> CollectionOptions:
        what = f"resource collection {name!r}"
        if self.version is not None and not isinstance(self.version, str):
            raise InvalidInputError(f"{what}: version must be a string, not {self.version!r}")
        if self.serializer not in _SERIALIZERS:
            raise InvalidInputError(
                f"{what}: unknown serializer {self.serializer!r}; use one of {_SERIALIZERS}"
            )
        for option in ("log_max_bytes", "log_backups"):
            value = getattr(self, option)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidInputError(f"{what}: {option} must be an integer >= 0, not {value!r}")
        return self


class ResourceCollection:
    """Resources keyed by identifier, computed by ``function(ident, args, ctx)``
    (``@fl.resource(name)``). The methods are those of ``Flightlog`` with the name filled in.
    """

    def __init__(
        self,
        engine: ResourceEngine,
        name: str,
        function: Callable[..., Any],
        options: CollectionOptions,
    ) -> None:
        if not callable(function):
            raise InvalidInputError(
                f"@resource({name!r}) needs a function, not {type(function).__name__}"
            )
        if inspect.iscoroutinefunction(function):
            raise InvalidInputError(
                f"@resource({name!r}): {function.__qualname__} is an async function; resource "
                "functions must be plain functions (call asyncio.run inside one if needed)"
            )
        self.name = name
        self.function = function
        self.options = options.check(name)
        self.engine = engine
        self.recorded = False
        # Fetches claim before reading while they keep finding no record (see engine).
        self.claim_first = False
        self.__doc__ = getattr(function, "__doc__", None)
        self.__wrapped__ = function

    @cached_property
    def identity(self) -> TaskIdentity:
        """The code identity of the function, computed at first use (as for tasks)."""
        return task_identity(
            self.function, name=f"resource:{self.name}", version=self.options.version
        )

    @cached_property
    def task_id(self) -> str:
        """The code identity of the collection's function (as a task's ``task_id``)."""
        return self.identity.task_id

    def record(self) -> TaskRecord:
        """The function's version as the store records it (as a task named
        ``resource:<collection>``, with where to import it from)."""
        identity = self.identity
        return TaskRecord(
            task_id=identity.task_id,
            name=identity.name,
            version=self.options.version,
            options={
                "collection": self.name,
                "serializer": self.options.serializer,
                "version": self.options.version,
                "entry": entry_of(self.function),
            },
            components=dict(identity.components),
        )

    # -- the Flightlog methods, with the collection filled in ----------------------------------
    def fetch(
        self, ident: Any, args: Any = None, *, recompute: bool | str = False, wait: bool = True
    ) -> Resource:
        """The resource ``ident``, computed now if it must be: `Flightlog.fetch` with this
        collection."""
        return self.engine.fetch(self.name, ident, args, recompute=recompute, wait=wait)

    def status(self, ident: Any) -> str:
        """``"completed"``, ``"pending"``, ``"error"`` or ``"unavailable"``."""
        return self.engine.status(self.name, ident)

    def stats(self) -> dict[str, Any]:
        """``{"counts": {"total": n, "pending": n, "completed": n, "error": n,
        "unavailable": n}}``."""
        return self.engine.stats(self.name)

    def fetch_by_status(self, status: str) -> list[str]:
        """The identifiers of the resources with this status."""
        return self.engine.fetch_by_status(self.name, status)

    def fetch_error(self, ident: Any) -> str:
        """The traceback of the resource's latest failed computation."""
        return self.engine.fetch_error(self.name, ident)

    def fetch_log(self, ident: Any) -> str:
        """What ``ctx.logger`` wrote while computing the resource (rotated files included)."""
        return self.engine.fetch_log(self.name, ident)

    def stale(self) -> list[str]:
        """Identifiers computed by another version of the function than the current one."""
        return self.engine.stale(self.name)

    def declare(self, idents: Iterable[Any]) -> int:
        """Record identifiers as ``"unavailable"`` until computed; the number newly declared."""
        return self.engine.declare(self.name, idents)

    def get_resource(self, ident: Any) -> Resource:
        """The resource as recorded, never computed (`NotFoundError` if there is none)."""
        return self.engine.get(self.name, ident)

    def fetch_many(
        self,
        idents: Iterable[Any],
        args: Any = None,
        *,
        workers: int | None = None,
        recompute: bool | str = False,
        progress: bool | None = None,
    ) -> list[Resource]:
        """Fetch many resources, on ``workers`` threads, in the order asked; a failed one comes
        back with status ``"error"`` instead of stopping the others."""
        return self.engine.fetch_many(
            self.name, idents, args, workers=workers, recompute=recompute, progress=progress
        )

    def retry_errors(
        self, *, workers: int | None = None, progress: bool | None = None
    ) -> list[Resource]:
        """Compute again every resource whose status is ``"error"``, with its recorded args."""
        return self.engine.retry_errors(self.name, workers=workers, progress=progress)

    def __repr__(self) -> str:
        return f"<flightlog resource collection {self.name!r}>"


def _ms(epoch: float | None) -> int | None:
    return None if epoch is None else int(epoch * 1000)


class Resource:
    """One resource as ``fetch`` finds it: status, result, arguments, times, error, files.

    ``status`` is "completed", "pending", "error" or "unavailable"; ``start_time`` and
    ``end_time`` are Unix epoch milliseconds (as in hadrosaur). ``paths`` makes the resource's
    folder and files real (see :mod:`flightlog.resources.files`).
    """

    __slots__ = ("_engine", "_record", "_value", "_why", "collection", "ident", "status")

    def __init__(
        self,
        engine: ResourceEngine,
        record: ResourceRecord,
        status: str,
        why: str | None = None,
        value: Any = _UNSET,
    ) -> None:
        self._engine = engine
        self._record = record
        self._value = value
        self._why = why
        self.collection = record.collection
        self.ident = record.ident
        self.status = status

    @property
    def record(self) -> ResourceRecord:
        """The stored record this view was made from."""
        return self._record

    @property
    def result(self) -> Any:
        """The value the function returned (None unless completed)."""
        value = self._value
        if value is _UNSET:
            text = self._record.result if self.status == "completed" else None
            value = None if text is None else self._engine.decode(text, self.collection)
            self._value = value
        return value

    @property
    def run_id(self) -> str | None:
        """The run whose code computed it (None: computed outside any run); deleting that run
        deletes the resource too, unless a run that stays used it."""
        return self._record.run_id

    @property
    def args(self) -> Any:
        """The arguments it was (or is being) computed with."""
        text = self._record.arguments
        return None if text is None else self._engine.decode(text)

    @property
    def start_time(self) -> int | None:
        """When the latest computation started, in epoch milliseconds (as hadrosaur's)."""
        return _ms(self._record.start_time)

    @property
    def end_time(self) -> int | None:
        """When the latest computation ended, in epoch milliseconds (None while pending)."""
        return _ms(self._record.end_time)

    @property
    def duration(self) -> float | None:
        """Seconds the computation took (None until it ended)."""
        record = self._record
        if record.start_time is None or record.end_time is None:
            return None
        return record.end_time - record.start_time

    @property
    def error(self) -> str | None:
        """The traceback of the failed computation, or why it can never finish."""
        if self._why is not None:
            return self._why
        error = self._record.error
        return None if error is None else error.traceback

    @property
    def task_id(self) -> str | None:
        """The code identity of the function that computed it."""
        return self._record.task_id

    @property
    def attempt(self) -> int:
        """How many computations of it were started (0 for one only declared)."""
        return self._record.attempt

    @property
    def history(self) -> list[dict[str, Any]]:
        """The earlier computations, oldest first: attempt, status, times (ms) and error."""
        return [_past(attempt) for attempt in self._record.history]

    @property
    def paths(self) -> dict[str, str]:
        """hadrosaur's ``base``, ``error``, ``log``, ``status``, ``start_time``, ``end_time``,
        ``result`` and ``storage``, made real now with hadrosaur's contents (see
        :mod:`flightlog.resources.files`)."""
        files = self._engine.files(self.collection, self.ident)
        result = self._result_json() if self.status == "completed" else None
        return files.materialise(self.status, result, self.error, self.start_time, self.end_time)

    def _result_json(self) -> str | None:
        """The result as hadrosaur's ``json.dump`` writes it; a value JSON cannot hold (a
        pickled collection's) as flightlog's encoding of it."""
        try:
            return json.dumps(self.result)
        except (TypeError, ValueError, FlightlogError):
            return self._record.result

    def to_dict(self) -> dict[str, Any]:
        """Everything but the paths, as plain values."""
        try:
            result = self.result
        except FlightlogError as problem:
            result = {"unreadable": str(problem)}
        return {
            "collection": self.collection,
            "ident": self.ident,
            "status": self.status,
            "result": result,
            "args": self.args,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "error": self.error,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "history": self.history,
            "run_id": self.run_id,
        }

    def __repr__(self) -> str:
        return f"<Resource {self.collection}/{self.ident} {self.status}>"


def _past(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempt": attempt.number,
        "status": "completed" if attempt.status is Status.SUCCESSFUL else "error",
        "start_time": _ms(attempt.start_time),
        "end_time": _ms(attempt.end_time),
        "error": None if attempt.error is None else attempt.error.traceback,
    }


def same_arguments(recorded: str | None, given_text: str, given: Any, allow_pickle: bool) -> bool:
    """Whether recorded arguments equal the given ones (by text, else by value)."""
    if recorded == given_text:
        return True
    if recorded is None:
        return False
    try:
        return bool(codec.decode(recorded, allow_pickle=allow_pickle) == given)
    except Exception:  # undecodable, or values whose == is not a truth value
        return False
