"""The deleting methods of the in-memory store: runs, blobs and cache entries."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from ..errors import NotFoundError
from ..model import AttachmentRecord, MetricChunk, Origin, Run, Status, Step


def serves_cache(step: Step) -> bool:
    """Whether a recorded step is one that cache lookups may serve (see find_cached)."""
    return (
        step.cache
        and step.status is Status.SUCCESSFUL
        and bool(step.execution_id)
        and step.origin is not Origin.CACHED
    )


class MemoryDeleting:
    """Deletes under the store's lock. Steps that :meth:`clear_cache` cleared are remembered
    by run and position, with the very record that was cleared (a step recorded again at that
    position later is served again)."""

    _lock: threading.Lock
    _runs: dict[str, Run]
    _order: dict[str, int]
    _steps: dict[str, dict[int, Step]]
    _cache: dict[tuple[str, str], Step]
    _metrics: dict[str, list[MetricChunk]]
    _attachments: dict[str, list[AttachmentRecord]]
    _blobs: dict[str, bytes]
    _put_times: dict[str, float]

    def _init_deleting(self) -> None:
        self._cleared: dict[tuple[str, int], Step] = {}

    def _forget_uses(self, run_id: str) -> None:
        raise NotImplementedError  # MemoryResources'

    def _dependents(self, wanted: set[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for run_id, steps in list(self._steps.items()):
            for step in list(steps.values()):
                source = step.source_run
                if step.origin is Origin.CACHED and source in wanted and source != run_id:
                    found.setdefault(source, set()).add(run_id)
        return found

    def cache_dependents(self, run_ids: Sequence[str]) -> dict[str, set[str]]:
        with self._lock:
            return self._dependents(set(run_ids))

    def delete_run(
        self,
        run_id: str,
        *,
        expected_status: Status,
        expected_resumes: int,
        force: bool = False,
    ) -> bool:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            if run.status is not expected_status or run.resumes != expected_resumes:
                return False
            if not force and self._dependents({run_id}):
                return False
            del self._runs[run_id]
            del self._order[run_id]
            steps = self._steps.pop(run_id, {})
            self._metrics.pop(run_id, None)
            self._attachments.pop(run_id, None)
            self._forget_uses(run_id)
            for position in steps:
                self._cleared.pop((run_id, position), None)
            for key, step in list(self._cache.items()):
                if step.run_id == run_id:
                    self._recache(key)
            return True

    def _recache(self, key: tuple[str, str]) -> None:
        """Point the cache entry of ``key`` at the latest remaining step that may serve it."""
        best: Step | None = None
        for run_id, steps in self._steps.items():
            for position, step in list(steps.items()):
                if (
                    serves_cache(step)
                    and (step.task_id, step.execution_id) == key
                    and self._cleared.get((run_id, position)) is not step
                    and (best is None or (step.end_time or 0.0) >= (best.end_time or 0.0))
                ):
                    best = step
        if best is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = best

    def clear_cache(self, task_id: str, execution_id: str | None = None) -> int:
        cleared = 0
        with self._lock:
            for run_id, steps in self._steps.items():
                for position, step in list(steps.items()):
                    if (
                        serves_cache(step)
                        and step.task_id == task_id
                        and (execution_id is None or step.execution_id == execution_id)
                        and self._cleared.get((run_id, position)) is not step
                    ):
                        self._cleared[(run_id, position)] = step
                        cleared += 1
            for key in list(self._cache):
                if key[0] == task_id and (execution_id is None or key[1] == execution_id):
                    del self._cache[key]
        return cleared

    def blob_users(self, digests: Sequence[str]) -> dict[str, set[str]]:
        wanted = set(digests)
        found: dict[str, set[str]] = {}
        with self._lock:
            for run_id, items in self._attachments.items():
                for item in items:
                    if item.sha256 in wanted:
                        found.setdefault(item.sha256, set()).add(run_id)
        return found

    def _unused(self, digests: Sequence[str], put_before: float | None) -> dict[str, int]:
        limit = time.time() if put_before is None else put_before
        used = {item.sha256 for items in self._attachments.values() for item in items}
        return {
            digest: len(self._blobs[digest])
            for digest in digests
            if digest in self._blobs
            and digest not in used
            and self._put_times.get(digest, 0.0) < limit
        }

    def unused_blobs(self, *, put_before: float | None = None) -> dict[str, int]:
        with self._lock:
            return self._unused(list(self._blobs), put_before)

    def delete_blobs(
        self, digests: Sequence[str], *, put_before: float | None = None
    ) -> dict[str, int]:
        with self._lock:
            found = self._unused(digests, put_before)
            for digest in found:
                del self._blobs[digest]
                self._put_times.pop(digest, None)
            return found
