"""``flightlog.open()`` and the object it returns: decorators and questions over one store."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from .errors import ConfigurationError, NotFoundError
from .explain import Explainer
from .model import Run, Status, TaskRecord
from .query import Queries
from .resources.api import ResourceMethods, data_root
from .resources.engine import ResourceEngine
from .runtime.control import cancel_run
from .runtime.recorder import Recorder
from .runtime.task import Task, TaskOptions
from .runtime.workflow import Workflow
from .stores import Store, open_store
from .tracked_query import TrackedQueries
from .tracking.trackers import Tracker
from .tracking_api import TrackingMethods, tracking_hooks

R = TypeVar("R")

DEFAULT_URL = "sqlite:///.flightlog/flightlog.db"
ENVIRONMENT_VARIABLE = "FLIGHTLOG_URL"


def import_runnable(module: str | None, qualname: str | None) -> Workflow[Any] | Task[Any] | None:
    """The workflow or task object at ``module``/``qualname``, or None."""
    if not module or not qualname:
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, (Workflow, Task)) else None


def default_url() -> str:
    """``$FLIGHTLOG_URL``, else an SQLite file under ``.flightlog/`` in the working directory."""
    return os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_URL


class Flightlog(ResourceMethods, TrackingMethods):
    """A recorder bound to one store: make tasks, workflows and resource collections, ask
    what happened."""

    def __init__(
        self,
        store: Store,
        *,
        serializer: str = "json",
        allow_pickle: bool = False,
        data_dir: str | os.PathLike[str] | None = None,
        trackers: Iterable[Tracker] | None = None,
        track_prefix: str | None = None,
    ):
        if serializer not in ("json", "pickle"):
            raise ConfigurationError(f"unknown serializer {serializer!r}; use 'json' or 'pickle'")
        self.store = store
        self._tracking = tracking_hooks(trackers, track_prefix)
        self._tracked = TrackedQueries(store)
        self._recorder = Recorder(
            store, serializer=serializer, allow_pickle=allow_pickle, hooks=self._tracking
        )
        self._queries = Queries(store, allow_pickle=self._recorder.allow_pickle)
        self._runnables: dict[str, Workflow[Any] | Task[Any]] = {}
        self._tasks: dict[str, Task[Any]] = {}
        self._explainer = Explainer(store, self._current_task)
        self._resources = ResourceEngine(
            store, data_root(store, data_dir), serializer=serializer, allow_pickle=allow_pickle
        )

    @property
    def url(self) -> str:
        return self.store.url

    # -- decorators ----------------------------------------------------------------------------
    @overload
    def task(self, function: Callable[..., R], /) -> Task[R]: ...

    @overload
    def task(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        version: str | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        timeout: float | None = None,
        metadata: dict[str, Any] | None = None,
        cache: bool = False,
        serializer: str | None = None,
    ) -> Callable[[Callable[..., R]], Task[R]]: ...

    def task(
        self,
        function: Callable[..., R] | None = None,
        /,
        *,
        name: str | None = None,
        version: str | None = None,
        retries: int = 0,
        retry_delay: float = 0.0,
        timeout: float | None = None,
        metadata: dict[str, Any] | None = None,
        cache: bool = False,
        serializer: str | None = None,
    ) -> Task[R] | Callable[[Callable[..., R]], Task[R]]:
        """Record every call of the function as a step (``@fl.task`` or ``@fl.task(...)``)."""
        options = TaskOptions(
            name=name,
            version=version,
            retries=retries,
            retry_delay=retry_delay,
            timeout=timeout,
            metadata=metadata or {},
            cache=cache,
            serializer=serializer or self._recorder.serializer,
        )

        def decorate(target: Callable[..., R]) -> Task[R]:
            task = Task(self._recorder, target, options)
            self._runnables.setdefault(task.name, task)
            self._tasks[task.name] = task
            return task

        return decorate if function is None else decorate(function)

    @overload
    def workflow(self, function: Callable[..., R], /) -> Workflow[R]: ...

    @overload
    def workflow(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Callable[[Callable[..., R]], Workflow[R]]: ...

    def workflow(
        self,
        function: Callable[..., R] | None = None,
        /,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Workflow[R] | Callable[[Callable[..., R]], Workflow[R]]:
        """Record every call of the function as a run (``@fl.workflow`` or with options)."""

        def decorate(target: Callable[..., R]) -> Workflow[R]:
            workflow = Workflow(self._recorder, target, name=name, metadata=metadata)
            workflow.planner = self._plan_run
            self._runnables[workflow.name] = workflow
            return workflow

        return decorate if function is None else decorate(function)

    # -- questions -----------------------------------------------------------------------------
    def get_metadata(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        """A run's metadata, or one step's when ``name`` is given (Ray Workflows' shape)."""
        return self._queries.get_metadata(run_id, name)

    def get_status(self, run_id: str) -> str:
        """PENDING, RUNNING, SUCCESSFUL, FAILED, RESUMABLE or CANCELED."""
        return self._queries.get_status(run_id)

    def get_output(self, run_id: str) -> Any:
        """The value the run returned; NoOutputError unless it succeeded."""
        return self._queries.get_output(run_id)

    def list_runs(
        self,
        status: str | Status | Iterable[str | Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, as metadata dicts."""
        return self._queries.list_runs(status=status, workflow=workflow, tag=tag, limit=limit)

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's steps in call order, as metadata dicts."""
        return self._queries.steps(run_id)

    def get_step_result(self, run_id: str, name: str) -> Any:
        """The value a successful step returned."""
        return self._queries.step_result(run_id, name)

    # -- explanations and plans ----------------------------------------------------------------
    def explain(self, run_id: str, step: str) -> dict[str, Any]:
        """``{"step", "decision", "why", "source_run"}``: why the step ran (naming the parameter
        or the code that differs from the nearest earlier result), or where its result came
        from (``decision``: "executed", "replayed" or "cached")."""
        return self._explainer.explain(run_id, step)

    def plan_resume(self, run_id: str) -> list[dict[str, Any]]:
        """What ``resume(run_id)`` would do with each recorded step ("replay", "cache" or
        "execute") and why, without executing anything."""
        return self._explainer.plan_resume(run_id)

    def _plan_run(self, workflow: Workflow[Any], arguments: str | None) -> list[dict[str, Any]]:
        latest = self._queries.list_runs(workflow=workflow.name, limit=1)
        return self._explainer.plan_run(workflow.name, arguments, latest)

    def _current_task(self, name: str) -> TaskRecord | None:
        task = self._tasks.get(name)
        return None if task is None else task.record()

    # -- resume and control --------------------------------------------------------------------
    def resume(self, run_id: str, *, rerun_changed: bool = False) -> Any:
        """Run a FAILED, CANCELED or RESUMABLE run again from where it stopped.

        Every step that succeeded in the run returns its recorded result without executing;
        the rest runs. A SUCCESSFUL run gives back its output; a live RUNNING run is refused.
        ``rerun_changed=True`` re-executes from the first step whose code or arguments differ
        from the record, instead of stopping with NondeterminismError.
        """
        run = self._queries.run(run_id)
        runnable = self._runnable(run)
        return runnable.resume_run(
            self.store, run, rerun_changed=rerun_changed, allow_pickle=self._recorder.allow_pickle
        )

    def resume_all(self) -> dict[str, Any]:
        """Resume every RESUMABLE run whose workflow can be found; run id -> output or error."""
        outcomes: dict[str, Any] = {}
        for metadata in self._queries.list_runs(status="RESUMABLE"):
            run_id = metadata["run_id"]
            try:
                outcomes[run_id] = self.resume(run_id)
            except Exception as error:
                outcomes[run_id] = error
        return outcomes

    def cancel(self, run_id: str) -> None:
        """Cancel a run, from any process: it reads CANCELED as soon as this returns and never
        turns SUCCESSFUL or FAILED afterwards. Its owner starts no new step, lets a plain step
        in flight end (recorded as it ended) and cancels async steps in flight (recorded
        CANCELED); the run's call raises CanceledError. ``resume`` takes it up again.

        A run that has finished (SUCCESSFUL, FAILED or CANCELED, also just before the cancel)
        is left as it is: ConflictError. An unknown run id: NotFoundError."""
        self._queries.run(run_id)
        cancel_run(self.store, run_id)

    def _runnable(self, run: Run) -> Workflow[Any] | Task[Any]:
        found = self._runnables.get(run.workflow)
        if found is not None:
            return found
        entry = run.environment.get("entry") or {}
        found = import_runnable(entry.get("module"), entry.get("qualname"))
        if found is None:
            raise NotFoundError(
                f"cannot resume run {run.run_id!r}: its workflow {run.workflow!r} is not defined "
                f"in this process and cannot be imported from {entry or 'its record'}"
            )
        return found

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        self._tracking.close()
        self.store.close()

    def __enter__(self) -> Flightlog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Flightlog {self.url}>"


def open(url: str | None = None, **options: Any) -> Flightlog:
    """Open a store by URL (default: ``$FLIGHTLOG_URL``, else the local SQLite file).

    Options: ``serializer`` ("json" or "pickle") and ``allow_pickle`` for the recorder;
    ``data_dir`` for resource files when the store has no folder of its own (default
    ``.flightlog/`` here); ``trackers`` (``flightlog.trackers.Tracker`` objects told what runs
    record) and ``track_prefix`` (of environment-variable metrics, ``FLIGHTLOG_TRACK_``); the
    rest go to the store (e.g. ``synchronous="FULL"`` for SQLite).
    """
    serializer = options.pop("serializer", "json")
    allow_pickle = options.pop("allow_pickle", False)
    data_dir = options.pop("data_dir", None)
    trackers = options.pop("trackers", None)
    track_prefix = options.pop("track_prefix", None)
    hooks = tracking_hooks(trackers, track_prefix)  # bad trackers fail before the store opens
    store = open_store(url or default_url(), **options)
    return Flightlog(
        store,
        serializer=serializer,
        allow_pickle=allow_pickle,
        data_dir=data_dir,
        trackers=hooks.trackers,
        track_prefix=hooks.prefix,
    )
