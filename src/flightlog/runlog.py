"""The run log: one JSON document per run, in runnable's shape.

It holds every field of runnable's run-log models (``RunLog``, ``StepLog``, ``StepAttempt``,
``CodeIdentity``, ``DataCatalog`` in runnable's ``datastore.py``) and flightlog's beside them::

    {"run_id", "dag_hash", "use_cached", "tag", "original_run_id",
     "status": "SUCCESS" | "FAIL" | "PROCESSING", "workflow", "start_time", "end_time",
     "parameters": {name: value},
     "attempts": [{"attempt_number", "start_time", "end_time", "duration", "status",
                   "host", "pid"}],      # the run's own attempts: its start and each resume
     "user_defined_metrics": {...},          # what the workflow's own body tracked
     "data_catalog": [...],                  # what the workflow's own body attached
     "steps": {name: {"name", "internal_name", "status", "step_type": "task" | "shell",
                      "message", "mock", "parent", "origin",
                      "attempts": [{"attempt_number", "start_time", "end_time", "duration",
                                    "status", "message", "parameters"}],
                      "code_identities": [{"code_identifier", "code_identifier_type",
                                           "code_identifier_dependable",
                                           "code_identifier_url",
                                           "code_identifier_message"}],
                      "user_defined_metrics": {metric: value | {step: value}},
                      "branches": {},
                      "data_catalog": [{"name", "data_hash", "catalog_relative_path",
                                        "catalog_handler_location", "stage", "size"}]}},
     "run_config": {"store": {"url", "type"}, "trackers": [...]}}

Statuses: SUCCESSFUL is SUCCESS, FAILED and CANCELED are FAIL, the rest PROCESSING (a run's
attempt that ended RESUMABLE, its process gone, is FAIL). The run's ``start_time`` and
``end_time`` are those of its latest attempt (a run whose process died ended when it was last
seen alive). Times are ISO 8601 in UTC; ``duration`` is ``H:MM:SS.ffffff``; a step attempt's
time not known yet is ``""`` (runnable's default). A metric recorded only at step 0 is its
plain value, otherwise ``{step: value}`` (the last value written at each step). Values are
JSON: arguments as flightlog records them (see :mod:`flightlog.codec`).

As runnable's: ``internal_name`` is the step's name (the key it is listed under: flightlog's
nested steps are listed beside the others, with their ``parent``, so ``branches`` is empty);
a resumed run has ``use_cached`` true and is its own ``original_run_id`` (flightlog resumes a
run in place), and a step it replayed, or one served from the cache, is a ``mock`` (its result
was not computed again); ``dag_hash`` is the sha1 of the steps' names and task ids in call
order, so two runs of the same steps of the same code share it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from .errors import NotFoundError
from .model import Attempt, MetricChunk, Origin, Run, RunAttempt, Status, Step
from .runtime.liveness import effective_end, effective_status
from .stores import Store, iter_steps
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
        dirty = bool(environment.get("git_dirty"))
        found.append(
            {
                "code_identifier": environment["git_commit"],
                "code_identifier_type": "git",
                "code_identifier_dependable": not dirty,
                "code_identifier_url": environment.get("git_remote"),
                "code_identifier_message": "uncommitted changes in the work tree" if dirty else "",
            }
        )
    found.append(
        {
            "code_identifier": step.task_id,
            "code_identifier_type": "flightlog-task",
            "code_identifier_dependable": True,
            "code_identifier_url": None,
            "code_identifier_message": "",
        }
    )
    return found


def _attempt(attempt: Attempt, parameters: Any) -> dict[str, Any]:
    return {
        "attempt_number": attempt.number,
        "start_time": _when(attempt.start_time) or "",
        "end_time": _when(attempt.end_time) or "",
        "duration": _duration(attempt.start_time, attempt.end_time) or "",
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
        "internal_name": step.name,
        "status": runnable_status(step.status),
        "step_type": "shell" if step.task_name == "shell" else "task",
        "message": "" if step.error is None else step.error.message,
        "mock": step.origin is not Origin.EXECUTED,
        "parent": step.parent,
        "origin": step.origin.value,
        "attempts": [_attempt(attempt, parameters) for attempt in step.attempt_records()],
        "code_identities": code_identities(run, step),
        "user_defined_metrics": user_defined_metrics(chunks),
        "branches": {},
        "data_catalog": files,
    }


def dag_hash(steps: Iterable[Step]) -> str:
    """The sha1 of the steps' names and task ids, in call order (runnable: of its DAG)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for step in steps:
        digest.update(f"{step.name}\0{step.task_id}\n".encode())
    return digest.hexdigest()


PAGE = 1000  # steps read at a time
_STEPS = "\x00steps\x00"  # where the steps go in the document's text (iter_run_log)


def _document(store: Store, run_id: str) -> tuple[Run, dict[str, Any], Any]:
    """The run, its log without the steps (``"steps"`` holds a mark), and a maker of the
    steps' logs (name, log) in call order."""
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id!r} in {store.url}")
    location = redacted_url(store.url)
    chunks: dict[int | None, list[MetricChunk]] = {}
    for chunk in store.list_metrics(run_id):
        chunks.setdefault(chunk.position, []).append(chunk)
    catalog: dict[int | None, list[dict[str, Any]]] = {}
    for record in latest_attachments(store.list_attachments(run_id)):
        catalog.setdefault(record.position, []).append(
            {
                "name": record.name,
                "data_hash": record.sha256,
                "catalog_relative_path": record.name,
                "catalog_handler_location": location,
                "stage": "put",
                "size": record.size,
            }
        )

    def step_logs() -> Iterator[tuple[str, dict[str, Any]]]:
        for step in iter_steps(store, run_id, PAGE):
            own = chunks.get(step.position, [])
            yield step.name, step_log(run, step, own, catalog.get(step.position, []))

    resumed = run.resumes > 0
    document = {
        "run_id": run.run_id,
        "dag_hash": dag_hash(iter_steps(store, run_id, PAGE)),
        "use_cached": resumed,
        "tag": run.tag or "",
        "original_run_id": run.run_id if resumed else "",
        "status": runnable_status(effective_status(run)),
        "workflow": run.workflow,
        "start_time": _when(run.start_time),
        "end_time": _when(effective_end(run)),
        "parameters": run_parameters(run),
        "user_defined_metrics": user_defined_metrics(chunks.get(None, [])),
        "data_catalog": catalog.get(None, []),
        "attempts": run_attempts(run),
        "steps": _STEPS,
        "run_config": {
            "store": {"url": location, "type": type(store).__name__},
            "trackers": list(run.environment.get("trackers") or []),
        },
    }
    return run, document, step_logs


def run_log(store: Store, run_id: str) -> dict[str, Any]:
    """The run's log in runnable's shape (see the module's description)."""
    _, document, step_logs = _document(store, run_id)
    document["steps"] = dict(step_logs())
    return document


def iter_run_log(store: Store, run_id: str) -> Iterator[str]:
    """The run's log as indented JSON text (``json.dumps(run_log(...), indent=2)``), a
    piece at a time: a step's log is made, written and dropped before the next is read, so
    a run of any size is never held whole."""
    _, document, step_logs = _document(store, run_id)
    head, tail = json.dumps(document, indent=2, default=str).split(json.dumps(_STEPS), 1)
    yield head + "{"
    first = True
    for name, log in step_logs():
        text = json.dumps(log, indent=2, default=str).replace("\n", "\n    ")
        yield f"{'' if first else ','}\n    {json.dumps(name)}: {text}"
        first = False
    yield ("}" if first else "\n  }") + tail
