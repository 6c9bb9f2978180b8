"""The tracking layer's side of the runtime's hooks: environment-variable metrics at every
step's end, and the trackers told what each run records.

One :class:`TrackingHooks` per ``Flightlog``; with no trackers it only compares two counters
per step (see :mod:`flightlog.tracking.environ`).
"""

from __future__ import annotations

import inspect
import os
import threading
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import TrackerWarning
from ..model import AttachmentRecord, MetricChunk, Run, Step, TaskRecord
from ..redaction import redact
from .environ import (
    DEFAULT_PREFIX,
    EnvironmentMetrics,
    watch_environment,
)
from .infos import (
    distribution_info,
    execution_info,
    metrics_info,
    result_info,
    run_info,
    session_info,
    step_ids,
    task_info,
)
from .parameters import decoded_parameters
from .trackers import Attachments, Ids, Tracker

_ENVIRON: Any = os.environ
_METHODS = (
    "track_run",
    "track_distribution_archive",
    "track_parameters",
    "track_task",
    "track_execution",
    "track_session",
    "track_metrics",
    "track_attachments",
    "track_result",
)
# What only these read; a step builds them only when some tracker does.
_STEP_INFOS = ("track_task", "track_execution", "track_session", "track_result")


class _Unwatched:
    """The watch of an environment whose changes are not counted: no mark is ever current."""

    version = -2


_UNWATCHED = _Unwatched()

if TYPE_CHECKING:
    from ..runtime.state import RunState
    from ..runtime.steps import StepCall
    from ..stores import Store


def takes_ids(method: Any) -> bool:
    """Whether a bound tracker method takes ``(ids, info)``; bandsaw's
    ``track_distribution_archive(archive)`` takes one argument only."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return True
    positional = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            positional += 1
    return positional >= 2


def _overrides(tracker: Tracker, method: str) -> bool:
    """Whether the tracker does something in ``method`` (it is not the base class's no-op)."""
    found = getattr(tracker, method, None)
    return found is not None and getattr(found, "__func__", found) is not getattr(Tracker, method)


def describe_tracker(tracker: Tracker) -> str:
    try:
        return str(tracker.describe().get("type") or type(tracker).__qualname__)
    except Exception:
        return type(tracker).__qualname__


class TrackerNotifier:
    """Tells trackers what runs record, building the infos they receive.

    A tracker that raises is reported once (a TrackerWarning) and called again for what
    follows; with ``strict`` (exports) its error propagates instead. A tracker is called only
    for the methods it overrides, and what only those read is built only when one does (a
    tracker of metrics costs a step that tracks nothing no info at all).
    """

    def __init__(self, trackers: Sequence[Tracker], *, strict: bool = False) -> None:
        self.trackers = tuple(trackers)
        self.strict = strict
        self._wanted = {
            method: tuple(tracker for tracker in self.trackers if _overrides(tracker, method))
            for method in _METHODS
        }
        self._step_infos = any(self._wanted[method] for method in _STEP_INFOS)
        self._wanted["track_distribution_archive"] = tuple(
            tracker
            for tracker in self._wanted["track_distribution_archive"]
            if takes_ids(getattr(tracker, "track_distribution_archive", None))
        )
        self._lock = threading.Lock()
        self._reported: set[int] = set()
        self._runs: dict[str, Run] = {}
        self._seen: dict[str, set[str]] = {}
        self._tasks: dict[str, TaskRecord | None] = {}

    def _send(self, method: str, ids: Ids, info: Any) -> None:
        for tracker in self._wanted[method]:
            try:
                getattr(tracker, method)(ids, info)
            except Exception as error:
                if self.strict:
                    raise
                self._report(tracker, method, error)

    def _report(self, tracker: Tracker, method: str, error: Exception) -> None:
        with self._lock:
            if id(tracker) in self._reported:
                return
            self._reported.add(id(tracker))
        warnings.warn(
            f"tracker {describe_tracker(tracker)} failed in {method}: "
            f"{type(error).__name__}: {redact(str(error))}; the run goes on (further failures "
            "of this tracker are not reported)",
            TrackerWarning,
            stacklevel=2,
        )

    def _task(self, store: Store, task_id: str) -> TaskRecord | None:
        if task_id not in self._tasks:
            self._tasks[task_id] = store.get_task(task_id)
        return self._tasks[task_id]

    def _first(self, run_id: str, key: str) -> bool:
        with self._lock:
            seen = self._seen.setdefault(run_id, set())
            if key in seen:
                return False
            seen.add(key)
            return True

    # -- what happens ----------------------------------------------------------------------
    def run_started(self, store: Store, run: Run) -> None:
        self._runs[run.run_id] = run
        ids = Ids(run.run_id)
        self._send("track_run", ids, run_info(run, store.url, started=True))
        self._send("track_distribution_archive", ids, distribution_info(run))
        if self._wanted["track_parameters"]:
            self._send("track_parameters", ids, {"parameters": decoded_parameters(run)})
        self._wanted["track_distribution_archive"] = tuple(
            tracker
            for tracker in self._wanted["track_distribution_archive"]
            if takes_ids(getattr(tracker, "track_distribution_archive", None))
        )

    def body_tracked(
        self,
        store: Store,
        run_id: str,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> None:
        """What the run's own body tracked (chunks and attachments without a step)."""
        chunks = [chunk for chunk in metrics if chunk.position is None]
        if chunks:
            self._send("track_metrics", Ids(run_id), metrics_info(run_id, None, chunks))
        files = [item for item in attachments if item.position is None]
        if files:
            self._send("track_attachments", Ids(run_id), Attachments(files, store.get_blob))

    def step_ended(
        self,
        store: Store,
        step: Step,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> None:
        run = self._runs.get(step.run_id)
        if run is None or not (self._step_infos or metrics or attachments):
            return  # nothing any tracker reads
        self.body_tracked(store, step.run_id, metrics, attachments)
        ids = step_ids(step)
        task = None
        if self._step_infos:
            task = self._task(store, step.task_id)
            if self._first(step.run_id, step.task_id):
                self._send("track_task", ids, task_info(task, step))
            if self._first(step.run_id, f"{step.task_id}_{ids.execution_id}"):
                self._send("track_execution", ids, execution_info(task, step))
            self._send("track_session", ids, session_info(run, store.url, task, step))
            self._send("track_result", ids, result_info(run, store.url, task, step))
        if self._wanted["track_attachments"]:  # every step, as bandsaw (the mapping may be empty)
            files = [item for item in attachments if item.position == step.position]
            self._send("track_attachments", ids, Attachments(files, store.get_blob))
        chunks = [chunk for chunk in metrics if chunk.position == step.position]
        if chunks:
            self._send("track_metrics", ids, metrics_info(step.run_id, step, chunks))

    def run_ended(self, store: Store, run: Run) -> None:
        self._send("track_run", Ids(run.run_id), run_info(run, store.url))
        with self._lock:
            self._runs.pop(run.run_id, None)
            self._seen.pop(run.run_id, None)


class TrackingHooks:
    """What a Flightlog's runs tell the tracking layer (the runtime's ``RunHooks``)."""

    def __init__(self, trackers: Sequence[Tracker] = (), prefix: str = DEFAULT_PREFIX) -> None:
        self.environment = EnvironmentMetrics(prefix)
        self.trackers = tuple(trackers)
        self.notifier = TrackerNotifier(self.trackers) if self.trackers else None
        self.observing = self.notifier is not None
        # Until a run starts watching the environment, every step scans it (see RunHooks).
        self.watch: Any = _UNWATCHED
        self.mark = self.environment.cached

    @property
    def prefix(self) -> str:
        return self.environment.prefix

    def describe(self) -> dict[str, Any]:
        if not self.trackers:
            return {}
        described = []
        for tracker in self.trackers:
            try:
                described.append(tracker.describe())
            except Exception:
                described.append({"type": type(tracker).__qualname__})
        return {"trackers": described}

    def run_started(self, state: RunState) -> None:
        if watch_environment():
            self.watch = _ENVIRON._data
        if self.notifier is not None:
            run = state.store.get_run(state.run_id)
            if run is not None:
                self.notifier.run_started(state.store, run)

    def step_started(self) -> tuple[int, Any]:
        mark = self.mark = self.environment.mark()
        return mark

    def step_ending(self, call: StepCall) -> None:
        changes = self.environment.changes(call.env_mark)
        if changes:
            now = time.time()
            tracked = call.tracking()
            for name, step, value in changes:
                tracked.points(name).append((step, value, now))

    def step_ended(
        self,
        state: RunState,
        step: Step,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> None:
        if self.notifier is not None:
            self.notifier.step_ended(state.store, step, metrics, attachments)

    def run_ended(
        self,
        state: RunState,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> None:
        notifier = self.notifier
        if notifier is None:
            return
        notifier.body_tracked(state.store, state.run_id, metrics, attachments)
        run = state.store.get_run(state.run_id)
        if run is not None:
            notifier.run_ended(state.store, run)

    def close(self) -> None:
        for tracker in self.trackers:
            try:
                tracker.close()
            except Exception as error:
                if self.notifier is not None:
                    self.notifier._report(tracker, "close", error)
