"""The JSON-files store (``file:///path/to/dir``): bandsaw's tracking directory, read back.

The directory holds bandsaw's layout (see :mod:`flightlog.stores.files_layout`), with
flightlog's own records beside bandsaw's keys under a ``flightlog`` key of each info file:
the run under ``run-info.json``'s ``flightlog.record``, the task under ``task-info.json``'s
``flightlog.task``, and each step of a session under ``session-info.json``'s
``flightlog.steps[<position>]`` (``result-info.json`` likewise keeps each step's result).
Schema version 2 added the run record's ``history`` (its earlier attempts) and ``last_seen``
and the task record's ``constants``; files written without them read as empty.
What bandsaw has no place for lives beside its layout::

    flightlog/store.json                     {"schema_version": 2, "layout": "bandsaw"}
    flightlog/order/<n>                      symlink to ../../runs/<run_id>: runs by creation
    flightlog/runs/<run_id>/steps/<position>   symlink to the step's session directory
    flightlog/runs/<run_id>/tracked/<n>.json   metric chunks and attachment references
    flightlog/runs/<run_id>/attachments/<name> files the run's own body attached
    flightlog/cache/<task_id>/<execution_id>   {"run_id", "position", "end_time"}: the
                                               latest successful cache-enabled step
    flightlog/collections/<collection>/...   resource records and their status index
    flightlog/locks/...                      lock files (fcntl.flock)
    blobs/<ab>/<sha256>                      attached bytes, once per digest (read-only)

A step whose arguments could not be hashed has no execution id: its session directory uses
``anonymous_execution_id(run_id, position)`` (a hash, as trackers see it), and its record
keeps ``execution_id`` null. Every write is atomic (:mod:`flightlog.stores.files_io`); a
step's files, its marker and its index entry are synced before ``finish_step`` returns.
"""

from __future__ import annotations

import copy
import os
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from ..bandsaw import (
    distribution_info,
    run_info,
    task_record_info,
)
from ..errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreWarning,
)
from ..model import (
    ErrorInfo,
    Owner,
    Run,
    RunAttempt,
    Status,
    TaskRecord,
)
from .files_deleting import FileDeleting
from .files_io import Writes, check_identity, check_run_id, locked
from .files_layout import OWN, Layout
from .files_open import WRITERS, FileSetUp, check_root, flag, path_from_url, writing
from .files_records import decoded, run_from, run_record, task_from, task_record
from .files_resources import FileResources
from .files_steps import FileSteps, run_part, steps_dir
from .files_tracking import FileTracking
from .python_ordering import PythonOrdering
from .python_selection import PythonSelection
from .streamed_blobs import FileBlobs

_OPEN_STORES: weakref.WeakSet[FileStore] = weakref.WeakSet()


class FileStore(
    FileBlobs,
    FileSetUp,
    FileSteps,
    FileResources,
    FileDeleting,
    FileTracking,
    PythonSelection,
    PythonOrdering,
):
    """A store in a directory of JSON files, in bandsaw's layout (``file:///path/to/dir``).

    ``fsync`` (default true; ``?fsync=false`` in the URL) syncs every write to disk before
    returning; without it writes are still atomic, and survive a killed process but not a
    power loss. Several processes on one machine may write one directory at once.
    ``create=False`` opens a store that exists, and makes none (see
    :mod:`flightlog.stores.files_open`); ``upgrade=False`` (``?upgrade=false``) reads a store of
    an older version as it is, and refuses writes, instead of upgrading it.
    """

    def __init__(
        self,
        url: str,
        *,
        fsync: bool | str | None = None,
        create: bool = True,
        upgrade: bool | str | None = None,
    ) -> None:
        root, settings = path_from_url(url)
        unknown = set(settings) - {"fsync", "upgrade"}
        if unknown:
            raise ConfigurationError(
                f"unknown files store URL option(s): {', '.join(sorted(unknown))}"
            )
        check_root(url, root)
        self.url = url
        self.root = root
        self.fsync = flag(settings.get("fsync", True) if fsync is None else fsync, "fsync")
        self._upgrade_wanted = flag(
            settings.get("upgrade", True) if upgrade is None else upgrade, "upgrade"
        )
        self.layout = Layout(root, sync=self.fsync)
        self.disk = self.layout.disk
        self._reset()
        _OPEN_STORES.add(self)
        self._set_up(create)

    def _reset(self) -> None:
        """Caches of this process (a forked child starts afresh)."""
        self._lock = threading.Lock()
        self._started: dict[str, bytes] = {}  # run_id -> session infos' run part, encoded
        self._tasks: dict[str, TaskRecord] = {}
        self._recorded_tasks: set[str] = set()
        self._executions: set[tuple[str, str]] = set()
        self._order_hint: int | None = None
        self.layout._reset_locks()
        self._init_tracking()

    def schema_version(self) -> int:
        return self._version

    def data_directory(self) -> str | None:
        """The store's root: resource folders go under its ``resources/``."""
        return self.root

    def close(self) -> None:
        pass

    # -- runs ----------------------------------------------------------------------------------
    def _run_lock(self, run_id: str) -> Any:
        return locked(self._path("locks", f"run.{run_id}"), self.disk)

    def _write_run(self, run: Run, order: int | None, writes: Writes) -> None:
        info = run_info(run, self.url)
        info.update(distribution_info(run))
        info[OWN] = {"record": run_record(run), "order": order}
        self.layout.write_run_info(run.run_id, info, writes)

    def _read_run(self, run_id: str) -> tuple[Run, int | None] | None:
        """The run and its place in the creation order, or None; StoreError when its file
        cannot be read (naming the file and what is wrong)."""
        path = self.layout.run_info_path(run_id)
        info = self.disk.read_object(path)
        if info is None:
            return None
        return decoded(path, f"run {run_id!r}", _run_of, run_id, info)

    def _step_count(self, run_id: str) -> int:
        return len(self.disk.names(steps_dir(self.layout, run_id)))

    def _next_order(self, run_id: str) -> int:
        """A place in the creation order: a symlink ``flightlog/order/<n>`` created only if
        free, so concurrent creators never share one."""
        folder = self._path("order")
        while True:
            with self._lock:
                number = self._order_hint
                if number is None:
                    numbers = [int(name) for name in self.disk.names(folder) if name.isdigit()]
                    number = max(numbers, default=0)
                number += 1
                self._order_hint = number
            try:
                self.disk.check(folder, folder=True)
                os.symlink(f"../../runs/{run_id}", f"{folder}/{number:012d}")
                return number
            except FileExistsError:
                with self._lock:
                    self._order_hint = None
            except FileNotFoundError:  # a store whose folders were not all made
                writes = self.layout.writes()
                writes.folder(folder)
                writes.commit()

    def create_run(self, run: Run) -> None:
        self._writable()
        run_id = check_run_id(run.run_id)
        self.disk.forget()  # a run starts: every folder is looked at again
        with self._run_lock(run_id):
            if self.disk.exists(self.layout.run_info_path(run_id)):
                raise ConflictError(f"run id {run_id!r} exists already")
            order = self._next_order(run_id)
            writes = self.layout.writes()
            writes.directories.add(self._path("order"))
            self._write_run(run, order, writes)
            writes.commit()
        with self._lock:
            self._started[run_id] = run_part(run, self.url)

    def put_run(self, run: Run) -> None:
        self._writable()
        run_id = check_run_id(run.run_id)
        self.disk.forget()
        with self._run_lock(run_id):
            found = self._read_run(run_id)
            writes = self.layout.writes()
            if found is None:
                order: int | None = self._next_order(run_id)
                writes.directories.add(self._path("order"))
            else:
                order = found[1]
            self._write_run(run, order, writes)
            writes.commit()
        with self._lock:
            self._started[run_id] = run_part(run, self.url)

    def _update_run(self, run_id: str, change: Any) -> Run:
        """Read, change and write a run under its lock; NotFoundError when unknown."""
        check_run_id(run_id)
        with self._run_lock(run_id):
            found = self._read_run(run_id)
            if found is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            run, order = found
            if change(run) is False:
                return run
            writes = self.layout.writes()
            self._write_run(run, order, writes)
            writes.commit()
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
        self._writable()

        def claim(run: Run) -> None:
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

        self.disk.forget()
        run = self._update_run(run_id, claim)
        with self._lock:
            self._started[run_id] = run_part(run, self.url)
        run.step_count = self._step_count(run_id)
        return run

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
        self._writable()

        def finish(run: Run) -> bool:
            if expected_resumes is not None and run.resumes != expected_resumes:
                return False
            if run.status is Status.RUNNING:
                run.status = status
                run.output = output
                run.error = error
            elif run.status is not Status.CANCELED:
                return False
            run.end_time = end_time
            run.lease_expires = None
            return True

        run = self._update_run(run_id, finish)
        with self._lock:
            self._started.pop(run_id, None)
        return run.status

    def renew_leases(self, run_ids: Sequence[str], lease_expires: float) -> None:
        self._writable()
        seen = time.time()

        def renew(run: Run) -> bool:
            if run.status is not Status.RUNNING:
                return False
            run.lease_expires = lease_expires
            run.last_seen = seen
            return True

        for run_id in run_ids:
            try:
                self._update_run(run_id, renew)
            except NotFoundError:
                continue

    def request_cancel(self, run_id: str, *, end_time: float) -> bool:
        self._writable()

        canceled: list[bool] = []

        def cancel(run: Run) -> bool:
            if run.status not in (Status.RUNNING, Status.RESUMABLE):
                return False
            run.status = Status.CANCELED
            run.cancel_requested = True
            run.end_time = end_time
            canceled.append(True)
            return True

        self._update_run(run_id, cancel)
        return bool(canceled)

    def get_run(self, run_id: str) -> Run | None:
        found = self._read_run(check_run_id(run_id))
        if found is None:
            return None
        run = found[0]
        run.step_count = self._step_count(run_id)
        return run

    def list_runs(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        wanted = None if statuses is None else frozenset(statuses)
        if wanted is not None and not wanted:
            return []
        folder = self._path("order")
        found: list[Run] = []
        for name in sorted((n for n in self.disk.names(folder) if n.isdigit()), reverse=True):
            if limit is not None and len(found) >= limit:
                break
            target = self.disk.readlink(f"{folder}/{name}") or ""
            try:
                run_id = check_run_id(target.rsplit("/", 1)[-1])
            except InvalidInputError:
                continue
            try:
                read = self._read_run(run_id)
            except StoreError as error:  # one unreadable run hides no other
                warnings.warn(f"left out of the runs listed: {error}", StoreWarning, stacklevel=3)
                continue
            if read is None or read[1] != int(name):  # an abandoned creation
                continue
            run = read[0]
            if wanted is not None and run.status not in wanted:
                continue
            if (workflow is not None and run.workflow != workflow) or (
                tag is not None and run.tag != tag
            ):
                continue
            run.step_count = self._step_count(run_id)
            found.append(run)
        return found

    # -- tasks ---------------------------------------------------------------------------------
    def record_task(self, task: TaskRecord) -> None:
        self._writable()
        task_id = check_identity("task id", task.task_id)
        if task_id in self._recorded_tasks:
            return
        info = task_record_info(task)
        info[OWN] = {"task": task_record(task)}
        self.layout.write_task_info(task_id, info)
        self._recorded_tasks.add(task_id)

    def _task(self, task_id: str) -> TaskRecord | None:
        task = self._tasks.get(task_id)
        if task is None:
            path = self.layout.task_info_path(task_id)
            info = self.disk.read_object(path)
            own = None if info is None else info.get(OWN)
            if not isinstance(own, dict) or "task" not in own:
                return None  # none, bandsaw's own file, or a tracker's mirror
            task = decoded(path, f"task {task_id!r}", task_from, own["task"])
            self._tasks[task_id] = task
        return task

    def get_task(self, task_id: str) -> TaskRecord | None:
        if not task_id:  # a declared resource, seen as a step, names no task
            return None
        task = self._task(check_identity("task id", task_id))
        return None if task is None else copy.deepcopy(task)

    def tasks_named(self, name: str) -> list[TaskRecord]:
        found = []
        for task_id in sorted(self.disk.names(f"{self.root}/tasks")):
            task = self._task(task_id)
            if task is not None and task.name == name:
                found.append(copy.deepcopy(task))
        return found


def _run_of(run_id: str, info: dict[str, Any]) -> tuple[Run, int | None]:
    own = info.get(OWN) or {}
    record = own.get("record")
    environment = info.get("environment") or {}
    if record is None:  # bandsaw's own file, or a tracker's mirror
        bandsaw = info.get("run") or {}
        record = {
            "run_id": run_id,
            "workflow": bandsaw.get("workflow") or "",
            "status": bandsaw.get("status") or Status.SUCCESSFUL.value,
            "start_time": bandsaw.get("start_time"),
            "end_time": bandsaw.get("end_time"),
            "tag": bandsaw.get("tag"),
        }
    order = own.get("order")
    if order is not None and (not isinstance(order, int) or isinstance(order, bool)):
        raise TypeError(f"its field 'flightlog.order' is {order!r:.60}, not int")
    return run_from(record, environment), order


for _name in WRITERS:
    setattr(FileStore, _name, writing(getattr(FileStore, _name)))


def _after_fork() -> None:
    for store in list(_OPEN_STORES):
        store._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
