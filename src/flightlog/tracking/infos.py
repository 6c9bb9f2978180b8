"""The ``info`` dicts that trackers receive, in the shape of bandsaw's info files.

``run``: ``{"run": {"id", "workflow", "status", "tag", "start_time", "end_time",
"user_metadata", "arguments", "resumes", "error", "output"}, "configuration": {"store"},
"environment": {...}}``; ``task``: ``{"task": {"id", "definition", "advice_parameters"}}``;
``execution``: the task's plus ``{"execution": {"id", "arguments": [{"name", "type", "value",
"size"}]}}``; ``session``: the execution's and the run's plus ``{"session": {"id", "name",
"position", "parent", "status", "origin", "source_run", "start_time", "end_time",
"attempts"}}``; ``result``: the session's plus ``{"result": {"value": {"type", "value"}}}`` or
``{"result": {"exception", "message"}}``; ``metrics``: ``{"run": {"id"}, "session": {"id",
"name"} or None, "metrics": [{"name", "step", "value", "time"}]}``. Every value is JSON-ready.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from .. import codec
from ..errors import FlightlogError
from ..model import MetricChunk, Run, Status, Step, TaskRecord
from .trackers import Ids, anonymous_execution_id

_SECRET = re.compile(r"(//[^/:@]*:)[^@/]*@")


def redacted_url(url: str) -> str:
    """The store URL without a password."""
    return _SECRET.sub(r"\1***@", url)


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
    name = task.name if task is not None else step.task_name
    version = f" version {task.version}" if task is not None and task.version else ""
    return {
        "task": {
            "id": step.task_id,
            "definition": f"{name}{version}",
            "advice_parameters": dict(task.options) if task is not None else {},
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


def session_info(run: Run, store_url: str, task: TaskRecord | None, step: Step) -> dict[str, Any]:
    info = execution_info(task, step)
    info.update(run_info(run, store_url, started=True))
    info["session"] = {
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
    return info


def result_info(run: Run, store_url: str, task: TaskRecord | None, step: Step) -> dict[str, Any]:
    info = session_info(run, store_url, task, step)
    if step.error is not None:
        info["result"] = {"exception": step.error.type, "message": step.error.message}
    else:
        info["result"] = {"value": value_info(_decoded(step.result))}
    return info


def metric_points(chunks: Iterable[MetricChunk]) -> list[dict[str, Any]]:
    return [
        {"name": chunk.name, "step": step, "value": value, "time": time}
        for chunk in chunks
        for step, value, time in zip(chunk.steps, chunk.values, chunk.times, strict=True)
    ]


def metrics_info(run_id: str, step: Step | None, chunks: Sequence[MetricChunk]) -> dict[str, Any]:
    session = None if step is None else {"id": step_ids(step).session_id, "name": step.name}
    return {"run": {"id": run_id}, "session": session, "metrics": metric_points(chunks)}
