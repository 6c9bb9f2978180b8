"""A page of runs from two sorted sources: the store's runs, ordered and paged by the store
(``order_runs``), and a few runs held here that the store cannot order the page's way (runs
whose owner died, whose status and end are derived when read; resource collections shown as
runs). Only the store's runs that can reach the page are read: at most the page's size plus
the runs held here.

Runs that tie keep the order the page had when it read every run: the store's runs newest
first, then the collections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model import Run, Status
from ..runtime.liveness import effective_end, effective_status
from ..selection import RunSelection
from ..stores import Store


def sort_key(sort: str, statuses: dict[str, Status]) -> Callable[[Run], Any]:
    """The value a run is sorted by on the page (its effective status and end)."""
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


def merged_page(
    store: Store,
    stored: RunSelection,
    held: list[tuple[Run, Status, bool]],
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
) -> list[Run]:
    """The runs at ``offset`` (at most ``limit``) of the store's runs in ``stored`` and the
    ``held`` ones (a run, its effective status, and whether it is a collection), merged in
    the page's order."""
    if not held:
        return store.order_runs(
            stored, order=sort, descending=descending, offset=offset, limit=limit
        )
    start = max(0, offset - len(held))  # no store run before this can reach the page
    window = store.order_runs(
        stored, order=sort, descending=descending, offset=start, limit=offset + limit - start
    )
    statuses = {run.run_id: effective_status(run) for run in window}
    statuses.update((run.run_id, status) for run, status, _ in held)
    key = sort_key(sort, statuses)

    def tie(item: tuple[Run, Status, bool]) -> tuple[bool, float]:
        return item[2], -(item[0].created_time or 0.0)

    extra = [item[0] for item in sorted(held, key=tie)]
    extra.sort(key=key, reverse=descending)  # stable: ties stay as the tie-break put them
    collections = {run.run_id for run, _, collection in held if collection}

    def before(mine: Run, theirs: Run) -> bool:
        """Whether a held run comes before a store's run."""
        first, second = key(mine), key(theirs)
        if first != second:
            return bool(first > second) if descending else bool(first < second)
        if mine.run_id in collections:
            return False
        return (mine.created_time or 0.0) > (theirs.created_time or 0.0)

    merged: list[Run] = []
    position = 0
    for run in window:
        while position < len(extra) and before(extra[position], run):
            merged.append(extra[position])
            position += 1
        merged.append(run)
    merged += extra[position:]
    first = offset - start
    return merged[first : first + limit]
