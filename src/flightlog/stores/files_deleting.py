"""The deleting methods of the JSON-files store: runs, blobs and cache entries.

A run is deleted under its lock, in an order that readers never see half of: first the cache
index entries that point at its steps are pointed at the latest remaining step of the same
identities (or removed); then its ``run-info.json`` and its place in the creation order go
(from here on the run is not found); then its folders: ``runs/<run_id>/`` (session
markers), ``flightlog/runs/<run_id>/`` (step index, tracked values, body attachments) and its
session folders ``tasks/<task_id>/<execution_id>/<run_id>/``. A crash in the last part leaves
folders that no run names, and nothing reads.

A cleared cache entry is marked in its step's entry (``"cache_cleared": true`` under
``flightlog.steps``), which a later record of the step replaces. A blob's last put is its
file's modification time (``put_blob`` touches a blob that exists); puts and deletes of blobs
take one lock. Finding who references a blob, or who took a run's cached results, reads
every run's records: the files store is for small stores.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..bandsaw import Ids, anonymous_execution_id
from ..errors import InvalidInputError, NotFoundError
from ..model import AttachmentRecord, Origin, Run, Status, Step
from .files_io import check_digest, check_identity, check_run_id, dump, locked
from .files_layout import OWN, SESSION_INFO, Layout
from .files_records import step_from
from .files_root import StoreRoot
from .memory_deleting import serves_cache

CLEARED = "cache_cleared"


class FileDeleting:
    """Needs the store's layout, run reader and step and tracking methods."""

    layout: Layout
    disk: StoreRoot
    root: str
    _lock: threading.Lock
    _started: dict[str, bytes]

    def _writable(self) -> None:
        raise NotImplementedError

    def _path(self, *parts: str) -> str:
        raise NotImplementedError

    def _run_lock(self, run_id: str) -> Any:
        raise NotImplementedError

    def _read_run(self, run_id: str) -> tuple[Run, int | None] | None:
        raise NotImplementedError

    if TYPE_CHECKING:  # the store's other bases', some after this one

        def list_steps(self, run_id: str) -> list[Step]: ...

        def list_attachments(self, run_id: str) -> list[AttachmentRecord]: ...

        def _blob_path(self, digest: str) -> str: ...

    # -- runs ----------------------------------------------------------------------------------
    def _run_ids(self) -> list[str]:
        found = []
        for name in self.disk.names(f"{self.root}/runs"):
            try:
                found.append(check_run_id(name))
            except InvalidInputError:
                continue
        return found

    def _dependents(self, wanted: set[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for run_id in self._run_ids():
            for step in self.list_steps(run_id):
                source = step.source_run
                if step.origin is Origin.CACHED and source in wanted and source != run_id:
                    found.setdefault(source, set()).add(run_id)
        return found

    def cache_dependents(self, run_ids: Sequence[str]) -> dict[str, set[str]]:
        return self._dependents(set(run_ids))

    def delete_run(
        self,
        run_id: str,
        *,
        expected_status: Status,
        expected_resumes: int,
        force: bool = False,
    ) -> bool:
        self._writable()
        check_run_id(run_id)
        with self._run_lock(run_id):
            found = self._read_run(run_id)
            if found is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            run, order = found
            if run.status is not expected_status or run.resumes != expected_resumes:
                return False
            if not force and self._dependents({run_id}):
                return False
            steps = self.list_steps(run_id)
            for step in steps:
                if serves_cache(step):
                    self._recache(step.task_id, step.execution_id or "", run_id, step.position)
            writes = self.layout.writes()
            if order is not None:
                writes.remove(self._path("order", f"{order:012d}"))
            writes.remove(self.layout.run_info_path(run_id))
            writes.commit()
            sessions = {self.layout.session_dir(_ids(step)) for step in steps}
            for folder in (
                *sorted(sessions),
                self.layout.run_dir(run_id),
                self.layout.own_run_dir(run_id),
            ):
                self.disk.check(folder, folder=True)
                shutil.rmtree(folder, ignore_errors=True)
            self.layout.known.clear()  # folders known to exist: some are gone
            self.disk.forget()
        with self._lock:
            self._started.pop(run_id, None)
        return True

    # -- the cache -----------------------------------------------------------------------------
    def _sessions(self, task_id: str, execution_id: str | None) -> Iterator[tuple[Ids, str]]:
        """Every session of the task (of one execution of it), with its info file's path."""
        task_dir = self.layout.task_dir(task_id)
        executions = self.disk.names(task_dir) if execution_id is None else [execution_id]
        for execution in executions:
            folder = f"{task_dir}/{execution}"
            if not os.path.isdir(folder):
                continue
            for run_id in self.disk.names(folder):
                ids = Ids(run_id, task_id, execution)
                path = f"{self.layout.session_dir(ids)}/{SESSION_INFO}"
                if os.path.isfile(path):
                    yield ids, path

    def _recache(self, task_id: str, execution_id: str, run_id: str, position: int) -> None:
        """If the cache index entry of these identities points at the given step, point it at
        the latest step of another run that may serve it, or remove it."""
        path = self._path("cache", task_id, execution_id)
        with locked(self._path("locks", f"cache.{task_id}"), self.disk):
            pointer = self.disk.read_object(path)
            if not isinstance(pointer, dict) or (
                pointer.get("run_id"),
                pointer.get("position"),
            ) != (run_id, position):
                return
            best: dict[str, Any] | None = None
            for ids, _ in self._sessions(task_id, execution_id):
                if ids.run_id == run_id:
                    continue
                for key, entry in (self.layout.session_steps(ids) or {}).items():
                    if entry.get(CLEARED):
                        continue
                    step = step_from(ids.run_id, entry)
                    if (
                        serves_cache(step)
                        and step.execution_id == execution_id
                        and (best is None or (step.end_time or 0.0) >= best["end_time"])
                    ):
                        best = {
                            "run_id": ids.run_id,
                            "position": int(key),
                            "end_time": step.end_time or 0.0,
                        }
            writes = self.layout.writes()
            if best is None:
                writes.remove(path)
            else:
                writes.file(path, dump(best))
            writes.commit()

    def clear_cache(self, task_id: str, execution_id: str | None = None) -> int:
        self._writable()
        check_identity("task id", task_id)
        if execution_id is not None:
            check_identity("execution id", execution_id)
        cleared = 0
        with locked(self._path("locks", f"cache.{task_id}"), self.disk):
            for ids, _ in self._sessions(task_id, execution_id):
                cleared += self._clear_session(ids)
            writes = self.layout.writes()
            folder = self._path("cache", task_id)
            names = self.disk.names(folder) if execution_id is None else [execution_id]
            for name in names:
                writes.remove(f"{folder}/{name}")
            writes.commit()
        return cleared

    def _clear_session(self, ids: Ids) -> int:
        """Mark the session's steps that may serve the cache cleared; how many."""
        path = f"{self.layout.session_dir(ids)}/{SESSION_INFO}"
        with self.layout.session_lock(ids):
            document = self.disk.read_object(path)
            entries = {} if document is None else (document.get(OWN) or {}).get("steps") or {}
            cleared = 0
            for entry in entries.values():
                if not entry.get(CLEARED) and serves_cache(step_from(ids.run_id, entry)):
                    entry[CLEARED] = True
                    cleared += 1
            if cleared:
                writes = self.layout.writes()
                writes.file(path, dump(document))
                writes.commit()
        return cleared

    # -- blobs ---------------------------------------------------------------------------------
    def _blob_lock(self) -> Any:
        return locked(self._path("locks", "blobs"), self.disk)

    def _references(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for run_id in self._run_ids():
            for item in self.list_attachments(run_id):
                found.setdefault(item.sha256, set()).add(run_id)
        return found

    def blob_users(self, digests: Sequence[str]) -> dict[str, set[str]]:
        wanted = set(digests)
        return {key: users for key, users in self._references().items() if key in wanted}

    def _stored_blobs(self) -> Iterator[str]:
        folder = f"{self.root}/blobs"
        for prefix in self.disk.names(folder):
            for name in self.disk.names(f"{folder}/{prefix}"):
                if len(name) == 64 and name.startswith(prefix):
                    yield name

    def _unused(self, digests: Sequence[str], put_before: float | None) -> dict[str, int]:
        limit = time.time() if put_before is None else put_before
        used = self._references()
        found = {}
        for digest in digests:
            if digest in used:
                continue
            try:
                stat = os.stat(self._blob_path(check_digest(digest)))
            except (OSError, InvalidInputError):
                continue
            if stat.st_mtime < limit:
                found[digest] = stat.st_size
        return found

    def unused_blobs(self, *, put_before: float | None = None) -> dict[str, int]:
        return self._unused(list(self._stored_blobs()), put_before)

    def delete_blobs(
        self, digests: Sequence[str], *, put_before: float | None = None
    ) -> dict[str, int]:
        self._writable()
        with self._blob_lock():
            found = self._unused(digests, put_before)
            writes = self.layout.writes()
            for digest in found:
                writes.remove(self._blob_path(digest))
            writes.commit()
        return found


def _ids(step: Step) -> Ids:
    execution = step.execution_id or anonymous_execution_id(step.run_id, step.position)
    return Ids(step.run_id, step.task_id, execution)
