"""What a run is doing now: its progress (steps done, running, failed, the current step, the
rate) and the logs of its steps, for faces that follow a run while it runs (``flightlog
watch``, ``flightlog logs --follow``, notebooks). Read through :class:`~flightlog.query.Queries`
like every other question; nothing here knows a store's layout."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from .model import Status
from .query import Queries
from .resources.view import collection_of
from .runtime.fanout import FANOUT
from .stores import StepRowStore

FINISHED = frozenset({"SUCCESSFUL", "FAILED", "CANCELED", "RESUMABLE"})
"""Statuses after which a run or step records nothing more (until a resume)."""
LOG_PAGE = 1000
"""How many step records :func:`logs` reads at a time."""


def progress(queries: Queries, run_id: str, *, now: float | None = None) -> dict[str, Any]:
    """``{"run_id", "status", "done", "running", "failed", "pending", "total", "ended",
    "fanout", "current", "elapsed", "rate", "finished"}``: steps by outcome (done: succeeded,
    including replayed and cached ones), the step running last started (``current``, None if
    none), seconds since the run's attempt started, steps done per second, and, when a total
    is known, ``total`` and how many of it have ``ended``: for a resource collection its
    declared resources; for a run, its latest ``map`` (``fanout`` names its first step; see
    :func:`fanouts`); else ``total``, ``ended`` and ``fanout`` are None. The steps are read a
    page at a time: a huge run is never held whole."""
    run = queries.get_metadata(run_id)
    collection = collection_of(run_id) is not None
    tally = _Fanouts()
    counts = {"SUCCESSFUL": 0, "RUNNING": 0, "FAILED": 0, "PENDING": 0}
    current = None
    latest = float("-inf")
    seen = ended_steps = 0
    for step in _each_step(queries, run_id):
        seen += 1
        status = step["status"]
        if status in FINISHED:
            ended_steps += 1
        if not collection:
            tally.add(step)
        if status in counts:
            counts[status] += 1
        elif status in ("CANCELED", "RESUMABLE"):
            counts["FAILED"] += 1
        if status == "RUNNING" and (step["stats"]["start_time"] or 0.0) >= latest:
            latest = step["stats"]["start_time"] or 0.0
            current = step["name"]
    total: int | None = None
    ended: int | None = None
    fanout: str | None = None
    if collection:
        total, ended = seen, ended_steps
    else:
        found = tally.result()
        if found:
            total, ended, fanout = found[-1]["total"], found[-1]["ended"], found[-1]["step"]
    stats = run["stats"]
    start = stats.get("start_time")
    end = stats.get("end_time")
    current_time = time.time() if now is None else now
    elapsed = 0.0 if start is None else max(0.0, (end or current_time) - start)
    done = counts["SUCCESSFUL"]
    return {
        "run_id": run_id,
        "status": run["status"],
        "done": done,
        "running": counts["RUNNING"],
        "failed": counts["FAILED"],
        "pending": counts["PENDING"],
        "total": total,
        "ended": ended,
        "fanout": fanout,
        "current": current,
        "elapsed": elapsed,
        "rate": done / elapsed if elapsed > 0 else None,
        "finished": run["status"] in FINISHED,
    }


def _each_step(queries: Queries, run_id: str) -> Iterator[dict[str, Any]]:
    """The run's steps as metadata dicts, read ``LOG_PAGE`` at a time (a resource
    collection's resources, whole)."""
    store = queries.store
    tasks: dict[str, Any] = {}
    if isinstance(store, StepRowStore):
        after = None
        while rows := store.step_rows(run_id, after=after, limit=LOG_PAGE, results=False):
            yield from queries.step_dicts(run_id, rows, tasks)
            if len(rows) < LOG_PAGE:
                break
            after = rows[-1][0]
        else:
            if after is None:
                yield from queries.steps(run_id)  # none recorded: a collection's, if any
        return
    steps = store.steps_page(run_id, limit=LOG_PAGE)
    if not steps:
        yield from queries.steps(run_id)
        return
    while steps:
        yield from (queries.step_metadata(step, tasks) for step in steps)
        if len(steps) < LOG_PAGE:
            break
        steps = store.steps_page(run_id, after=steps[-1].position, limit=LOG_PAGE)


def fanouts(steps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's ``map`` fan-outs, in the order they started: ``[{"step", "task_name",
    "parent", "total", "ended", "done", "failed"}]``. A fan-out is known by its first step
    (its ``fanout`` option holds the map's item count); its steps are that one and the later
    steps of the same task under the same parent, up to its count (steps not started yet
    are not recorded: ``total`` counts them, ``ended`` does not)."""
    tally = _Fanouts()
    for step in steps:
        tally.add(step)
    return tally.result()


class _Fanouts:
    """:func:`fanouts`, a step at a time."""

    def __init__(self) -> None:
        self.found: list[dict[str, Any]] = []
        self.groups: dict[tuple[Any, str], dict[str, Any]] = {}

    def add(self, step: dict[str, Any]) -> None:
        key = (step["parent"], step["task_name"])
        count = step["step_options"].get(FANOUT)
        if isinstance(count, int) and not isinstance(count, bool):
            started = {"step": step["name"], "task_name": step["task_name"],
                       "parent": step["parent"], "total": count, "ended": 0, "done": 0,
                       "failed": 0, "members": 0}  # fmt: skip
            self.found.append(started)
            self.groups[key] = started
        group = self.groups.get(key)
        if group is None or group["members"] >= group["total"]:
            return
        group["members"] += 1
        status = step["status"]
        if status in FINISHED:
            group["ended"] += 1
            group["done" if status == "SUCCESSFUL" else "failed"] += 1

    def result(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in each.items() if k != "members"} for each in self.found]


def logs(queries: Queries, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
    """The log of one step, or of each step of the run that logged something, in call
    order: ``[{"step", "status", "log"}]``. A running step's log is what it printed and
    logged so far (written while it runs, see :mod:`flightlog.runtime.live`)."""
    if step is not None:
        found = queries.get_metadata(run_id, step)
        return [{"step": step, "status": found["status"], "log": found["log"]}]
    queries.run(run_id)
    steps = queries.store.steps_page(run_id, limit=LOG_PAGE)
    if not steps:  # a resource collection's run (or a run without steps)
        steps = queries.resources.steps(run_id)
    logged: list[dict[str, Any]] = []
    while steps:  # a page of records at a time: only the logs are kept
        logged += [
            {"step": record.name, "status": record.status._value_, "log": record.log}
            for record in steps
            if record.log or record.status is Status.RUNNING
        ]
        if len(steps) < LOG_PAGE:
            break
        steps = queries.store.steps_page(run_id, after=steps[-1].position, limit=LOG_PAGE)
    return logged
