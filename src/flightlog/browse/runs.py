"""A page of runs: filtered, counted per status, sorted and sliced by the store (its
selection, counts and ordering queries), with only the page's runs read and turned into
metadata. Runs the store cannot judge alone — a RUNNING run whose owner died reads RESUMABLE,
and resource collections are shown as runs — are few, read whole, and merged in
(:mod:`flightlog.browse.runs_merge`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import InvalidInputError
from ..model import Run, Status
from ..query import Queries
from ..resources.view import PREFIX as RESOURCE_PREFIX
from ..runtime.liveness import effective_status
from ..selection import RunSelection, run_matches
from .filters import RUN_SORTS, RunFilter
from .runs_merge import merged_page

MAX_PAGE = 1000


def _stored_selection(selection: RunFilter) -> RunSelection:
    """What the store is asked (all but the status). The filter's time bounds are inclusive
    at both ends; a selection's ``until`` is not. The text is the store's ``search``."""
    return RunSelection(
        workflow=selection.workflow,
        tag=selection.tag,
        since=selection.since,
        until=None if selection.until is None else selection.until + 1e-6,
        search=selection.text,
    )


def _collections(queries: Queries, selection: RunFilter) -> list[Run]:
    """The resource collections shown as runs: when no tag is asked for, and no workflow or
    a collection's."""
    name = selection.workflow
    if selection.tag is not None or not (name is None or name.startswith(RESOURCE_PREFIX)):
        return []
    return queries.resources.runs(None if name is None else name[len(RESOURCE_PREFIX) :])


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
    (``counts``), every workflow name of the runs of the filter's workflow and tag, and the
    page's runs as metadata (``Queries.run_metadata``) in the order asked for (runs that tie
    newest first)."""
    if sort not in RUN_SORTS:
        raise InvalidInputError(f"unknown sort {sort!r}; known: {', '.join(RUN_SORTS)}")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"offset must be a non-negative integer, not {offset!r}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be an integer from 1 to {MAX_PAGE}, not {limit!r}")
    store = queries.store
    chosen = selection.statuses
    stored = _stored_selection(selection)
    every_collection = _collections(queries, selection)
    collections = [run for run in every_collection if run_matches(run, stored)]
    counted = store.count_runs(stored)
    running = []
    if counted.get(Status.RUNNING):  # few: the runs going now (or whose owner died)
        running = store.select_runs(replace(stored, statuses=frozenset({Status.RUNNING})))
    live = [(run, effective_status(run)) for run in running]
    counts = {status.value: 0 for status in Status}
    for status, count in counted.items():
        if status is not Status.RUNNING:
            counts[status.value] += count
    shown = [(run, effective_status(run)) for run in collections]
    for _, status in live + shown:
        counts[status.value] += 1
    total = sum(count for name, count in counts.items() if not chosen or Status(name) in chosen)
    held = [(run, status, True) for run, status in shown if not chosen or status in chosen]
    derived = any(status is not Status.RUNNING for _, status in live)
    if all(not chosen or status in chosen for _, status in live) and not (
        derived and sort in ("duration", "status")
    ):  # the store orders its running runs as it does the others
        statuses = None if not chosen else frozenset(chosen | {Status.RUNNING})
    else:
        statuses = frozenset((chosen or frozenset(Status)) - {Status.RUNNING})
        held += [(run, status, False) for run, status in live if not chosen or status in chosen]
    page = merged_page(
        store, replace(stored, statuses=statuses), held, sort, descending, offset, limit
    )
    names = store.workflow_names(RunSelection(workflow=selection.workflow, tag=selection.tag))
    return {
        "total": total,
        "counts": counts,
        "workflows": sorted({*names, *(run.workflow for run in every_collection)}),
        "offset": offset,
        "limit": limit,
        "runs": [queries.run_metadata(run) for run in page],
    }
