"""The in-memory store: thread-safe, process-local, and the reference for every other store."""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Iterable, Sequence

from ..errors import ConflictError, NotFoundError
from ..model import (
    AttachmentRecord,
    ErrorInfo,
    MetricChunk,
    Origin,
    Owner,
    Run,
    RunAttempt,
    Status,
    Step,
    TaskRecord,
)
from ..named_arguments import parameters_text
from .base import SCHEMA_VERSION, FinishedStep
from .memory_deleting import MemoryDeleting
from .memory_resources import MemoryResources
from .memory_tracking import MemoryTracking
from .python_ordering import PythonOrdering
from .python_selection import PythonSelection
from .streamed_blobs import MemoryBlobs

# Stored statuses a cancel applies to (see Store.request_cancel).
_CANCELABLE = frozenset({Status.RUNNING, Status.RESUMABLE})


class MemoryStore(
    MemoryBlobs, MemoryResources, MemoryTracking, MemoryDeleting, PythonSelection, PythonOrdering
):
    """Keeps every record in dicts guarded by one lock. ``memory://`` opens one.

    Records handed to ``finish_step`` belong to the store from then on (the runtime never
    changes them afterwards); records handed out by reads are copies.
    """

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._order: dict[str, int] = {}
        self._steps: dict[str, dict[int, Step]] = {}
        self._tasks: dict[str, TaskRecord] = {}
        self._cache: dict[tuple[str, str], Step] = {}
        self._init_resources()
        self._init_tracking()
        self._init_deleting()
        self._next_order = itertools.count()

    def schema_version(self) -> int:
        return SCHEMA_VERSION

    def create_run(self, run: Run) -> None:
        with self._lock:
            if run.run_id in self._runs:
                raise ConflictError(f"run id {run.run_id!r} exists already")
            self._runs[run.run_id] = self._kept(run)
            self._order[run.run_id] = next(self._next_order)
            self._steps[run.run_id] = {}

    def _run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return run

    def restart_run(
        self,
        run_id: str,
        *,
        expected_resumes: int,
        owner: Owner,
        start_time: float,
        lease_expires: float | None,
        history: Sequence[RunAttempt] = (),
    ) -> Run:
        with self._lock:
            run = self._run(run_id)
            if run.resumes != expected_resumes:
                raise ConflictError(f"run {run_id!r} was claimed by another process meanwhile")
            run.status = Status.RUNNING
            run.owner = owner
            run.start_time = start_time
            run.end_time = None
            run.output = None
            run.error = None
            run.lease_expires = lease_expires
            run.cancel_requested = False
            run.resumes += 1
            run.last_seen = start_time
            run.history = [copy.copy(attempt) for attempt in history]
            return self._copy_run(run)

    def finish_run(
        self,
        run_id: str,
        *,
        status: Status,
        end_time: float | None,
        output: str | None = None,
        error: ErrorInfo | None = None,
        expected_resumes: int | None = None,
    ) -> Status:
        with self._lock:
            run = self._run(run_id)
            if expected_resumes is not None and run.resumes != expected_resumes:
                return run.status
            if run.status is Status.RUNNING:
                run.status = status
                run.output = output
                run.error = error
            elif run.status is not Status.CANCELED:
                return run.status
            run.end_time = end_time
            run.lease_expires = None
            return run.status

    def renew_leases(self, run_ids: Sequence[str], lease_expires: float) -> None:
        seen = time.time()
        with self._lock:
            for run_id in run_ids:
                run = self._runs.get(run_id)
                if run is not None and run.status is Status.RUNNING:
                    run.lease_expires = lease_expires
                    run.last_seen = seen

    def request_cancel(self, run_id: str, *, end_time: float) -> bool:
        with self._lock:
            run = self._run(run_id)
            if run.status not in _CANCELABLE:
                return False
            run.status = Status.CANCELED
            run.cancel_requested = True
            run.end_time = end_time
            return True

    def _kept(self, run: Run) -> Run:
        """A copy of the run to keep, with its parameters by name."""
        kept = self._copy_run(run)
        kept.parameters = parameters_text(run.arguments, run.environment)
        return kept

    def _copy_run(self, run: Run) -> Run:
        result = copy.copy(run)
        result.user_metadata = dict(run.user_metadata)
        result.history = [copy.copy(attempt) for attempt in run.history]
        result.step_count = len(self._steps.get(run.run_id, ()))
        return result

    def get_run(self, run_id: str) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else self._copy_run(run)

    def list_runs(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        wanted = None if statuses is None else frozenset(statuses)
        with self._lock:
            found = []
            for run_id in sorted(self._order, key=self._order.__getitem__, reverse=True):
                run = self._runs[run_id]
                if wanted is not None and run.status not in wanted:
                    continue
                if workflow is not None and run.workflow != workflow:
                    continue
                if tag is not None and run.tag != tag:
                    continue
                found.append(self._copy_run(run))
                if limit is not None and len(found) >= limit:
                    break
            return found

    def put_run(self, run: Run) -> None:
        with self._lock:
            self._runs[run.run_id] = self._kept(run)
            if run.run_id not in self._order:
                self._order[run.run_id] = len(self._order)
                self._steps[run.run_id] = {}

    def record_task(self, task: TaskRecord) -> None:
        with self._lock:
            self._tasks.setdefault(task.task_id, copy.deepcopy(task))

    def get_task(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            task = self._tasks.get(task_id)
            return None if task is None else copy.deepcopy(task)

    def start_step(self, step: Step) -> None:
        steps = self._steps.get(step.run_id)
        if steps is None:
            raise NotFoundError(f"no run with id {step.run_id!r}")
        # One atomic operation, so that it never replaces the step's end written meanwhile.
        steps.setdefault(step.position, step.copy())

    def finish_steps(self, finished: Sequence[FinishedStep]) -> None:
        for step, metrics, attachments in finished:
            self.finish_step(step, metrics=metrics, attachments=attachments)

    def finish_step(
        self,
        step: Step,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        # A step is written without the lock: assigning one dict item is atomic (on
        # free-threaded Python too), and readers look at copies of the dicts (``_snapshot``).
        # What a step tracked is written together with it, under the lock.
        if metrics or attachments:
            with self._lock:
                self.finish_step(step)
                self._append_tracked(step.run_id, metrics, attachments)
            return
        try:
            self._steps[step.run_id][step.position] = step
        except KeyError:
            raise NotFoundError(f"no run with id {step.run_id!r}") from None
        if (
            step.cache
            and step.status is Status.SUCCESSFUL
            and step.execution_id
            and step.origin is not Origin.CACHED
        ):
            self._cache[(step.task_id, step.execution_id)] = step

    def append_step_log(self, run_id: str, position: int, text: str) -> bool:
        # The stored RUNNING record is changed in place (its ``log``, one atomic assignment),
        # so that an end record written meanwhile by ``finish_step`` (without the lock) is
        # never replaced: the append then lands on a record no longer stored.
        with self._lock:
            step = self._steps.get(run_id, {}).get(position)
            if step is None or step.status is not Status.RUNNING:
                return False
            step.log = step.log + text
            return True

    def _snapshot(self, run_id: str) -> dict[int, Step]:
        """The steps of a run by position, as they are now (a copy: one atomic operation)."""
        steps = self._steps.get(run_id)
        return {} if steps is None else steps.copy()

    def get_step(self, run_id: str, name: str) -> Step | None:
        for step in self._snapshot(run_id).values():
            if step.name == name:
                return step.copy()
        return None

    def list_steps(self, run_id: str) -> list[Step]:
        steps = self._snapshot(run_id)
        return [steps[position].copy() for position in sorted(steps)]

    def find_cached(self, task_id: str, execution_id: str) -> Step | None:
        with self._lock:
            step = self._cache.get((task_id, execution_id))
            return None if step is None else step.copy()

    def tasks_named(self, name: str) -> list[TaskRecord]:
        with self._lock:
            return [copy.deepcopy(t) for t in self._tasks.values() if t.name == name]

    def cached_steps(self, task_id: str, limit: int) -> list[Step]:
        with self._lock:
            found = [
                step
                for step in self._cache.copy().values()
                if step.task_id == task_id and step.status is Status.SUCCESSFUL
            ]
            found.sort(key=lambda step: step.end_time or 0.0, reverse=True)
            return [step.copy() for step in found[:limit]]

    def close(self) -> None:
        pass
