"""Questions over many runs for stores without a query engine (memory, JSON files, plugins
built on them): the reference behaviour of :mod:`flightlog.stores.sql_selection`, computed
by reading the runs and their steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..model import MetricChunk, Run, Status, Step
from ..selection import RunSelection, StatusCounts, compares, last_point_of, run_matches


class PythonSelection:
    """``select_runs``, ``count_statuses`` and ``steps_page`` over ``list_runs`` and
    ``list_steps``."""

    if TYPE_CHECKING:

        def list_runs(
            self,
            *,
            statuses: Iterable[Status] | None = None,
            workflow: str | None = None,
            tag: str | None = None,
            limit: int | None = None,
        ) -> list[Run]: ...

        def list_steps(self, run_id: str) -> list[Step]: ...

        def list_metrics(self, run_id: str, name: str | None = None) -> list[MetricChunk]: ...

    def _selected(self, selection: RunSelection) -> list[Run]:
        runs = self.list_runs(
            statuses=selection.statuses, workflow=selection.workflow, tag=selection.tag
        )
        names = selection.metric_names
        bounds = selection.metric_bounds
        return [
            run
            for run in runs
            if run_matches(run, selection)
            and all(self.list_metrics(run.run_id, name) for name in names)
            and all(self._passes(run.run_id, *bound) for bound in bounds)
        ]

    def _passes(self, run_id: str, name: str, symbol: str, bound: float) -> bool:
        point = last_point_of(self.list_metrics(run_id, name))
        return point is not None and compares(point[1], symbol, bound)

    def metrics_of_runs(self, run_ids: Sequence[str], name: str) -> dict[str, list[MetricChunk]]:
        found: dict[str, list[MetricChunk]] = {}
        for run_id in run_ids:
            chunks = self.list_metrics(run_id, name)
            if chunks:
                found[run_id] = chunks
        return found

    def select_runs(
        self, selection: RunSelection, *, offset: int = 0, limit: int | None = None
    ) -> list[Run]:
        runs = self._selected(selection)[offset:]
        return runs if limit is None else runs[:limit]

    def count_statuses(self, selection: RunSelection) -> StatusCounts:
        counts = StatusCounts()
        for run in self._selected(selection):
            counts.runs[run.status] = counts.runs.get(run.status, 0) + 1
            for step in self.list_steps(run.run_id):
                counts.steps[step.status] = counts.steps.get(step.status, 0) + 1
        return counts

    def steps_page(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Step]:
        steps = self.list_steps(run_id)
        if after is not None:
            steps = [step for step in steps if step.position > after]
        steps = steps[offset:]
        return steps if limit is None else steps[:limit]
