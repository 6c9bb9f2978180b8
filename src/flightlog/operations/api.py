"""The operations as methods of ``Flightlog`` (each a short delegation)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..model import Status
from ..query import parse_statuses
from ..stores import Store

if TYPE_CHECKING:
    from ..resources.engine import ResourceEngine
    from .retention import GcReport

# The operations' modules are imported when one is first called, not with flightlog.


class OperationMethods:
    """``delete_run``, ``gc`` and ``clear_cache``; needs the facade's ``store``."""

    store: Store
    _resources: ResourceEngine  # the facade's: where resource folders are

    def delete_run(
        self,
        run_id: str,
        *more: str,
        force: bool = False,
        dry_run: bool = False,
        vacuum: bool = False,
        blob_grace: float | None = None,
    ) -> GcReport:
        """Delete runs (``run_id`` and any more given) with their steps, logs, metrics and
        attachment references, the resources they computed that no other run used (records
        and folders), and the blobs that no other run references. A live run,
        or one whose cached results another run took (unless ``force``), is refused
        (ConflictError) before anything is deleted. See :mod:`flightlog.operations`."""
        from . import retention

        return retention.delete_runs(
            self.store,
            [run_id, *more],
            force=force,
            dry_run=dry_run,
            vacuum=vacuum,
            blob_grace=blob_grace,
            resource_root=self._resources.root,
        )

    def gc(
        self,
        older_than: str | float | None = None,
        keep_last: int | None = None,
        status: str | Status | Iterable[str | Status] | None = None,
        *,
        dry_run: bool = False,
        vacuum: bool = False,
        blob_grace: float | None = None,
    ) -> GcReport:
        """Delete the runs a retention rule lets go: with one of ``status`` (default: every
        finished status and RESUMABLE), last active more than ``older_than`` ago ("30d",
        "12h", or seconds), beyond the ``keep_last`` newest runs of their workflow; never a
        live run, nor one whose cached results a kept run took; with the resources they
        computed that no kept run used; then every blob no run references. ``dry_run=True``
        deletes nothing and reports what would go; ``vacuum`` rewrites an SQLite file to its
        smallest size."""
        from . import retention

        return retention.collect(
            self.store,
            older_than=older_than,
            keep_last=keep_last,
            statuses=parse_statuses(status),
            dry_run=dry_run,
            vacuum=vacuum,
            blob_grace=blob_grace,
            resource_root=self._resources.root,
        )

    def clear_cache(
        self, task: str | None = None, *, version: str | None = None, task_id: str | None = None
    ) -> dict[str, int]:
        """Stop serving the cached results of a task (every version, or ``version``), of one
        task version (``task_id``), or of every task; returns how many were cleared per task
        id. The runs keep their records."""
        from . import cache

        return cache.clear_cache(self.store, task, version=version, task_id=task_id)
