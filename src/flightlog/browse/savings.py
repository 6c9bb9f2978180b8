"""What a run's replayed and cached steps saved, and which of its steps waited for another
step's computation: derived from the record, for the timeline.

- A replayed step's record is the earlier attempt's, with its times: it saved its own
  duration.
- A cached step names the run that computed its result (``source_run``); the step there with
  the same task and execution (else any recorded computation of that cache key) tells how
  long computing it took; less the cached step's own time (its lookup, or its wait for that
  computation), that is what serving it saved.
- A cached step that waited for another step to compute its key says so in its ``reason``
  (:func:`flightlog.runtime.cache_claims.wait_of` reads it), as does a running step that
  waits.

Only the steps that may hold such facts are read whole (cached and running ones), at most
:data:`LOOKUPS` of them per call; ``partial`` says when more were left out.
"""

from __future__ import annotations

from typing import Any

from ..model import Origin, Status, Step, StepOutline
from ..query import Queries
from ..runtime.cache_claims import wait_of

LOOKUPS = 2_000


def _duration(step: Step | None) -> float | None:
    if step is None or step.start_time is None or step.end_time is None:
        return None
    return max(0.0, step.end_time - step.start_time)


def _source(queries: Queries, step: Step) -> Step | None:
    """The recorded computation whose result a cached step was served."""
    store = queries.store
    if step.execution_id is None:
        return None
    if step.source_run is not None:
        found = store.get_step(step.source_run, step.name)
        if (
            found is not None
            and found.origin is not Origin.CACHED
            and (found.task_id, found.execution_id) == (step.task_id, step.execution_id)
        ):
            return found
    return store.find_cached(step.task_id, step.execution_id)


def savings(queries: Queries, run_id: str, outline: StepOutline, first: int = 0) -> dict[str, Any]:
    """``{"saved": {index: seconds}, "saved_total": seconds, "waits": {index: {"seconds",
    "step", "run", "text"}}, "partial": bool}`` for the steps from index ``first`` on
    (indexes as strings, as JSON keys are); ``saved_total`` covers the whole run."""
    saved: dict[str, float] = {}
    waits: dict[str, dict[str, Any]] = {}
    total = 0.0
    lookups = 0
    partial = False
    store = queries.store
    origins, statuses = outline.origins, outline.statuses
    executed, running = Origin.EXECUTED, Status.RUNNING
    # Most steps executed and ended: only the others are looked at (a 100,000-step run of
    # executed steps costs one pass over two lists, about 10 ms).
    notable = [
        index
        for index, (origin, status) in enumerate(zip(origins, statuses, strict=True))
        if origin is not executed or status is running
    ]
    for index in notable:
        origin = origins[index]
        if origin is Origin.REPLAYED:
            start, end = outline.start_times[index], outline.end_times[index]
            if start is not None and end is not None:
                total += max(0.0, end - start)
                if index >= first:
                    saved[str(index)] = max(0.0, end - start)
            continue
        if origin is not Origin.CACHED and statuses[index] is not running:
            continue
        if lookups >= LOOKUPS:
            partial = True
            continue
        lookups += 1
        step = store.get_step(run_id, outline.names[index])
        if step is None:
            continue
        wait = wait_of(step.reason)
        if wait is not None and index >= first:
            waits[str(index)] = wait
        if origin is Origin.CACHED:
            # Serving it took the step its own time (a lookup, or a wait): the rest is saved.
            duration = _duration(_source(queries, step))
            if duration is not None:
                duration = max(0.0, duration - (_duration(step) or 0.0))
                total += duration
                if index >= first:
                    saved[str(index)] = duration
    return {"saved": saved, "saved_total": total, "waits": waits, "partial": partial}
