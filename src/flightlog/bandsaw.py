"""bandsaw's identifiers and info dicts, built from flightlog's records. No I/O happens here.

Both the trackers (:mod:`flightlog.tracking`) and the JSON-files store
(:mod:`flightlog.stores.files`) speak bandsaw's shapes, so they are built once, here, below
both of them.

``run``: ``{"run": {"id", "workflow", "status", "tag", "start_time", "end_time",
"user_metadata", "arguments", "resumes", "error", "output"}, "configuration": {"store"},
"environment": {...}}``; ``distribution``: ``{"distribution_archive": {"id", "modules",
"git_dirty", "git_remote"}}``; ``task``: ``{"task": {"id", "definition",
"advice_parameters"}}``; ``execution``: the task's plus ``{"execution": {"id", "arguments":
[{"name", "type", "value", "size"}]}}``; ``session``: the execution's, the run's (as it
started) and the distribution's plus ``{"session": {"id", "name", "position", "parent",
"status", "origin", "source_run", "start_time", "end_time", "attempts"}}``; ``result``: the
session's plus ``{"result": {"value": {"type", "value"}}}`` or ``{"result": {"exception",
"message"}}``; ``metrics``: ``{"run": {"id"}, "session": {"id", "name", "position"} or None,
"metrics": [{"name", "step", "value", "time"}]}``. Every value is JSON-ready.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import codec
from .errors import FlightlogError
from .model import MetricChunk, Run, Status, Step, TaskRecord
from .redaction import redact


@dataclass(frozen=True)
class Ids:
    """The identifiers of what a tracker call is about (bandsaw's ``Ids``).

    ``task_id`` and ``execution_id`` are None for calls about the run as a whole. The session
    id is ``<task_id>_<execution_id>_<run_id>``: task and execution ids never contain ``_``, so
    split it at its first two underscores only (run ids may contain ``_``).
    """

    run_id: str
    task_id: str | None = None
    execution_id: str | None = None

    @property
    def session_id(self) -> str | None:
        if self.task_id is None or self.execution_id is None:
            return None
        return f"{self.task_id}_{self.execution_id}_{self.run_id}"

    def __str__(self) -> str:
        return self.session_id or self.run_id


def split_session_id(session_id: str) -> Ids:
    """The ids a session id names (split at its first two underscores only)."""
    task_id, execution_id, run_id = session_id.split("_", 2)
    return Ids(run_id, task_id, execution_id)


def anonymous_execution_id(run_id: str, position: int) -> str:
    """The execution id given to a step whose arguments could not be hashed (unique per
    step of a run, free of ``_``)."""
    return hashlib.sha256(f"{run_id}\0{position}".encode()).hexdigest()[:32]


def redacted_url(url: str) -> str:
    """The store URL without a password (:func:`flightlog.redaction.redact`)."""
    return redact(url)


def step_ids(step: Step) -> Ids:
    execution = step.execution_id or anonymous_execution_id(step.run_id, step.position)
    return Ids(step.run_id, step.task_id, execution)


def value_info(value: Any) -> dict[str, Any]:
    """Type and short text of a value (bandsaw's ``value_info``)."""
    if isinstance(value, (set, frozenset)):
        try:
            value = sorted(value)
        except TypeError:
            pass
    text = str(value)
    if len(text) > 100:
        text = text[:85] + "..." + text[-12:]
    info: dict[str, Any] = {"type": type(value).__qualname__, "value": text}
    if hasattr(value, "__len__") and not isinstance(value, type):
        try:
            info["size"] = str(len(value))
        except TypeError:
            pass
    return info


def _decoded(text: str | None) -> Any:
    try:
        return codec.decode(text or "null", allow_pickle=False)
    except FlightlogError as error:
        return f"<not readable: {error}>"


def run_info(run: Run, store_url: str, *, started: bool = False) -> dict[str, Any]:
    """The run as it is now, or as it started (``started``: RUNNING, no outcome yet)."""
    finished = not started
    return {
        "run": {
            "id": run.run_id,
            "workflow": run.workflow,
            "status": Status.RUNNING.value if started else run.status.value,
            "tag": run.tag,
            "start_time": run.start_time,
            "end_time": run.end_time if finished else None,
            "user_metadata": dict(run.user_metadata),
            "arguments": _arguments(run.arguments),
            "resumes": run.resumes,
            "error": None if run.error is None or started else run.error.to_dict(),
            "output": value_info(_decoded(run.output)) if finished and run.output else None,
        },
        "configuration": {"store": redacted_url(store_url)},
        "environment": dict(run.environment),
    }


def _arguments(text: str | None) -> list[dict[str, Any]]:
    found = _decoded(text)
    if not isinstance(found, dict):
        return []
    infos = []
    for index, value in enumerate(found.get("args") or []):
        infos.append({**value_info(value), "name": f"args[{index}]"})
    for name, value in (found.get("kwargs") or {}).items():
        infos.append({**value_info(value), "name": name})
    return infos


def distribution_info(run: Run) -> dict[str, Any]:
    environment = run.environment
    entry = environment.get("entry") or {}
    return {
        "distribution_archive": {
            "id": environment.get("git_commit"),
            "modules": [entry["module"]] if entry.get("module") else [],
            "git_dirty": environment.get("git_dirty"),
            "git_remote": environment.get("git_remote"),
        }
    }


def task_info(task: TaskRecord | None, step: Step) -> dict[str, Any]:
    """The task of a step: its record when there is one, else what the step knows."""
    name = task.name if task is not None else step.task_name
    version = f" version {task.version}" if task is not None and task.version else ""
    return {
        "task": {
            "id": step.task_id,
            "definition": f"{name}{version}",
            "advice_parameters": dict(task.options) if task is not None else {},
        }
    }


def task_record_info(task: TaskRecord) -> dict[str, Any]:
    """A task record alone, as ``task_info`` describes it."""
    version = f" version {task.version}" if task.version else ""
    return {
        "task": {
            "id": task.task_id,
            "definition": f"{task.name}{version}",
            "advice_parameters": dict(task.options),
        }
    }


def execution_info(task: TaskRecord | None, step: Step) -> dict[str, Any]:
    info = task_info(task, step)
    arguments = _decoded(step.arguments)
    infos = []
    if isinstance(arguments, dict):
        infos = [{**value_info(value), "name": name} for name, value in arguments.items()]
    info["execution"] = {"id": step_ids(step).execution_id, "arguments": infos}
    return info


def session_part(step: Step) -> dict[str, Any]:
    """The ``session`` entry of a step's session info."""
    return {
        "id": step_ids(step).session_id,
        "name": step.name,
        "position": step.position,
        "parent": step.parent,
        "status": step.status.value,
        "origin": step.origin.value,
        "source_run": step.source_run,
        "start_time": step.start_time,
        "end_time": step.end_time,
        "attempts": [attempt.to_dict() for attempt in step.attempt_records()],
    }


def started_run_info(run: Run, store_url: str) -> dict[str, Any]:
    """What a session info says of its run: the run as it started, and its code."""
    info = run_info(run, store_url, started=True)
    info.update(distribution_info(run))
    return info


def session_info(run: Run, store_url: str, task: TaskRecord | None, step: Step) -> dict[str, Any]:
    info = execution_info(task, step)
    info.update(started_run_info(run, store_url))
    info["session"] = session_part(step)
    return info


def result_part(step: Step) -> dict[str, Any]:
    """The ``result`` entry of a step's result info."""
    if step.error is not None:
        return {"exception": step.error.type, "message": step.error.message}
    return {"value": value_info(_decoded(step.result))}


def result_info(run: Run, store_url: str, task: TaskRecord | None, step: Step) -> dict[str, Any]:
    info = session_info(run, store_url, task, step)
    info["result"] = result_part(step)
    return info


def metric_points(chunks: Iterable[MetricChunk]) -> list[dict[str, Any]]:
    return [
        {"name": chunk.name, "step": step, "value": value, "time": time}
        for chunk in chunks
        for step, value, time in zip(chunk.steps, chunk.values, chunk.times, strict=True)
    ]


def metrics_info(run_id: str, step: Step | None, chunks: Sequence[MetricChunk]) -> dict[str, Any]:
    session = None
    if step is not None:
        session = {"id": step_ids(step).session_id, "name": step.name, "position": step.position}
    return {"run": {"id": run_id}, "session": session, "metrics": metric_points(chunks)}
