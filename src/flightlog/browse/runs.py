"""A page of runs: filtered, counted per status, sorted and sliced, with only the page's runs
turned into metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidInputError
from ..model import Run, Status
from ..query import Queries
from ..resources.view import PREFIX as RESOURCE_PREFIX
from ..runtime.liveness import effective_end, effective_status
from .filters import RUN_SORTS, RunFilter
from .runs_indexed import indexed_page

MAX_PAGE = 1000


def _matches_text(run: Run, needle: str) -> bool:
    error = run.error
    return any(
        needle in part.lower()
        for part in (
            run.run_id,
            run.workflow,
            run.tag or "",
            run.arguments or "",
            "" if error is None else f"{error.type}: {error.message}",
        )
    )


def _sort_key(sort: str, statuses: dict[str, Status]) -> Callable[[Run], Any]:
    if sort == "created":
        return lambda run: run.created_time or 0.0
    if sort == "start":
        return lambda run: run.start_time or 0.0
    if sort == "duration":

        def duration(run: Run) -> float:
            end = effective_end(run, statuses[run.run_id])
            return 0.0 if run.start_time is None or end is None else end - run.start_time

        return duration
    if sort == "status":
        return lambda run: statuses[run.run_id].value
    if sort == "steps":
        return lambda run: run.step_count
    if sort == "tag":
        return lambda run: run.tag or ""
    if sort == "workflow":
        return lambda run: run.workflow
    return lambda run: run.run_id


def runs_page(
    queries: Queries,
    selection: RunFilter,
    *,
    sort: str = "created",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    """``{"total", "counts", "workflows", "offset", "limit", "runs"}``: how many runs match
    (``total``), how many of those that match every part but the status have each status
    (``counts``), every workflow name seen, and the page's runs as metadata
    (``Queries.run_metadata``) in the order asked for."""
    if sort not in RUN_SORTS:
        raise InvalidInputError(f"unknown sort {sort!r}; known: {', '.join(RUN_SORTS)}")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"offset must be a non-negative integer, not {offset!r}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be an integer from 1 to {MAX_PAGE}, not {limit!r}")
    indexed = indexed_page(queries, selection, sort, descending, offset, limit)
    if indexed is not None:  # the common page, from the store's indexes
        found, page = indexed
        return {**found, "runs": [queries.run_metadata(run) for run in page]}
    store = queries.store
    runs = store.list_runs(workflow=selection.workflow, tag=selection.tag)
    if selection.tag is None and (
        selection.workflow is None or selection.workflow.startswith(RESOURCE_PREFIX)
    ):
        name = selection.workflow
        runs += queries.resources.runs(None if name is None else name[len(RESOURCE_PREFIX) :])
    workflows = sorted({run.workflow for run in runs})
    if selection.since is not None or selection.until is not None:
        since = selection.since if selection.since is not None else float("-inf")
        until = selection.until if selection.until is not None else float("inf")
        runs = [run for run in runs if since <= (run.created_time or 0.0) <= until]
    if selection.text:
        needle = selection.text.lower()
        runs = [run for run in runs if _matches_text(run, needle)]
    statuses = {run.run_id: effective_status(run) for run in runs}
    counts = {status.value: 0 for status in Status}
    for status in statuses.values():
        counts[status.value] += 1
    if selection.statuses:
        runs = [run for run in runs if statuses[run.run_id] in selection.statuses]
    runs.sort(key=_sort_key(sort, statuses), reverse=descending)
    page = runs[offset : offset + limit]
    return {
        "total": len(runs),
        "counts": counts,
        "workflows": workflows,
        "offset": offset,
        "limit": limit,
        "runs": [queries.run_metadata(run) for run in page],
    }
