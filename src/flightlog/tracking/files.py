"""``FileSystemTracker``: what runs record, mirrored as files in bandsaw's layout.

It writes through the same :class:`~flightlog.stores.files_layout.Layout` as the JSON-files
store, so a run recorded in SQLite or PostgreSQL and mirrored by this tracker has the files
that ``file:///dir`` would have made: ``runs/<run_id>/run-info.json`` and the session
markers, ``tasks/<task_id>/task-info.json``, ``execution-info.json``, ``session-info.json``,
``result-info.json`` and ``attachments/``, with bandsaw's keys. A tracker sees infos, not
records, so it keeps under ``flightlog.steps`` each step's ``session`` (and ``result``)
entry rather than the whole step, and writes none of the store's indexes: the directory is a
mirror to read, diff and copy, not a store to open. Metric points go, like the store's, to
``flightlog/runs/<run_id>/tracked/<n>.json``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ..bandsaw import Ids
from ..model import MetricChunk
from ..stores.files_io import Writes, check_component, check_identity, check_run_id
from ..stores.files_layout import Layout, append_numbered, result_entry
from ..stores.files_tracking import TRACKED, tracked_document
from .trackers import Attachments, Tracker


def _chunks(info: dict[str, Any]) -> list[MetricChunk]:
    """Metric points back into chunks: one per run of consecutive points of one name."""
    session = info.get("session") or {}
    position, step_name = session.get("position"), session.get("name")
    chunks: list[MetricChunk] = []
    name: str | None = None
    steps: list[int] = []
    values: list[Any] = []
    times: list[float] = []
    for point in info.get("metrics") or ():
        if point["name"] != name:
            if name is not None:
                chunks.append(MetricChunk(name, position, step_name, steps, values, times))
            name, steps, values, times = point["name"], [], [], []
        steps.append(point["step"])
        values.append(point["value"])
        times.append(point["time"])
    if name is not None:
        chunks.append(MetricChunk(name, position, step_name, steps, values, times))
    return chunks


class FileSystemTracker(Tracker):
    """Mirror every run into ``directory`` in bandsaw's layout (write-only).

    ``flightlog.open("sqlite:///runs.db", trackers=[FileSystemTracker("runs-as-files")])``.
    ``fsync=False`` skips syncing to disk (files are still replaced atomically).
    """

    def __init__(self, directory: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        os.makedirs(self.directory, exist_ok=True)
        self.layout = Layout(self.directory, sync=fsync)
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, Any]] = {}
        self._distributions: dict[str, dict[str, Any]] = {}
        self._numbers: dict[str, int] = {}
        self._numbers_lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        kind = type(self)
        return {"type": f"{kind.__module__}.{kind.__qualname__}", "directory": self.directory}

    def _session(self, ids: Ids) -> Ids:
        return Ids(
            check_run_id(ids.run_id),
            check_identity("task id", ids.task_id),
            check_identity("execution id", ids.execution_id),
        )

    def _write_run(self, run_id: str) -> None:
        with self._lock:
            info = dict(self._runs.get(run_id) or {"run": {"id": run_id}})
            info.update(self._distributions.get(run_id) or {})
            finished = (info.get("run") or {}).get("status") not in (None, "RUNNING")
            if finished:
                self._runs.pop(run_id, None)
                self._distributions.pop(run_id, None)
        self.layout.write_run_info(run_id, info)

    def track_run(self, ids: Ids, info: dict[str, Any]) -> None:
        run_id = check_run_id(ids.run_id)
        with self._lock:
            self._runs[run_id] = info
        self._write_run(run_id)

    def track_distribution_archive(self, ids: Ids, info: dict[str, Any]) -> None:
        run_id = check_run_id(ids.run_id)
        with self._lock:
            self._distributions[run_id] = info
            known = run_id in self._runs
        if known:
            self._write_run(run_id)

    def track_task(self, ids: Ids, info: dict[str, Any]) -> None:
        self.layout.write_task_info(check_identity("task id", ids.task_id), info)

    def track_execution(self, ids: Ids, info: dict[str, Any]) -> None:
        self.layout.write_execution_info(self._session(ids), info)

    def track_session(self, ids: Ids, info: dict[str, Any]) -> None:
        session = info["session"]
        self.layout.write_session(
            self._session(ids), int(session["position"]), session=info, session_entry=session
        )

    def track_result(self, ids: Ids, info: dict[str, Any]) -> None:
        self.layout.write_session(
            self._session(ids),
            int(info["session"]["position"]),
            result=info,
            result_entry=result_entry(info["session"]["name"], info["result"]),
        )

    def _append(self, run_id: str, data: bytes, writes: Writes) -> None:
        folder = f"{self.layout.own_run_dir(run_id)}/{TRACKED}"
        append_numbered(writes, folder, data, self._numbers, self._numbers_lock)

    def track_attachments(self, ids: Ids, attachments: Attachments) -> None:
        if not attachments:  # told for every step, as bandsaw does: nothing to mirror
            return
        session = ids if ids.session_id is None else self._session(ids)
        check_run_id(session.run_id)
        folder = self.layout.attachments_dir(session)
        writes = self.layout.writes()
        for name in attachments:
            self.layout.write_attachment(
                folder, check_component("attachment name", name), attachments[name], writes
            )
        self._append(session.run_id, tracked_document((), attachments.records), writes)
        writes.commit()

    def track_metrics(self, ids: Ids, info: dict[str, Any]) -> None:
        run_id = check_run_id(ids.run_id)
        writes = self.layout.writes()
        self._append(run_id, tracked_document(_chunks(info), ()), writes)
        writes.commit()
