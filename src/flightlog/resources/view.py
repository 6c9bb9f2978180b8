"""Resource collections as the query API sees them: a run per collection, a step per resource.

A resource's computation is recorded in its own row (one claim and one write per
computation; a run and a step record per computation as well would cost 40 to 60 % more, see
``benchmarks/resources.py``), and shown to the query API through this view: the collection is
a run with id and workflow ``resource:<collection>``, each resource a step named by its
identifier (in identifier order), whose arguments are ``{"ident", "args"}``, whose times,
result and error are those of its latest computation, and whose attempts are its
computations (earlier ones from its history). Statuses map: completed → SUCCESSFUL, error
(or a dead claim) → FAILED, pending → RUNNING, unavailable → PENDING. The collection's run
is RUNNING while a resource is pending, else FAILED if one failed, else PENDING if one is not
computed yet, else SUCCESSFUL.
"""

from __future__ import annotations

import bisect
import json
from typing import TYPE_CHECKING

from ..model import Attempt, ErrorInfo, ResourceRecord, ResourceStatus, Run, Status, Step
from ..runtime.flights import RESERVED_PREFIX
from .claims import death_of, split_pending
from .names import check_collection

if TYPE_CHECKING:
    from ..stores import Store

PREFIX = "resource:"
_STEP_STATUS = {
    ResourceStatus.COMPLETED: Status.SUCCESSFUL,
    ResourceStatus.ERROR: Status.FAILED,
    ResourceStatus.PENDING: Status.RUNNING,
    ResourceStatus.UNAVAILABLE: Status.PENDING,
}


def collection_of(run_id: str) -> str | None:
    """The collection a ``resource:<collection>`` run id names, or None."""
    if not run_id.startswith(PREFIX):
        return None
    try:
        return check_collection(run_id[len(PREFIX) :])
    except ValueError:
        return None


class ResourceView:
    """Collections as runs and resources as steps, read from one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def runs(self, collection: str | None = None) -> list[Run]:
        """One run per collection (or for the one given), newest first."""
        totals: dict[str, dict[str, float | int | None]] = {}
        for count in self.store.count_resources(collection, times=True):
            if count.collection.startswith(RESERVED_PREFIX):  # flightlog's own
                continue
            state = totals.setdefault(
                count.collection,
                {"total": 0, "running": 0, "failed": 0, "waiting": 0, "created": None},
            )
            state["total"] = int(state["total"] or 0) + count.count
            if count.status is ResourceStatus.PENDING:
                dead = len(split_pending(self.store, count.collection)[1])
                state["failed"] = int(state["failed"] or 0) + dead
                state["running"] = int(state["running"] or 0) + count.count - dead
            elif count.status is not ResourceStatus.COMPLETED:
                key = "failed" if count.status is ResourceStatus.ERROR else "waiting"
                state[key] = int(state[key] or 0) + count.count
            for field, value, pick in (
                ("created", count.created_time, min),
                ("start", count.start_time, min),
                ("end", count.end_time, max),
            ):
                if value is not None:
                    known = state.get(field)
                    state[field] = value if known is None else pick(float(known), value)
        runs = [_run(name, state) for name, state in totals.items()]
        runs.sort(key=lambda run: run.created_time or 0.0, reverse=True)
        return runs

    def run(self, run_id: str) -> Run | None:
        name = collection_of(run_id)
        if name is None:
            return None
        found = self.runs(name)
        return found[0] if found else None

    def steps(self, run_id: str) -> list[Step]:
        name = collection_of(run_id)
        if name is None:
            return []
        return [
            self._step(record, position)
            for position, record in enumerate(self.store.list_resources(name))
        ]

    def step(self, run_id: str, ident: str) -> Step | None:
        name = collection_of(run_id)
        if name is None:
            return None
        record = self.store.get_resource(name, ident)
        if record is None:
            return None
        position = 0  # its place among the collection's identifiers, from the index alone
        for status in ResourceStatus:
            identifiers = self.store.resource_identifiers(name, status)
            position += bisect.bisect_left(identifiers, ident)
        return self._step(record, position)

    def _step(self, record: ResourceRecord, position: int) -> Step:
        status = _STEP_STATUS[record.status]
        error = record.error
        if record.status is ResourceStatus.PENDING:
            why = death_of(record)
            if why is not None:
                status = Status.FAILED
                error = ErrorInfo("flightlog.errors.ResourceError", why, why + "\n")
        attempts: list[Attempt] = []
        if record.history and record.start_time is not None:
            attempts = [
                *record.history,
                Attempt(record.attempt, record.start_time, record.end_time, status, error),
            ]
        ident = json.dumps(record.ident)
        return Step(
            run_id=PREFIX + record.collection,
            name=record.ident,
            position=position,
            task_name=PREFIX + record.collection,
            task_id=record.task_id or "",
            status=status,
            start_time=record.start_time,
            end_time=record.end_time,
            attempts=attempts,
            arguments=f'{{"ident":{ident},"args":{record.arguments or "null"}}}',
            result=record.result,
            error=error,
        )


def _run(name: str, state: dict[str, float | int | None]) -> Run:
    if state["running"]:
        status = Status.RUNNING
    elif state["failed"]:
        status = Status.FAILED
    elif state["waiting"]:
        status = Status.PENDING
    else:
        status = Status.SUCCESSFUL
    created = state.get("created")
    start = state.get("start")
    end = state.get("end") if status.finished else None
    return Run(
        run_id=PREFIX + name,
        workflow=PREFIX + name,
        status=status,
        created_time=None if created is None else float(created),
        start_time=None if start is None else float(start),
        end_time=None if end is None else float(end),
        step_count=int(state["total"] or 0),
    )
