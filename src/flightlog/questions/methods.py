"""The methods that :class:`flightlog.Flightlog` gains for questions over many runs: each a
short delegation into this package."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..model import Status
from ..notebook import RunList, StepList
from ..query import Queries

if TYPE_CHECKING:
    from .runs import Metric, RunQuestions

# The questions' modules are imported when one is first asked, not with flightlog.

StatusFilter = str | Status | Iterable[str | Status] | None


class QuestionMethods:
    """Needs ``self._queries`` (set by Flightlog)."""

    _queries: Queries

    @property
    def _questions(self) -> RunQuestions:
        from .runs import RunQuestions

        return RunQuestions(self._queries)

    def list_runs(
        self,
        status: StatusFilter = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        *,
        since: Any = None,
        until: Any = None,
        offset: int = 0,
        search: str | None = None,
        params: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        metric: Metric | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, as metadata dicts, matching every filter given.

        ``since``/``until`` bound the creation time (a datetime or date, an ISO date or time,
        epoch seconds, or an age: ``"2h"``, ``"30d"``); ``search`` finds text (any case) in
        the run id, workflow, tag, error type or message, or metadata; ``params`` the run's
        arguments by parameter name (``{"lr": 0.1}``); ``metadata`` values of its user
        metadata; ``metric`` a test of a metric's last value (``("loss", "<", 0.3)``);
        ``offset`` skips that many matches, ``limit`` gives at most that many."""
        return RunList(
            self._questions.list_runs(
                status,
                workflow,
                tag,
                limit,
                since=since,
                until=until,
                offset=offset,
                search=search,
                params=params,
                metadata=metadata,
                metric=metric,
            )
        )

    def counts(
        self,
        by: str = "status",
        workflow: str | None = None,
        since: Any = None,
        until: Any = None,
        tag: str | None = None,
    ) -> dict[str, dict[str, int]]:
        """``{"runs": {status: n}, "steps": {status: n}}`` over the runs selected (by
        workflow, tag, and creation time as in ``list_runs``), from the store's indexes."""
        return self._questions.counts(by, workflow, since, until, tag)

    def steps(
        self, run_id: str, *, offset: int = 0, limit: int | None = None, results: bool = False
    ) -> list[dict[str, Any]]:
        """The run's steps in call order, as metadata dicts (``offset`` and ``limit`` give
        a page of them; ``results``: each with its decoded ``result`` too, for a whole run)."""
        if offset == 0 and limit is None:
            return self._queries.steps(run_id, results=results)
        if results:
            raise InvalidInputError(
                "steps(results=True) reads a whole run: not with offset or limit"
            )
        return StepList(self._questions.steps(run_id, offset=offset, limit=limit))

    def iter_steps(
        self, run_id: str, *, page: int = 1000, results: bool = False
    ) -> Iterator[dict[str, Any]]:
        """The run's steps in call order, read from the store ``page`` at a time (``page``
        a positive integer); ``results``: each with its decoded ``result`` too."""
        return self._questions.iter_steps(run_id, page=page, results=results)

    # -- tables --------------------------------------------------------------------------------
    def runs_frame(self, *args: Any, library: str = "pandas", **filters: Any) -> Any:
        """The runs that ``list_runs(*args, **filters)`` selects, one row each, as a pandas
        DataFrame (or polars, ``library="polars"``); see ``flightlog.questions.frames``."""
        from .frames import frame, run_columns

        runs = self._questions.runs(*args, **filters)
        return frame(run_columns(runs), library)

    def steps_frame(self, run_id: str, *, library: str = "pandas") -> Any:
        """The run's steps, one row each, as a DataFrame (pandas, or polars)."""
        from .frames import Frames

        return Frames(self._queries).steps_frame(run_id, library)

    def metrics_frame(
        self, run_ids: str | Iterable[str], name: str | None = None, *, library: str = "pandas"
    ) -> Any:
        """The points of one or more runs as a DataFrame (pandas, or polars): columns
        run_id, name, step, value, task_step, time."""
        from .frames import Frames

        return Frames(self._queries).metrics_frame(run_ids, name, library)

    def export_parquet(
        self,
        directory: str | os.PathLike[str],
        runs: str | Iterable[str] | None = None,
        **filters: Any,
    ) -> dict[str, Any]:
        """Write ``runs.parquet``, ``steps.parquet`` and ``metrics.parquet`` under
        ``directory``: the runs named (a run id or several), else those that
        ``list_runs(**filters)`` selects (every run, without filters). Needs pyarrow."""
        if runs is None:
            run_ids = [run.run_id for run in self._questions.runs(**filters)]
        elif filters:
            raise InvalidInputError("give runs=... or list_runs filters, not both")
        else:
            run_ids = [runs] if isinstance(runs, str) else list(runs)
        from .parquet import export_parquet

        return export_parquet(self._queries, directory, run_ids)
