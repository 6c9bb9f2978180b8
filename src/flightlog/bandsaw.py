"""bandsaw's identifiers and info dicts, built from flightlog's records. No I/O happens here.

Both the trackers (:mod:`flightlog.tracking`) and the JSON-files store
(:mod:`flightlog.stores.files`) speak bandsaw's shapes, so they are built once, here, below
both of them. Each info holds bandsaw's fields (as its ``TrackerExtension`` and ``Run`` make
them) and, beside them, flightlog's:

- ``run``: bandsaw's run JSON ``{"id", "start_date", "user", "command", "env", "meta"}`` (the
  first start in ISO 8601 UTC with milliseconds, the user, the argv, no environment variables
  since they hold secrets, the run's metadata), and flightlog's ``{"run": {"id", "workflow",
  "status", "tag", "start_time", "end_time", "arguments", "resumes", "error", "output"},
  "configuration": <store URL>, "environment": {...}}``;
- ``distribution``: ``{"distribution_archive": {"id", "modules", "git_dirty", "git_remote"}}``;
- ``task``: ``{"task": {"id", "definition", "advice_parameters"}}``;
- ``execution``: the task's plus ``{"execution": {"id", "arguments": [value info + "name"]}}``;
- ``session``: the execution's, ``{"run": {"id", "workflow"}, "configuration": <store URL>}``,
  the distribution's, and ``{"session": {"id", "name", "position", "parent", "status",
  "origin", "source_run", "start_time", "end_time", "attempts"}, "context": <value info of the
  step's metadata>}`` (the run's metadata and environment stay in the run's info);
- ``result``: the session's plus ``{"result": {"value": <value infos>}}`` or ``{"result":
  {"exception", "message"}}``: a dict's value infos are a list of item infos with ``"key"``,
  a list's or tuple's a list with ``"index"``, anything else's one value info;
- ``metrics`` (flightlog's own): ``{"run": {"id"}, "session": {"id", "name", "position"} or
  None, "metrics": [{"name", "step", "value", "time"}]}``.

A value info is ``{"type", "value", "size"?}``: the type's qualified name (taken before a
set is sorted), the text (past 100 characters its first 85, ``...`` and its last 12), the
length as text when it has one, and whatever the value's own ``value_info()`` adds. Every
info is JSON-ready.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import codec
from .codec_blobs import unread
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
        """bandsaw's session id, ``<task_id>_<execution_id>_<run_id>`` (None without both ids)."""
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
    kind = type(value).__qualname__
    if isinstance(value, set):
        try:
            value = sorted(value)
        except TypeError:
            pass
    text = str(value)
    if len(text) > 100:
        text = text[:85] + "..." + text[-12:]
    info: dict[str, Any] = {"type": kind, "value": text}
    if hasattr(value, "__len__") and not isinstance(value, type):
        try:
            info["size"] = str(len(value))
        except TypeError:
            pass
    own = getattr(value, "value_info", None)
    if callable(own) and not isinstance(value, type):
        info.update(_own_info(own))
    return info


def _own_info(method: Any) -> dict[str, Any]:
    """What a value's own ``value_info()`` adds, JSON-ready; nothing if it fails."""
    try:
        found = method()
    except Exception:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(key): _ready(item) for key, item in found.items()}


def _ready(value: Any) -> Any:
    if value is None or type(value) in (str, int, float, bool):
        return value
    return str(value)


def value_infos(value: Any) -> Any:
    """A result's value infos (bandsaw's shape): one per item of a dict (with its ``key``),
    list or tuple (with its ``index``), else the value's own info."""
    if isinstance(value, dict):
        return [{**value_info(item), "key": _ready(key)} for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return [{**value_info(item), "index": index} for index, item in enumerate(value)]
    return value_info(value)


def start_date(epoch: float | None) -> str | None:
    """A time as bandsaw writes a run's ``start_date``: ISO 8601 in UTC, in milliseconds."""
    if epoch is None:
        return None
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def _decoded(text: str | None) -> Any:
    with unread():  # a large value stored out of line is described, never read
        try:
            return codec.decode(text or "null", allow_pickle=False)
        except FlightlogError as error:
            return f"<not readable: {error}>"


def run_info(run: Run, store_url: str, *, started: bool = False) -> dict[str, Any]:
    """The run as it is now, or as it started (``started``: RUNNING, no outcome yet)."""
    finished = not started
    environment = run.environment
    return {
        "id": run.run_id,
        "start_date": start_date(run.created_time or run.start_time),
        "user": environment.get("user"),
        "command": list(environment.get("argv") or []),
        "env": {},
        "meta": dict(run.user_metadata),
        "run": {
            "id": run.run_id,
            "workflow": run.workflow,
            "status": Status.RUNNING.value if started else run.status.value,
            "tag": run.tag,
            "start_time": run.start_time,
            "end_time": run.end_time if finished else None,
            "arguments": _arguments(run.arguments),
            "resumes": run.resumes,
            "error": None if run.error is None or started else run.error.to_dict(),
            "output": value_infos(_decoded(run.output)) if finished and run.output else None,
        },
        "configuration": redacted_url(store_url),
        "environment": dict(environment),
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


def session_entries(step: Step) -> dict[str, Any]:
    """What a session info says of its step: ``session`` and ``context`` (bandsaw: the
    session's context, here the value info of the step's metadata)."""
    return {"session": session_part(step), "context": value_info(dict(step.user_metadata))}


def started_run_info(run: Run, store_url: str) -> dict[str, Any]:
    """What a session info says of its run (bandsaw's ``run{id}``, ``configuration`` and
    ``distribution_archive``): the run's metadata and environment stay in its own info."""
    info: dict[str, Any] = {
        "run": {"id": run.run_id, "workflow": run.workflow},
        "configuration": redacted_url(store_url),
    }
    info.update(distribution_info(run))
    return info


def session_info(run: Run, store_url: str, task: TaskRecord | None, step: Step) -> dict[str, Any]:
    info = execution_info(task, step)
    info.update(started_run_info(run, store_url))
    info.update(session_entries(step))
    return info


def result_part(step: Step) -> dict[str, Any]:
    """The ``result`` entry of a step's result info."""
    if step.error is not None:
        return {"exception": step.error.type, "message": step.error.message}
    return {"value": value_infos(_decoded(step.result))}


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
