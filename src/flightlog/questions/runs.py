"""Runs selected by status, workflow, tag, date, text, argument, metadata and metric; counts
by status; a run's steps a page at a time.

The store answers what it can (see :class:`~flightlog.selection.RunSelection`: in SQL, from
its indexes); what it cannot — a status derived when read (RUNNING or RESUMABLE), an
argument's or metadata's exact value, a metric — is checked here, on the runs it gives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import codec
from ..codec_blobs import out_of_line
from ..errors import FlightlogError, InvalidInputError
from ..model import MetricChunk, Run, Status, Step, TaskRecord
from ..named_arguments import LONG
from ..query import Queries, collector_paused, parse_statuses
from ..resources.view import PREFIX as RESOURCE_PREFIX
from ..runtime.liveness import effective_status
from ..selection import METRIC_OPERATORS, RunSelection
from ..stores import StepRowStore, Store
from ..tracked_query import last_values
from ..tracking.parameters import decoded_parameters
from .stored_text import argument_text, metadata_texts, parameter_matches, same_value
from .times import parse_time

_OPERATORS = METRIC_OPERATORS
_LARGEST = 2**63 - 1  # SQLite's and PostgreSQL's largest integer
_EXACT = 2**53  # the integers a float holds exactly
_ORDERS = frozenset({"<", "<=", ">", ">="})
_LIVE = frozenset({Status.RUNNING, Status.RESUMABLE})
PAGE = 500
LARGEST_PAGE = 8000
Metric = tuple[str, str, Any]


def _count(value: object, what: str) -> int:
    """A limit or offset; one beyond what a store's integers hold is as good as the largest."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{what} must be a non-negative integer, not {value!r}")
    return min(value, _LARGEST)


def _mapping(value: object, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise InvalidInputError(f"{what} must be a dict with str keys, not {value!r}")
    return dict(value)


def _metric(value: object) -> Metric | None:
    if value is None:
        return None
    if (
        not isinstance(value, tuple | list)
        or len(value) != 3
        or not isinstance(value[0], str)
        or value[1] not in _OPERATORS
    ):
        known = " ".join(_OPERATORS)
        raise InvalidInputError(
            f"metric must be (name, operator, value) with an operator of {known}, "
            f"e.g. ('loss', '<', 0.3); not {value!r}"
        )
    if value[1] in _ORDERS and (
        isinstance(value[2], bool) or not isinstance(value[2], int | float)
    ):
        raise InvalidInputError(
            f"metric {value[0]!r} {value[1]} needs a number to compare with, not {value[2]!r}"
        )
    return (value[0], value[1], value[2])


def _texts(parameters: str) -> dict[str, str]:
    """A run's parameters by name (``Run.parameters``): each value's stored text."""
    try:
        named = json.loads(parameters)
    except ValueError:
        return {}
    if not isinstance(named, dict):
        return {}
    return {key: text for key, text in named.items() if isinstance(text, str)}


def _bounds(metric: Metric | None) -> tuple[tuple[str, str, float], ...]:
    """What a store may compare itself: a metric's last value with a finite number."""
    if metric is None:
        return ()
    name, symbol, bound = metric
    if isinstance(bound, bool) or not isinstance(bound, int | float):
        return ()
    if not math.isfinite(bound) or abs(bound) > _EXACT:
        return ()
    return ((name, symbol, float(bound)),)


class RunQuestions:
    """``list_runs`` with every filter, ``counts`` and paged ``steps`` over one store."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries
        self.store = queries.store

    def selection(
        self,
        *,
        status: Any = None,
        workflow: str | None = None,
        tag: str | None = None,
        since: Any = None,
        until: Any = None,
        search: str | None = None,
        params: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        metric: Metric | None = None,
    ) -> tuple[RunSelection, set[Status] | None]:
        """What the store is asked, and the statuses wanted (derived ones among them)."""
        wanted = parse_statuses(status)
        stored = None
        if wanted is not None:
            stored = set(wanted)
            if wanted & _LIVE:
                stored |= _LIVE
        if search is not None and not isinstance(search, str):
            raise InvalidInputError(f"search must be a str, not {search!r}")
        wanted_params = _mapping(params, "params")
        wanted_metadata = _mapping(metadata, "metadata")
        selection = RunSelection(
            statuses=None if stored is None else frozenset(stored),
            workflow=workflow,
            tag=tag,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            search=search,
            metadata_containing=metadata_texts(wanted_metadata),
            parameters=tuple(argument_text(key, value) for key, value in wanted_params.items()),
            metric_names=() if metric is None else (metric[0],),
            metric_bounds=_bounds(metric),
        )
        return selection, wanted

    def list_runs(
        self,
        status: Any = None,
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
        return [
            self.queries.run_metadata(run)
            for run in self.runs(
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
        ]

    def runs(
        self,
        status: Any = None,
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
    ) -> list[Run]:
        """The runs (records) that ``list_runs`` describes."""
        if limit is not None:
            limit = _count(limit, "limit")
        offset = _count(offset, "offset")
        selection, wanted = self.selection(
            status=status,
            workflow=workflow,
            tag=tag,
            since=since,
            until=until,
            search=search,
            params=params,
            metadata=metadata,
            metric=_metric(metric),
        )
        checks = self._checks(wanted, params or {}, metadata or {}, _metric(metric))
        plain = since is None and until is None and search is None
        collections = (
            plain
            and not params
            and not metadata
            and metric is None
            and tag is None
            and (workflow is None or workflow.startswith(RESOURCE_PREFIX))
        )
        if collections:
            name = None if workflow is None else workflow[len(RESOURCE_PREFIX) :]
            resources = self.queries.resources.runs(name)
            if resources:  # few: merged with the runs by creation time
                every = self._matching(self.store.select_runs(selection), checks)
                merged = sorted([*every, *resources], key=_created, reverse=True)
                merged = [run for run in merged if all(check(run) for check in checks)]
                merged = merged[offset:]
                return merged if limit is None else merged[:limit]
        if not checks:
            return self.store.select_runs(selection, offset=offset, limit=limit)
        found: list[Run] = []
        skip = offset
        page = PAGE if limit is None else max(50, min(PAGE, 2 * (offset + limit)))
        for run in self._pages(selection, checks, page):
            if skip:
                skip -= 1
                continue
            if limit is not None and len(found) >= limit:
                break
            found.append(run)
        return found

    def _pages(
        self, selection: RunSelection, checks: list[Callable[[Run], bool]], size: int
    ) -> Iterator[Run]:
        start = 0
        while True:
            page = self.store.select_runs(selection, offset=start, limit=size)
            yield from self._matching(page, checks)
            if len(page) < size:
                return
            start += size
            size = min(2 * size, LARGEST_PAGE)  # few matches: fewer, larger pages

    @staticmethod
    def _matching(runs: Iterable[Run], checks: list[Callable[[Run], bool]]) -> list[Run]:
        """The runs that pass every check, one check at a time: a check that reads the store
        (a metric) reads it at once for the runs that passed the ones before."""
        kept = list(runs)
        for check in checks:
            if isinstance(check, MetricCheck):
                check.prepare(kept)
            kept = [run for run in kept if check(run)]
        return kept

    def _checks(
        self,
        wanted: set[Status] | None,
        params: Mapping[str, Any],
        metadata: Mapping[str, Any],
        metric: Metric | None,
    ) -> list[Callable[[Run], bool]]:
        checks: list[Callable[[Run], bool]] = []
        if wanted is not None and wanted & _LIVE:
            checks.append(lambda run: effective_status(run) in wanted)
        if params:

            def decode(text: str) -> Any:
                with out_of_line(self.store):  # values large enough to be in the blobs
                    return codec.decode(text, placeholders=True)

            def by_parameters(run: Run) -> bool:
                texts = None if run.parameters is None else _texts(run.parameters)
                if texts is not None and all(texts.get(key) != LONG for key in params):
                    return all(  # kept by name: each value on its own
                        parameter_matches(texts.get(key), wanted, decode)
                        for key, wanted in params.items()
                    )
                with out_of_line(self.store):  # arguments large enough to be in the blobs
                    named = decoded_parameters(run)
                return all(key in named and same_value(named[key], v) for key, v in params.items())

            checks.append(by_parameters)
        if metadata:

            def by_metadata(run: Run) -> bool:
                stored = run.user_metadata
                return all(
                    key in stored and same_value(stored[key], v) for key, v in metadata.items()
                )

            checks.append(by_metadata)
        if metric is not None:
            checks.append(MetricCheck(self.store, metric))
        return checks

    # -- counts --------------------------------------------------------------------------------
    def counts(
        self,
        by: str = "status",
        workflow: str | None = None,
        since: Any = None,
        until: Any = None,
        tag: str | None = None,
    ) -> dict[str, dict[str, int]]:
        if by != "status":
            raise InvalidInputError(f"counts can be had by 'status' only, not by {by!r}")
        selection, _ = self.selection(workflow=workflow, tag=tag, since=since, until=until)
        counts = self.store.count_statuses(selection)
        runs = dict(counts.runs)
        if runs.get(Status.RUNNING):  # running or RESUMABLE: told apart as each is read
            del runs[Status.RUNNING]
            live = RunSelection(
                statuses=frozenset({Status.RUNNING}),
                workflow=selection.workflow,
                tag=selection.tag,
                since=selection.since,
                until=selection.until,
            )
            for run in self.store.select_runs(live):
                status = effective_status(run)
                runs[status] = runs.get(status, 0) + 1
        return {
            "runs": {status.value: runs[status] for status in Status if runs.get(status)},
            "steps": {
                status.value: counts.steps[status] for status in Status if counts.steps.get(status)
            },
        }

    # -- steps ---------------------------------------------------------------------------------
    def steps(
        self, run_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        offset = _count(offset, "offset")
        if limit is not None:
            limit = _count(limit, "limit")
        self.queries.run(run_id)
        if isinstance(self.store, StepRowStore):
            with collector_paused():
                rows = self.store.step_rows(run_id, offset=offset, limit=limit, results=False)
                if rows or not run_id.startswith(RESOURCE_PREFIX):
                    return self.queries.step_dicts(run_id, rows, {})
        tasks: dict[str, TaskRecord | None] = {}
        steps = self.store.steps_page(run_id, offset=offset, limit=limit)
        if not steps and run_id.startswith(RESOURCE_PREFIX):
            every = self.queries.resources.steps(run_id)[offset:]
            steps = every if limit is None else every[:limit]
        return [self.queries.step_metadata(step, tasks) for step in steps]

    def iter_steps(
        self, run_id: str, *, page: int = 1000, results: bool = False
    ) -> Iterator[dict[str, Any]]:
        """The run's steps in call order, read ``page`` at a time: a huge run is never held
        whole. The page size and the run are checked at once (not at the first step);
        ``results``: each step with its decoded ``result`` too."""
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise InvalidInputError(f"page must be a positive integer, not {page!r}")
        self.queries.run(run_id)
        return self._step_pages(run_id, page, results)

    def _step_pages(self, run_id: str, page: int, results: bool) -> Iterator[dict[str, Any]]:
        if run_id.startswith(RESOURCE_PREFIX) and self.store.get_run(run_id) is None:
            yield from self._described(self.queries.resources.steps(run_id), results)
            return
        after: int | None = None
        if isinstance(self.store, StepRowStore):  # the dicts straight from rows
            tasks: dict[str, Any] = {}
            while True:
                rows = self.store.step_rows(run_id, after=after, limit=page, results=results)
                with collector_paused():
                    found = self.queries.step_dicts(run_id, rows, tasks, results=results)
                yield from found
                if len(rows) < page:
                    return
                after = rows[-1][0]
        while True:
            steps: list[Step] = self.store.steps_page(run_id, after=after, limit=page)
            yield from self._described(steps, results)
            if len(steps) < page:
                return
            after = steps[-1].position

    def _described(self, steps: list[Step], results: bool) -> list[dict[str, Any]]:
        """A page of steps as metadata dicts (built with the collector paused, as
        ``steps()`` does), each with its decoded result if ``results``."""
        tasks: dict[str, TaskRecord | None] = {}
        with collector_paused():
            found = [self.queries.step_metadata(step, tasks) for step in steps]
            if results:
                for step, metadata in zip(steps, found, strict=True):
                    metadata["result"] = self._result(step.result)
        return found

    def _result(self, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return self.queries.decode(text)
        except FlightlogError as error:  # a result that cannot be decoded here
            return {"unreadable": str(error)}


class MetricCheck:
    """Whether a run's last value of a metric passes a comparison; the values of many runs
    are read in one question to the store (:meth:`prepare`)."""

    def __init__(self, store: Store, metric: Metric) -> None:
        self.store = store
        self.name, symbol, self.bound = metric
        self.compare = _OPERATORS[symbol]
        self.chunks: dict[str, list[MetricChunk]] = {}
        self.read: set[str] = set()

    def prepare(self, runs: list[Run]) -> None:
        """Read the metric of these runs at once (forgetting those read before)."""
        ids = [run.run_id for run in runs]
        self.chunks = self.store.metrics_of_runs(ids, self.name)
        self.read = set(ids)

    def __call__(self, run: Run) -> bool:
        if run.run_id in self.read:
            chunks = self.chunks.get(run.run_id, [])
        else:
            chunks = self.store.list_metrics(run.run_id, self.name)
        last = last_values(chunks)
        if self.name not in last:
            return False
        try:
            return bool(self.compare(last[self.name], self.bound))
        except TypeError:
            return False


def _created(run: Run) -> float:
    return run.created_time or 0.0


__all__ = ["RunQuestions"]
