"""One background thread per process that looks after live runs.

It writes the start record of any step still running after ``LAZY_START_DELAY`` (short steps
are written once, at their end), then what it prints and tracks while it runs (see
:mod:`flightlog.runtime.live`), renews the leases of live runs, and notices cancel requests
made from other processes (within ``CANCEL_POLL`` seconds; at once in this process). The store
guards against a late start record: ``start_step`` never overwrites a finished step. Every
``CHECK_INTERVAL`` seconds it asks each store with live runs whether it still holds what they
record (``Store.check``, for stores that have it): a store that lost its file stops its runs
(no new step starts; each raises the store's error, and so does the run at its end).

A canceled run starts no new step; a plain step in flight runs to its end, and the asyncio
task running an ``async`` step in flight is cancelled (:func:`interrupt`).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import StoreError
from ..model import Status, Step
from ..stores.forking import background
from .live import LIVE_INTERVAL, flush_step
from .liveness import GIVEN_UP
from .state import LAZY_START_DELAY, LEASE_SECONDS, RunState
from .state import RUN_LEASE_RENEWAL as LEASE_RENEWAL

if TYPE_CHECKING:
    from ..stores import Store

TICK = 0.05
CANCEL_POLL = 0.25
# How long a run given up keeps trying to record its RESUMABLE end (its lease runs out anyway).
GIVE_UP_RETRY = 3600.0
CHECK_INTERVAL = 2.0


class Monitor:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every run and thread (a forked child starts afresh)."""
        self._lock = threading.Lock()
        self._runs: dict[int, RunState] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_lease = 0.0
        self._last_cancel = 0.0
        self._last_live = 0.0
        self._last_check = time.time()
        self._reported: set[str] = set()
        # Runs given up (see liveness.GIVEN_UP) whose RESUMABLE end is still to be written,
        # with the attempt (resume count) that gave them up.
        self._given_up: dict[tuple[int, str], int] = {}

    def register(self, state: RunState) -> None:
        with self._lock:
            self._runs[id(state)] = state
            self._start()
        self._wake.set()

    def cancel_local(self, store: object, run_id: str) -> None:
        """Tell a run driven by this process that it is canceled."""
        with self._lock:
            states = [
                state
                for state in self._runs.values()
                if state.run_id == run_id and state.store is store
            ]
        for state in states:
            notice_cancel(state)

    def unregister(self, state: RunState) -> None:
        with self._lock:
            self._runs.pop(id(state), None)

    def give_up(self, state: RunState) -> None:
        """The run's end could not be recorded: it reads RESUMABLE in this process from now
        on, and a thread of its own records it RESUMABLE (ended now) as soon as its store
        answers again, unless another attempt has taken it over by then."""
        GIVEN_UP.add((state.run_id, state.start_time))
        key = (id(state.store), state.run_id)
        self._given_up[key] = state.resumes
        thread = threading.Thread(
            target=self._record_given_up,
            args=(state.store, state.run_id, state.resumes, time.time()),
            name="flightlog-give-up",
            daemon=True,
        )
        thread.start()

    def take_back(self, store: Store, run_id: str) -> None:
        """A run given up is resumed by this process: its RESUMABLE end is no longer to be
        written (if it still is, the resume count keeps it from ending the new attempt)."""
        self._given_up.pop((id(store), run_id), None)

    def _record_given_up(self, store: Store, run_id: str, resumes: int, when: float) -> None:
        key, delay, deadline = (id(store), run_id), TICK, time.monotonic() + GIVE_UP_RETRY
        while self._given_up.get(key) == resumes and time.monotonic() < deadline:
            try:
                with background():
                    store.finish_run(
                        run_id, status=Status.RESUMABLE, end_time=when, expected_resumes=resumes
                    )
            except Exception:  # the store still does not answer (or was closed)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            break
        if self._given_up.get(key) == resumes:
            del self._given_up[key]

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="flightlog-monitor", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                states = list(self._runs.values())
            if not states:
                self._wake.clear()
                self._wake.wait(1.0)
                continue
            self._guarded(functools.partial(self._tick, states), states)
            time.sleep(TICK)

    def _guarded(self, action: Callable[[], None], states: list[RunState]) -> None:
        try:
            action()
        except Exception as error:  # never let the monitor die silently
            with self._lock:
                if not any(id(state) in self._runs for state in states):
                    return  # the runs ended (and their store closed) meanwhile: no news
            key = f"{type(error).__name__}: {error}"
            if key not in self._reported:
                self._reported.add(key)
                print(f"flightlog: background monitor: {key}", file=sys.__stderr__)

    def _tick(self, states: list[RunState]) -> None:
        current = time.time()
        live = current - self._last_live >= LIVE_INTERVAL
        if live:
            self._last_live = current
        for state in states:
            for position, call in list(state.in_flight.items()):
                step = call.step
                if position in state.started:
                    if live:
                        flush_step(state, call, current)
                    continue
                start = step.start_time or current
                if current - start >= LAZY_START_DELAY:
                    state.started.add(position)
                    with background():
                        state.store.start_step(_snapshot(step))
        if current - self._last_check >= CHECK_INTERVAL:
            self._last_check = current
            for group in _by_store(states):
                _check_store(group)
        if current - self._last_lease >= LEASE_RENEWAL:
            self._last_lease = current
            for group in _by_store(states):
                with background():
                    group[0].store.renew_leases(
                        [state.run_id for state in group], current + LEASE_SECONDS
                    )
        if current - self._last_cancel >= CANCEL_POLL:
            self._last_cancel = current
            for state in states:
                if not state.cancel_requested:
                    with background():
                        run = state.store.get_run(state.run_id)
                    if run is not None and run.cancel_requested:
                        notice_cancel(state)


def _by_store(states: list[RunState]) -> list[list[RunState]]:
    by_store: dict[int, list[RunState]] = {}
    for state in states:
        by_store.setdefault(id(state.store), []).append(state)
    return list(by_store.values())


def _check_store(group: list[RunState]) -> None:
    """Stop the runs of a store that lost what they record (see ``Store.check``)."""
    check = getattr(group[0].store, "check", None)
    if check is None:
        return
    try:
        with background():
            check()
    except StoreError as error:
        for state in group:
            state.failure = error
            state.cancel_requested = True  # the one flag a step looks at before it starts


def notice_cancel(state: RunState) -> None:
    """The run is canceled: no new step starts, and its async steps in flight are cancelled."""
    if state.cancel_requested:
        return
    state.cancel_requested = True
    state.canceled.set()  # ends a wait between two attempts
    executor = state.executor
    if executor is not None and state.pending:
        # Submitted steps not started on the engine are cancelled there (and recorded
        # CANCELED: see flightlog.runtime.fanout); those running end as they do.
        with state.pending_lock:
            pending = list(state.pending)
        for future in pending:
            if future.engine_future is not None:
                executor.cancel(future.engine_future)
    loop = state.loop
    if loop is not None:
        try:
            loop.call_soon_threadsafe(interrupt, state)
        except RuntimeError:  # the loop has closed: nothing runs on it any more
            pass


def interrupt(state: RunState) -> None:
    """Cancel the asyncio tasks running the run's async steps (in the loop's own thread, so
    every step still registered is suspended inside its attempts: the CancelledError lands in
    the step, which records itself CANCELED and raises CanceledError; see steps.py)."""
    for task in set(state.async_steps.values()):
        if task is not None and not task.done() and task not in state.interrupted:
            state.interrupted.add(task)
            task.cancel(f"run {state.run_id!r} was canceled")


def stopped_by_cancel(state: RunState, error: BaseException) -> bool:
    """Whether ``error`` is the cancel of an async step by :func:`interrupt`. Called in the
    task that was cancelled; takes the cancel back from the task (``uncancel``) so that the
    run's code sees CanceledError, not a cancellation of its own task."""
    asyncio = sys.modules.get("asyncio")  # no asyncio loaded: no async step to cancel
    if asyncio is None or not isinstance(error, asyncio.CancelledError) or not state.interrupted:
        return False
    task = asyncio.current_task()
    if task is None or task not in state.interrupted:
        return False
    state.interrupted.discard(task)
    uncancel = getattr(task, "uncancel", None)  # Python 3.11+
    if uncancel is not None:
        uncancel()
    return True


def _snapshot(step: Step) -> Step:
    """A RUNNING record of a step, made from the fields that do not change while it runs."""
    return Step(
        run_id=step.run_id,
        name=step.name,
        position=step.position,
        task_name=step.task_name,
        task_id=step.task_id,
        execution_id=step.execution_id,
        parent=step.parent,
        status=Status.RUNNING,
        start_time=step.start_time,
        arguments=step.arguments,
        user_metadata=step.user_metadata,
        options=step.options,
        cache=step.cache,
        reason=step.reason,  # e.g. that it waits for another step to compute its result
    )


MONITOR = Monitor()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=MONITOR.reset)
