"""The step methods of the JSON-files store: sessions, the step index and the cache index.

A step is kept in its session directory's info files (see
:mod:`flightlog.stores.files_layout`); ``flightlog/runs/<run_id>/steps/<position>`` is a
symbolic link to that directory, so a run's steps are found (and counted) by listing one
folder, and a position taken over by another step (a resumed run re-executing a step with
other arguments, whose new session directory replaces the old one) is moved atomically.
``flightlog/cache/<task_id>/<execution_id>`` points at the latest successful step of a
cache-enabled task with those identities, so a cache lookup reads two small files and never
scans.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..bandsaw import (
    Ids,
    anonymous_execution_id,
    execution_info,
    result_part,
    session_entries,
    started_run_info,
)
from ..errors import InvalidInputError, NotFoundError, StoreError
from ..model import AttachmentRecord, MetricChunk, Origin, Run, Status, Step, TaskRecord
from .base import FinishedStep
from .files_io import Writes, assemble, check_identity, check_run_id, dump, locked, members
from .files_layout import SESSION_INFO, Layout, result_entry
from .files_records import decoded, step_from, step_record
from .files_root import StoreRoot

_UP = "../../../../"  # from flightlog/runs/<run_id>/steps/ (and a session folder) to the root


def run_part(run: Run, store_url: str) -> bytes:
    """What a session's info files say of their run (encoded members, see
    :func:`~flightlog.stores.files_io.members`), under bandsaw's keys: its id, never its
    metadata or environment, which may be large and stay in the run's own info."""
    return members(started_run_info(run, store_url))


def steps_dir(layout: Layout, run_id: str) -> str:
    return f"{layout.own_run_dir(run_id)}/steps"


class FileSteps:
    """Steps as files. Needs the store's layout, caches and run reader."""

    layout: Layout
    disk: StoreRoot
    url: str
    _lock: threading.Lock
    _started: dict[str, bytes]
    _executions: set[tuple[str, str]]

    def _writable(self) -> None:
        raise NotImplementedError

    def _path(self, *parts: str) -> str:
        raise NotImplementedError

    def _read_run(self, run_id: str) -> tuple[Run, int | None] | None:
        raise NotImplementedError

    def _task(self, task_id: str) -> TaskRecord | None:
        raise NotImplementedError

    if TYPE_CHECKING:  # FileTracking's, later in the store's bases

        def _append_tracked(
            self,
            run_id: str,
            metrics: Sequence[MetricChunk],
            attachments: Sequence[AttachmentRecord],
            ids: Ids | None = None,
            position: int | None = None,
        ) -> None: ...

    def _ids(self, step: Step) -> Ids:
        run_id = check_run_id(step.run_id)
        task_id = check_identity("task id", step.task_id)
        if step.execution_id is None:
            return Ids(run_id, task_id, anonymous_execution_id(run_id, step.position))
        return Ids(run_id, task_id, check_identity("execution id", step.execution_id))

    def _run_part(self, run_id: str) -> bytes:
        """What a session info says of its run, encoded once per run (see
        :func:`~flightlog.stores.files_io.members`); NotFoundError if the run is unknown."""
        part = self._started.get(run_id)
        if part is None:
            found = self._read_run(run_id)
            if found is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            part = run_part(found[0], self.url)
            with self._lock:
                self._started[run_id] = part
        return part

    def _write_step(self, ids: Ids, step: Step, writes: Writes, *, finished: bool) -> None:
        """The step's session (and, when ``finished``, result) files and its session marker."""
        execution = members(execution_info(self._task(step.task_id), step))
        key = (ids.task_id or "", ids.execution_id or "")
        if key not in self._executions:
            self.layout.write_execution_info(ids, assemble(execution), writes)
            if len(self._executions) > 100_000:
                self._executions.clear()
            self._executions.add(key)
        shared = execution + b"," + self._run_part(step.run_id)
        session = session_entries(step)
        record = step_record(step)
        if not finished:
            self.layout.write_session(
                ids,
                step.position,
                session=session,
                session_entry=record,
                shared=shared,
                writes=writes,
            )
            return
        outcome = result_part(step)
        self.layout.write_session(
            ids,
            step.position,
            session=session,
            session_entry=record,
            result={**session, "result": outcome},
            result_entry=result_entry(step.name, outcome),
            shared=shared,
            writes=writes,
        )

    def start_step(self, step: Step) -> None:
        self._writable()
        ids = self._ids(step)
        self._run_part(step.run_id)
        folder = steps_dir(self.layout, step.run_id)
        link = f"{folder}/{step.position}"
        with self.layout.session_lock(ids):
            self.disk.check(folder, folder=True)
            if os.path.lexists(link):
                return
            writes = self.layout.writes()
            self._write_step(ids, step, writes, finished=False)
            writes.folder(folder)
            writes.symlink(_target(ids), link)
            writes.commit()

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
        self._writable()
        ids = self._ids(step)
        self._run_part(step.run_id)
        if metrics or attachments:
            self._append_tracked(step.run_id, metrics, attachments, ids, step.position)
        folder = steps_dir(self.layout, step.run_id)
        link = f"{folder}/{step.position}"
        target = _target(ids)
        writes = self.layout.writes()
        with self.layout.session_lock(ids):
            self._write_step(ids, step, writes, finished=True)
            writes.folder(folder)
            previous = self.disk.readlink(link)
            if previous != target:
                writes.symlink(target, link, replace=True)
        if (
            step.cache
            and step.status is Status.SUCCESSFUL
            and step.execution_id
            and step.origin is not Origin.CACHED
        ):
            self._index_cache(ids, step, writes)
        writes.commit()
        if previous is not None and previous != target:
            # Another session held this position (a resumed step that now has other arguments).
            self.layout.drop_step(_ids_of(ids.run_id, previous), step.position)

    def append_step_log(self, run_id: str, position: int, text: str) -> bool:
        self._writable()
        if not _safe(run_id):
            return False
        target = self.disk.readlink(f"{steps_dir(self.layout, run_id)}/{position}")
        if target is None:
            return False
        ids = _ids_of(run_id, target)
        with self.layout.session_lock(ids):  # the lock finish_step writes a step under
            entry = (self.layout.session_steps(ids) or {}).get(str(position))
            if entry is None:
                return False
            path = f"{self.layout.session_dir(ids)}/{SESSION_INFO}"
            step = decoded(path, f"step {position} of run {run_id!r}", step_from, run_id, entry)
            if step.status is not Status.RUNNING:
                return False
            step.log += text
            writes = self.layout.writes()
            self._write_step(ids, step, writes, finished=False)
            writes.commit()
        return True

    def _index_cache(self, ids: Ids, step: Step, writes: Writes) -> None:
        """Point the cache index of the step's identities at it, unless a later step of
        the same identities is indexed already."""
        task_id, execution_id = ids.task_id or "", ids.execution_id or ""
        path = self._path("cache", task_id, execution_id)
        entry = {"run_id": step.run_id, "position": step.position, "end_time": step.end_time}
        with locked(self._path("locks", f"cache.{task_id}"), self.disk):
            found = self.disk.read_object(path)
            if (
                isinstance(found, dict)
                and (found.get("end_time") or 0.0) > (step.end_time or 0.0)
                and (found.get("run_id"), found.get("position")) != (step.run_id, step.position)
            ):
                return
            writes.folder(self._path("cache", task_id))
            writes.file(path, dump(entry))

    def _session_steps(self, run_id: str, positions: dict[int, str]) -> list[Step]:
        """The steps at ``positions`` (each with its session's link target), in order."""
        by_session: dict[str, dict[str, Any]] = {}
        found = []
        folder = steps_dir(self.layout, run_id)
        for position in sorted(positions):
            target = positions[position]
            ids = _ids_of(run_id, target)
            path = f"{self.layout.session_dir(ids)}/{SESSION_INFO}"
            entries = by_session.get(target)
            if entries is None:
                entries = self.layout.session_steps(ids)
                if entries is None:
                    raise StoreError(
                        f"the files store cannot read step {position} of run {run_id!r}: "
                        f"{folder}/{position} points to {target}, whose {SESSION_INFO} is "
                        f"missing ({path})"
                    )
                by_session[target] = entries
            entry = entries.get(str(position))
            if entry is None:
                raise StoreError(
                    f"the files store cannot read step {position} of run {run_id!r}: {path} "
                    "holds no entry for it"
                )
            found.append(
                decoded(path, f"step {position} of run {run_id!r}", step_from, run_id, entry)
            )
        return found

    def list_steps(self, run_id: str) -> list[Step]:
        folder = steps_dir(self.layout, check_run_id(run_id))
        positions = {}
        for name in self.disk.names(folder):
            if name.isdigit():
                target = self.disk.readlink(f"{folder}/{name}")
                if target is not None:
                    positions[int(name)] = target
        return self._session_steps(run_id, positions)

    def get_step(self, run_id: str, name: str) -> Step | None:
        for step in self.list_steps(run_id):
            if step.name == name:
                return step
        return None

    def _cached_step(self, task_id: str, execution_id: str) -> Step | None:
        pointer = self.disk.read_object(self._path("cache", task_id, execution_id))
        if pointer is None:
            return None
        run_id, position = pointer.get("run_id"), pointer.get("position")
        if not isinstance(run_id, str) or not isinstance(position, int) or not _safe(run_id):
            return None
        ids = Ids(run_id, task_id, execution_id)
        entry = (self.layout.session_steps(ids) or {}).get(str(position))
        if entry is None:
            return None  # the step it pointed to is gone
        path = f"{self.layout.session_dir(ids)}/{SESSION_INFO}"
        step = decoded(path, f"step {position} of run {run_id!r}", step_from, run_id, entry)
        if (
            step.cache
            and step.status is Status.SUCCESSFUL
            and step.origin is not Origin.CACHED
            and (step.task_id, step.execution_id) == (task_id, execution_id)
        ):
            return step
        return None

    def find_cached(self, task_id: str, execution_id: str) -> Step | None:
        return self._cached_step(
            check_identity("task id", task_id), check_identity("execution id", execution_id)
        )

    def cached_steps(self, task_id: str, limit: int) -> list[Step]:
        check_identity("task id", task_id)
        found = []
        for execution_id in self.disk.names(self._path("cache", task_id)):
            step = self._cached_step(task_id, execution_id)
            if step is not None:
                found.append(step)
        found.sort(key=lambda step: step.end_time or 0.0, reverse=True)
        return found[:limit]


def _target(ids: Ids) -> str:
    """The step index's link to a session directory."""
    return f"{_UP}tasks/{ids.task_id}/{ids.execution_id}/{ids.run_id}"


def _ids_of(run_id: str, target: str) -> Ids:
    """The session a step index link points at (an edited link cannot lead elsewhere)."""
    parts = target.rsplit("/", 3)
    if len(parts) != 4 or parts[-1] != run_id:
        raise StoreError(f"the files store's step index of run {run_id!r} is damaged: {target}")
    return Ids(
        run_id, check_identity("task id", parts[-3]), check_identity("execution id", parts[-2])
    )


def _safe(run_id: str) -> bool:
    try:
        check_run_id(run_id)
    except InvalidInputError:
        return False
    return True
