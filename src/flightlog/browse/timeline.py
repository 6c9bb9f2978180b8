"""A run's steps drawn on a time axis: the outline of a run as compact, JSON-ready columns
(what the web UI's timeline draws), and the steps that made a run fail."""

from __future__ import annotations

from typing import Any

from ..errors import NotFoundError
from ..model import Origin, Status, StepOutline
from ..query import Queries
from ..runtime.liveness import effective_end, effective_status
from ..stores import OutlinedStore
from .savings import savings

STATUS_CODES = [status.value for status in Status]
ORIGIN_CODES = [origin.value for origin in Origin]
_STATUS_INDEX = {status: index for index, status in enumerate(Status)}
_ORIGIN_INDEX = {origin: index for index, origin in enumerate(Origin)}


def step_outline(queries: Queries, run_id: str) -> StepOutline:
    """The run's steps, light (see :class:`flightlog.model.StepOutline`); NotFoundError for an
    unknown run."""
    queries.run(run_id)
    store = queries.store
    if isinstance(store, OutlinedStore):
        found = store.step_outline(run_id)
        if len(found):
            return found
    outline = StepOutline()
    for step in store.list_steps(run_id) or queries.resources.steps(run_id):
        outline.add(step)
    return outline


def _relative(value: float | None, origin: float) -> int | None:
    return None if value is None else int((value - origin) * 1e6)


def _times(values: list[float | None], origin: float) -> list[int | None]:
    """Microseconds after ``origin``: integers encode and decode faster than floats."""
    return [None if value is None else int((value - origin) * 1e6) for value in values]


def timeline(
    queries: Queries, run_id: str, first: int = 0, outline: StepOutline | None = None
) -> dict[str, Any]:
    """The run's status and its steps from index ``first`` on (a live page asks only for what
    may have changed), as parallel lists. Times are integer microseconds after ``origin``
    (epoch seconds: the run's first start); statuses and origins are indexes into
    ``statuses`` and ``origins``; tasks into ``tasks``; ``parents`` are step indexes (-1:
    none); ``attempts`` maps a step index to ``[[start, end, status], ...]`` for steps with
    several attempts; ``saved``, ``saved_total``, ``waits`` and ``partial`` as
    :func:`flightlog.browse.savings.savings` gives them. ``outline``: the run's, when the
    caller has read it already."""
    run = queries.run(run_id)
    if outline is None:
        outline = step_outline(queries, run_id)
    status = effective_status(run)
    starts = [time for time in outline.start_times if time is not None]
    origin = min([run.created_time or run.start_time or 0.0, *starts[:1]])
    tasks: dict[str, int] = {}
    index_of = {name: index for index, name in enumerate(outline.names)}
    count = len(outline)
    window = range(max(0, first), count)
    attempts = {
        str(index): [
            [_relative(item.start_time, origin), _relative(item.end_time, origin),
             _STATUS_INDEX[item.status]]
            for item in items
        ]
        for index, items in outline.attempts.items()
        if index >= window.start and len(items) > 1
    }  # fmt: skip
    end = effective_end(run, status)
    return {
        "run_id": run_id,
        "status": status.value,
        "origin": origin,
        "end": _relative(end, origin),
        "count": count,
        "first": window.start,
        "statuses": STATUS_CODES,
        "origins": ORIGIN_CODES,
        "names": outline.names[window.start :],
        "task": [tasks.setdefault(name, len(tasks)) for name in outline.task_names[window.start :]],
        "tasks": list(tasks),
        "parents": [
            -1 if parent is None else index_of.get(parent, -1)
            for parent in outline.parents[window.start :]
        ],
        "status_of": [_STATUS_INDEX[item] for item in outline.statuses[window.start :]],
        "origin_of": [_ORIGIN_INDEX[item] for item in outline.origins[window.start :]],
        "start": _times(outline.start_times[window.start :], origin),
        "stop": _times(outline.end_times[window.start :], origin),
        "failed": [1 if item else 0 for item in outline.failed[window.start :]],
        "attempts": attempts,
        # What replayed and cached steps saved, what steps waited for (see .savings).
        **savings(queries, run_id, outline, window.start),
    }


def failing_steps(
    queries: Queries, run_id: str, outline: StepOutline | None = None
) -> list[dict[str, Any]]:
    """The metadata of the steps that failed in the run's latest attempt (the innermost first:
    a child's error is usually the cause of its parent's), empty when none failed."""
    if outline is None:
        outline = step_outline(queries, run_id)
    failed = [
        name
        for name, status, error in zip(outline.names, outline.statuses, outline.failed, strict=True)
        if status is Status.FAILED or (error and status is not Status.SUCCESSFUL)
    ]
    parents = set(outline.parents)
    failed.sort(key=lambda name: name in parents)
    found = []
    for name in failed[:5]:
        try:
            found.append(queries.get_metadata(run_id, name))
        except NotFoundError:  # replaced meanwhile (a resume): skip it
            continue
    return found
