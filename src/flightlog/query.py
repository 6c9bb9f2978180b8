"""The Python query API: what happened, as plain dicts (Ray Workflows' metadata shape).

Every face (command line, web page, exports) reads through these functions; none of them
knows SQL or file layouts.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import codec
from .codec_blobs import out_of_line, unread
from .codec_plain import NOT_PLAIN, decode_plain
from .errors import FlightlogError, InvalidInputError, NotFoundError
from .model import Origin, Run, Status, Step
from .notebook import RecordInfo, RunList, StepList
from .resources.view import PREFIX as RESOURCE_PREFIX
from .resources.view import ResourceView
from .runtime.liveness import effective_end, effective_status
from .stores import StepRowStore, Store, UncountedRunStore

if TYPE_CHECKING:
    from .questions.step_rows import TaskParts

_EXECUTED = Origin.EXECUTED
ROWS_PAGE = 10_000  # steps read at a time from a StepRowStore by steps()


class NoOutputError(FlightlogError):
    """The run has no output: it has not succeeded (yet)."""


def _stats(start: float | None, end: float | None) -> dict[str, Any]:
    """Ray's ``stats``: ``end_time`` (and the duration) only once it has ended."""
    stats: dict[str, Any] = {"start_time": start}
    if end is not None:
        stats["end_time"] = end
        if start is not None:
            stats["duration"] = end - start
    return stats


def parse_statuses(status: str | Status | Iterable[str | Status] | None) -> set[Status] | None:
    if status is None:
        return None
    items = [status] if isinstance(status, (str, Status)) else list(status)
    found = set()
    for item in items:
        try:
            found.add(Status(str(item).upper()))
        except ValueError:
            known = ", ".join(member.value for member in Status)
            raise InvalidInputError(f"unknown status {item!r}; known: {known}") from None
    return found


class Queries:
    """Read-only questions about a store's records."""

    def __init__(
        self, store: Store, *, allow_pickle: bool = False, allow_imports: codec.Imports = False
    ) -> None:
        self.store = store
        self.allow_pickle = allow_pickle
        self.allow_imports = allow_imports
        # Resource collections, seen as runs (``resource:<collection>``) of steps (resources).
        self.resources = ResourceView(store)

    # -- runs ----------------------------------------------------------------------------------
    def run(self, run_id: str) -> Run:
        run = self.store.get_run(run_id) or self.resources.run(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r} in {self.store.url}")
        return run

    def run_metadata(self, run: Run) -> dict[str, Any]:
        """The run as Ray describes it (``stats``: its latest attempt), plus its first start
        (``created_time``) and every attempt, oldest first (``attempts``)."""
        status = effective_status(run)
        end = effective_end(run, status)
        return {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "status": status.value,
            "tag": run.tag,
            "user_metadata": dict(run.user_metadata),
            "stats": _stats(run.start_time, end),
            "created_time": run.created_time,
            "attempts": [attempt.to_dict() for attempt in run.attempt_records(status, end)],
            "arguments": self._described(run.arguments),
            "environment": dict(run.environment),
            "error": None if run.error is None else run.error.to_dict(),
            "resumes": run.resumes,
            "step_count": run.step_count,
        }

    def _arguments(self, text: str | None) -> Any:
        if text is None:
            return None
        try:
            return self.decode(text)
        except FlightlogError as error:
            return {"unreadable": str(error)}

    def _described(self, text: str | None) -> Any:
        """Arguments in a run's or step's metadata (and so in listings): values stored out of
        line are described (``codec.Undecoded``), not read; :meth:`run_arguments` reads a
        run's."""
        if text is None or '"blob":"' not in text:
            return self._arguments(text)
        with unread():
            try:
                return self._decode(text)
            except FlightlogError as error:
                return {"unreadable": str(error)}

    def run_arguments(self, run_id: str) -> Any:
        """The arguments the run was called with, as recorded (``{"args": [...], "kwargs":
        {...}}``), values stored out of line read from the store's blobs."""
        run = self.run(run_id)
        return None if run.arguments is None else self.decode(run.arguments)

    def get_metadata(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        run = self.run(run_id)
        if name is None:
            return RecordInfo(self.run_metadata(run))
        step = self._step(run_id, name)
        return RecordInfo(self.step_metadata(step, {}))

    def _step(self, run_id: str, name: str) -> Step:
        step = self.store.get_step(run_id, name) or self.resources.step(run_id, name)
        if step is None:
            raise NotFoundError(f"run {run_id!r} has no step named {name!r}")
        return step

    def get_status(self, run_id: str) -> str:
        if isinstance(self.store, UncountedRunStore):  # a live run's steps are not counted
            run = self.store.get_run_uncounted(run_id)
            if run is not None:
                return effective_status(run).value
        return effective_status(self.run(run_id)).value

    def get_output(self, run_id: str) -> Any:
        run = self.run(run_id)
        status = effective_status(run)
        if status is not Status.SUCCESSFUL:
            detail = f": {run.error.type}: {run.error.message}" if run.error else ""
            raise NoOutputError(f"run {run_id!r} is {status.value}; it has no output{detail}")
        return None if run.output is None else self.decode(run.output)

    def list_runs(
        self,
        status: str | Status | Iterable[str | Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
        *,
        since: float | None = None,
        until: float | None = None,
        search: str | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidInputError(f"limit must be a non-negative integer, not {limit!r}")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidInputError(f"offset must be a non-negative integer, not {offset!r}")
        if since is not None or until is not None or search is not None or offset:
            found = self.list_runs(status, workflow, tag)
            found = [
                run for run in found if run_matches(run, since=since, until=until, search=search)
            ]
            return RunList(found[offset:] if limit is None else found[offset : offset + limit])
        wanted = parse_statuses(status)
        stored = None
        if wanted is not None:
            stored = set(wanted)
            if wanted & {Status.RUNNING, Status.RESUMABLE}:
                stored |= {Status.RUNNING, Status.RESUMABLE}
        derived = wanted is not None and bool(wanted & {Status.RUNNING, Status.RESUMABLE})
        runs = self.store.list_runs(
            statuses=stored, workflow=workflow, tag=tag, limit=None if derived else limit
        )
        if tag is None and (workflow is None or workflow.startswith(RESOURCE_PREFIX)):
            collections = self.resources.runs(
                None if workflow is None else workflow[len(RESOURCE_PREFIX) :]
            )
            if collections:
                runs = sorted([*runs, *collections], key=_created, reverse=True)
        found = []
        for run in runs:
            metadata = self.run_metadata(run)
            if wanted is not None and Status(metadata["status"]) not in wanted:
                continue
            found.append(metadata)
            if limit is not None and len(found) >= limit:
                break
        return RunList(found)

    # -- steps ---------------------------------------------------------------------------------
    def step_metadata(self, step: Step, tasks: dict[str, Any]) -> dict[str, Any]:
        # ``tasks`` caches, per task_id, the task's options and metadata (a step's own are
        # laid over copies of them): runs of many steps of few tasks read each task once.
        found = tasks.get(step.task_id)
        if found is None:
            task = self.store.get_task(step.task_id)
            found = tasks[step.task_id] = (
                (dict(task.options), dict(task.user_metadata)) if task else ({}, {})
            )
        options = {**found[0], **step.options} if step.options else found[0].copy()
        metadata = {**found[1], **step.user_metadata} if step.user_metadata else found[1].copy()
        start, end = step.start_time, step.end_time
        if end is None:
            stats: dict[str, Any] = {"start_time": start}
        elif start is None:
            stats = {"start_time": start, "end_time": end}
        else:
            stats = {"start_time": start, "end_time": end, "duration": end - start}
        error = None if step.error is None else step.error.to_dict()
        if step.attempts or step.origin is not _EXECUTED or start is None:
            attempts = [attempt.to_dict() for attempt in step.attempt_records()]
        else:  # the implicit single attempt (see Step.attempt_records), without making it
            attempts = [
                {
                    "attempt_number": 1,
                    "start_time": start,
                    "end_time": end,
                    "duration": None if end is None else end - start,
                    "status": step.status._value_,
                    "error": None if error is None else dict(error),
                }
            ]
        arguments = step.arguments
        if arguments is not None:
            plain = decode_plain(arguments)
            arguments = self._described(arguments) if plain is NOT_PLAIN else plain
        return {
            "name": step.name,
            "run_id": step.run_id,
            "position": step.position,
            "task_name": step.task_name,
            "task_id": step.task_id,
            "execution_id": step.execution_id,
            "arguments": arguments,
            "parent": step.parent,
            "status": step.status._value_,  # not .value: a slow descriptor on Python 3.11
            "step_options": options,
            "user_metadata": metadata,
            "stats": stats,
            "attempts": attempts,
            "error": error,
            "log": step.log,
            "origin": step.origin._value_,
            "source_run": step.source_run,
            "reason": step.reason,
        }

    def steps(self, run_id: str, *, results: bool = False) -> list[dict[str, Any]]:
        self.run(run_id)
        tasks: dict[str, Any] = {}
        with collector_paused():
            if isinstance(self.store, StepRowStore):  # the dicts straight from rows
                found = self._steps_from_rows(self.store, run_id, tasks, results)
                if found or not run_id.startswith(RESOURCE_PREFIX):
                    return StepList(found)
            steps = self.store.list_steps(run_id) or self.resources.steps(run_id)
            found = [self.step_metadata(step, tasks) for step in steps]
            if results:  # each step's decoded result (None for a step without one)
                for step, metadata in zip(steps, found, strict=True):
                    metadata["result"] = self._arguments(step.result)
        return StepList(found)

    def _steps_from_rows(
        self, store: StepRowStore, run_id: str, tasks: dict[str, Any], results: bool
    ) -> list[dict[str, Any]]:
        """The run's steps from the store's rows, read ``ROWS_PAGE`` at a time: the memory of
        each page's rows serves the next page's (a run of 100,000 steps is listed a tenth
        faster). (Steps a live run records meanwhile are listed as each page finds them.)"""
        found: list[dict[str, Any]] = []
        after = None
        while True:
            rows = store.step_rows(run_id, after=after, limit=ROWS_PAGE, results=results)
            found += self.step_dicts(run_id, rows, tasks, results=results)
            if len(rows) < ROWS_PAGE:
                return found
            after = rows[-1][0]

    def step_dicts(
        self,
        run_id: str,
        rows: list[tuple[Any, ...]],
        tasks: dict[str, TaskParts],
        *,
        results: bool = False,
    ) -> list[dict[str, Any]]:
        """What :meth:`step_metadata` makes of each step, from the rows of a
        :class:`~flightlog.stores.StepRowStore` (``tasks`` caches each task's parts)."""
        from .questions.step_rows import step_dicts  # (loaded when first listed)

        get_task = self.store.get_task
        return step_dicts(
            rows,
            run_id,
            tasks,
            get_task,
            self._arguments,
            results=results,
            describe=self._described,
        )

    def step_result(self, run_id: str, name: str) -> Any:
        step = self._step(run_id, name)
        if step.status is not Status.SUCCESSFUL or step.result is None:
            raise NoOutputError(f"step {name!r} of run {run_id!r} is {step.status.value}")
        return self.decode(step.result)

    def decode(self, text: str) -> Any:
        """A stored value; a class whose module is not imported (and not allowed) comes back
        as a ``codec.Undecoded`` placeholder, importing nothing."""
        if '"blob":"' in text:  # a value stored out of line: read from the store's blobs
            with out_of_line(self.store):
                return self._decode(text)
        return self._decode(text)

    def _decode(self, text: str) -> Any:
        return codec.decode(
            text,
            allow_pickle=self.allow_pickle,
            allow_imports=self.allow_imports,
            placeholders=True,
        )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while many records are built at once: it
    would run again and again over them as they grow, find nothing to free, and take a third
    of the time of listing a run of 100,000 steps. (The pause is process-wide; it ends, and
    the collector runs as usual, as soon as the records are built.)

    At the end, what was made meanwhile joins the oldest generation at once (``gc.freeze()``
    then ``gc.unfreeze()``, which move objects between lists without looking at them),
    where the collector would otherwise go over every new record once more, right away, and
    again later as they age: a fifth of the time of listing that run. (Young garbage made
    meanwhile, if any, waits for the next full collection. Not done when the program has
    frozen objects of its own: ``unfreeze`` would release them too.)"""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def run_matches(
    run: dict[str, Any], *, since: float | None, until: float | None, search: str | None
) -> bool:
    """Whether a run (its metadata) was created in ``[since, until)`` and, with ``search``,
    holds that text (case-insensitive) in its id, workflow, tag, arguments, metadata or
    error message."""
    created = run["created_time"] or run["stats"].get("start_time") or 0.0
    if since is not None and created < since:
        return False
    if until is not None and created >= until:
        return False
    if search:
        error = run["error"] or {}
        haystack = "\n".join(
            (
                run["run_id"],
                run["workflow"] or "",
                run["tag"] or "",
                json.dumps(run["arguments"], default=str),
                json.dumps(run["user_metadata"], default=str),
                str(error.get("type") or ""),
                str(error.get("message") or ""),
            )
        )
        return search.casefold() in haystack.casefold()
    return True


def named_arguments(run: dict[str, Any]) -> dict[str, Any] | None:
    """A run's arguments by parameter name (its recorded ``args`` named after the parameters
    of its workflow, then its ``kwargs``), or None when they were not recorded; arguments
    past the named parameters are listed under the name of the one that takes them
    (``*rest``), else ``*args``."""
    arguments = run["arguments"]
    if not isinstance(arguments, dict) or set(arguments) - {"args", "kwargs"}:
        return arguments if isinstance(arguments, dict) else None
    entry = run["environment"].get("entry") or {}
    names: list[str] = []
    rest = "*args"  # the name of the parameter taking extra positional arguments (*rest)
    for name in entry.get("parameters") or []:
        if not isinstance(name, str):
            continue
        if name.startswith("*"):
            if not name.startswith("**"):
                rest = name
            break
        names.append(name)
    positional = list(arguments.get("args") or [])
    named: dict[str, Any] = dict(zip(names, positional, strict=False))
    if len(positional) > len(names):
        named[rest] = positional[len(names) :]
    named.update(arguments.get("kwargs") or {})
    return named


def _created(run: Run) -> float:
    return run.created_time or 0.0
