"""The common page of runs answered from the store's indexes: newest first, filtered by
status and time only, in a store without resource collections.
The store counts and pages (``count_statuses``, ``select_runs``) instead of every run being
read, so the page's time does not grow with the number of runs. Anything else (another sort,
a text search, resource collections shown as runs) is answered by
:func:`flightlog.browse.runs_page` in Python, the same way.

Every workflow name seen is kept per store with the number of runs and the newest run it was
read at, and read again when either changes (a store kept at the same number of runs, old ones
deleted as new ones come, has a new newest run).
"""

from __future__ import annotations

import threading
from typing import Any

from ..model import Run, Status
from ..query import Queries
from ..questions.runs import RunQuestions
from ..selection import RunSelection
from .filters import RunFilter

_WORKFLOWS: dict[int, tuple[tuple[Any, ...], list[str]]] = {}
_LOCK = threading.Lock()


def _workflows(queries: Queries) -> list[str]:
    store = queries.store
    runs = sum(store.count_statuses(RunSelection()).runs.values())
    newest = store.select_runs(RunSelection(), limit=1)
    seen = (runs, *((newest[0].run_id, newest[0].created_time) if newest else ()))
    with _LOCK:
        found = _WORKFLOWS.get(id(store))
    if found is not None and found[0] == seen:
        return found[1]
    names = sorted({run.workflow for run in store.list_runs()})
    with _LOCK:
        _WORKFLOWS[id(store)] = (seen, names)
    return names


def indexed_page(
    queries: Queries,
    selection: RunFilter,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[dict[str, Any], list[Run]] | None:
    """The page (without its runs' metadata) and its runs, or None when the store's indexes
    cannot answer it."""
    if sort != "created" or not descending or selection.text:
        return None
    if selection.workflow is not None or selection.tag is not None:
        return None  # (the page then lists only the workflows of the runs filtered)
    if queries.resources.runs(None):
        return None
    questions = RunQuestions(queries)
    # The filter's time bounds are inclusive at both ends; a selection's ``until`` is not.
    until = None if selection.until is None else selection.until + 1e-6
    counted = questions.counts(since=selection.since, until=until)["runs"]
    counts = {status.value: counted.get(status.value, 0) for status in Status}
    chosen = selection.statuses
    runs = questions.runs(
        status=sorted(status.value for status in chosen) if chosen else None,
        since=selection.since,
        until=until,
        offset=offset,
        limit=limit,
    )
    total = sum(count for name, count in counts.items() if not chosen or Status(name) in chosen)
    page = {
        "total": total,
        "counts": counts,
        "workflows": _workflows(queries),
        "offset": offset,
        "limit": limit,
    }
    return page, runs
