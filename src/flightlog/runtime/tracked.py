"""What a step tracks while it runs, and the hooks through which the tracking layer watches runs.

Metric points are buffered in memory, one list of ``(step, value, time)`` per metric name (one
append per point: safe from many threads), and written with the step's end record as chunks
of at most ``CHUNK_POINTS`` points, so a step that fails still records what it tracked. What a
run's own body tracks outside any step is buffered on the run and written with the next step's
end record, or at the run's end. A step that tracks nothing pays for nothing here.

The runtime never imports the tracking layer: :class:`RunHooks` is the one seam through which
it tells the tracking layer (environment-variable metrics, trackers) what happens.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

from ..model import AttachmentRecord, MetricChunk, Step

if TYPE_CHECKING:
    from .state import RunState
    from .steps import StepCall

CHUNK_POINTS = 10_000
"""The most points one stored chunk holds."""

Point = tuple[int, Any, float]

_step_of = itemgetter(0)
_value_of = itemgetter(1)
_time_of = itemgetter(2)


class Tracked:
    """Metric points and attachment references of one step, or of a run's own body (position
    and step name None), not written yet."""

    __slots__ = ("attachments", "closed", "lock", "position", "series", "step_name", "written")

    def __init__(self, position: int | None, step_name: str | None) -> None:
        self.position = position
        self.step_name = step_name
        self.series: dict[str, list[Point]] = {}
        self.attachments: list[AttachmentRecord] = []
        # Live recording (see flightlog.runtime.live): how many points of each metric were
        # written while the step ran, and whether its end took the rest; both under ``lock``.
        self.written: dict[str, int] = {}
        self.closed = False
        self.lock = threading.Lock()

    def points(self, name: str) -> list[Point]:
        """The list that points of metric ``name`` are appended to."""
        found = self.series.get(name)
        if found is None:
            found = self.series.setdefault(name, [])
        return found

    def chunks(self, skip: dict[str, int] | None = None) -> list[MetricChunk]:
        """The buffered points as chunks, per name in the order names were first tracked;
        with ``skip``, without the first ``skip[name]`` points of each."""
        found = []
        for name, points in list(self.series.items()):
            first = skip.get(name, 0) if skip else 0
            for start in range(first, len(points), CHUNK_POINTS):
                part = (
                    points[start : start + CHUNK_POINTS]
                    if start or len(points) > CHUNK_POINTS
                    else points
                )
                found.append(
                    MetricChunk(
                        name,
                        self.position,
                        self.step_name,
                        array("q", map(_step_of, part)),
                        list(map(_value_of, part)),
                        array("d", map(_time_of, part)),
                    )
                )
        return found


def collect(*buffers: Tracked | None) -> tuple[list[MetricChunk], list[AttachmentRecord]]:
    """The chunks and attachment references of the given buffers, in order."""
    metrics: list[MetricChunk] = []
    attachments: list[AttachmentRecord] = []
    for buffer in buffers:
        if buffer is not None:
            metrics.extend(buffer.chunks())
            attachments.extend(buffer.attachments)
    return metrics, attachments


def run_buffer(state: RunState) -> Tracked:
    """The buffer of the run's own body; call with ``state.tracked_lock`` held."""
    buffer = state.tracked
    if buffer is None:
        buffer = state.tracked = Tracked(None, None)
    return buffer


def take_run_buffer(state: RunState) -> Tracked | None:
    """Take what the run's own body tracked so far, to write it (None when nothing)."""
    if state.tracked is None:
        return None
    lock: threading.Lock = state.tracked_lock
    with lock:
        buffer, state.tracked = state.tracked, None
    return buffer


class Versioned(Protocol):
    version: int


class RunHooks(Protocol):
    """What the tracking layer hears from the runtime. Every method may be called from any
    thread that drives a run or a step; none may raise."""

    # Whether ``step_ended`` wants to hear of steps that tracked nothing (trackers listen).
    observing: bool
    # What a step tracks implicitly (environment variables) needs a look at its start and end
    # only when it may have changed: ``watch.version`` changes whenever it may have. A mark
    # (what ``step_started`` returns) is a tuple whose first item is the version it was taken
    # at; ``mark`` is the latest, which a step reuses while the version is still the same.
    watch: Versioned
    mark: tuple[int, Any]

    def describe(self) -> dict[str, Any]:
        """What a new run records about its tracking in its environment ({} for nothing)."""
        ...

    def run_started(self, state: RunState) -> None:
        """A run was created or claimed for a resume and is about to run."""
        ...

    def step_started(self) -> tuple[int, Any]:
        """A step starts and ``mark`` is out of date: return a new mark (``call.env_mark``)."""
        ...

    def step_ending(self, call: StepCall) -> None:
        """A step whose mark's version is no longer ``watch.version`` is about to be recorded
        as finished: add what it tracked implicitly."""
        ...

    def step_ended(
        self,
        state: RunState,
        step: Step,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> None:
        """A step's end record was written (executed, replayed or served from cache)."""
        ...

    def run_ended(
        self,
        state: RunState,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> None:
        """The run's outcome was written, after what its own body tracked last."""
        ...
