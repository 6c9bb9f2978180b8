"""What a run is doing now: its progress (steps done, running, failed, the current step, the
rate) and the logs of its steps, for faces that follow a run while it runs (``flightlog
watch``, ``flightlog logs --follow``, notebooks). Read through :class:`~flightlog.query.Queries`
like every other question; nothing here knows a store's layout."""

from __future__ import annotations

import time
from typing import Any

from .model import Status
from .query import Queries
from .resources.view import collection_of
from .runtime.fanout import FANOUT

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
    :func:`fanouts`); else ``total``, ``ended`` and ``fanout`` are None."""
    run = queries.get_metadata(run_id)
    steps = queries.steps(run_id)
    total: int | None = None
    ended: int | None = None
    fanout: str | None = None
    if collection_of(run_id) is not None:
        total = len(steps)
        ended = sum(step["status"] in FINISHED for step in steps)
    else:
        found = fanouts(steps)
        if found:
            total, ended, fanout = found[-1]["total"], found[-1]["ended"], found[-1]["step"]
    counts = {"SUCCESSFUL": 0, "RUNNING": 0, "FAILED": 0, "PENDING": 0}
    current = None
    latest = float("-inf")
    for step in steps:
        status = step["status"]
        if status in counts:
            counts[status] += 1
        elif status in ("CANCELED", "RESUMABLE"):
            counts["FAILED"] += 1
        if status == "RUNNING" and (step["stats"]["start_time"] or 0.0) >= latest:
            latest = step["stats"]["start_time"] or 0.0
            current = step["name"]
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


def fanouts(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's ``map`` fan-outs, in the order they started: ``[{"step", "task_name",
    "parent", "total", "ended", "done", "failed"}]``. A fan-out is known by its first step
    (its ``fanout`` option holds the map's item count); its steps are that one and the later
    steps of the same task under the same parent, up to its count (steps not started yet
    are not recorded: ``total`` counts them, ``ended`` does not)."""
    found: list[dict[str, Any]] = []
    groups: dict[tuple[Any, str], dict[str, Any]] = {}
    for step in steps:
        key = (step["parent"], step["task_name"])
        count = step["step_options"].get(FANOUT)
        if isinstance(count, int) and not isinstance(count, bool):
            started = {"step": step["name"], "task_name": step["task_name"],
                       "parent": step["parent"], "total": count, "ended": 0, "done": 0,
                       "failed": 0, "members": 0}  # fmt: skip
            found.append(started)
            groups[key] = started
        group = groups.get(key)
        if group is None or group["members"] >= group["total"]:
            continue
        group["members"] += 1
        status = step["status"]
        if status in FINISHED:
            group["ended"] += 1
            group["done" if status == "SUCCESSFUL" else "failed"] += 1
    for each in found:
        del each["members"]
    return found


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
