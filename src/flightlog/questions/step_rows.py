"""A run's steps as the query API gives them (``fl.steps()``, ``iter_steps``), made straight
from a store's rows (:class:`~flightlog.stores.StepRowStore`) in one pass.

The dicts are the same, key for key, value for value and type for type, as
:meth:`flightlog.query.Queries.step_metadata` makes from a :class:`~flightlog.model.Step`
(the conformance suite compares the two on every store); only no ``Step``, ``Attempt`` or
``ErrorInfo`` is made on the way. Listing a run of 100,000 steps spends most of its time
here, making and later freeing about fifteen objects per step, so the loop is written for
speed: local names, no call per field, and the three dicts of every step (the step, its
``stats``, its one attempt) are made as the ``__dict__`` of an instance of a class below.
Such a dict is a plain ``dict`` like any other (same type, keys in the order they were set,
changed as usual), whose keys table is shared by all the dicts of its class: CPython makes
and frees it in about half the time of a dict display of as many keys, and in less memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..codec_plain import NOT_PLAIN, decode_plain
from ..model import Attempt, Origin, Status, TaskRecord

TaskParts = tuple[str | None, dict[str, Any], dict[str, Any]]
"""A task's name (None for an unknown task), options and user metadata."""

_STATUSES = frozenset(status._value_ for status in Status)
_ORIGINS = frozenset(origin._value_ for origin in Origin)
_EXECUTED: str = Origin.EXECUTED._value_


class _StepFields:
    """A step's public dict, as the ``__dict__`` of an instance: the attributes are set in
    the order of the keys of :meth:`flightlog.query.Queries.step_metadata`."""

    name: str
    run_id: str
    position: int
    task_name: str
    task_id: str
    execution_id: str | None
    arguments: Any
    parent: str | None
    status: str
    step_options: dict[str, Any]
    user_metadata: dict[str, Any]
    stats: dict[str, Any]
    attempts: list[dict[str, Any]]
    error: dict[str, str] | None
    log: str
    origin: str
    source_run: str | None
    reason: str | None
    result: Any


class _Stats:
    """A step's ``stats`` (``start_time``, then ``end_time`` and ``duration`` once known)."""

    start_time: float | None
    end_time: float
    duration: float


class _Attempt:
    """The implicit single attempt of a step, in the order of ``Attempt.to_dict``."""

    attempt_number: int
    start_time: float
    end_time: float | None
    duration: float | None
    status: str
    error: None


def task_parts(task: TaskRecord | None) -> TaskParts:
    """What a step takes from its task: copies of the task's options and metadata (a step's
    own are laid over copies of them)."""
    if task is None:
        return None, {}, {}
    return task.name, dict(task.options), dict(task.user_metadata)


def step_dicts(
    rows: list[tuple[Any, ...]],
    run_id: str,
    tasks: dict[str, TaskParts],
    get_task: Callable[[str], TaskRecord | None],
    decode: Callable[[str | None], Any],
    *,
    results: bool = False,
    describe: Callable[[str | None], Any] | None = None,
) -> list[dict[str, Any]]:
    """The public dicts of ``rows`` (see :data:`~flightlog.stores.base.STEP_ROW_FIELDS`;
    with ``results``, each row ends with the step's result, decoded into ``result``) of the
    run ``run_id``. ``tasks`` caches :func:`task_parts` per task id (filled from
    ``get_task``); ``decode`` decodes stored text that is not plain JSON, and ``describe``
    (default ``decode``) the arguments' (values stored out of line described, not read)."""
    describe = decode if describe is None else describe
    found: list[dict[str, Any]] = []
    append = found.append
    statuses = _STATUSES
    for row in rows:
        position, name, task_id, execution_id, status, start, end, arguments, extras = (
            row[:9] if results else row
        )
        task = tasks.get(task_id)
        if task is None:
            task = tasks[task_id] = task_parts(get_task(task_id))
        if status not in statuses:
            Status(status)  # the enum's ValueError, as a Step would raise
        times = _Stats()
        times.start_time = start
        duration = None
        if end is not None:
            times.end_time = end
            if start is not None:  # (the same float in the implicit attempt: it is immutable)
                duration = times.duration = end - start
        stats = times.__dict__
        if arguments is not None:
            plain = decode_plain(arguments)
            arguments = describe(arguments) if plain is NOT_PLAIN else plain
        if extras is None:  # most steps: one attempt, no error, nothing of their own
            parent = error = source_run = reason = None
            if start is None:
                attempts = []
            else:
                attempt = _Attempt()
                attempt.attempt_number = 1
                attempt.start_time = start
                attempt.end_time = end
                attempt.duration = duration
                attempt.status = status
                attempt.error = None
                attempts = [attempt.__dict__]
            log, origin = "", _EXECUTED
            options, metadata = task[1].copy(), task[2].copy()
        else:  # more than one attempt, an error, options, a log, a replayed result …
            parent, attempts, error, log, origin, source_run, reason, options, metadata = _extras(
                extras, status, stats, task
            )
        step = _StepFields()
        step.name = name
        step.run_id = run_id
        step.position = position
        step.task_name = name if task[0] is None else task[0]
        step.task_id = task_id
        step.execution_id = execution_id
        step.arguments = arguments
        step.parent = parent
        step.status = status
        step.step_options = options
        step.user_metadata = metadata
        step.stats = stats
        step.attempts = attempts
        step.error = error
        step.log = log
        step.origin = origin
        step.source_run = source_run
        step.reason = reason
        if results:
            step.result = decode(row[9])
        append(step.__dict__)
    return found


def _extras(extras: Any, status: str, stats: dict[str, Any], task: TaskParts) -> tuple[Any, ...]:
    """A step's parent, attempts, error, log, origin, source run, reason, options and user
    metadata from its row's ``extras`` (see STEP_ROW_EXTRAS), as
    :meth:`flightlog.query.Queries.step_metadata` gives them."""
    if isinstance(extras, str):
        extras = json.loads(extras)
    parent, attempts_text, error_text, metadata, options, log, origin, source_run, reason = extras
    if origin is None:
        origin = _EXECUTED
    elif origin not in _ORIGINS:
        Origin(origin)  # the enum's ValueError, as a Step would raise
    error = None
    if error_text is not None:
        stored = json.loads(error_text)
        error = {
            "type": stored["type"],
            "message": stored["message"],
            "traceback": stored["traceback"],
        }
    attempts = []
    if attempts_text is not None:
        attempts = [Attempt.from_dict(item).to_dict() for item in json.loads(attempts_text)]
    start = stats["start_time"]
    if not attempts and origin == _EXECUTED and start is not None:
        attempts = [  # the implicit single attempt (see Step.attempt_records)
            {
                "attempt_number": 1,
                "start_time": start,
                "end_time": stats.get("end_time"),
                "duration": stats.get("duration"),
                "status": status,
                "error": None if error is None else dict(error),
            }
        ]
    own_options = None if options is None else json.loads(options)
    own_metadata = None if metadata is None else json.loads(metadata)
    return (
        parent,
        attempts,
        error,
        log or "",
        origin,
        source_run,
        reason,
        {**task[1], **own_options} if own_options else task[1].copy(),
        {**task[2], **own_metadata} if own_metadata else task[2].copy(),
    )
