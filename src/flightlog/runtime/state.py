"""The state of a run in the process that drives it, and the context variables that find it."""

from __future__ import annotations

import contextvars
import itertools
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigurationError, FlightlogError
from ..model import Step
from .recorded import RecordedSteps

if TYPE_CHECKING:
    import asyncio

    from ..executors import Executor
    from ..stores import Store
    from .fanout import Committer, StepFuture
    from .steps import StepCall
    from .tracked import RunHooks, Tracked

# A step that records itself in its worker (record="worker") gives its sub-steps positions
# from a block of its own, above those the driver gives: block k holds WORKER_BLOCK positions
# from WORKER_BLOCKS_BASE + k * WORKER_BLOCK. The SQL stores keep a position in 32 bits (a
# step's row id is its run's number * 2**32 + its position), so there are WORKER_BLOCKS blocks.
WORKER_BLOCKS_BASE = 1 << 31
WORKER_BLOCK = 4096
WORKER_BLOCKS = (1 << 31) // WORKER_BLOCK


class _WorkerBlock:
    """See :func:`worker_block` (an iterator, not a generator: past the end it raises its
    error each time it is asked, and threads of the step may ask at once)."""

    def __init__(self, first: int, step_name: str) -> None:
        self._positions = itertools.count(first)
        self._end = first + WORKER_BLOCK
        self._step_name = step_name

    def __iter__(self) -> _WorkerBlock:
        return self

    def __next__(self) -> int:
        position = next(self._positions)
        if position >= self._end:
            raise ConfigurationError(
                f"step {self._step_name!r} made more than {WORKER_BLOCK:,} sub-steps, the "
                "most that a step recorded in its worker (record='worker') may make; record "
                "it in the driver instead"
            )
        return position


def worker_block(first: int, step_name: str) -> Iterator[int]:
    """The positions of the block that starts at ``first``, for the sub-steps of the step
    ``step_name`` that records itself in its worker; a clear error past the block's end."""
    return _WorkerBlock(first, step_name)


def next_worker_block(blocks: Iterator[int]) -> int:
    """The first position of the next worker block of a run; a clear error past the last."""
    block = next(blocks)
    if block >= WORKER_BLOCKS:
        raise ConfigurationError(
            f"a run recorded in its workers (record='worker') may submit at most "
            f"{WORKER_BLOCKS:,} steps; record it in the driver instead"
        )
    return WORKER_BLOCKS_BASE + block * WORKER_BLOCK


# Replayed steps written together (see RunState.replays).
REPLAY_BATCH = 500
# Seconds after which a step still running is written as RUNNING by the monitor thread.
LAZY_START_DELAY = 0.1
# How long a run's lease lasts, and how often it is renewed.
LEASE_SECONDS = 60.0
LEASE_RENEWAL = 15.0  # (of resources' leases)
# How often the monitor renews live runs' leases, which records when their owner was last seen
# alive: the end shown for a run whose process died is at most this much early.
RUN_LEASE_RENEWAL = 2.0


@dataclass(eq=False)
class RunState:
    """What the driving process knows of one live run."""

    store: Store
    run_id: str
    allow_pickle: bool = False
    start_time: float | None = None  # of this attempt of the run
    # Steps recorded in an earlier attempt of this run, by name (used by resume), and the
    # positions they hold: a step of a recorded name takes its position again, so that its new
    # record replaces the old one; a new name takes the next position after all recorded ones.
    # (Read lazily: see flightlog.runtime.recorded.)
    recorded: RecordedSteps = field(default_factory=lambda: RecordedSteps({}, {}, steps={}))
    resumed_positions: dict[str, int] = field(default_factory=dict)
    # Refuse a recorded step whose identity changed (NondeterminismError) instead of running it.
    strict: bool = False
    # The steps that have not recorded their end yet, by position (see monitor and live).
    in_flight: dict[int, StepCall] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    # The run's ``resumes`` when this process claimed it: its outcome is recorded only while
    # the run is still that attempt (see Store.finish_run).
    resumes: int = 0
    # Set once the run is canceled (by this process or another: see monitor), and also once
    # it cannot go on: then ``failure`` says why (its store lost its file), and a step that
    # would start raises that instead of CanceledError.
    cancel_requested: bool = False
    canceled: threading.Event = field(default_factory=threading.Event)  # set with the above
    failure: FlightlogError | None = None
    # Driven by an event loop (an async workflow or lone async task): async tasks may be
    # awaited in it (set by ``drive_async``).
    is_async: bool = False
    # An async run's event loop, and the asyncio task running each async step in flight, by
    # position: a cancel cancels them (see monitor.interrupt). Touched in the loop's thread.
    loop: asyncio.AbstractEventLoop | None = None
    async_steps: dict[int, asyncio.Task[Any] | None] = field(default_factory=dict)
    interrupted: set[asyncio.Task[Any]] = field(default_factory=set)
    # Counters are itertools.count objects: ``next`` on one is atomic, so threads calling tasks
    # of one run at once never get the same name or position.
    # StepCall takes the next name and position of a step from them (``add``, ``add_1`` …).
    names: dict[str, itertools.count[int]] = field(default_factory=dict)
    positions: Iterator[int] = field(default_factory=itertools.count)
    _children: dict[str, list[tuple[str, str]]] | None = None
    # Replayed steps whose new record (origin "replayed") is not written yet: written together,
    # REPLAY_BATCH at a time, before a step executes and before the run's outcome (see
    # flush_replays). Losing them loses nothing a resume needs: the store still holds the
    # successful records they replayed.
    replays: list[Step] = field(default_factory=list)
    replays_lock: threading.Lock = field(default_factory=threading.Lock)
    # The tracking layer's hooks (None: nobody listens), and what the run's own body tracked
    # outside any step that is not written yet (see flightlog.runtime.tracked).
    hooks: RunHooks | None = None
    # How this run's submitted steps run (see flightlog.executors), and its steps submitted and
    # not yet recorded (see flightlog.runtime.fanout).
    executor: Executor | None = None
    record_in_worker: bool = False  # record="worker": remote steps record themselves
    # Set when the run's outcome is being recorded: a task called later (from a thread the run
    # started that lives on) is not a step of it (see Task.__call__).
    ended: bool = False
    # The blocks of positions given to steps that record their sub-steps in their workers.
    worker_blocks: itertools.count[int] = field(default_factory=itertools.count)
    pending: set[StepFuture[Any]] = field(default_factory=set)
    pending_lock: threading.Lock = field(default_factory=threading.Lock)
    committer: Committer | None = None
    tracked: Tracked | None = None
    tracked_lock: threading.Lock = field(default_factory=threading.Lock)
    # The resources whose use by this run is recorded (see flightlog.resources.engine).
    resources_used: set[tuple[str, str]] = field(default_factory=set)

    def name_counter(self, base: str) -> itertools.count[int]:
        """The counter of the steps called ``base``, made at its first step."""
        return self.names.setdefault(base, itertools.count())

    def resume_from(self, steps: list[Step] | RecordedSteps) -> None:
        """Take the steps recorded by the earlier attempts of this run (resume)."""
        recorded = steps if isinstance(steps, RecordedSteps) else RecordedSteps.of(steps)
        self.recorded = recorded
        self.resumed_positions = dict(recorded.positions)
        if recorded:
            # The driver's positions go on after its own, never into the workers' blocks.
            own = [p for p in recorded.positions.values() if p < WORKER_BLOCKS_BASE]
            self.positions = itertools.count(max(own) + 1 if own else 0)
            high = max(recorded.positions.values())
            if high >= WORKER_BLOCKS_BASE:
                self.worker_blocks = itertools.count(
                    (high - WORKER_BLOCKS_BASE) // WORKER_BLOCK + 1
                )

    def skip_subtree(self, step: Step) -> None:
        """A replayed step does not call its sub-steps again: account for their names as if
        it had, so that the steps after it meet their recorded records."""
        children = self._children
        if children is None:
            children = self._children = self.recorded.children()
        pending = list(children.get(step.name, ()))
        while pending:
            name, task_name = pending.pop()
            self.recorded.discard(name)
            base = _BASE.sub("", name) if name != task_name else name
            next(self.names.get(base) or self.name_counter(base))
            pending.extend(children.get(name, ()))

    def add_replay(self, step: Step) -> None:
        """Write a replayed step's record later, with others (see ``replays``)."""
        with self.replays_lock:
            self.replays.append(step)
            full = len(self.replays) >= REPLAY_BATCH
        if full:
            self.flush_replays()

    def flush_replays(self) -> None:
        """Write the records of the replayed steps not written yet, in one transaction."""
        if not self.replays:
            return
        with self.replays_lock:
            taken, self.replays = self.replays, []
        if taken:
            self.store.finish_steps([(step, (), ()) for step in taken])


class StepFrame(Protocol):
    """The step that the current code runs inside, and the list its output is captured in."""

    @property
    def name(self) -> str: ...

    @property
    def position(self) -> int: ...

    @property
    def log(self) -> list[str]: ...

    # What the step tracked so far (None until it tracks something), and the way to get it.
    tracked: Tracked | None

    def tracking(self) -> Tracked: ...


CURRENT_RUN: contextvars.ContextVar[RunState | None] = contextvars.ContextVar(
    "flightlog_run", default=None
)
CURRENT_STEP: contextvars.ContextVar[StepFrame | None] = contextvars.ContextVar(
    "flightlog_step", default=None
)


_BASE = re.compile(r"_[0-9]+$")

MISSING: Any = object()
"""Stands for "no value served": the step must execute."""


def options_summary(options: dict[str, Any]) -> dict[str, Any]:
    """Options with their default values left out."""
    return {key: value for key, value in options.items() if value not in (None, 0, 0.0, False)}
