"""``Flightlog.browse``: the browsing questions of one store, in one namespace."""

from __future__ import annotations

from typing import Any

from ..model import StepOutline
from ..query import Queries
from ..tracked_query import TrackedQueries
from . import compare, preview, runs, series, timeline
from .filters import RunFilter


class Browser:
    """Paged, light and side-by-side reads of one store (what the web UI shows)."""

    def __init__(self, queries: Queries, tracked: TrackedQueries) -> None:
        self._queries = queries
        self._tracked = tracked

    def runs(
        self,
        selection: RunFilter | None = None,
        *,
        sort: str = "created",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> dict[str, Any]:
        """A page of runs with counts per status (see :func:`flightlog.browse.runs_page`)."""
        return runs.runs_page(
            self._queries,
            selection or RunFilter(),
            sort=sort,
            descending=descending,
            offset=offset,
            limit=limit,
        )

    def outline(self, run_id: str) -> StepOutline:
        """The run's steps, light: names, tasks, parents, statuses, times, origins."""
        return timeline.step_outline(self._queries, run_id)

    def timeline(
        self, run_id: str, first: int = 0, outline: StepOutline | None = None
    ) -> dict[str, Any]:
        """The outline as JSON-ready columns, times relative to the run's first start (pass
        the run's ``outline`` when you have read it already)."""
        return timeline.timeline(self._queries, run_id, first, outline)

    def failing_steps(
        self, run_id: str, outline: StepOutline | None = None
    ) -> list[dict[str, Any]]:
        """The metadata of the steps that failed, innermost first."""
        return timeline.failing_steps(self._queries, run_id, outline)

    def metric_series(
        self, run_id: str, name: str | None = None, points: int | None = None
    ) -> dict[str, dict[str, Any]]:
        """The run's metric series as numbers, thinned to about ``points`` points each (see
        :mod:`flightlog.browse.series`)."""
        return series.metric_series(self._tracked, run_id, name, points)

    def step_values(self, run_id: str, name: str) -> dict[str, Any]:
        """Readable previews of a step's arguments and result."""
        return preview.step_values(self._queries, run_id, name)

    def compare(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """Runs side by side: outline, arguments and last metric values, row by row."""
        return compare.compare_runs(self._queries, self._tracked, run_ids)

    def step_differences(self, first: str, second: str) -> list[dict[str, Any]]:
        """Step by step, what differs between two runs."""
        return compare.step_differences(self._queries, first, second)
