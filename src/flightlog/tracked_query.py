"""Questions about what runs tracked: metric series, comparisons across runs, attachments.

Every face (Python, command line, exports) reads tracked values through these functions. A
resource collection is a run here too (``resource:<collection>``, see
:mod:`flightlog.resources.view`); its resources track nothing, so its series are empty.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from itertools import islice
from operator import le
from typing import Any

from .errors import InvalidInputError, MissingDependencyError, NotFoundError
from .model import AttachmentRecord, MetricChunk
from .resources.view import ResourceView
from .stores import Store

Columns = tuple[list[int], list[Any], list[str | None], list[float]]


def _names(value: str | Iterable[str] | None, what: str) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(name, str) and name for name in names):
        raise InvalidInputError(f"{what} must be a name or a list of names, not {value!r}")
    return names


def run_ids_of(run_ids: str | Iterable[str]) -> list[str]:
    found = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    if not all(isinstance(run_id, str) for run_id in found):
        raise InvalidInputError(f"run ids must be strings, not {run_ids!r}")
    return found


def pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise MissingDependencyError(
            "this needs pandas, which is not installed: pip install 'flightlog[pandas]'"
        ) from None


def series_columns(chunks: Iterable[MetricChunk]) -> dict[str, Columns]:
    """Per metric name: steps, values, recording step names and times, ordered by step (in
    the order written among equal steps)."""
    grouped: dict[str, Columns] = {}
    for chunk in chunks:
        columns = grouped.get(chunk.name)
        if columns is None:
            columns = grouped[chunk.name] = ([], [], [], [])
        columns[0].extend(chunk.steps)
        columns[1].extend(chunk.values)
        columns[2].extend([chunk.step_name] * len(chunk.steps))
        columns[3].extend(chunk.times)
    for name, (steps, values, task_steps, times) in grouped.items():
        if not all(map(le, steps, islice(steps, 1, None))):
            order = sorted(range(len(steps)), key=steps.__getitem__)
            grouped[name] = (
                [steps[index] for index in order],
                [values[index] for index in order],
                [task_steps[index] for index in order],
                [times[index] for index in order],
            )
    return grouped


def last_values(chunks: Iterable[MetricChunk]) -> dict[str, Any]:
    """Per metric name, the value at its highest step (the last written among equal steps)."""
    best: dict[str, tuple[int, Any]] = {}
    for chunk in chunks:
        point = chunk.last_point()
        if point is None:
            continue
        known = best.get(chunk.name)
        if known is None or point[0] >= known[0]:
            best[chunk.name] = point
    return {name: best[name][1] for name in sorted(best)}


def latest_attachments(records: Iterable[AttachmentRecord]) -> list[AttachmentRecord]:
    latest: dict[tuple[int | None, str], AttachmentRecord] = {}
    for record in records:
        latest.pop((record.position, record.name), None)  # a replaced one moves to the end
        latest[(record.position, record.name)] = record
    return list(latest.values())


class TrackedQueries:
    """Read-only questions about tracked values in one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.resources = ResourceView(store)

    def _check_run(self, run_id: str) -> None:
        if not isinstance(run_id, str) or (
            self.store.get_run(run_id) is None and self.resources.run(run_id) is None
        ):
            raise NotFoundError(f"no run with id {run_id!r} in {self.store.url}")

    def columns(self, run_id: str, name: str | None = None) -> dict[str, Columns]:
        self._check_run(run_id)
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidInputError(f"a metric name must be a non-empty string, not {name!r}")
        return series_columns(self.store.list_metrics(run_id, name))

    def metrics(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for metric, (steps, values, task_steps, times) in sorted(
            self.columns(run_id, name).items()
        ):
            # A list comprehension builds the dicts about twice as fast as a generator.
            found += [
                {"name": metric, "step": step, "value": value, "task_step": task, "time": time}
                for step, value, task, time in zip(steps, values, task_steps, times, strict=True)
            ]
        return found

    def compare(
        self, run_ids: str | Iterable[str], metrics: str | Iterable[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        wanted = _names(metrics, "metrics")
        compared: dict[str, dict[str, Any]] = {}
        for run_id in run_ids_of(run_ids):
            self._check_run(run_id)
            if wanted is not None and len(wanted) == 1:
                chunks = self.store.list_metrics(run_id, wanted[0])
            else:
                chunks = self.store.list_metrics(run_id)
            last = last_values(chunks)
            if wanted is not None:
                last = {name: last[name] for name in wanted if name in last}
            compared[run_id] = last
        return compared

    def metrics_frame(self, run_ids: str | Iterable[str], name: str | None = None) -> Any:
        module = pandas()
        data: dict[str, list[Any]] = {
            "run_id": [],
            "name": [],
            "step": [],
            "value": [],
            "task_step": [],
            "time": [],
        }
        for run_id in run_ids_of(run_ids):
            for metric, (steps, values, task_steps, times) in sorted(
                self.columns(run_id, name).items()
            ):
                data["run_id"].extend([run_id] * len(steps))
                data["name"].extend([metric] * len(steps))
                data["step"].extend(steps)
                data["value"].extend(values)
                data["task_step"].extend(task_steps)
                data["time"].extend(times)
        return module.DataFrame(data)

    def compare_frame(
        self, run_ids: str | Iterable[str], metrics: str | Iterable[str] | None = None
    ) -> Any:
        module = pandas()
        compared = self.compare(run_ids, metrics)
        frame = module.DataFrame.from_dict(compared, orient="index")
        frame.index.name = "run_id"
        return frame

    def attachments(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        self._check_run(run_id)
        return [
            {"step": record.step_name, "name": record.name, "size": record.size,
             "sha256": record.sha256}
            for record in latest_attachments(self.store.list_attachments(run_id))
            if step is None or record.step_name == step
        ]  # fmt: skip

    def read_attachment(self, run_id: str, name: str, step: str | None = None) -> bytes:
        self._check_run(run_id)
        found = [
            record
            for record in latest_attachments(self.store.list_attachments(run_id))
            if record.name == name and (step is None or record.step_name == step)
        ]
        where = f" by step {step!r}" if step is not None else ""
        if not found:
            raise NotFoundError(f"run {run_id!r} has no attachment named {name!r}{where}")
        if len({record.position for record in found}) > 1:
            steps = ", ".join(repr(record.step_name) for record in found)
            raise InvalidInputError(
                f"run {run_id!r} has several attachments named {name!r} (from steps {steps}): "
                "pass step=... to choose one"
            )
        data = self.store.get_blob(found[-1].sha256)
        if data is None:
            raise NotFoundError(
                f"the bytes of attachment {name!r} of run {run_id!r} ({found[-1].sha256}) are "
                "missing from the store"
            )
        return data
