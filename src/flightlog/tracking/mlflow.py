"""``MLflowTracker``: one MLflow run per flightlog run (the ``flightlog[mlflow]`` extra).

Mapping: the workflow's arguments become MLflow parameters, a mapping's or dataclass's entries
under dotted names (``config.optimizer.name``). Tracked numbers (not booleans) become MLflow
metrics with their step and time; every other tracked value becomes a parameter named
``<key>`` at step 0 and ``<key>_<step>`` otherwise. Parameter values are strings as they are,
others as JSON (else their ``str``), cut to MLflow's 6,000 characters with a TrackerWarning;
names MLflow refuses have their other characters replaced by ``_``. MLflow parameters are
write-once: a later, different value for a name already logged goes to a tag of that name,
with a TrackerWarning. Attachments become artifacts under the step's name. The experiment is
``experiment`` if given, else the run's tag, else the workflow's name. flightlog's run id is
the MLflow run's name and its tag ``flightlog.run_id``; a resumed (or exported again) run
continues its MLflow run and skips points and parameters MLflow already has.

Delivery: the tracker's methods only queue what they are told; one background thread (see
:mod:`flightlog.tracking.background`) sends it with ``log_batch`` (at most 1,000 metrics and
100 parameters and tags per call), with MLflow's HTTP retries and timeout bounded for that
thread alone (:mod:`flightlog.tracking.mlflow_http`). A run's end waits until MLflow has
everything (at most ``flush_timeout`` seconds); what went wrong is raised there as a
:class:`~flightlog.errors.TrackerError`, which a live run reports once as a TrackerWarning
and an export raises.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from typing import Any

from ..errors import ConfigurationError, MissingDependencyError, TrackerError, TrackerWarning
from .background import BackgroundSender
from .infos import redacted_url
from .mlflow_http import bounded_http, http_settings
from .mlflow_send import MLflowSending
from .trackers import Attachments, Ids, Tracker

__all__ = ["MLflowTracker"]

_FINAL = {"SUCCESSFUL": "FINISHED", "FAILED": "FAILED", "CANCELED": "KILLED"}
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def _millis(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _check_sql_client(uri: str) -> None:
    """MLflow's SQL stores (``sqlite:///mlflow.db`` is MLflow 3's default) need SQLAlchemy
    and alembic, which mlflow-skinny does not bring: say so before anything is recorded."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in _SQL_SCHEMES:
        return
    missing = [name for name in ("sqlalchemy", "alembic") if importlib.util.find_spec(name) is None]
    if missing:
        names = " and ".join("SQLAlchemy" if name == "sqlalchemy" else name for name in missing)
        raise MissingDependencyError(
            f"MLflow's tracking URI {redacted_url(uri)} is a {scheme}: store, which needs "
            f"{names}: pip install 'flightlog[mlflow]' (or give MLflowTracker a tracking_uri)"
        )


def _seconds(value: Any, name: str, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigurationError(f"MLflowTracker: {name} must be a number, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise ConfigurationError(f"MLflowTracker: {name} must be positive, not {value!r}")
    return float(value)


class MLflowTracker(Tracker):
    """Sends what flightlog runs record to MLflow, through ``MlflowClient(tracking_uri)``,
    from a background thread.

    ``tracking_uri`` defaults to MLflow's (``$MLFLOW_TRACKING_URI``, else
    ``sqlite:///mlflow.db`` in the working directory with MLflow 3, ``./mlruns`` with MLflow
    2), resolved when the tracker is made. ``flush_timeout``: how long a run's end waits for
    MLflow to take what the run recorded. ``http_retries`` and ``http_timeout``: MLflow's HTTP
    retries and per-request timeout for this tracker (default: ``MLFLOW_HTTP_REQUEST_*``
    where set, else 2 retries and 10 s).
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        *,
        flush_timeout: float = 60.0,
        http_retries: int | None = None,
        http_timeout: float | None = None,
    ) -> None:
        try:
            from mlflow.tracking import get_tracking_uri
        except ImportError:
            raise MissingDependencyError(
                "MLflowTracker needs mlflow, which is not installed: "
                "pip install 'flightlog[mlflow]'"
            ) from None
        if tracking_uri is not None and not isinstance(tracking_uri, str):
            raise ConfigurationError(f"MLflowTracker: tracking_uri must be text: {tracking_uri!r}")
        if experiment is not None and (not isinstance(experiment, str) or not experiment):
            raise ConfigurationError(f"MLflowTracker: experiment must be a name: {experiment!r}")
        if http_retries is not None and (
            isinstance(http_retries, bool) or not isinstance(http_retries, int) or http_retries < 0
        ):
            raise ConfigurationError(
                f"MLflowTracker: http_retries must be a whole number >= 0, not {http_retries!r}"
            )
        self.flush_timeout = _seconds(flush_timeout, "flush_timeout", zero=True)
        if http_timeout is not None:
            http_timeout = _seconds(http_timeout, "http_timeout")
        self.tracking_uri: str = tracking_uri or str(get_tracking_uri())
        _check_sql_client(self.tracking_uri)
        self.experiment = experiment
        self.http = http_settings(http_retries, http_timeout)
        self._sending = MLflowSending(self.tracking_uri, experiment)
        self._background = BackgroundSender(
            self._sending.send,
            name=f"flightlog-mlflow-{redacted_url(self.tracking_uri)}",
            around=lambda: bounded_http(self.http),
        )

    @property
    def client(self) -> Any:
        """The tracker's ``MlflowClient`` (made on first use)."""
        return self._sending.client

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["tracking_uri"] = redacted_url(self.tracking_uri)
        described["experiment"] = self.experiment
        return described

    def mlflow_run_id(self, run_id: str) -> str | None:
        """The MLflow run of a flightlog run this tracker is following, or None (also while
        the run is not created in MLflow yet)."""
        return self._sending.mlflow_run_id(run_id)

    # -- what runs record: queued --------------------------------------------------------
    def track_run(self, ids: Ids, info: dict[str, Any]) -> None:
        run = info["run"]
        if run.get("status") == "RUNNING":
            self._background.start()
            self._background.put(("start", run["id"], run))
            return
        final = _FINAL.get(run.get("status"))
        self._background.put(("end", run["id"], final, _millis(run.get("end_time"))))
        self._settle(f"run {run['id']!r}", self.flush_timeout)

    def track_parameters(self, ids: Ids, info: dict[str, Any]) -> None:
        self._background.put(("arguments", ids.run_id, info["parameters"]))

    def track_metrics(self, ids: Ids, info: dict[str, Any]) -> None:
        self._background.put(("points", ids.run_id, info["metrics"]))

    def track_attachments(self, ids: Ids, attachments: Attachments) -> None:
        if not attachments.records:  # called for every step, as bandsaw does: most attach none
            return
        files = [(record.name, record.step_name, attachments[record.name])
                 for record in attachments.records]  # fmt: skip
        self._background.put(("files", ids.run_id, files))

    def close(self) -> None:
        """Send what is still queued (waiting at most ``flush_timeout``), then stop."""
        self._settle("what was still queued", self.flush_timeout, closing=True)

    # -- the end of a run ----------------------------------------------------------------
    def _settle(self, what: str, timeout: float, *, closing: bool = False) -> None:
        """Wait for the flush; warn of what MLflow was given otherwise than asked; raise what
        went wrong."""
        background = self._background
        flushed = background.close(timeout) if closing else background.flush(timeout)
        for note in self._sending.take_notes():
            warnings.warn(note, TrackerWarning, stacklevel=4)
        problems = [str(error) for error in self._sending.take_errors()]
        problems += [f"{type(error).__name__}: {error}" for error in background.take_errors()]
        where = f"MLflow at {redacted_url(self.tracking_uri)}"
        if not flushed:
            problems.insert(
                0,
                f"{where} did not take {what} within {timeout:g} s "
                f"({background.pending()} records still queued; they are sent while this "
                "process runs)",
            )
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise TrackerError(problems[0] + more)
