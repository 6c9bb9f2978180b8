"""Runs, steps and metrics as tables: pandas DataFrames, or polars ones (``library="polars"``),
built from plain columns; :mod:`flightlog.questions.parquet` writes the same columns.

Times of runs and steps are timezone-aware UTC datetimes (a metric point's ``time`` stays
epoch seconds, as ``metrics_frame`` always gave it); durations are seconds. A run's
parameters and user metadata become columns ``param.<name>`` and ``metadata.<key>``
(values that are not a number, a string, a bool or None appear as their ``repr``).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidInputError, MissingDependencyError
from ..model import Run, Step
from ..query import Queries
from ..runtime.liveness import effective_end, effective_status
from ..tracked_query import run_ids_of, series_columns
from ..tracking.parameters import decoded_parameters

Columns = dict[str, list[Any]]
LIBRARIES = {"pandas": "pandas", "polars": "polars"}


def _time(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.timezone.utc)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _rows_to_columns(rows: list[dict[str, Any]], first: list[str]) -> Columns:
    names = list(first)
    seen = set(names)
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                names.append(name)
    return {name: [row.get(name) for row in rows] for name in names}


def run_row(run: Run) -> dict[str, Any]:
    status = effective_status(run)
    end = effective_end(run, status)
    start = run.start_time
    row: dict[str, Any] = {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "status": status.value,
        "tag": run.tag,
        "created_time": _time(run.created_time),
        "start_time": _time(start),
        "end_time": _time(end),
        "duration": None if start is None or end is None else end - start,
        "step_count": run.step_count,
        "resumes": run.resumes,
        "error_type": None if run.error is None else run.error.type,
        "error_message": None if run.error is None else run.error.message,
    }
    for name, value in decoded_parameters(run).items():
        row[f"param.{name}"] = _cell(value)
    for key, value in run.user_metadata.items():
        row[f"metadata.{key}"] = _cell(value)
    return row


RUN_COLUMNS = list(run_row(Run(run_id="", workflow="")).keys())
STEP_COLUMNS = [
    "run_id",
    "position",
    "name",
    "task_name",
    "task_id",
    "execution_id",
    "status",
    "start_time",
    "end_time",
    "duration",
    "attempts",
    "origin",
    "parent",
    "source_run",
    "error_type",
    "error_message",
]
METRIC_COLUMNS = ["run_id", "name", "step", "value", "task_step", "time"]


def run_columns(runs: Iterable[Run]) -> Columns:
    return _rows_to_columns([run_row(run) for run in runs], RUN_COLUMNS)


def step_columns(steps: Iterable[Step], into: Columns | None = None) -> Columns:
    columns = into if into is not None else {name: [] for name in STEP_COLUMNS}
    for step in steps:
        start, end = step.start_time, step.end_time
        error = step.error
        values = (
            step.run_id,
            step.position,
            step.name,
            step.task_name,
            step.task_id,
            step.execution_id,
            step.status.value,
            _time(start),
            _time(end),
            None if start is None or end is None else end - start,
            len(step.attempts) or 1,
            step.origin.value,
            step.parent,
            step.source_run,
            None if error is None else error.type,
            None if error is None else error.message,
        )
        for name, value in zip(STEP_COLUMNS, values, strict=True):
            columns[name].append(value)
    return columns


def metric_columns(queries: Queries, run_ids: Iterable[str], name: str | None) -> Columns:
    columns: Columns = {column: [] for column in METRIC_COLUMNS}
    for run_id in run_ids:
        queries.run(run_id)
        chunks = queries.store.list_metrics(run_id, name)
        for metric, (steps, values, task_steps, times) in sorted(series_columns(chunks).items()):
            columns["run_id"].extend([run_id] * len(steps))
            columns["name"].extend([metric] * len(steps))
            columns["step"].extend(steps)
            columns["value"].extend(values)
            columns["task_step"].extend(task_steps)
            columns["time"].extend(times)
    return columns


def frame(columns: Columns, library: str) -> Any:
    """A DataFrame of ``library`` ("pandas" or "polars") from the columns."""
    module_name = LIBRARIES.get(library) if isinstance(library, str) else None
    if module_name is None:
        raise InvalidInputError(f"library must be 'pandas' or 'polars', not {library!r}")
    try:
        module: Any = importlib.import_module(module_name)
    except ImportError:
        raise MissingDependencyError(
            f"tables need {module_name}: pip install 'flightlog[{module_name}]'"
        ) from None
    if library == "polars":
        return module.DataFrame(columns, strict=False)
    return module.DataFrame(columns)


class Frames:
    """Tables over one store's records (see the module)."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries

    def steps_frame(self, run_id: str, library: str = "pandas") -> Any:
        self.queries.run(run_id)
        columns: Columns = {name: [] for name in STEP_COLUMNS}
        after: int | None = None
        while True:  # a page at a time: the records of a huge run are never all held
            page = self.queries.store.steps_page(run_id, after=after, limit=5000)
            step_columns(page, columns)
            if len(page) < 5000:
                break
            after = page[-1].position
        if not columns["name"]:
            step_columns(self.queries.resources.steps(run_id), columns)
        return frame(columns, library)

    def metrics_frame(self, run_ids: str | Iterable[str], name: str | None, library: str) -> Any:
        return frame(metric_columns(self.queries, run_ids_of(run_ids), name), library)
