"""Live recording: what a running step has printed, logged and tracked so far, written while
it runs, so that other processes can follow it (``flightlog logs --follow``, ``watch``).

The monitor thread (:mod:`flightlog.runtime.monitor`) calls :func:`flush_step` for every step
that has run for ``LIVE_DELAY`` seconds or more, at most every ``LIVE_INTERVAL`` seconds: a
step's new log text is appended to its RUNNING record (``Store.append_step_log``, which never
touches a finished step), and its new metric points are written as chunks
(``Store.record_tracked``). A step shorter than ``LIVE_DELAY`` is written once, at its end, as
before: live recording costs the step path nothing.

The end record of a step holds its whole log (it replaces the live one) and the metric points
not written yet: :func:`end_chunks` takes them under the buffer's lock, which the monitor holds
while it writes, so that no point is written twice or lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model import MetricChunk
from ..stores.forking import background
from .tracked import Tracked

if TYPE_CHECKING:
    from .state import RunState
    from .steps import StepCall

# Seconds a step runs before what it printed and tracked is written while it runs, and how
# often it is written after that: other processes see it within about a second.
LIVE_DELAY = 0.5
LIVE_INTERVAL = 0.5


def flush_step(state: RunState, call: StepCall, now: float) -> None:
    """Write what the step in flight printed and tracked since the last flush (called by the
    monitor thread, once the step's start record is written)."""
    step = call.step
    if now - call.attempt_start < LIVE_DELAY and now - (step.start_time or now) < LIVE_DELAY:
        return
    log = call.log
    count = len(log)
    written = getattr(call, "log_written", 0)
    if count > written:
        text = "".join(log[written:count])
        with background():
            state.store.append_step_log(state.run_id, step.position, text)
        call.log_written = count
    tracked = call.tracked
    if tracked is not None:
        flush_tracked(state, tracked)


def flush_tracked(state: RunState, tracked: Tracked) -> None:
    """Write the metric points tracked since the last flush, unless the step has ended (then
    its end record takes them)."""
    with tracked.lock:
        if tracked.closed:
            return
        counts = {name: len(points) for name, points in list(tracked.series.items())}
        if all(tracked.written.get(name, 0) >= count for name, count in counts.items()):
            return
        chunks = _between(tracked, tracked.written, counts)
        with background():
            state.store.record_tracked(state.run_id, metrics=chunks)
        tracked.written.update(counts)


def _between(tracked: Tracked, start: dict[str, int], end: dict[str, int]) -> list[MetricChunk]:
    """The chunks of the points from ``start`` up to ``end`` (by metric name)."""
    found = []
    offsets = dict(start)
    for chunk in tracked.chunks(start):
        offset = offsets.get(chunk.name, 0)
        offsets[chunk.name] = offset + len(chunk.steps)
        keep = end.get(chunk.name, 0) - offset
        if keep <= 0:
            continue
        if len(chunk.steps) > keep:  # points appended after the counts were taken: next time
            chunk = MetricChunk(
                chunk.name,
                chunk.position,
                chunk.step_name,
                chunk.steps[:keep],
                chunk.values[:keep],
                chunk.times[:keep],
            )
        found.append(chunk)
    return found


def end_chunks(tracked: Tracked) -> list[MetricChunk] | None:
    """At the step's end: close the buffer to the monitor and return the chunks its end record
    must write, when some points were written live already (None: write them all)."""
    with tracked.lock:
        tracked.closed = True
        written = tracked.written
    return tracked.chunks(written) if written else None
