"""Steps that run in another process or on another machine (processes, Ray, Dask).

The driver decides a step's name, position and identity when it is submitted, and sends a
:class:`Work` to a worker. The worker needs no store: it runs the step's usual lifecycle
(:class:`~flightlog.runtime.steps.StepCall`, attempts, retries, timeouts, captured log, tracked
metrics and attachments, sub-steps) against an :class:`OutcomeStore` in its own memory, and sends
back an :class:`Outcome` holding every record made. The driver writes those records (see
:mod:`flightlog.runtime.fanout`) before the step's future resolves.

Sub-steps of a step run in its worker. They are named after their parent
(``score_3.normalize``, then ``score_3.normalize_1`` …), so that their names do not depend on
which worker ran what first; a resumed run sends each step the records of its sub-steps, which
replay as they would inline.
"""

from __future__ import annotations

import contextvars
import importlib
import itertools
import pickle
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import RemoteStepError
from ..model import AttachmentRecord, MetricChunk, Step, TaskRecord
from ..stores.memory import MemoryStore
from .capture import ensure_capture
from .state import CURRENT_RUN, CURRENT_STEP, RunState, worker_block

if TYPE_CHECKING:
    from ..stores import Store
    from .task import CallOptions, Task, TaskOptions

# Positions a worker gives the sub-steps it makes: apart from every position the driver gives.
# The driver gives them their positions in the run when it records them.
WORKER_POSITIONS = 1 << 40


# Set while a Work is pickled for an engine that runs it on other machines (Ray, Dask): a task
# of the driver's ``__main__`` is then sent by value, since no worker can import that script.
SEND_MAIN_BY_VALUE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flightlog_send_main_by_value", default=False
)


def task_reduction(task: Task[Any]) -> tuple[Any, ...]:
    """How a task crosses to a worker: by module and name when it can be imported there (the
    worker imports it: its own task object), else by value (its function, options, name and
    code identity: a task that records into whatever run calls it)."""
    module = getattr(task.function, "__module__", None)
    qualname = (task.entry() or {}).get("qualname")
    if (
        isinstance(module, str)
        and qualname
        and "<locals>" not in qualname
        and not (module == "__main__" and SEND_MAIN_BY_VALUE.get())
        and _names(module, qualname) is task
    ):
        return (import_task, (module, qualname))
    return (detached_task, (task.function, task.config, task.record()))


def _names(module: str, qualname: str) -> Any:
    """What ``module.qualname`` is in this process (None when nothing)."""
    found: Any = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def import_task(module: str, qualname: str) -> Any:
    """The task at ``module.qualname`` in this worker (its module imported if need be)."""
    if module not in sys.modules:
        importlib.import_module(module)
    found = _names(module, qualname)
    if found is None:
        raise ImportError(f"module {module!r} has no task {qualname!r} in this worker")
    return found


def detached_task(function: Callable[..., Any], options: TaskOptions, record: TaskRecord) -> Any:
    from .recorder import Recorder
    from .task import Task

    task: Task[Any] = Task(Recorder(MemoryStore("memory://detached")), function, options)
    task.name = record.name
    task.__dict__["task_id"] = record.task_id
    task.__dict__["_sent_record"] = record
    return task


@dataclass
class Work:
    """What a worker needs to run one step."""

    task: Task[Any]
    call: CallOptions
    step: Step  # named, placed and identified by the driver; its attempts so far
    earlier: int  # attempts recorded by earlier attempts of the run
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    recorded: list[Step] = field(default_factory=list)  # its sub-steps' records, on resume
    allow_pickle: bool = False
    # record="worker": the URL of the shared store the worker records the step in itself.
    store_url: str | None = None
    first_position: int = 0  # of the block its sub-steps take (record="worker")
    resent: bool = False  # sent again once after its worker was lost, whatever its retries


@dataclass
class Outcome:
    """What a worker sends back: every record the step made (its own end record last), and
    its value or error."""

    finished: list[tuple[Step, list[MetricChunk], list[AttachmentRecord]]]
    tasks: list[TaskRecord]
    blobs: dict[str, bytes]
    value: Any = None
    error: BaseException | None = None
    recorded_in_worker: bool = False  # the worker wrote every record itself


class OutcomeStore(MemoryStore):
    """A memory store that keeps, in order, what a step running in a worker records."""

    def __init__(self) -> None:
        super().__init__("memory://worker")
        self.finished: list[tuple[Step, list[MetricChunk], list[AttachmentRecord]]] = []
        self.tasks: dict[str, TaskRecord] = {}
        self.blobs: dict[str, bytes] = {}

    def finish_step(
        self,
        step: Step,
        *,
        metrics: Any = (),
        attachments: Any = (),
    ) -> None:
        super().finish_step(step, metrics=metrics, attachments=attachments)
        self.finished.append((step.copy(), list(metrics), list(attachments)))

    def record_task(self, task: TaskRecord) -> None:
        super().record_task(task)
        self.tasks.setdefault(task.task_id, task)

    def put_blob(self, data: bytes) -> str:
        digest = super().put_blob(data)
        self.blobs.setdefault(digest, bytes(data))
        return digest


def dumps(work: Work | list[Work], by_value: bool) -> bytes:
    """A Work as bytes to send (``by_value``: with cloudpickle, tasks of ``__main__`` by value)."""
    if not by_value:
        return pickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
    import cloudpickle  # type: ignore[import-untyped,unused-ignore]  # Ray and Dask need it

    token = SEND_MAIN_BY_VALUE.set(True)
    try:
        data: bytes = cloudpickle.dumps(work, protocol=pickle.HIGHEST_PROTOCOL)
        return data
    finally:
        SEND_MAIN_BY_VALUE.reset(token)


def run_sent_many(data: bytes) -> list[Outcome]:
    """Run several steps sent as one message, one after the other, in this worker."""
    return [run_work(work) for work in pickle.loads(data)]


def run_sent(data: bytes) -> Outcome:
    """Run one step sent as bytes (see :func:`dumps`) in this worker."""
    return run_work(pickle.loads(data))


def run_work(work: Work) -> Outcome:
    """Run one step in this worker."""
    from ..model import Run
    from .steps import StepCall, call_step

    ensure_capture()
    step = work.step
    store: Store
    if work.store_url is not None:
        store = _shared_store(work.store_url)
    else:
        store = OutcomeStore()
        store.create_run(Run(run_id=step.run_id, workflow="(worker)"))
    state = RunState(store=store, run_id=step.run_id, allow_pickle=work.allow_pickle)
    state.resume_from(work.recorded)
    state.positions = (
        worker_block(work.first_position, step.name)
        if work.first_position
        else itertools.count(WORKER_POSITIONS)
    )
    task = work.task
    function = task.function
    call = StepCall.prepared(task, state, work.call, step, work.earlier)
    run_token = CURRENT_RUN.set(state)
    step_token = CURRENT_STEP.set(None)
    outcome = Outcome([], [], {})
    try:
        outcome.value = call_step(call, function, work.args, work.kwargs)
    except BaseException as error:
        outcome.error = sendable(error)
    finally:
        CURRENT_STEP.reset(step_token)
        CURRENT_RUN.reset(run_token)
    if isinstance(store, OutcomeStore):
        outcome.finished = store.finished
        outcome.tasks = list(store.tasks.values())
        outcome.blobs = store.blobs
    else:
        outcome.recorded_in_worker = True
    return outcome


_SHARED: dict[str, Store] = {}


def _shared_store(url: str) -> Store:
    """The shared store at ``url``, opened once per worker process."""
    store = _SHARED.get(url)
    if store is None:
        from ..stores import open_store

        store = _SHARED[url] = open_store(url)
    return store


def sendable(error: BaseException) -> BaseException:
    """The error itself when pickle can send it, else a RemoteStepError that tells it."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return RemoteStepError(type(error).__qualname__, str(error), text)
    return error
