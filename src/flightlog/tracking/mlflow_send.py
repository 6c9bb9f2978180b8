"""The MLflow side of :class:`~flightlog.trackers.MLflowTracker`: what its background thread
does with the records it is given (see :mod:`flightlog.tracking.mlflow` for the mapping).

Records come in order, as tuples: ``("start", run_id, run_info)``, ``("arguments", run_id,
{name: value})``, ``("points", run_id, [point])``, ``("files", run_id, [(name, step, data)])``
and ``("end", run_id, final_status | None, end_millis)``. Metrics, parameters and tags of a
run gather until something else comes for that run (or the batch ends) and go to MLflow in as
few ``log_batch`` calls as its limits allow. What MLflow refuses (or a server that does not
answer) is kept as an error for the tracker to raise at the run's end, and the records of that
call are dropped; a run that could not be created in MLflow is dropped whole. What MLflow was
given otherwise than asked (a cut value, a write-once parameter) is kept as a note.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TrackerError
from .infos import redacted_url
from .values import is_number

__all__ = [
    "MAX_ENTITIES",
    "MAX_METRICS",
    "MAX_PARAMS",
    "MAX_PARAM_LENGTH",
    "MLflowSending",
    "flat_arguments",
    "mlflow_name",
    "parameter_text",
]

RUN_ID_TAG = "flightlog.run_id"
WORKFLOW_TAG = "flightlog.workflow"
MAX_METRICS = 1000  # per log_batch call
MAX_PARAMS = 100  # per log_batch call (and as many tags)
MAX_ENTITIES = 1000  # metrics, parameters and tags together, per call
MAX_PARAM_LENGTH = 6000
MAX_NAME_LENGTH = 250
_REFUSED = re.compile(r"[^\w.\- /]")  # what MLflow refuses in a name (it allows ":" on POSIX)


def mlflow_name(name: str) -> str:
    """``name`` as MLflow accepts it: refused characters (and a path that is not its own
    normal form, e.g. ``a/../b``) replaced by ``_``, at most 250 characters."""
    cleaned = _REFUSED.sub("_", name)[:MAX_NAME_LENGTH]
    if cleaned and posixpath.normpath(cleaned) != cleaned:
        cleaned = cleaned.replace("/", "_")
        if cleaned.strip(".") == "":
            cleaned = cleaned.replace(".", "_")
    return cleaned or "_"


def parameter_text(value: Any) -> str:
    """A parameter's value: a string as it is, others as compact JSON, else their ``str``."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return str(value)


def flat_arguments(arguments: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Arguments as flat parameters: the entries of a mapping (with text keys) or a dataclass
    instance under ``<name>.<key>``, recursively; an empty one is its own value."""
    flat: dict[str, Any] = {}
    for name, value in arguments.items():
        key = f"{prefix}{name}"
        entries: Mapping[str, Any] | None = None
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            entries = value
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            entries = {item.name: getattr(value, item.name) for item in dataclasses.fields(value)}
        if entries:
            flat.update(flat_arguments(entries, f"{key}."))
        else:
            flat[key] = value
    return flat


def _millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


@dataclass
class _Linked:
    """What the sender knows of the MLflow run of one flightlog run."""

    mlflow_run_id: str | None
    params: dict[str, str] = field(default_factory=dict)
    # For a run that existed before: the points MLflow has, per metric key (loaded lazily).
    existing: bool = False
    history: dict[str, set[tuple[int, int, float]]] = field(default_factory=dict)
    # Gathered for the next log_batch calls.
    metrics: list[Any] = field(default_factory=list)
    new_params: list[Any] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class MLflowSending:
    """Sends records to one MLflow tracking URI; called from one thread at a time."""

    def __init__(self, tracking_uri: str, experiment: str | None) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._linked: dict[str, _Linked] = {}
        self._notes: list[str] = []
        self._errors: list[TrackerError] = []
        self._kept = threading.Lock()  # notes and errors: kept here, taken by the tracker

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from mlflow.tracking import MlflowClient

                    self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def mlflow_run_id(self, run_id: str) -> str | None:
        linked = self._linked.get(run_id)
        return None if linked is None else linked.mlflow_run_id

    def take_notes(self) -> list[str]:
        with self._kept:
            taken, self._notes = self._notes, []
        return taken

    def take_errors(self) -> list[TrackerError]:
        with self._kept:
            taken, self._errors = self._errors, []
        return taken

    def _note(self, note: str) -> None:
        with self._kept:
            self._notes.append(note)

    # -- one batch of records ------------------------------------------------------------
    def send(self, records: list[Any]) -> None:
        gathering: dict[str, _Linked] = {}
        for record in records:
            kind, run_id = record[0], record[1]
            if kind == "start":
                self._start(run_id, record[2])
                continue
            linked = self._linked.get(run_id)
            if linked is None or linked.mlflow_run_id is None:  # MLflow has no run for it
                if kind == "end":
                    self._linked.pop(run_id, None)
                continue
            try:
                if kind == "points":
                    self._points(linked, record[2])
                    gathering[run_id] = linked
                elif kind == "arguments":
                    for key, value in flat_arguments(record[2]).items():
                        self._param(linked, key, value)
                    gathering[run_id] = linked
                else:
                    gathering.pop(run_id, None)
                    self._log_batches(run_id, linked)
                    if kind == "files":
                        self._files(linked, record[2])
                    elif kind == "end":
                        self._end(run_id, linked, record[2], record[3])
            except Exception as error:
                self._fail(run_id, error)
        for run_id, linked in gathering.items():
            self._log_batches(run_id, linked)

    def _fail(self, run_id: str, error: Exception, what: str = "") -> None:
        """Keep MLflow's error for the tracker to raise (the records at hand are dropped)."""
        where = redacted_url(self.tracking_uri)
        failure = TrackerError(
            f"MLflow at {where} failed for run {run_id!r}{what} ({type(error).__name__}: {error})"
        )
        with self._kept:
            self._errors.append(failure)

    # -- runs ----------------------------------------------------------------------------
    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except MlflowException:  # created by another process meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def _start(self, run_id: str, run: dict[str, Any]) -> None:
        linked = self._linked.get(run_id)
        if linked is not None and linked.mlflow_run_id is not None:
            return
        try:
            self._linked[run_id] = self._link(run_id, run)
        except Exception as error:
            self._linked[run_id] = _Linked(None)  # what the run records is dropped
            self._fail(run_id, error, ": nothing of it was sent")

    def _link(self, run_id: str, run: dict[str, Any]) -> _Linked:
        client = self.client
        name = self.experiment or run.get("tag") or run.get("workflow") or "flightlog"
        experiment_id = self._experiment_id(name)
        quoted = run_id.replace("\\", "\\\\").replace("'", "\\'")
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{quoted}'", max_results=1
        )
        if found:
            earlier = found[0]
            linked = _Linked(earlier.info.run_id, dict(earlier.data.params), existing=True)
            if run.get("status") == "RUNNING":
                client.update_run(linked.mlflow_run_id, status="RUNNING")
            return linked
        created = client.create_run(
            experiment_id,
            start_time=_millis(run.get("start_time")),
            tags={RUN_ID_TAG: run_id, WORKFLOW_TAG: str(run.get("workflow"))},
            run_name=run_id,
        )
        return _Linked(created.info.run_id)

    def _end(self, run_id: str, linked: _Linked, final: str | None, end: int | None) -> None:
        del self._linked[run_id]
        if final is not None:
            self.client.set_terminated(linked.mlflow_run_id, status=final, end_time=end)

    # -- values --------------------------------------------------------------------------
    def _known(self, linked: _Linked, key: str) -> set[tuple[int, int, float]]:
        known = linked.history.get(key)
        if known is None:
            known = linked.history[key] = set()
            if linked.existing:
                for point in self.client.get_metric_history(linked.mlflow_run_id, key):
                    known.add((point.step, point.timestamp, point.value))
        return known

    def _points(self, linked: _Linked, points: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric

        for point in points:
            name, step, value = point["name"], point["step"], point["value"]
            if not is_number(value):
                self._param(linked, name if step == 0 else f"{name}_{step}", value)
                continue
            key = mlflow_name(name)
            stamp = _millis(point["time"]) or 0
            if linked.existing:  # skip what MLflow has already
                known = self._known(linked, key)
                if (step, stamp, float(value)) in known:
                    continue
                known.add((step, stamp, float(value)))
            linked.metrics.append(Metric(key, float(value), stamp, step))

    def _param(self, linked: _Linked, name: str, value: Any) -> None:
        from mlflow.entities import Param

        key = mlflow_name(name)
        text = parameter_text(value)
        logged = linked.params.get(key)
        if logged is None:
            if len(text) > MAX_PARAM_LENGTH:
                self._note(
                    f"MLflow parameter {key!r} is {len(text)} characters long; MLflow keeps "
                    f"{MAX_PARAM_LENGTH}, so it was cut"
                )
                text = text[:MAX_PARAM_LENGTH]
            linked.params[key] = text
            linked.new_params.append(Param(key, text))
        elif logged != text[:MAX_PARAM_LENGTH]:
            linked.tags[key] = text[:MAX_PARAM_LENGTH]
            self._note(
                f"MLflow parameter {key!r} was logged as {logged[:50]!r} already and MLflow "
                f"parameters are write-once: the new value {text[:50]!r} went to tag {key!r}"
            )

    def _log_batches(self, run_id: str, linked: _Linked) -> None:
        """Send what was gathered, in calls within MLflow's limits (a call that fails is
        reported and the rest still sent)."""
        from mlflow.entities import RunTag

        metrics, params = linked.metrics, linked.new_params
        tags = [RunTag(key, value) for key, value in linked.tags.items()]
        linked.metrics, linked.new_params, linked.tags = [], [], {}
        while metrics or params or tags:
            some_params, params = params[:MAX_PARAMS], params[MAX_PARAMS:]
            some_tags, tags = tags[:MAX_PARAMS], tags[MAX_PARAMS:]
            room = MAX_ENTITIES - len(some_params) - len(some_tags)
            some_metrics, metrics = metrics[:room], metrics[room:]
            try:
                self.client.log_batch(
                    linked.mlflow_run_id, metrics=some_metrics, params=some_params, tags=some_tags
                )
            except Exception as error:
                counts = f"{len(some_metrics)} metrics, {len(some_params)} parameters"
                self._fail(run_id, error, f": {counts} and {len(some_tags)} tags were not sent")

    def _files(self, linked: _Linked, files: list[tuple[str, str | None, bytes]]) -> None:
        with tempfile.TemporaryDirectory(prefix="flightlog-mlflow-") as folder:
            for name, step_name, data in files:
                path = Path(folder) / name
                path.write_bytes(data)
                self.client.log_artifact(linked.mlflow_run_id, str(path), artifact_path=step_name)
                path.unlink()
