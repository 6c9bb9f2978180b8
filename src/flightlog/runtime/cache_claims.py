"""One computation per cache key.

Of the steps of a ``cache=True`` task that start at once with the same ``(task_id,
execution_id)`` (threads of one run, several runs, processes or machines sharing a store),
exactly one computes; the others wait and are served its recorded result (recorded CACHED,
from that step, with how long they waited in their ``reason``). If the computing step fails
or is canceled, one of the waiters takes over and computes (errors are not cached); if its
process dies, its death is seen (on this host at once, elsewhere when its lease runs out) and
a waiter takes over. A cancel of a waiting step's run ends its wait: CanceledError, the step
recorded CANCELED.

The seam, for whatever resolves a step (the inline path of ``Task``; executors, in the thread
that resolves the step)::

    served = acquire(call, decode)   # after a cache miss: the value served from the step that
                                     # computed it (the step is recorded CACHED), or MISSING:
                                     # this step computes it and holds the key's claim
    ...                              # run the step; record its end (success, failure, cancel)
    release(call)                    # then let go of the claim (a no-op when none is held)

``acquire_async`` does the same without blocking an event loop. ``release`` must come after
the step's end record is written: a waiter that sees the claim let go looks for the result.
For remote executors the driver calls ``acquire`` before it dispatches a step to a worker and
``release`` once the worker's outcome is recorded: the claim, and its lease, belong to the
driver's process. Steps of tasks without ``cache=True``, steps with ``recompute=True`` and
cache hits never come here: they cost nothing more than before.

The claims are the store's resource claims (``Store.claim_resource``, ``finish_resource``,
``renew_resource_leases``: compare-and-set on the claim's attempt number), in a collection of
flightlog's own per task (``flightlog.cache.<task_id>``, identifier the execution id, hidden
from users' resource listings), so every store supports them without a method of its own.
The claim's ``arguments`` name the computing step (``{"run": ..., "step": ...}``). Threads of
one process computing a key are also registered in :data:`~flightlog.runtime.flights.FLIGHTS`,
which renews their leases and wakes the threads of the process that wait for them at once;
waiters in other processes poll the claim with a growing delay.

The protocol: claim the key (expecting no record, or the attempt last read). The winner
computes. A loser reads the claim: while it is held by a live owner, it waits; once let go
(or its owner dead), it looks for a recorded result (a hit is served), else claims again
expecting the attempt it read, so that of many waiters one wins. The result is recorded
before the claim is let go, so a claim let go after a success always finds its result.
"""

from __future__ import annotations

import ast
import json
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CanceledError, ConflictError, FlightlogError
from ..model import (
    AttachmentRecord,
    ErrorInfo,
    MetricChunk,
    Origin,
    ResourceRecord,
    ResourceStatus,
    Status,
    Step,
)
from . import flights, hits
from .flights import FLIGHTS, RESERVED_PREFIX, Flight, owner_gone, process_owner, when
from .state import MISSING

if TYPE_CHECKING:
    from ..stores import Store
    from .state import RunState
    from .steps import StepCall

__all__ = [
    "acquire",
    "acquire_async",
    "collection_of",
    "finish_releasing",
    "holds",
    "release",
    "wait_of",
]

_PENDING = ResourceStatus.PENDING
# Waiting for a claim held by another process: the first poll, and the longest delay between.
POLL_FIRST = 0.002
POLL_MAX = 0.25
# How often a thread waiting for another thread of this process looks for a cancel.
CANCEL_CHECK = 0.05

Decode = Callable[[str | None], Any]
# What the negotiation waits for: a computation of this process, or a delay (seconds).
Wait = Flight | float


@dataclass(slots=True)
class _Held:
    store: Store
    flight: Flight
    claim: ResourceRecord


# The claims held by steps in flight, by id of their StepCall (kept alive by the entry). A
# forked child holds none of its parent's (FLIGHTS forgets them too).
_HELD: dict[int, tuple[StepCall, _Held]] = {}
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_HELD.clear)


def collection_of(task_id: str) -> str:
    """The reserved collection that holds the claims of a task's cache keys."""
    return RESERVED_PREFIX + task_id


def holds(call: StepCall) -> bool:
    """Whether the step holds the claim of its cache key (it computes it)."""
    return id(call) in _HELD


def acquire(call: StepCall, decode: Decode) -> Any:
    """After a cache miss of a cache-enabled step: wait while another step computes its key,
    then serve that step's result (recording this step CACHED) and return it; or return
    MISSING once this step holds the key's claim and must compute it (then call
    :func:`release` at its end). Raises CanceledError (the step recorded CANCELED) when the
    run is canceled while it waits."""
    negotiation = _negotiate(call, decode)
    try:
        wait = next(negotiation)
        while True:
            try:
                _block(call, wait)
            except BaseException as error:
                negotiation.close()
                _record_stop(call, error)
                raise
            wait = negotiation.send(None)
    except StopIteration as done:
        return done.value


async def acquire_async(call: StepCall, decode: Decode) -> Any:
    """:func:`acquire` for a step driven by an event loop: it waits without blocking the loop
    (the step it waits for may run on the same loop)."""
    negotiation = _negotiate(call, decode)
    try:
        wait = next(negotiation)
        while True:
            try:
                await _pause(call, wait)
            except BaseException as error:
                negotiation.close()
                _record_stop(call, error)
                raise
            wait = negotiation.send(None)
    except StopIteration as done:
        return done.value


def hand_over(call: StepCall) -> None:
    """The step was submitted to an executor: its claim is held for it by no thread of this
    process (the thread that submitted it goes on, and may submit the same key again: that one
    waits for the step instead of taking it for a step enclosing it)."""
    entry = _HELD.get(id(call))
    if entry is not None:
        entry[1].flight.thread = None


def release(call: StepCall) -> None:
    """Let go of the claim the step holds, after its end record was written: COMPLETED when
    it succeeded, else ERROR with its error (waiters then look for its result, or one of
    them computes). A no-op when the step holds no claim (or let go of it already, in
    :func:`finish_releasing`)."""
    entry = _HELD.pop(id(call), None)
    if entry is None:
        return
    held = entry[1]
    try:
        held.store.finish_resource(_let_go(call.step, held.claim))
    finally:
        FLIGHTS.end(held.flight)


def finish_releasing(
    call: StepCall,
    metrics: Sequence[MetricChunk] = (),
    attachments: Sequence[AttachmentRecord] = (),
) -> bool:
    """Record the step's end and let go of the claim it holds in one transaction, where the
    store can (``finish_step_releasing``: the SQL stores); True when done so (:func:`release`
    is then a no-op). False, and nothing written, when the step holds no claim or the store
    writes them apart: the caller records the step's end, and :func:`release` follows. If
    the write fails, the claim is still held: ``release`` lets go of it."""
    entry = _HELD.get(id(call))
    if entry is None:
        return False
    held = entry[1]
    finish = getattr(held.store, "finish_step_releasing", None)
    if finish is None:
        return False
    finish(call.step, _let_go(call.step, held.claim), metrics=metrics, attachments=attachments)
    del _HELD[id(call)]
    FLIGHTS.end(held.flight)
    return True


def _let_go(step: Step, claim: ResourceRecord) -> ResourceRecord:
    """The claim as the step's end lets go of it: COMPLETED when it succeeded, else ERROR."""
    claim.end_time = step.end_time or time.time()
    if step.status is Status.SUCCESSFUL:
        claim.status = ResourceStatus.COMPLETED
    else:
        claim.status = ResourceStatus.ERROR
        claim.error = step.error or ErrorInfo(
            "flightlog.errors.FlightlogError",
            f"step {step.name!r} ended {step.status.value} without computing it",
            "",
        )
    claim.owner = None
    claim.lease_expires = None
    return claim


# -- the negotiation, shared by the blocking and the async wait ---------------------------------
def _negotiate(call: StepCall, decode: Decode) -> Generator[Wait, None, Any]:
    state, step = call.state, call.step
    store = state.store
    execution_id = step.execution_id
    assert execution_id is not None, "only steps with an execution id have a cache key"
    collection = collection_of(step.task_id)
    before = step.reason
    expected: int | None = None  # the attempt of the claim last read (None: no record)
    last: ResourceRecord | None = None  # the claim let go (or abandoned) last read
    since: float | None = None  # when this step began to wait
    while True:
        attempt = 1 if expected is None else expected + 1
        flight = FLIGHTS.begin(store, collection, execution_id, attempt)
        if flight is not None:
            claim = _claim(call, collection, execution_id, attempt)
            try:
                won = store.claim_resource(claim, expected_attempt=expected)
            except BaseException:
                FLIGHTS.end(flight)
                raise
            if won:
                _HELD[id(call)] = (call, _Held(store, flight, claim))
                step.reason = _joined(before, _took_over(last, since))
                return MISSING
            FLIGHTS.end(flight)
        else:
            other = FLIGHTS.find(store, collection, execution_id)
            if other is not None:  # another thread of this process computes it (or claims)
                if since is None:
                    since = time.monotonic()
                _show_waiting(call, _joined(before, "waiting for another step to compute it"))
                yield other
        record = store.get_resource(collection, execution_id)
        delay = POLL_FIRST
        while record is not None and _held_by_live_owner(record):
            if since is None:
                since = time.monotonic()
            _show_waiting(call, _joined(before, f"waiting for {_holder(record)} to compute it"))
            local = FLIGHTS.find(store, collection, execution_id)
            if local is not None and local.attempt == record.attempt:
                yield local
            else:
                yield delay
                delay = min(delay * 1.5, POLL_MAX)
            record = store.get_resource(collection, execution_id)
        hit = store.find_cached(step.task_id, execution_id)
        value = MISSING if hit is None else hits.served(store, hit, decode)
        if hit is not None and value is not MISSING:
            if since is not None:
                waited = time.monotonic() - since
                step.reason = _joined(
                    before,
                    f"waited {waited:.1f} s for step {hit.name!r} of run {hit.run_id!r} "
                    "to compute it",
                )
            else:
                step.reason = before
            return call.finish_from(Origin.CACHED, hit, value)
        step.reason = before
        expected = None if record is None else record.attempt
        last = record


# What a step's ``reason`` says when it waited, or waits, for another step to compute its key
# (the texts written above; read back by :func:`wait_of`).
_WAITED = re.compile(r"waited ([0-9.]+) s for (step (.+) of run (.+)) to compute it")
_WAITING = re.compile(r"waiting for (step (.+) of run (.+)|another step) to compute it")


def wait_of(reason: str | None) -> dict[str, Any] | None:
    """What a step's recorded ``reason`` says it waited (or, running, waits) for: ``{"seconds":
    float or None (still waiting), "step", "run" (None when not named), "text"}``; None when
    it did not wait for another step's computation."""
    if not reason:
        return None
    found = _WAITED.search(reason)
    if found is not None:
        seconds: float | None = float(found.group(1))
        holder, step, run = found.group(2), found.group(3), found.group(4)
    else:
        found = _WAITING.search(reason)
        if found is None:
            return None
        seconds, holder, step, run = None, found.group(1), found.group(2), found.group(3)
    try:
        step, run = ast.literal_eval(step), ast.literal_eval(run)
    except (ValueError, SyntaxError, TypeError):
        step = run = None
    return {"seconds": seconds, "step": step, "run": run, "text": holder}


def _show_waiting(call: StepCall, reason: str | None) -> None:
    """Record the step RUNNING with what it waits for (at once: readers see it waiting)."""
    step = call.step
    if step.reason == reason:
        return
    step.reason = reason
    running = step.copy()
    running.status = Status.RUNNING
    call.state.store.finish_step(running)  # replaces a start record written meanwhile
    call.state.started.add(step.position)


def _claim(call: StepCall, collection: str, ident: str, attempt: int) -> ResourceRecord:
    step = call.step
    start = time.time()
    holder = json.dumps({"run": step.run_id, "step": step.name})
    return ResourceRecord(
        collection,
        ident,
        _PENDING,
        attempt,
        step.task_id,
        holder,
        None,
        None,
        start,
        None,
        process_owner(),
        start + flights.LEASE_SECONDS,
        start,
        [],
        step.run_id,  # deleting that run deletes the claim's record too, once let go
        step.position,
    )


def _held_by_live_owner(record: ResourceRecord) -> bool:
    """Whether a claim is held by a computation that may still finish: PENDING, its owner
    alive (and, when that owner is this process, one of its threads still computing it)."""
    if record.status is not _PENDING:
        return False
    if _gone(record) is not None:
        return False
    if record.owner == process_owner():  # a claim of this process that none computes: let go
        return FLIGHTS.computes(record.collection, record.ident, record.attempt)
    return True


def _gone(record: ResourceRecord) -> str | None:
    """Why the owner of a claim no longer computes it, or None. A claim whose lease ran out
    is abandoned even when its process lives (its computations renew their leases): e.g. one
    that the process could not let go of because the store failed then."""
    now = time.time()
    why = owner_gone(record.owner, record.lease_expires, now)
    if why is None and record.lease_expires is not None and record.lease_expires < now:
        why = f"its lease ran out at {when(record.lease_expires)} and was not renewed"
    return why


def _holder(record: ResourceRecord) -> str:
    """The step that holds (or held) a claim, in words."""
    try:
        holder = json.loads(record.arguments or "")
        return f"step {holder['step']!r} of run {holder['run']!r}"
    except (ValueError, TypeError, KeyError):
        return "another step"


def _took_over(last: ResourceRecord | None, since: float | None) -> str | None:
    """Why a step computes a key that another step claimed before (None: it did not)."""
    if last is None:
        return None
    who = _holder(last)
    if last.status is _PENDING:
        what = f"{who} did not finish computing it ({_gone(last) or 'it was abandoned'})"
    elif last.status is ResourceStatus.ERROR and since is not None:
        error = last.error
        detail = f" ({error.type}: {error.message})" if error is not None else ""
        what = f"{who} failed computing it{detail}"
    elif since is not None:
        what = f"{who} computed it, but its result is not recorded"
    else:
        return None  # an old claim, not one this step waited for
    waited = "" if since is None else f" while this step waited {time.monotonic() - since:.1f} s"
    return f"{what}{waited}, so this step computed it"


def _joined(before: str | None, reason: str | None) -> str | None:
    if before is None:
        return reason
    if reason is None:
        return before
    return f"{before}; {reason}"


# -- waiting -----------------------------------------------------------------------------------
def _block(call: StepCall, wait: Wait) -> None:
    state = call.state
    if isinstance(wait, Flight):
        if wait.thread == threading.get_ident():
            raise ConflictError(
                f"step {call.step.name!r} of run {state.run_id!r} calls task "
                f"{call.task.name!r} with the arguments that an enclosing step of this thread "
                "is computing: it would wait for itself for ever"
            )
        while not wait.running.acquire(timeout=CANCEL_CHECK):
            _check_cancel(state, call)
        wait.running.release()
    else:
        state.canceled.wait(wait)
    _check_cancel(state, call)


async def _pause(call: StepCall, wait: Wait) -> None:
    import asyncio  # loaded already: an async step runs

    state = call.state
    if isinstance(wait, Flight):
        delay = POLL_FIRST
        while wait.running.locked():
            _check_cancel(state, call)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, CANCEL_CHECK)
    else:
        await asyncio.sleep(wait)
    _check_cancel(state, call)


def _check_cancel(state: RunState, call: StepCall) -> None:
    if not state.cancel_requested:
        return
    if state.failure is not None:
        raise type(state.failure)(str(state.failure))
    raise CanceledError(
        f"run {state.run_id!r} was canceled while its step {call.step.name!r} waited for "
        "another step to compute its result"
    )


def _record_stop(call: StepCall, error: BaseException) -> None:
    """A wait ended by a cancel (or another error): the step ends, CANCELED or FAILED."""
    if call.step.end_time is not None:
        return
    try:
        call.failed(error, final=True)
    except FlightlogError:  # the store cannot record it: the run's end says why
        pass
