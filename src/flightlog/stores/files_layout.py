"""bandsaw's tracking directory: where each file goes, and the one writer of its files.

::

    runs/<run_id>/run-info.json                       the run (bandsaw's keys, and flightlog's)
    runs/<run_id>/<session_id>                        an empty marker per session of the run
    tasks/<task_id>/task-info.json                    the task version
    tasks/<task_id>/<execution_id>/execution-info.json   the task applied to arguments
    tasks/<task_id>/<execution_id>/<run_id>/session-info.json   the session (step)
    tasks/<task_id>/<execution_id>/<run_id>/result-info.json    its result
    tasks/<task_id>/<execution_id>/<run_id>/attachments/<name>  the files it attached

The session id is ``<task_id>_<execution_id>_<run_id>``. One session directory holds every
step of a run that called the same task with the same arguments: its info files describe the
latest of them under bandsaw's keys, and each of them under ``flightlog.steps``, keyed by the
step's position in the run. Everything bandsaw has no place for lives beside the layout, under
``flightlog/`` (and ``blobs/``): see :mod:`flightlog.stores.files`.

Both the JSON-files store and :class:`flightlog.trackers.FileSystemTracker` write through
:class:`Layout`, so the two make the same files.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ..bandsaw import Ids
from ..errors import StoreError
from .files_io import Writes, assemble, dump, members
from .files_root import StoreRoot

RUN_INFO = "run-info.json"
TASK_INFO = "task-info.json"
EXECUTION_INFO = "execution-info.json"
SESSION_INFO = "session-info.json"
RESULT_INFO = "result-info.json"
ATTACHMENTS = "attachments"
OWN = "flightlog"  # flightlog's additions beside bandsaw's layout
_STRIPES = 64


class Layout:
    """Paths of the layout under ``root``, and atomic writers of its files.

    Writers take an optional :class:`Writes` batch (its directories are synced when the
    caller commits it); without one they make and commit their own. Writes to one session
    directory are serialised within a process by :meth:`session_lock` (a run's steps are
    written by the one process that drives the run).
    """

    def __init__(self, root: str, *, sync: bool = True) -> None:
        self.root = root
        self.disk = StoreRoot(root)
        self.sync = sync
        self.known: set[str] = set()  # directories known to exist
        self._reset_locks()

    def _reset_locks(self) -> None:
        self._stripes = [threading.RLock() for _ in range(_STRIPES)]

    def writes(self) -> Writes:
        return Writes(self.sync, self.known, self.disk)

    # -- paths ---------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> str:
        return f"{self.root}/runs/{run_id}"

    def run_info_path(self, run_id: str) -> str:
        return f"{self.root}/runs/{run_id}/{RUN_INFO}"

    def task_dir(self, task_id: str) -> str:
        return f"{self.root}/tasks/{task_id}"

    def task_info_path(self, task_id: str) -> str:
        return f"{self.root}/tasks/{task_id}/{TASK_INFO}"

    def execution_dir(self, task_id: str, execution_id: str) -> str:
        return f"{self.root}/tasks/{task_id}/{execution_id}"

    def session_dir(self, ids: Ids) -> str:
        return f"{self.root}/tasks/{ids.task_id}/{ids.execution_id}/{ids.run_id}"

    def marker_path(self, ids: Ids) -> str:
        return f"{self.root}/runs/{ids.run_id}/{ids.session_id}"

    def own_run_dir(self, run_id: str) -> str:
        """flightlog's own files of a run (step index, tracked values, body attachments)."""
        return f"{self.root}/{OWN}/runs/{run_id}"

    def session_lock(self, ids: Ids) -> threading.RLock:
        return self._stripes[hash(ids.session_id) % _STRIPES]

    # -- writers -------------------------------------------------------------------------------
    def _batch(self, writes: Writes | None, action: Callable[[Writes], Any]) -> Any:
        if writes is not None:
            return action(writes)
        batch = self.writes()
        result = action(batch)
        batch.commit()
        return result

    def write_run_info(
        self, run_id: str, info: dict[str, Any], writes: Writes | None = None
    ) -> None:
        def write(batch: Writes) -> None:
            batch.folder(self.run_dir(run_id))
            batch.file(self.run_info_path(run_id), dump(info))

        self._batch(writes, write)

    def write_task_info(
        self, task_id: str, info: dict[str, Any], writes: Writes | None = None
    ) -> bool:
        """Write ``task-info.json`` unless it exists (a task version is recorded once)."""

        def write(batch: Writes) -> bool:
            batch.folder(self.task_dir(task_id))
            return batch.file(self.task_info_path(task_id), dump(info), replace=False)

        return bool(self._batch(writes, write))

    def write_execution_info(
        self, ids: Ids, info: dict[str, Any] | bytes, writes: Writes | None = None
    ) -> bool:
        """Write ``execution-info.json`` unless it exists (``info`` may be encoded already)."""
        assert ids.task_id is not None and ids.execution_id is not None
        data = info if isinstance(info, bytes) else dump(info)

        def write(batch: Writes) -> bool:
            folder = self.execution_dir(ids.task_id or "", ids.execution_id or "")
            made = batch.folder(folder)  # a folder this call made holds no file to keep
            return batch.file(f"{folder}/{EXECUTION_INFO}", data, replace=made)

        return bool(self._batch(writes, write))

    def write_session(
        self,
        ids: Ids,
        position: int,
        *,
        session: dict[str, Any] | None = None,
        session_entry: Any = None,
        result: dict[str, Any] | None = None,
        result_entry: Any = None,
        shared: bytes = b"",
        writes: Writes | None = None,
    ) -> None:
        """Write a step's ``session-info.json`` (``session``, keeping ``session_entry`` under
        ``flightlog.steps`` at its position beside the other steps of the session) and/or its
        ``result-info.json`` (likewise with ``result_entry``), and the run's session marker.
        ``shared``: encoded members (see :func:`~flightlog.stores.files_io.members`) that
        both files hold besides ``session`` or ``result``, encoded once by the caller."""

        def write(batch: Writes) -> None:
            folder = self.session_dir(ids)
            with self.session_lock(ids):
                fresh = batch.folder(folder)  # a folder this call made holds no other step
                if result is not None:
                    path = f"{folder}/{RESULT_INFO}"
                    steps = {} if fresh else self._steps_of(path)
                    batch.file(path, _document(shared, result, steps, position, result_entry))
                if session is not None:
                    path = f"{folder}/{SESSION_INFO}"
                    steps = {} if fresh else self._steps_of(path)
                    batch.file(path, _document(shared, session, steps, position, session_entry))
            batch.folder(self.run_dir(ids.run_id))
            batch.empty(self.marker_path(ids))

        self._batch(writes, write)

    def drop_step(self, ids: Ids, position: int, writes: Writes | None = None) -> None:
        """Take the step at ``position`` out of a session's info files (it was replaced by
        another step); the session is left to its other steps, if any."""

        def write(batch: Writes) -> None:
            folder = self.session_dir(ids)
            with self.session_lock(ids):
                for name in (SESSION_INFO, RESULT_INFO):
                    found = self.disk.read_object(f"{folder}/{name}")
                    if found is None:
                        continue
                    steps = (found.get(OWN) or {}).get("steps") or {}
                    if steps.pop(str(position), None) is not None:
                        batch.file(f"{folder}/{name}", dump(found))

        self._batch(writes, write)

    def session_steps(self, ids: Ids) -> dict[str, Any] | None:
        """The entries of ``session-info.json`` under ``flightlog.steps``, by position; None
        when the session has no such file."""
        path = f"{self.session_dir(ids)}/{SESSION_INFO}"
        found = self.disk.read_object(path)
        if found is None:
            return None
        steps = (found.get(OWN) or {}).get("steps")
        if not isinstance(steps, dict):
            raise StoreError(
                f"the files store cannot read {path}: its 'flightlog.steps' is not an object"
            )
        return steps

    def _steps_of(self, path: str) -> dict[str, Any]:
        """The ``flightlog.steps`` entries of the info file at ``path`` (none if it is
        absent)."""
        found = self.disk.read_object(path)
        if found is not None:
            steps = (found.get(OWN) or {}).get("steps")
            if isinstance(steps, dict):
                return steps
        return {}

    def write_attachment(
        self, folder: str, name: str, data: bytes, writes: Writes | None = None
    ) -> None:
        """One attached file, under its name in ``folder`` (replacing an earlier one)."""

        def write(batch: Writes) -> None:
            batch.folder(folder)
            batch.file(f"{folder}/{name}", data)

        self._batch(writes, write)

    def attachments_dir(self, ids: Ids) -> str:
        """Where a step's attached files go (bandsaw's ``attachments/``); for the run's own
        body (no session), ``flightlog/runs/<run_id>/attachments``."""
        if ids.session_id is None:
            return f"{self.own_run_dir(ids.run_id)}/{ATTACHMENTS}"
        return f"{self.session_dir(ids)}/{ATTACHMENTS}"


def result_entry(name: str, result: dict[str, Any]) -> dict[str, Any]:
    """What ``result-info.json`` keeps of one step under ``flightlog.steps``."""
    return {"name": name, **result}


def _document(
    shared: bytes, info: dict[str, Any], steps: dict[str, Any], position: int, entry: Any
) -> bytes:
    """An info file: the shared members, ``info``'s, and ``flightlog.steps`` with this
    step's entry set."""
    steps[str(position)] = entry
    own = dict(info.get(OWN) or {})
    own["steps"] = steps
    rest = {key: value for key, value in info.items() if key != OWN}
    return assemble(shared, members(rest), members({OWN: own}))


def tracked_names(disk: StoreRoot, folder: str) -> list[tuple[int, str]]:
    """The numbered files of a folder of appended documents, in the order written."""
    found = []
    for name in disk.names(folder):
        stem = name.split(".", 1)[0]
        if stem.isdigit():
            found.append((int(stem), name))
    found.sort()
    return found


def append_numbered(
    writes: Writes, folder: str, data: bytes, hint: dict[str, int], lock: threading.Lock
) -> str:
    """Write ``data`` as the next numbered file of ``folder`` (``00000001.json`` …), never
    replacing one: a name taken meanwhile by another process makes it look again."""
    writes.folder(folder)
    while True:
        with lock:
            number = hint.get(folder)
            if number is None:
                names = tracked_names(writes.disk, folder)
                number = names[-1][0] if names else 0
            number += 1
            hint[folder] = number
        path = os.path.join(folder, f"{number:08d}.json")
        if writes.file(path, data, replace=False):
            return path
        with lock:
            hint.pop(folder, None)
