"""``flightlog.open()`` and the object it returns: decorators and questions over one store."""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import live_query
from .codec import check_imports
from .errors import ConfigurationError, ConflictError, NotFoundError
from .executors import resolve_executor
from .explain import Explainer, ResumePlan
from .model import Run, Status, TaskRecord
from .operations.api import OperationMethods
from .query import Queries
from .questions.methods import QuestionMethods
from .redaction import redact
from .resources.api import ResourceMethods, data_root
from .resources.engine import ResourceEngine
from .runtime.control import cancel_run
from .runtime.importing import LOGGER as IMPORT_LOGGER
from .runtime.importing import import_user_module
from .runtime.liveness import effective_status
from .runtime.recorder import Recorder
from .runtime.retries import RetryDelay, RetryOn
from .runtime.task import Task, TaskOptions
from .runtime.workflow import Workflow
from .stores import Store, open_store
from .tracked_query import TrackedQueries
from .tracking.trackers import Tracker
from .tracking_api import TrackingMethods, tracking_hooks

if TYPE_CHECKING:
    from .browse import Browser  # imported when first asked for

R = TypeVar("R")

DEFAULT_URL = "sqlite:///.flightlog/flightlog.db"
ENVIRONMENT_VARIABLE = "FLIGHTLOG_URL"


def import_runnable(
    module: str | None, qualname: str | None, *, purpose: str, allow_outside: bool = False
) -> Workflow[Any] | Task[Any]:
    """The workflow or task object at ``module``/``qualname``. The import says so, and a
    module outside the working directory is refused unless ``allow_outside`` (see
    :mod:`flightlog.runtime.importing`). NotFoundError says why it cannot be had."""
    if not module or not qualname:
        raise NotFoundError("the record does not say where its code is (no module and name)")
    try:
        found: Any = import_user_module(module, purpose=purpose, allow_outside=allow_outside)
    except ImportError as error:
        raise NotFoundError(
            f"module {module!r} cannot be imported from {os.getcwd()}: {error}"
        ) from None
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise NotFoundError(f"module {module!r} has no {qualname!r}")
    if not isinstance(found, (Workflow, Task)):
        raise NotFoundError(
            f"{module}.{qualname} is a {type(found).__name__}, not a flightlog workflow or task"
        )
    return found


def default_url() -> str:
    """``$FLIGHTLOG_URL``, else an SQLite file under ``.flightlog/`` in the working directory."""
    return os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_URL


class Flightlog(QuestionMethods, ResourceMethods, TrackingMethods, OperationMethods):
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
        allow_imports: bool | Iterable[str] = False,
        executor: Any = None,
        record: str = "driver",
    ):
        if serializer not in ("json", "pickle"):
            raise ConfigurationError(f"unknown serializer {serializer!r}; use 'json' or 'pickle'")
        imports = check_imports(allow_imports)
        self.store = store
        self._tracking = tracking_hooks(trackers, track_prefix)
        self._tracked = TrackedQueries(store)
        self._recorder = Recorder(
            store,
            serializer=serializer,
            allow_pickle=allow_pickle,
            allow_imports=imports,
            hooks=self._tracking,
            executor=executor,
            record=record,
        )
        self._queries = Queries(
            store, allow_pickle=self._recorder.allow_pickle, allow_imports=imports
        )
        self._runnables: dict[str, Workflow[Any] | Task[Any]] = {}
        self._tasks: dict[str, Task[Any]] = {}
        self._explainer = Explainer(store, self._current_task)
        self._resources = ResourceEngine(
            store,
            data_root(store, data_dir),
            serializer=serializer,
            allow_pickle=allow_pickle,
            allow_imports=imports,
        )

    @property
    def url(self) -> str:
        """The store's URL, its password (if any) redacted."""
        return redact(self.store.url)

    def __reduce__(self) -> Any:
        raise TypeError(
            "a Flightlog recorder cannot be sent to another process by value; a task that uses "
            "it and is defined in the script run as __main__ must move to a module the workers "
            "can import (they then import the recorder with it)"
        )

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
        retry_delay: RetryDelay = 0.0,
        retry_on: RetryOn = None,
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
        retry_delay: RetryDelay = 0.0,
        retry_on: RetryOn = None,
        timeout: float | None = None,
        metadata: dict[str, Any] | None = None,
        cache: bool = False,
        serializer: str | None = None,
    ) -> Task[R] | Callable[[Callable[..., R]], Task[R]]:
        """Record every call of the function as a step (``@fl.task`` or ``@fl.task(...)``).

        ``retries`` more attempts after a failure, ``retry_delay`` seconds apart (a number, a
        list of delays, or ``flightlog.backoff(...)``), for the errors ``retry_on`` accepts (an
        exception type, a tuple of them, or a function ``(exception) -> bool``; default: every
        Exception); ``timeout`` seconds per attempt (see the README on timeouts)."""
        options = TaskOptions(
            name=name,
            version=version,
            retries=retries,
            retry_delay=retry_delay,
            retry_on=retry_on,
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
        executor: Any = None,
        max_workers: int | None = None,
        record: str | None = None,
    ) -> Callable[[Callable[..., R]], Workflow[R]]: ...

    def workflow(
        self,
        function: Callable[..., R] | None = None,
        /,
        *,
        name: str | None = None,
        metadata: dict[str, Any] | None = None,
        executor: Any = None,
        max_workers: int | None = None,
        record: str | None = None,
    ) -> Workflow[R] | Callable[[Callable[..., R]], Workflow[R]]:
        """Record every call of the function as a run (``@fl.workflow`` or with options).

        ``executor`` (a name or an executor object; default: the store's, see ``open``) runs
        the steps the workflow submits (``task.submit``, ``task.map``), with ``max_workers``;
        ``record="worker"`` lets those steps record themselves from their workers (a shared
        store: PostgreSQL) instead of sending their outcome to this process."""

        def decorate(target: Callable[..., R]) -> Workflow[R]:
            workflow = Workflow(
                self._recorder,
                target,
                name=name,
                metadata=metadata,
                executor=executor,
                max_workers=max_workers,
                record=record,
            )
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

    def get_arguments(self, run_id: str) -> Any:
        """The arguments the run was called with, as recorded: ``{"args": [...], "kwargs":
        {...}}``, large values read from the store (``get_metadata`` only describes them)."""
        return self._queries.run_arguments(run_id)

    def progress(self, run_id: str) -> dict[str, Any]:
        """What the run is doing now: steps done, running and failed, the current step,
        rate and elapsed time (see :func:`flightlog.live_query.progress`)."""
        return live_query.progress(self._queries, run_id)

    def logs(self, run_id: str, step: str | None = None) -> list[dict[str, Any]]:
        """``[{"step", "status", "log"}]``: the log of ``step``, or of every step that has
        one; a running step's log as written so far."""
        return live_query.logs(self._queries, run_id, step)

    def get_step_result(self, run_id: str, name: str) -> Any:
        """The value a successful step returned."""
        return self._queries.step_result(run_id, name)

    @property
    def browse(self) -> Browser:
        """Paged and light reads for pages: ``fl.browse.runs(...)``, ``.timeline(run_id)``,
        ``.compare([...])`` (see :mod:`flightlog.browse`)."""
        from .browse import Browser

        return Browser(self._queries, self._tracked)

    def ui(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        token: str | None = None,
        open_browser: bool = False,
    ) -> None:
        """Serve the web UI over this store until interrupted (needs ``flightlog[ui]``);
        binding to other than loopback needs a ``token``. See the README's "Web UI"."""
        # Imported by name when called: the library itself never imports its faces.
        web = importlib.import_module("flightlog.web")
        web.serve(self, host=host, port=port, token=token, open_browser=open_browser)

    # -- explanations and plans ----------------------------------------------------------------
    def explain(self, run_id: str, step: str) -> dict[str, Any]:
        """``{"step", "decision", "why", "source_run"}``: why the step ran (naming the parameter
        or the code that differs from the nearest earlier result), or where its result came
        from (``decision``: "executed", "replayed" or "cached")."""
        return self._explainer.explain(run_id, step)

    def plan_resume(self, run_id: str) -> ResumePlan:
        """What ``resume(run_id)`` would do with each recorded step ("replay", "cache" or
        "execute") and why, without executing anything; ``.notes`` says once what could not
        be judged here (tasks this process does not define) and why."""
        return self._explainer.plan_resume(run_id)

    def _plan_run(self, workflow: Workflow[Any], arguments: str | None) -> list[dict[str, Any]]:
        latest = self._queries.list_runs(workflow=workflow.name, limit=1)
        return self._explainer.plan_run(workflow.name, arguments, latest)

    def _current_task(self, name: str) -> TaskRecord | None:
        task = self._tasks.get(name)
        return None if task is None else task.record()

    # -- resume and control --------------------------------------------------------------------
    def resume(
        self,
        run_id: str,
        *,
        strict: bool = False,
        allow_import_outside: bool = False,
        rerun_changed: bool | None = None,
    ) -> Any:
        """Run a FAILED, CANCELED or RESUMABLE run again from where it stopped.

        The workflow runs again with its recorded arguments. A step replays its recorded result
        when the run holds a successful step of the same name with the same identity (code and
        arguments); every other step executes, and its new record replaces the old one (whose
        attempts stay in its history). So after a fix the fixed step runs, unchanged steps
        replay, and a later step runs again only if its arguments changed. ``strict=True``
        refuses a changed step with NondeterminismError instead. A SUCCESSFUL run gives back
        its output; a live RUNNING run is refused. ``plan_resume`` says what will happen.

        A workflow not defined in this process is imported from where the run recorded it
        (logged on ``flightlog.imports``); a module outside the working directory only with
        ``allow_import_outside=True``.
        """
        if rerun_changed is not None:
            warnings.warn(
                "resume(rerun_changed=...) is deprecated and has no effect: resume now "
                "re-executes exactly the steps that changed; pass strict=True to refuse them",
                DeprecationWarning,
                stacklevel=2,
            )
        run = self._queries.run(run_id)
        defined = run.workflow in self._runnables
        if not defined and effective_status(run) is Status.SUCCESSFUL:
            return self._queries.get_output(run_id)  # nothing to run: nothing to import
        runnable = self._runnable(run, allow_import_outside)
        if not defined:  # importing a script without a __main__ guard may have run it
            run = self._ran_on_import(run)
        return runnable.resume_run(
            self.store, run, strict=strict, allow_pickle=self._recorder.allow_pickle
        )

    def _ran_on_import(self, run: Run) -> Run:
        """The run as it is after its module was imported: if the import itself ran or
        resumed it (a script without an ``if __name__ == "__main__":`` guard), say so."""
        now = self._queries.run(run.run_id)
        if now.resumes == run.resumes and now.status is run.status:
            return now
        status = effective_status(now)
        module = (run.environment.get("entry") or {}).get("module")
        problem = (
            f"importing module {module!r} to resume run {run.run_id!r} ran the run itself (the "
            "module runs it when imported: put that call under "
            '`if __name__ == "__main__":`)'
        )
        if status is Status.SUCCESSFUL:
            IMPORT_LOGGER.warning("%s; it is now SUCCESSFUL", problem)
            return now
        raise ConflictError(f"{problem}; it is now {status.value}")

    def resume_all(
        self, *, include_failed: bool = False, allow_import_outside: bool = False
    ) -> dict[str, Any]:
        """Resume every RESUMABLE run (its process died) whose workflow can be found, and with
        ``include_failed=True`` every FAILED run too (e.g. after fixing the failing task);
        run id -> output, or the error it raised (or the reason it could not be resumed)."""
        statuses = ["RESUMABLE", "FAILED"] if include_failed else ["RESUMABLE"]
        outcomes: dict[str, Any] = {}
        for metadata in self._queries.list_runs(status=statuses):
            run_id = metadata["run_id"]
            try:
                outcomes[run_id] = self.resume(run_id, allow_import_outside=allow_import_outside)
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

    def _runnable(self, run: Run, allow_import_outside: bool) -> Workflow[Any] | Task[Any]:
        found = self._runnables.get(run.workflow)
        if found is not None:
            return found
        entry = run.environment.get("entry") or {}
        try:
            return import_runnable(
                entry.get("module"),
                entry.get("qualname"),
                purpose=f"to resume run {run.run_id!r}",
                allow_outside=allow_import_outside,
            )
        except NotFoundError as error:
            raise NotFoundError(
                f"cannot resume run {run.run_id!r}: its workflow {run.workflow!r} is not defined "
                f"in this process, and {error}"
            ) from None

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Let go of the store: wait for trackers to send what they hold, stop background
        threads, close connections. Also what leaving a ``with flightlog.open(...)`` does."""
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
    ``allow_imports`` (True, or a list of module names, each with its submodules) lets
    decoding import the modules of classes that stored values name (by default it uses only
    modules imported already, and reads other values as ``flightlog.codec.Undecoded``);
    ``data_dir`` for resource files when the store has no folder of its own (default
    ``.flightlog/`` here); ``trackers`` (``flightlog.trackers.Tracker`` objects told what runs
    record) and ``track_prefix`` (of environment-variable metrics, ``FLIGHTLOG_TRACK_``);
    ``executor`` runs the steps that workflows submit (``task.submit``/``task.map``): "inline"
    (default), "threads", "processes", "ray", "dask", or an executor object (see
    :mod:`flightlog.executors`), and ``record="worker"`` lets them record themselves from
    their workers in a shared store (PostgreSQL); ``create=False`` opens only a store that exists
    (NotFoundError where there is none, and nothing is made: the command line opens stores
    so); the rest go to the store (e.g. ``synchronous="FULL"`` for SQLite).
    """
    serializer = options.pop("serializer", "json")
    allow_pickle = options.pop("allow_pickle", False)
    allow_imports = check_imports(options.pop("allow_imports", False))
    data_dir = options.pop("data_dir", None)
    trackers = options.pop("trackers", None)
    track_prefix = options.pop("track_prefix", None)
    executor = options.pop("executor", None)
    record = options.pop("record", "driver")
    hooks = tracking_hooks(trackers, track_prefix)  # bad trackers fail before the store opens
    resolve_executor(executor)  # a bad executor fails before the store opens
    store = open_store(url or default_url(), **options)
    return Flightlog(
        store,
        serializer=serializer,
        allow_pickle=allow_pickle,
        data_dir=data_dir,
        trackers=hooks.trackers,
        allow_imports=allow_imports,
        track_prefix=hooks.prefix,
        executor=executor,
        record=record,
    )
