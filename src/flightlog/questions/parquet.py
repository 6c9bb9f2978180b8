"""Runs, steps and metrics as Parquet files (``runs.parquet``, ``steps.parquet``,
``metrics.parquet``) for pandas, polars, DuckDB, Spark and friends. Needs pyarrow
(``pip install 'flightlog[parquet]'``).

Steps and metrics are written a page (a row group) at a time, so a store with millions of
steps is never held whole. The columns are those of :mod:`flightlog.questions.frames`; each
file is written to a hidden temporary name and renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingDependencyError
from ..query import Queries
from .frames import (
    METRIC_COLUMNS,
    STEP_COLUMNS,
    Columns,
    metric_columns,
    run_columns,
    step_columns,
)

PAGE = 20_000


def _pyarrow() -> tuple[Any, Any]:
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise MissingDependencyError(
            "Parquet export needs pyarrow: pip install 'flightlog[parquet]'"
        ) from None


def _schema(pa: Any, names: list[str], kinds: dict[str, Any]) -> Any:
    return pa.schema([(name, kinds.get(name, pa.string())) for name in names])


class _Writer:
    """One Parquet file, written in row groups, renamed into place when closed."""

    def __init__(self, pa: Any, pq: Any, path: Path, schema: Any) -> None:
        self.pa, self.path, self.rows = pa, path, 0
        self.partial = path.with_name(f".{path.name}.partial")
        self.writer = pq.ParquetWriter(str(self.partial), schema)
        self.schema = schema

    def write(self, columns: Columns) -> None:
        count = len(next(iter(columns.values()), []))
        if count:
            table = self.pa.Table.from_pydict(columns, schema=self.schema)
            self.writer.write_table(table)
            self.rows += count

    def close(self) -> None:
        self.writer.close()
        os.replace(self.partial, self.path)


def _times(pa: Any) -> Any:
    return pa.timestamp("us", tz="UTC")


def _writable_folder(folder: Path) -> None:
    """Make ``folder`` if missing; a path that cannot be a folder, or one that cannot be
    written, is an ``InvalidInputError`` naming it and why."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise InvalidInputError(f"cannot write Parquet files into {str(folder)!r}: {why}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(
            f"cannot write Parquet files into {str(folder)!r}: the folder is not writable"
        )


def export_parquet(
    queries: Queries, directory: str | os.PathLike[str], run_ids: Iterable[str]
) -> dict[str, Any]:
    """Write the runs (by id), their steps and metrics under ``directory`` (made if
    missing); return ``{"runs": n, "steps": n, "metrics": n, "files": [paths]}``."""
    pa, pq = _pyarrow()
    if not isinstance(directory, (str, os.PathLike)):
        raise InvalidInputError(f"directory must be a path, not {directory!r}")
    folder = Path(directory)
    ids = list(run_ids)
    runs = [queries.run(run_id) for run_id in ids]  # every run found before a file is made
    _writable_folder(folder)
    time, number = _times(pa), pa.float64()
    integer = pa.int64()
    columns = run_columns(runs)
    kinds = {
        "created_time": time,
        "start_time": time,
        "end_time": time,
        "duration": number,
        "step_count": integer,
        "resumes": integer,
    }
    table = pa.Table.from_pydict(columns)  # parameters and metadata: types as found
    for name, kind in kinds.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).cast(kind))
    runs_path = folder / "runs.parquet"
    partial = runs_path.with_name(".runs.parquet.partial")
    pq.write_table(table, str(partial))
    os.replace(partial, runs_path)

    step_kinds = {
        "position": integer,
        "start_time": time,
        "end_time": time,
        "duration": number,
        "attempts": integer,
    }
    steps = _Writer(pa, pq, folder / "steps.parquet", _schema(pa, STEP_COLUMNS, step_kinds))
    try:
        for run_id in ids:
            for page in _step_pages(queries, run_id):
                steps.write(page)
    finally:
        steps.close()
    metric_kinds = {"step": integer, "time": time}
    schema = _schema(pa, METRIC_COLUMNS, metric_kinds)
    schema = schema.set(schema.get_field_index("value"), pa.field("value", pa.float64()))
    metrics = _Writer(pa, pq, folder / "metrics.parquet", schema)
    try:
        for run_id in ids:
            found = metric_columns(queries, [run_id], None)
            found["value"] = [_number(value) for value in found["value"]]
            found["time"] = [_moment(value) for value in found["time"]]
            metrics.write(found)
    finally:
        metrics.close()
    return {
        "runs": len(runs),
        "steps": steps.rows,
        "metrics": metrics.rows,
        "files": [str(runs_path), str(steps.path), str(metrics.path)],
    }


def _moment(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.timezone.utc)


def _number(value: Any) -> float | None:
    """Metric values as numbers (a bool as 0 or 1); others (text, structures) as None."""
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _step_pages(queries: Queries, run_id: str) -> Iterator[Columns]:
    after: int | None = None
    while True:
        page = queries.store.steps_page(run_id, after=after, limit=PAGE)
        if not page:
            resources = queries.resources.steps(run_id) if after is None else []
            if resources:
                yield step_columns(resources)
            return
        yield step_columns(page)
        if len(page) < PAGE:
            return
        after = page[-1].position
