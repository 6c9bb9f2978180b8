"""``MLflowTracker``: one MLflow run per flightlog run (the ``flightlog[mlflow]`` extra).

Mapping: numbers (not booleans) become MLflow metrics with their step and time; every other
value becomes a parameter named ``<key>`` at step 0 and ``<key>_<step>`` otherwise (strings as
they are, other values as JSON). MLflow parameters are write-once: a later, different value
for a name already logged goes to a tag of that name, with a TrackerWarning. Attachments
become artifacts under the step's name. The experiment is ``experiment`` if given, else the
run's tag, else the workflow's name. flightlog's run id is the MLflow run's name and its tag
``flightlog.run_id``; a resumed (or exported again) run continues its MLflow run and skips
points MLflow already has.
"""

from __future__ import annotations

import json
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, TrackerWarning
from .infos import redacted_url
from .trackers import Attachments, Ids, Tracker
from .values import is_number

RUN_ID_TAG = "flightlog.run_id"
WORKFLOW_TAG = "flightlog.workflow"
MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_PARAM_LENGTH = 6000
_FINAL = {"SUCCESSFUL": "FINISHED", "FAILED": "FAILED", "CANCELED": "KILLED"}


def _millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


@dataclass
class _Linked:
    """What the tracker knows of the MLflow run of one flightlog run."""

    mlflow_run_id: str
    params: dict[str, str] = field(default_factory=dict)
    # For a run that existed before: the points MLflow has, per metric key (loaded lazily).
    existing: bool = False
    history: dict[str, set[tuple[int, int, float]]] = field(default_factory=dict)


class MLflowTracker(Tracker):
    """Sends what flightlog runs record to MLflow, through ``MlflowClient(tracking_uri)``."""

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MissingDependencyError(
                "MLflowTracker needs mlflow, which is not installed: "
                "pip install 'flightlog[mlflow]'"
            ) from None
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self._lock = threading.RLock()
        self._linked: dict[str, _Linked] = {}

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        uri = self.tracking_uri
        described["tracking_uri"] = None if uri is None else redacted_url(uri)
        described["experiment"] = self.experiment
        return described

    # -- runs ----------------------------------------------------------------------------------
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

    def _link(self, run: dict[str, Any]) -> _Linked:
        run_id = run["id"]
        linked = self._linked.get(run_id)
        if linked is not None:
            return linked
        name = self.experiment or run.get("tag") or run.get("workflow") or "flightlog"
        experiment_id = self._experiment_id(name)
        quoted = run_id.replace("\\", "\\\\").replace("'", "\\'")
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{quoted}'", max_results=1
        )
        if found:
            earlier = found[0]
            linked = _Linked(earlier.info.run_id, dict(earlier.data.params), existing=True)
            if run.get("status") == "RUNNING":
                self.client.update_run(linked.mlflow_run_id, status="RUNNING")
        else:
            created = self.client.create_run(
                experiment_id,
                start_time=_millis(run.get("start_time")),
                tags={RUN_ID_TAG: run_id, WORKFLOW_TAG: str(run.get("workflow"))},
                run_name=run_id,
            )
            linked = _Linked(created.info.run_id)
        self._linked[run_id] = linked
        return linked

    def track_run(self, ids: Ids, info: dict[str, Any]) -> None:
        run = info["run"]
        with self._lock:
            linked = self._link(run)
            final = _FINAL.get(run.get("status"))
            if final is not None:
                self.client.set_terminated(
                    linked.mlflow_run_id, status=final, end_time=_millis(run.get("end_time"))
                )
                del self._linked[run["id"]]

    def mlflow_run_id(self, run_id: str) -> str | None:
        """The MLflow run of a flightlog run this tracker is following, or None."""
        linked = self._linked.get(run_id)
        return None if linked is None else linked.mlflow_run_id

    def _linked_run(self, run_id: str) -> _Linked:
        linked = self._linked.get(run_id)
        if linked is None:
            raise LookupError(f"MLflowTracker was not told that run {run_id!r} started")
        return linked

    # -- values --------------------------------------------------------------------------------
    def _known(self, linked: _Linked, key: str) -> set[tuple[int, int, float]]:
        known = linked.history.get(key)
        if known is None:
            known = linked.history[key] = set()
            if linked.existing:
                for point in self.client.get_metric_history(linked.mlflow_run_id, key):
                    known.add((point.step, point.timestamp, point.value))
        return known

    def _param(self, linked: _Linked, key: str, value: Any, tags: dict[str, str]) -> str | None:
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if len(text) > MAX_PARAM_LENGTH:
            warnings.warn(
                f"MLflow parameter {key!r} is {len(text)} characters long; MLflow keeps "
                f"{MAX_PARAM_LENGTH}, so it was cut",
                TrackerWarning,
                stacklevel=4,
            )
            text = text[:MAX_PARAM_LENGTH]
        logged = linked.params.get(key)
        if logged is None:
            linked.params[key] = text
            return text
        if logged != text:
            tags[key] = text
            warnings.warn(
                f"MLflow parameter {key!r} was logged as {logged[:50]!r} already and MLflow "
                f"parameters are write-once: the new value {text[:50]!r} went to tag {key!r}",
                TrackerWarning,
                stacklevel=4,
            )
        return None

    def track_metrics(self, ids: Ids, info: dict[str, Any]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        with self._lock:
            linked = self._linked_run(ids.run_id)
            metrics: list[Any] = []
            params: list[Any] = []
            tags: dict[str, str] = {}
            for point in info["metrics"]:
                name, step, value = point["name"], point["step"], point["value"]
                if is_number(value):
                    stamp = _millis(point["time"]) or 0
                    if linked.existing:  # skip what MLflow has already
                        known = self._known(linked, name)
                        if (step, stamp, float(value)) in known:
                            continue
                        known.add((step, stamp, float(value)))
                    metrics.append(Metric(name, float(value), stamp, step))
                    continue
                key = name if step == 0 else f"{name}_{step}"
                text = self._param(linked, key, value, tags)
                if text is not None:
                    params.append(Param(key, text))
            client, run_id = self.client, linked.mlflow_run_id
            for start in range(0, len(metrics), MAX_METRICS):
                client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS])
            for start in range(0, len(params), MAX_PARAMS):
                client.log_batch(run_id, params=params[start : start + MAX_PARAMS])
            pairs = [RunTag(key, value) for key, value in tags.items()]
            for start in range(0, len(pairs), MAX_PARAMS):
                client.log_batch(run_id, tags=pairs[start : start + MAX_PARAMS])

    def track_attachments(self, ids: Ids, attachments: Attachments) -> None:
        with self._lock:
            linked = self._linked_run(ids.run_id)
            with tempfile.TemporaryDirectory(prefix="flightlog-mlflow-") as folder:
                for record in attachments.records:
                    path = Path(folder) / record.name
                    path.write_bytes(attachments[record.name])
                    self.client.log_artifact(
                        linked.mlflow_run_id, str(path), artifact_path=record.step_name
                    )
                    path.unlink()
