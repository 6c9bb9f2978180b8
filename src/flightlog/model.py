"""Plain record types: runs, steps, attempts, errors. No I/O happens here.

Values that users produce (arguments, results, outputs) travel through these records in their
encoded form (the text made by :mod:`flightlog.codec`), so that a store never has to know how
a Python value is encoded.
"""

from __future__ import annotations

import enum
import os
import traceback as traceback_module
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _ours(trace: TracebackType) -> bool:
    return trace.tb_frame.f_code.co_filename.startswith(_PACKAGE)


class Status(str, enum.Enum):
    """The status of a run or a step (Ray Workflows' names)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"
    RESUMABLE = "RESUMABLE"
    CANCELED = "CANCELED"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """True for a status after which nothing more happens unless the run is resumed."""
        return self in _FINISHED


_FINISHED = frozenset({Status.SUCCESSFUL, Status.FAILED, Status.CANCELED})


class Origin(str, enum.Enum):
    """Where a step's result came from."""

    EXECUTED = "executed"
    REPLAYED = "replayed"
    CACHED = "cached"

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class ErrorInfo:
    """An exception as recorded: its type, message and full traceback text."""

    type: str
    message: str
    traceback: str

    @classmethod
    def from_exception(cls, error: BaseException) -> ErrorInfo:
        kind = type(error)
        name = kind.__qualname__
        if kind.__module__ not in ("builtins", "__main__"):
            name = f"{kind.__module__}.{name}"
        trace = error.__traceback__
        # Leading frames of flightlog's own runtime (the step machinery) are noise to users.
        while trace is not None and trace.tb_next is not None and _ours(trace):
            trace = trace.tb_next
        text = "".join(traceback_module.format_exception(kind, error, trace))
        return cls(type=name, message=str(error), traceback=text)

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        return cls(type=data["type"], message=data["message"], traceback=data["traceback"])


def _attempt_dict(number: int, start: float, end: float | None, status: Status) -> dict[str, Any]:
    """What every attempt record says, a step's or a run's (``attempt_number`` … ``status``)."""
    return {
        "attempt_number": number,
        "start_time": start,
        "end_time": end,
        "duration": None if end is None else end - start,
        "status": status._value_,  # not .value: a slow descriptor on Python 3.11
    }


@dataclass(slots=True)
class Attempt:
    """One try of a step: retries make several."""

    number: int
    start_time: float
    end_time: float | None = None
    status: Status = Status.RUNNING
    error: ErrorInfo | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        found = _attempt_dict(self.number, self.start_time, self.end_time, self.status)
        found["error"] = None if self.error is None else self.error.to_dict()
        return found

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        error = data.get("error")
        return cls(
            number=data["attempt_number"],
            start_time=data["start_time"],
            end_time=data.get("end_time"),
            status=Status(data["status"]),
            error=None if error is None else ErrorInfo.from_dict(error),
        )


@dataclass(slots=True)
class Owner:
    """The process that drives a run; a pid alone is no identity, so it carries more."""

    host: str
    pid: int
    process_start: int | None = None
    boot_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "process_start": self.process_start,
            "boot_id": self.boot_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Owner:
        return cls(
            host=data["host"],
            pid=data["pid"],
            process_start=data.get("process_start"),
            boot_id=data.get("boot_id"),
        )


@dataclass(slots=True)
class RunAttempt:
    """One attempt of a run: its first start, or a resume. ``host`` and ``pid`` name the
    process that drove it (None when unknown)."""

    number: int
    start_time: float
    end_time: float | None = None
    status: Status = Status.RUNNING
    host: str | None = None
    pid: int | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        found = _attempt_dict(self.number, self.start_time, self.end_time, self.status)
        found["host"] = self.host
        found["pid"] = self.pid
        return found

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunAttempt:
        return cls(
            number=data["attempt_number"],
            start_time=data["start_time"],
            end_time=data.get("end_time"),
            status=Status(data["status"]),
            host=data.get("host"),
            pid=data.get("pid"),
        )


@dataclass(slots=True)
class Run:
    """One execution of a workflow, or of a lone task called outside any workflow.

    ``start_time``, ``end_time``, ``status`` and ``owner`` describe the run's latest attempt
    (Ray Workflows' rule); ``created_time`` is its first start, and ``history`` holds its
    earlier attempts, oldest first (:meth:`attempt_records` adds the latest). ``last_seen`` is
    when the owner last renewed its lease: it was alive then (None: not recorded).
    ``parameters`` is what stores derive from ``arguments`` and ``environment`` when they keep
    a run (:func:`flightlog.named_arguments.parameters_text`): every parameter by its name, as
    JSON text, for questions by parameter value (None where not derived; never compared).
    """

    run_id: str
    workflow: str
    status: Status = Status.PENDING
    tag: str | None = None
    arguments: str | None = None
    user_metadata: dict[str, Any] = field(default_factory=dict)
    start_time: float | None = None
    end_time: float | None = None
    output: str | None = None
    error: ErrorInfo | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    owner: Owner | None = None
    lease_expires: float | None = None
    created_time: float | None = None
    resumes: int = 0
    cancel_requested: bool = False
    step_count: int = 0
    history: list[RunAttempt] = field(default_factory=list)
    last_seen: float | None = None
    parameters: str | None = field(default=None, compare=False)

    def attempt_records(
        self, status: Status | None = None, end_time: float | None = None
    ) -> list[RunAttempt]:
        """Every attempt of the run, oldest first: the earlier ones, then the latest, built
        from the run itself. ``status`` and ``end_time`` stand in for the stored ones of the
        latest when the caller knows better (a RUNNING run whose owner died reads RESUMABLE,
        ended when its owner was last seen)."""
        found = list(self.history)
        if self.start_time is not None:
            owner = self.owner
            found.append(
                RunAttempt(
                    number=self.resumes + 1,
                    start_time=self.start_time,
                    end_time=self.end_time if end_time is None else end_time,
                    status=self.status if status is None else status,
                    host=None if owner is None else owner.host,
                    pid=None if owner is None else owner.pid,
                )
            )
        return found


@dataclass(slots=True)
class Step:
    """One call of a task inside a run, with its attempts and outcome.

    ``name`` is unique within the run: the task's name, then ``_1``, ``_2`` … for repeats in
    call order. ``position`` orders the steps by call. ``arguments`` and ``result`` hold encoded
    text (see :mod:`flightlog.codec`). An executed step whose ``attempts`` list is empty had
    exactly one attempt, with the step's own times, status and error (the common case costs
    no attempt record); :meth:`attempt_records` spells it out.
    """

    run_id: str
    name: str
    position: int
    task_name: str
    task_id: str
    execution_id: str | None = None
    parent: str | None = None
    status: Status = Status.RUNNING
    start_time: float | None = None
    end_time: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    arguments: str | None = None
    result: str | None = None
    error: ErrorInfo | None = None
    user_metadata: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    origin: Origin = Origin.EXECUTED
    source_run: str | None = None
    cache: bool = False
    reason: str | None = None

    def copy(self) -> Step:
        """A copy whose mutable parts (attempts, metadata, options) are its own; much faster
        than ``copy.copy`` for this many slots."""
        return Step(
            self.run_id,
            self.name,
            self.position,
            self.task_name,
            self.task_id,
            self.execution_id,
            self.parent,
            self.status,
            self.start_time,
            self.end_time,
            list(self.attempts),
            self.arguments,
            self.result,
            self.error,
            dict(self.user_metadata),
            dict(self.options),
            self.log,
            self.origin,
            self.source_run,
            self.cache,
            self.reason,
        )

    def attempt_records(self) -> list[Attempt]:
        """Every attempt, including the implicit single one."""
        if self.attempts or self.origin is not Origin.EXECUTED or self.start_time is None:
            return list(self.attempts)
        return [Attempt(1, self.start_time, self.end_time, self.status, self.error)]


@dataclass(slots=True)
class TaskRecord:
    """A task version as recorded once per store: name, identity and options.

    ``components`` maps each function or constant that the task's code identity covers to its
    digest, so that a changed identity can be explained by naming what changed; ``constants``
    maps the module-level constants among them to a short human text of what counted (the
    value, e.g. ``"3"``, or the source of the assignment, e.g. ``"= os.getpid()"``), so that
    an explanation can show old and new.
    """

    task_id: str
    name: str
    version: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    user_metadata: dict[str, Any] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class MetricChunk:
    """A piece of one metric's series, as recorded by one step (or by the run's own body).

    ``steps``, ``values`` and ``times`` are parallel sequences, in the order the points were
    recorded: the series step of each point, its value (a number, string, bool, None, or a
    JSON-like dict or list) and when it was recorded (epoch seconds). ``position`` and
    ``step_name`` name the step that recorded it; both are None for the run's own body.
    Chunks are written with their step's end record and read back in the order written.
    """

    name: str
    position: int | None
    step_name: str | None
    steps: Sequence[int]
    values: Sequence[Any]
    times: Sequence[float]

    def last_point(self) -> tuple[int, Any] | None:
        """The point at the chunk's highest series step (the last written among equal
        steps), as (step, value); None for a chunk without points."""
        steps = self.steps
        if not steps:
            return None
        top = max(steps)  # in C; then back from the end (at once for a rising series)
        index = len(steps) - 1
        while steps[index] != top:
            index -= 1
        return steps[index], self.values[index]


@dataclass(slots=True)
class AttachmentRecord:
    """A file attached to a step (or to the run's own body): its content is a blob stored
    once per store under its sha256 digest, however many steps attach it."""

    name: str
    position: int | None
    step_name: str | None
    size: int
    sha256: str
    time: float


class ResourceStatus(str, enum.Enum):
    """The stored status of a resource (hadrosaur's names).

    A PENDING resource whose owner died is stored PENDING but reads as ERROR; that is derived
    when it is read (see :mod:`flightlog.resources.claims`).
    """

    UNAVAILABLE = "unavailable"
    PENDING = "pending"
    COMPLETED = "completed"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class ResourceRecord:
    """The current state of one resource: a cached computation keyed by ``(collection, ident)``.

    ``attempt`` counts the computations claimed so far (0 for a declared resource) and is the
    compare-and-set token of the claim protocol. ``arguments`` and ``result`` hold encoded text
    (see :mod:`flightlog.codec`); ``task_id`` is the code identity of the function that
    computed it. ``history`` holds the earlier computations, oldest first, as attempts.
    ``run_id`` and ``position`` name the run (and its step; None: the run's own body) whose
    code claimed the latest computation, or are None when it was computed outside any run
    (schema version 4; older records have None): deleting that run deletes the resource too,
    unless a run that stays used it (see :class:`ResourceUse`).
    """

    collection: str
    ident: str
    status: ResourceStatus = ResourceStatus.UNAVAILABLE
    attempt: int = 0
    task_id: str | None = None
    arguments: str | None = None
    result: str | None = None
    error: ErrorInfo | None = None
    start_time: float | None = None
    end_time: float | None = None
    owner: Owner | None = None
    lease_expires: float | None = None
    created_time: float | None = None
    history: list[Attempt] = field(default_factory=list)
    run_id: str | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class ResourceUse:
    """A run fetched a resource (recorded once per run and resource, before the fetch reads
    it): ``position`` is the fetching step's (None: the run's own body). A resource that a
    run used stays while that run does (see :mod:`flightlog.resources.retention`)."""

    run_id: str
    collection: str
    ident: str
    position: int | None = None


def claim_takes(found: ResourceRecord | None, expected_attempt: int | None) -> bool:
    """The compare-and-set rule of a resource claim (see ``Store.claim_resource``): whether a
    claim expecting ``expected_attempt`` (None: no record at all) may take the stored record
    ``found`` (None when there is none)."""
    if expected_attempt is None:
        return found is None
    return (0 if found is None else found.attempt) == expected_attempt


@dataclass(slots=True)
class ResourceCount:
    """How many resources of a collection have a stored status (PENDING ones include those
    whose owner died: a reader tells them apart). When asked for, the earliest creation and
    start and the latest end of the counted resources are given.
    """

    collection: str
    status: ResourceStatus
    count: int
    created_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None


@dataclass(slots=True)
class StepOutline:
    """The light part of a run's steps, enough to draw them on a time axis, as parallel lists
    in call order (position): no arguments, results, logs or metadata.

    ``attempts`` holds, for the steps whose record lists their attempts (retries, resumes),
    their index in these lists mapped to those attempts; a step absent from it had its
    implicit single attempt (see :meth:`Step.attempt_records`).
    """

    names: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    task_names: list[str] = field(default_factory=list)
    parents: list[str | None] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    start_times: list[float | None] = field(default_factory=list)
    end_times: list[float | None] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    failed: list[bool] = field(default_factory=list)
    attempts: dict[int, list[Attempt]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def add(self, step: Step) -> None:
        """Append one step (the outline of stores that have no faster way)."""
        if step.attempts:
            self.attempts[len(self.names)] = list(step.attempts)
        self.names.append(step.name)
        self.positions.append(step.position)
        self.task_names.append(step.task_name)
        self.parents.append(step.parent)
        self.statuses.append(step.status)
        self.start_times.append(step.start_time)
        self.end_times.append(step.end_time)
        self.origins.append(step.origin)
        self.failed.append(step.error is not None)
