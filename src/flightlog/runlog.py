"""The run log: one JSON document per run, in runnable's shape.

::

    {"run_id", "status": "SUCCESS" | "FAIL" | "PROCESSING", "tag", "workflow",
     "start_time", "end_time", "parameters": {name: value},
     "attempts": [{"attempt_number", "start_time", "end_time", "duration", "status",
                   "host", "pid"}],      # the run's own attempts: its start and each resume
     "user_defined_metrics": {...},          # what the workflow's own body tracked
     "data_catalog": [...],                  # what the workflow's own body attached
     "steps": {name: {"name", "status", "step_type": "task" | "shell", "message",
                      "parent", "origin",
                      "attempts": [{"attempt_number", "start_time", "end_time", "duration",
                                    "status", "message", "parameters"}],
                      "code_identities": [{"code_identifier", "code_identifier_type",
                                           "code_identifier_dependable",
                                           "code_identifier_url"}],
                      "user_defined_metrics": {metric: value | {step: value}},
                      "data_catalog": [{"name", "data_hash", "size", "stage"}]}},
     "run_config": {"store": {"url", "type"}, "trackers": [...]}}

Statuses: SUCCESSFUL is SUCCESS, FAILED and CANCELED are FAIL, the rest PROCESSING (a run's
attempt that ended RESUMABLE, its process gone, is FAIL). The run's ``start_time`` and
``end_time`` are those of its latest attempt (a run whose process died ended when it was last
seen alive). Times are ISO 8601 in UTC; ``duration`` is ``H:MM:SS.ffffff``. A metric recorded
only at step 0 is its plain value, otherwise ``{step: value}`` (the last value written at each
step). Values are JSON: arguments as flightlog records them (see :mod:`flightlog.codec`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from .errors import NotFoundError
from .model import Attempt, MetricChunk, Run, RunAttempt, Status, Step
from .runtime.liveness import effective_end, effective_status
from .stores import Store
from .tracked_query import latest_attachments
from .tracking.infos import redacted_url
from .tracking.parameters import recorded_signature as recorded_signature  # re-exported
from .tracking.parameters import run_parameters

STATUSES = {Status.SUCCESSFUL: "SUCCESS", Status.FAILED: "FAIL", Status.CANCELED: "FAIL"}


def runnable_status(status: Status) -> str:
    return STATUSES.get(status, "PROCESSING")


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).isoformat()


def _duration(start: float | None, end: float | None) -> str | None:
    if start is None or end is None:
        return None
    return str(dt.timedelta(seconds=end - start))


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def user_defined_metrics(chunks: Iterable[MetricChunk]) -> dict[str, Any]:
    series: dict[str, dict[int, Any]] = {}
    for chunk in chunks:
        values = series.setdefault(chunk.name, {})
        for step, value in zip(chunk.steps, chunk.values, strict=True):
            values[step] = value
    return {
        name: values[0] if set(values) == {0} else dict(sorted(values.items()))
        for name, values in sorted(series.items())
    }


def code_identities(run: Run, step: Step) -> list[dict[str, Any]]:
    found = []
    environment = run.environment
    if environment.get("git_commit"):
        found.append(
            {
                "code_identifier": environment["git_commit"],
                "code_identifier_type": "git",
                "code_identifier_dependable": not environment.get("git_dirty"),
                "code_identifier_url": environment.get("git_remote"),
            }
        )
    found.append(
        {
            "code_identifier": step.task_id,
            "code_identifier_type": "flightlog-task",
            "code_identifier_dependable": True,
            "code_identifier_url": None,
        }
    )
    return found


def _attempt(attempt: Attempt, parameters: Any) -> dict[str, Any]:
    return {
        "attempt_number": attempt.number,
        "start_time": _when(attempt.start_time),
        "end_time": _when(attempt.end_time),
        "duration": _duration(attempt.start_time, attempt.end_time),
        "status": runnable_status(attempt.status),
        "message": "" if attempt.error is None else attempt.error.message,
        "parameters": parameters,
    }


def run_attempts(run: Run) -> list[dict[str, Any]]:
    """The run's own attempts (its first start, then each resume), oldest first."""
    status = effective_status(run)
    return [_run_attempt(item) for item in run.attempt_records(status, effective_end(run, status))]


def _run_attempt(attempt: RunAttempt) -> dict[str, Any]:
    ended = attempt.status is Status.RESUMABLE and attempt.end_time is not None
    return {
        "attempt_number": attempt.number,
        "start_time": _when(attempt.start_time),
        "end_time": _when(attempt.end_time),
        "duration": _duration(attempt.start_time, attempt.end_time),
        "status": "FAIL" if ended else runnable_status(attempt.status),
        "host": attempt.host,
        "pid": attempt.pid,
    }


def step_log(
    run: Run, step: Step, chunks: list[MetricChunk], files: list[dict[str, Any]]
) -> dict[str, Any]:
    parameters = _json(step.arguments) or {}
    return {
        "name": step.name,
        "status": runnable_status(step.status),
        "step_type": "shell" if step.task_name == "shell" else "task",
        "message": "" if step.error is None else step.error.message,
        "parent": step.parent,
        "origin": step.origin.value,
        "attempts": [_attempt(attempt, parameters) for attempt in step.attempt_records()],
        "code_identities": code_identities(run, step),
        "user_defined_metrics": user_defined_metrics(chunks),
        "data_catalog": files,
    }


def run_log(store: Store, run_id: str) -> dict[str, Any]:
    """The run's log in runnable's shape (see the module's description)."""
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id!r} in {store.url}")
    chunks = store.list_metrics(run_id)
    catalog: dict[int | None, list[dict[str, Any]]] = {}
    for record in latest_attachments(store.list_attachments(run_id)):
        catalog.setdefault(record.position, []).append(
            {"name": record.name, "data_hash": record.sha256, "size": record.size, "stage": "put"}
        )
    steps = {}
    for step in store.list_steps(run_id):
        own = [chunk for chunk in chunks if chunk.position == step.position]
        steps[step.name] = step_log(run, step, own, catalog.get(step.position, []))
    return {
        "run_id": run.run_id,
        "status": runnable_status(effective_status(run)),
        "tag": run.tag or "",
        "workflow": run.workflow,
        "start_time": _when(run.start_time),
        "end_time": _when(effective_end(run)),
        "parameters": run_parameters(run),
        "user_defined_metrics": user_defined_metrics(
            chunk for chunk in chunks if chunk.position is None
        ),
        "data_catalog": catalog.get(None, []),
        "attempts": run_attempts(run),
        "steps": steps,
        "run_config": {
            "store": {"url": redacted_url(store.url), "type": type(store).__name__},
            "trackers": list(run.environment.get("trackers") or []),
        },
    }
