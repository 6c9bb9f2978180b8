"""Runs in a chosen order, a page at a time, for stores without a query engine (memory, JSON
files, plugins built on them): the reference behaviour of :mod:`flightlog.stores.sql_ordering`.

The orders are those of the runs page: ``created`` is creation order (the order stores list
runs in); every other order sorts by a stored column, and runs that tie keep creation order,
newest first, whichever the direction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..model import Run, Status
from ..selection import RunSelection

RUN_ORDERS = ("created", "start", "duration", "workflow", "status", "steps", "run_id", "tag")
"""What runs can be ordered by: ``created`` (creation order), ``start`` (the latest
attempt's start), ``duration`` (its end less its start; 0 without both), ``workflow``,
``status`` (stored), ``steps`` (how many), ``run_id``, ``tag`` (none sorts as empty)."""


def check_order(order: str) -> None:
    """InvalidInputError naming the known orders, unless ``order`` is one."""
    if order not in RUN_ORDERS:
        raise InvalidInputError(f"unknown order {order!r}; known: {', '.join(RUN_ORDERS)}")


def stored_order_key(order: str) -> Callable[[Run], Any]:
    """The value a run is ordered by (as stored: status and end as recorded)."""
    keys: dict[str, Callable[[Run], Any]] = {
        "created": lambda run: run.created_time or 0.0,
        "start": lambda run: run.start_time or 0.0,
        "duration": lambda run: (
            0.0 if run.start_time is None or run.end_time is None
            else run.end_time - run.start_time
        ),
        "workflow": lambda run: run.workflow,
        "status": lambda run: run.status.value,
        "steps": lambda run: run.step_count,
        "run_id": lambda run: run.run_id,
        "tag": lambda run: run.tag or "",
    }  # fmt: skip
    return keys[order]


class PythonOrdering:
    """``order_runs``, ``workflow_names`` and ``count_runs`` over ``select_runs``."""

    if TYPE_CHECKING:

        def select_runs(
            self, selection: RunSelection, *, offset: int = 0, limit: int | None = None
        ) -> list[Run]: ...

    def order_runs(
        self,
        selection: RunSelection,
        *,
        order: str = "created",
        descending: bool = True,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Run]:
        check_order(order)
        runs = self.select_runs(selection)  # newest first
        if order == "created":
            if not descending:
                runs.reverse()
        else:  # a stable sort: ties stay newest first in either direction
            runs.sort(key=stored_order_key(order), reverse=descending)
        runs = runs[offset:]
        return runs if limit is None else runs[:limit]

    def workflow_names(self, selection: RunSelection) -> list[str]:
        return sorted({run.workflow for run in self.select_runs(selection)})

    def count_runs(self, selection: RunSelection) -> dict[Status, int]:
        counts: dict[Status, int] = {}
        for run in self.select_runs(selection):
            counts[run.status] = counts.get(run.status, 0) + 1
        return counts
