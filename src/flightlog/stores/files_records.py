"""flightlog's records as the JSON the files store keeps beside bandsaw's keys.

Each record becomes a plain dict of its fields (errors, attempts and owners as their own
``to_dict`` shapes); nothing here touches a file. Reading one back checks the type of each
field: :func:`decoded` turns a record that does not fit into a StoreError naming its file and
what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..errors import StoreError
from ..model import (
    AttachmentRecord,
    Attempt,
    ErrorInfo,
    MetricChunk,
    Origin,
    Owner,
    ResourceRecord,
    ResourceStatus,
    Run,
    RunAttempt,
    Status,
    Step,
    TaskRecord,
)
from ..named_arguments import parameters_text

T = TypeVar("T")
_TEXT: tuple[type, ...] = (str,)
_NUMBER: tuple[type, ...] = (int, float)
_INTEGER: tuple[type, ...] = (int,)
_OBJECT: tuple[type, ...] = (dict,)
_LIST: tuple[type, ...] = (list,)
_FLAG: tuple[type, ...] = (bool,)


def decoded(path: str, what: str, read: Callable[..., T], *arguments: Any) -> T:
    """``read(*arguments)``, whose KeyError, TypeError or ValueError (a record that does not
    fit) becomes a StoreError naming ``what`` was read from ``path``."""
    try:
        return read(*arguments)
    except KeyError as error:
        problem = f"the record lacks {error.args[0]!r}"
    except (TypeError, ValueError, AttributeError) as error:
        problem = str(error)
    raise StoreError(f"the files store cannot read {what} from {path}: {problem}")


def _fields(
    data: Any, required: Mapping[str, tuple[type, ...]], **optional: tuple[type, ...]
) -> None:
    """TypeError unless ``data`` is an object with each required field, and every field
    present of one of its types (an optional one may be null)."""
    if not isinstance(data, dict):
        raise TypeError(f"the record is a {type(data).__name__}, not an object")
    for name, kinds in (*required.items(), *optional.items()):
        if name not in data:
            if name in required:
                raise KeyError(name)
            continue
        value = data[name]
        if value is None and name not in required:
            continue
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            expected = " or ".join(kind.__name__ for kind in kinds)
            raise TypeError(
                f"its field {name!r} is {value!r:.60} ({type(value).__name__}), not {expected}"
            )


def _error(data: Any) -> ErrorInfo | None:
    return None if data is None else ErrorInfo.from_dict(data)


def run_record(run: Run) -> dict[str, Any]:
    """Every field of a run but its environment (kept under bandsaw's ``environment``) and
    its step count (counted when read); its parameters by name derived from its arguments."""
    return {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "status": run.status.value,
        "tag": run.tag,
        "arguments": run.arguments,
        "user_metadata": run.user_metadata,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "output": run.output,
        "error": None if run.error is None else run.error.to_dict(),
        "owner": None if run.owner is None else run.owner.to_dict(),
        "lease_expires": run.lease_expires,
        "created_time": run.created_time,
        "resumes": run.resumes,
        "cancel_requested": run.cancel_requested,
        "history": [attempt.to_dict() for attempt in run.history],
        "last_seen": run.last_seen,
        "parameters": parameters_text(run.arguments, run.environment),
    }


def run_from(data: dict[str, Any], environment: dict[str, Any], step_count: int = 0) -> Run:
    _fields(
        data,
        {"run_id": _TEXT, "workflow": _TEXT, "status": _TEXT},
        tag=_TEXT,
        arguments=_TEXT,
        user_metadata=_OBJECT,
        start_time=_NUMBER,
        end_time=_NUMBER,
        output=_TEXT,
        error=_OBJECT,
        owner=_OBJECT,
        lease_expires=_NUMBER,
        created_time=_NUMBER,
        resumes=_INTEGER,
        cancel_requested=_FLAG,
        history=_LIST,
        last_seen=_NUMBER,
        parameters=_TEXT,
    )
    if not isinstance(environment, dict):
        raise TypeError(f"its environment is a {type(environment).__name__}, not an object")
    owner = data.get("owner")
    return Run(
        run_id=data["run_id"],
        workflow=data["workflow"],
        status=Status(data["status"]),
        tag=data.get("tag"),
        arguments=data.get("arguments"),
        user_metadata=data.get("user_metadata") or {},
        start_time=data.get("start_time"),
        end_time=data.get("end_time"),
        output=data.get("output"),
        error=_error(data.get("error")),
        environment=environment,
        owner=None if owner is None else Owner.from_dict(owner),
        lease_expires=data.get("lease_expires"),
        created_time=data.get("created_time"),
        resumes=data.get("resumes", 0),
        cancel_requested=bool(data.get("cancel_requested")),
        step_count=step_count,
        history=[RunAttempt.from_dict(item) for item in data.get("history") or ()],
        last_seen=data.get("last_seen"),
        parameters=(  # derived as read for a run written before version 5
            data["parameters"]
            if "parameters" in data
            else parameters_text(data.get("arguments"), environment)
        ),
    )


def step_record(step: Step) -> dict[str, Any]:
    """Every field of a step (the run id is the session's)."""
    return {
        "name": step.name,
        "position": step.position,
        "task_name": step.task_name,
        "task_id": step.task_id,
        "execution_id": step.execution_id,
        "parent": step.parent,
        "status": step.status.value,
        "start_time": step.start_time,
        "end_time": step.end_time,
        "attempts": [attempt.to_dict() for attempt in step.attempts],
        "arguments": step.arguments,
        "result": step.result,
        "error": None if step.error is None else step.error.to_dict(),
        "user_metadata": step.user_metadata,
        "options": step.options,
        "log": step.log,
        "origin": step.origin.value,
        "source_run": step.source_run,
        "cache": step.cache,
        "reason": step.reason,
    }


def step_from(run_id: str, data: dict[str, Any]) -> Step:
    _fields(
        data,
        {
            "name": _TEXT,
            "position": _INTEGER,
            "task_name": _TEXT,
            "task_id": _TEXT,
            "status": _TEXT,
        },
        execution_id=_TEXT,
        parent=_TEXT,
        start_time=_NUMBER,
        end_time=_NUMBER,
        attempts=_LIST,
        arguments=_TEXT,
        result=_TEXT,
        error=_OBJECT,
        user_metadata=_OBJECT,
        options=_OBJECT,
        log=_TEXT,
        origin=_TEXT,
        source_run=_TEXT,
        cache=_FLAG,
        reason=_TEXT,
    )
    return Step(
        run_id=run_id,
        name=data["name"],
        position=data["position"],
        task_name=data["task_name"],
        task_id=data["task_id"],
        execution_id=data.get("execution_id"),
        parent=data.get("parent"),
        status=Status(data["status"]),
        start_time=data.get("start_time"),
        end_time=data.get("end_time"),
        attempts=[Attempt.from_dict(item) for item in data.get("attempts") or ()],
        arguments=data.get("arguments"),
        result=data.get("result"),
        error=_error(data.get("error")),
        user_metadata=data.get("user_metadata") or {},
        options=data.get("options") or {},
        log=data.get("log") or "",
        origin=Origin(data.get("origin") or "executed"),
        source_run=data.get("source_run"),
        cache=bool(data.get("cache")),
        reason=data.get("reason"),
    )


def task_record(task: TaskRecord) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "name": task.name,
        "version": task.version,
        "options": task.options,
        "user_metadata": task.user_metadata,
        "components": task.components,
        "constants": task.constants,
    }


def task_from(data: dict[str, Any]) -> TaskRecord:
    _fields(
        data,
        {"task_id": _TEXT, "name": _TEXT},
        version=_TEXT,
        options=_OBJECT,
        user_metadata=_OBJECT,
        components=_OBJECT,
        constants=_OBJECT,
    )
    return TaskRecord(
        task_id=data["task_id"],
        name=data["name"],
        version=data.get("version"),
        options=data.get("options") or {},
        user_metadata=data.get("user_metadata") or {},
        components=data.get("components") or {},
        constants=data.get("constants") or {},
    )


def chunk_record(chunk: MetricChunk) -> dict[str, Any]:
    return {
        "name": chunk.name,
        "position": chunk.position,
        "step_name": chunk.step_name,
        "steps": list(chunk.steps),
        "values": list(chunk.values),
        "times": list(chunk.times),
    }


def chunk_from(data: dict[str, Any]) -> MetricChunk:
    _fields(
        data,
        {"name": _TEXT, "steps": _LIST, "values": _LIST, "times": _LIST},
        position=_INTEGER,
        step_name=_TEXT,
    )
    return MetricChunk(
        data["name"],
        data.get("position"),
        data.get("step_name"),
        data["steps"],
        data["values"],
        data["times"],
    )


def attachment_record(item: AttachmentRecord) -> dict[str, Any]:
    return {
        "name": item.name,
        "position": item.position,
        "step_name": item.step_name,
        "size": item.size,
        "sha256": item.sha256,
        "time": item.time,
    }


def attachment_from(data: dict[str, Any]) -> AttachmentRecord:
    _fields(
        data,
        {"name": _TEXT, "size": _INTEGER, "sha256": _TEXT, "time": _NUMBER},
        position=_INTEGER,
        step_name=_TEXT,
    )
    return AttachmentRecord(
        data["name"],
        data.get("position"),
        data.get("step_name"),
        data["size"],
        data["sha256"],
        data["time"],
    )


def resource_record(record: ResourceRecord) -> dict[str, Any]:
    return {
        "collection": record.collection,
        "ident": record.ident,
        "status": record.status.value,
        "attempt": record.attempt,
        "task_id": record.task_id,
        "arguments": record.arguments,
        "result": record.result,
        "error": None if record.error is None else record.error.to_dict(),
        "start_time": record.start_time,
        "end_time": record.end_time,
        "owner": None if record.owner is None else record.owner.to_dict(),
        "lease_expires": record.lease_expires,
        "created_time": record.created_time,
        "history": [attempt.to_dict() for attempt in record.history],
        "run_id": record.run_id,
        "position": record.position,
    }


def resource_from(data: dict[str, Any]) -> ResourceRecord:
    _fields(
        data,
        {"collection": _TEXT, "ident": _TEXT, "status": _TEXT},
        attempt=_INTEGER,
        task_id=_TEXT,
        arguments=_TEXT,
        result=_TEXT,
        error=_OBJECT,
        start_time=_NUMBER,
        end_time=_NUMBER,
        owner=_OBJECT,
        lease_expires=_NUMBER,
        created_time=_NUMBER,
        history=_LIST,
        run_id=_TEXT,
        position=_INTEGER,
    )
    owner = data.get("owner")
    return ResourceRecord(
        collection=data["collection"],
        ident=data["ident"],
        status=ResourceStatus(data["status"]),
        attempt=data.get("attempt", 0),
        task_id=data.get("task_id"),
        arguments=data.get("arguments"),
        result=data.get("result"),
        error=_error(data.get("error")),
        start_time=data.get("start_time"),
        end_time=data.get("end_time"),
        owner=None if owner is None else Owner.from_dict(owner),
        lease_expires=data.get("lease_expires"),
        created_time=data.get("created_time"),
        history=[Attempt.from_dict(item) for item in data.get("history") or ()],
        run_id=data.get("run_id"),
        position=data.get("position"),
    )
