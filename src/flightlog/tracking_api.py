"""The tracking methods of ``Flightlog``: tracked metrics and files, shell steps, run-log
export and trackers, written once here."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError
from .runlog import iter_run_log, run_log
from .tracked_query import TrackedQueries, run_ids_of
from .tracking.environ import DEFAULT_PREFIX
from .tracking.export import export_runs
from .tracking.notify import TrackingHooks
from .tracking.shell import ShellTask, check_shell_call, shell_task
from .tracking.trackers import Tracker

if TYPE_CHECKING:
    from .runtime.recorder import Recorder
    from .stores import Store


def tracking_hooks(trackers: Iterable[Tracker] | None, prefix: str | None) -> TrackingHooks:
    """The hooks of a new Flightlog; refuses trackers that are not Trackers."""
    found = list(trackers or ())
    for tracker in found:
        if not isinstance(tracker, Tracker):
            raise ConfigurationError(
                f"trackers must be flightlog.trackers.Tracker instances, not "
                f"{type(tracker).__name__}"
            )
    prefix = DEFAULT_PREFIX if prefix is None else prefix
    if not isinstance(prefix, str) or not prefix:
        raise ConfigurationError(f"track_prefix must be a non-empty string, not {prefix!r}")
    return TrackingHooks(found, prefix)


class TrackingMethods:
    """What runs tracked (metrics, files), shell steps, the run log, trackers and exports."""

    store: Store
    _recorder: Recorder
    _tracking: TrackingHooks
    _tracked: TrackedQueries
    _shell: ShellTask | None = None  # made at the first shell step

    @property
    def trackers(self) -> tuple[Tracker, ...]:
        """The trackers told what this Flightlog's runs record."""
        return self._tracking.trackers

    # -- metrics -------------------------------------------------------------------------------
    def metrics(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """Every tracked point of the run (of metric ``name`` only, if given) as
        ``{"name", "step", "value", "task_step", "time"}``, ordered by name, then step.
        ``task_step`` is the step that recorded it (None: the workflow's own body)."""
        return self._tracked.metrics(run_id, name)

    def compare(
        self, run_ids: str | Iterable[str], metrics: str | Iterable[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        """``{run_id: {metric: last value}}`` (the value at the highest step) for each run,
        for every metric or those named."""
        return self._tracked.compare(run_ids, metrics)

    def metrics_frame(self, run_ids: str | Iterable[str], name: str | None = None) -> Any:
        """The points of one or more runs as a pandas DataFrame: columns run_id, name, step,
        value, task_step, time (needs pandas)."""
        return self._tracked.metrics_frame(run_ids, name)

    def compare_frame(
        self, run_ids: str | Iterable[str], metrics: str | Iterable[str] | None = None
    ) -> Any:
        """``compare`` as a pandas DataFrame: one row per run (index run_id), one column per
        metric (needs pandas)."""
        return self._tracked.compare_frame(run_ids, metrics)

    # -- attachments ---------------------------------------------------------------------------
    def attachments(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """The files the run's steps attached (one step's, if given) as ``{"step", "name",
        "size", "sha256"}``; ``step`` is None for files the workflow's body attached."""
        return self._tracked.attachments(run_id, step)

    def read_attachment(self, run_id: str, name: str, step: str | None = None) -> bytes:
        """The bytes of an attachment; ``step`` chooses when several steps attached the name."""
        return self._tracked.read_attachment(run_id, name, step)

    # -- shell steps ---------------------------------------------------------------------------
    def shell(
        self,
        name: str,
        command: str,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        """Run ``command`` with ``sh -c`` as a step named ``name`` (see
        :mod:`flightlog.tracking.shell`): its output is the step's log, a non-zero exit
        status fails it with ShellError, and the ``FLIGHTLOG_TRACK_...`` variables it exports
        are its metrics. ``env`` adds variables to this process's environment."""
        check_shell_call(name, command, env, cwd)
        task = self._shell
        if task is None:
            task = self._shell = shell_task(self._recorder, self._tracking.environment)
        task.options(name=name)(
            command, None if env is None else dict(env), None if cwd is None else os.fspath(cwd)
        )

    # -- exports -------------------------------------------------------------------------------
    def run_log(self, run_id: str) -> dict[str, Any]:
        """The run as one JSON-ready document in runnable's run-log shape (see
        :mod:`flightlog.runlog`)."""
        return run_log(self.store, run_id)

    def iter_run_log(self, run_id: str) -> Iterator[str]:
        """The run log as indented JSON text (``json.dumps(fl.run_log(run_id), indent=2)``),
        a piece at a time, never holding the run's steps at once: for runs of any size
        (``flightlog show RUN --format run-log`` writes it so)."""
        return iter_run_log(self.store, run_id)

    def export(
        self, run_ids: str | Iterable[str], tracker: Tracker | Iterable[Tracker]
    ) -> list[str]:
        """Tell trackers what runs already recorded, as if they ran now (e.g. to MLflow:
        ``fl.export(run_ids, MLflowTracker(uri))``); return the run ids exported. A
        tracker's error propagates."""
        trackers = [tracker] if isinstance(tracker, Tracker) else list(tracker)
        tracking_hooks(trackers, None)  # the same checks as for flightlog.open
        return export_runs(self.store, run_ids_of(run_ids), trackers)
