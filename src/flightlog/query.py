"""The Python query API: what happened, as plain dicts (Ray Workflows' metadata shape).

Every face (command line, web page, exports) reads through these functions; none of them
knows SQL or file layouts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import codec
from .codec_blobs import out_of_line
from .errors import FlightlogError, InvalidInputError, NotFoundError
from .model import Run, Status, Step, TaskRecord
from .resources.view import PREFIX as RESOURCE_PREFIX
from .resources.view import ResourceView
from .runtime.liveness import effective_end, effective_status
from .stores import Store


class NoOutputError(FlightlogError):
    """The run has no output: it has not succeeded (yet)."""


def _stats(start: float | None, end: float | None) -> dict[str, Any]:
    """Ray's ``stats``: ``end_time`` (and the duration) only once it has ended."""
    stats: dict[str, Any] = {"start_time": start}
    if end is not None:
        stats["end_time"] = end
        if start is not None:
            stats["duration"] = end - start
    return stats


def parse_statuses(status: str | Status | Iterable[str | Status] | None) -> set[Status] | None:
    if status is None:
        return None
    items = [status] if isinstance(status, (str, Status)) else list(status)
    found = set()
    for item in items:
        try:
            found.add(Status(str(item).upper()))
        except ValueError:
            known = ", ".join(member.value for member in Status)
            raise InvalidInputError(f"unknown status {item!r}; known: {known}") from None
    return found


class Queries:
    """Read-only questions about a store's records."""

    def __init__(
        self, store: Store, *, allow_pickle: bool = False, allow_imports: codec.Imports = False
    ) -> None:
        self.store = store
        self.allow_pickle = allow_pickle
        self.allow_imports = allow_imports
        # Resource collections, seen as runs (``resource:<collection>``) of steps (resources).
        self.resources = ResourceView(store)

    # -- runs ----------------------------------------------------------------------------------
    def run(self, run_id: str) -> Run:
        run = self.store.get_run(run_id) or self.resources.run(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r} in {self.store.url}")
        return run

    def run_metadata(self, run: Run) -> dict[str, Any]:
        """The run as Ray describes it (``stats``: its latest attempt), plus its first start
        (``created_time``) and every attempt, oldest first (``attempts``)."""
        status = effective_status(run)
        end = effective_end(run, status)
        return {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "status": status.value,
            "tag": run.tag,
            "user_metadata": dict(run.user_metadata),
            "stats": _stats(run.start_time, end),
            "created_time": run.created_time,
            "attempts": [attempt.to_dict() for attempt in run.attempt_records(status, end)],
            "arguments": self._arguments(run.arguments),
            "environment": dict(run.environment),
            "error": None if run.error is None else run.error.to_dict(),
            "resumes": run.resumes,
            "step_count": run.step_count,
        }

    def _arguments(self, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return self.decode(text)
        except FlightlogError as error:
            return {"unreadable": str(error)}

    def get_metadata(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        run = self.run(run_id)
        if name is None:
            return self.run_metadata(run)
        step = self._step(run_id, name)
        return self.step_metadata(step, {})

    def _step(self, run_id: str, name: str) -> Step:
        step = self.store.get_step(run_id, name) or self.resources.step(run_id, name)
        if step is None:
            raise NotFoundError(f"run {run_id!r} has no step named {name!r}")
        return step

    def get_status(self, run_id: str) -> str:
        return effective_status(self.run(run_id)).value

    def get_output(self, run_id: str) -> Any:
        run = self.run(run_id)
        status = effective_status(run)
        if status is not Status.SUCCESSFUL:
            detail = f": {run.error.type}: {run.error.message}" if run.error else ""
            raise NoOutputError(f"run {run_id!r} is {status.value}; it has no output{detail}")
        return None if run.output is None else self.decode(run.output)

    def list_runs(
        self,
        status: str | Status | Iterable[str | Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidInputError(f"limit must be a non-negative integer, not {limit!r}")
        wanted = parse_statuses(status)
        stored = None
        if wanted is not None:
            stored = set(wanted)
            if wanted & {Status.RUNNING, Status.RESUMABLE}:
                stored |= {Status.RUNNING, Status.RESUMABLE}
        derived = wanted is not None and bool(wanted & {Status.RUNNING, Status.RESUMABLE})
        runs = self.store.list_runs(
            statuses=stored, workflow=workflow, tag=tag, limit=None if derived else limit
        )
        if tag is None and (workflow is None or workflow.startswith(RESOURCE_PREFIX)):
            collections = self.resources.runs(
                None if workflow is None else workflow[len(RESOURCE_PREFIX) :]
            )
            if collections:
                runs = sorted([*runs, *collections], key=_created, reverse=True)
        found = []
        for run in runs:
            metadata = self.run_metadata(run)
            if wanted is not None and Status(metadata["status"]) not in wanted:
                continue
            found.append(metadata)
            if limit is not None and len(found) >= limit:
                break
        return found

    # -- steps ---------------------------------------------------------------------------------
    def step_metadata(self, step: Step, tasks: dict[str, TaskRecord | None]) -> dict[str, Any]:
        if step.task_id not in tasks:
            tasks[step.task_id] = self.store.get_task(step.task_id)
        task = tasks[step.task_id]
        options = dict(task.options) if task else {}
        options.update(step.options)
        metadata = dict(task.user_metadata) if task else {}
        metadata.update(step.user_metadata)
        stats = _stats(step.start_time, step.end_time)
        return {
            "name": step.name,
            "run_id": step.run_id,
            "position": step.position,
            "task_name": step.task_name,
            "task_id": step.task_id,
            "execution_id": step.execution_id,
            "arguments": self._arguments(step.arguments),
            "parent": step.parent,
            "status": step.status._value_,  # not .value: a slow descriptor on Python 3.11
            "step_options": options,
            "user_metadata": metadata,
            "stats": stats,
            "attempts": [attempt.to_dict() for attempt in step.attempt_records()],
            "error": None if step.error is None else step.error.to_dict(),
            "log": step.log,
            "origin": step.origin._value_,
            "source_run": step.source_run,
            "reason": step.reason,
        }

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        self.run(run_id)
        tasks: dict[str, TaskRecord | None] = {}
        steps = self.store.list_steps(run_id) or self.resources.steps(run_id)
        return [self.step_metadata(step, tasks) for step in steps]

    def step_result(self, run_id: str, name: str) -> Any:
        step = self._step(run_id, name)
        if step.status is not Status.SUCCESSFUL or step.result is None:
            raise NoOutputError(f"step {name!r} of run {run_id!r} is {step.status.value}")
        return self.decode(step.result)

    def decode(self, text: str) -> Any:
        """A stored value; a class whose module is not imported (and not allowed) comes back
        as a ``codec.Undecoded`` placeholder, importing nothing."""
        if '"blob":"' in text:  # a value stored out of line: read from the store's blobs
            with out_of_line(self.store):
                return self._decode(text)
        return self._decode(text)

    def _decode(self, text: str) -> Any:
        return codec.decode(
            text,
            allow_pickle=self.allow_pickle,
            allow_imports=self.allow_imports,
            placeholders=True,
        )


def _created(run: Run) -> float:
    return run.created_time or 0.0
