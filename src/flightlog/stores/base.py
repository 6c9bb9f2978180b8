"""The one interface every store implements.

A store is the single authoritative source of runtime state. It speaks in model records
(:mod:`flightlog.model`), never in rows or dicts, and each method states what it guarantees.
Every store must pass the conformance suite in ``flightlog.testing``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from ..model import ErrorInfo, Owner, Run, Status, Step, TaskRecord

SCHEMA_VERSION = 1
"""The schema version this flightlog writes; stores refuse to write a newer one."""


@runtime_checkable
class Store(Protocol):
    """Durable (or, for ``memory://``, process-local) storage of runs, tasks and steps.

    All methods are safe to call from many threads at once. Writes are atomic: a reader sees a
    record either before or after a write, never half of it. Times are Unix epoch seconds.
    """

    url: str

    def schema_version(self) -> int:
        """The schema version of the data in this store."""
        ...

    def create_run(self, run: Run) -> None:
        """Insert a new run, durably. Raises ConflictError if its run_id exists already."""
        ...

    def restart_run(
        self,
        run_id: str,
        *,
        expected_resumes: int,
        owner: Owner,
        start_time: float,
        lease_expires: float | None,
    ) -> Run:
        """Claim an existing run for another attempt (resume): RUNNING, new owner and start.

        Compare-and-set: succeeds only while the run's ``resumes`` still equals
        ``expected_resumes`` (read by the caller when it decided the run may be resumed), so of
        many concurrent callers exactly one gets the run; the others get ConflictError.
        Clears end_time, error, output and any cancel request; increments ``resumes``.
        Raises NotFoundError for an unknown run_id.
        """
        ...

    def finish_run(
        self,
        run_id: str,
        *,
        status: Status,
        end_time: float | None,
        output: str | None = None,
        error: ErrorInfo | None = None,
    ) -> None:
        """Record the outcome of a run, durably. Unknown run_id: NotFoundError."""
        ...

    def renew_leases(self, run_ids: Sequence[str], lease_expires: float) -> None:
        """Extend the lease of RUNNING runs; runs that are not RUNNING are left alone."""
        ...

    def request_cancel(self, run_id: str) -> None:
        """Mark a run as asked to cancel; its owner stops at the next step boundary.

        Unknown run_id: NotFoundError.
        """
        ...

    def get_run(self, run_id: str) -> Run | None:
        """The run with its step count, or None."""
        ...

    def list_runs(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs matching every given filter (stored status), newest first (by creation)."""
        ...

    def record_task(self, task: TaskRecord) -> None:
        """Insert a task version if its task_id is not recorded yet (idempotent)."""
        ...

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The recorded task version, or None."""
        ...

    def start_step(self, step: Step) -> None:
        """Make a running step visible. Never overwrites a step already recorded under the
        same run and position (a late start record loses to the finished one)."""
        ...

    def finish_step(self, step: Step) -> None:
        """Record a step in its final (or latest) state, durably, replacing any record of the
        same run and position. The run must exist (else NotFoundError)."""
        ...

    def get_step(self, run_id: str, name: str) -> Step | None:
        """The step of that name in that run, or None."""
        ...

    def list_steps(self, run_id: str) -> list[Step]:
        """The run's steps in call order (position); empty for an unknown run."""
        ...

    def find_cached(self, task_id: str, execution_id: str) -> Step | None:
        """The latest SUCCESSFUL step of a cache-enabled task with these identities, or None."""
        ...

    def tasks_named(self, name: str) -> list[TaskRecord]:
        """Every recorded version of the task called ``name``."""
        ...

    def cached_steps(self, task_id: str, limit: int) -> list[Step]:
        """The latest SUCCESSFUL steps of a cache-enabled task version, newest first."""
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...
