"""Asking about and steering live runs from any process that shares the store.

A cancel is one compare-and-set in the store (``request_cancel``): a run that has not finished
reads CANCELED as soon as :func:`cancel_run` returns, in every process. Its owner notices (at
once in this process, within ``monitor.CANCEL_POLL`` elsewhere), starts no new step, lets a plain
step in flight end and be recorded as it ended, cancels async steps in flight, and then records
only when it really stopped: ``finish_run`` never turns a CANCELED run SUCCESSFUL or FAILED.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import ConflictError, NotFoundError
from ..model import Run, Status
from .liveness import GIVEN_UP, effective_status, owner_alive
from .monitor import MONITOR

if TYPE_CHECKING:
    from ..stores import Store


def run_status(store: Store, run_id: str) -> Status:
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id!r} in {store.url}")
    return effective_status(run)


def cancel_run(store: Store, run_id: str) -> None:
    """Cancel a run that has not finished (RUNNING, or RESUMABLE: its owner is gone).

    Raises NotFoundError for an unknown run, and ConflictError for a run that has finished
    (SUCCESSFUL, FAILED or CANCELED), also when it finished just before the cancel reached
    the store: then nothing changes.
    """
    while True:
        if store.request_cancel(run_id, end_time=time.time()):
            MONITOR.cancel_local(store, run_id)
            return
        status = run_status(store, run_id)
        if status.finished:
            raise ConflictError(
                f"run {run_id!r} has already finished ({status.value}); nothing to cancel"
            )
        # Resumed between the two reads: cancel that attempt.


def check_stopped(run: Run) -> None:
    """Refuse to take over a canceled run whose owner is still finishing a step it was
    running when the cancel came: resuming it now would run that step twice at once. The
    owner holds the run's lease until it stops (``finish_run`` clears it); an owner on another
    host counts as stopped once that lease has run out (it is not renewed after a cancel)."""
    if run.status is not Status.CANCELED or run.lease_expires is None or run.owner is None:
        return
    if (run.run_id, run.start_time) in GIVEN_UP:  # this process let it go: it has stopped
        return
    alive = owner_alive(run.owner)
    if alive is False or (alive is None and run.lease_expires < time.time()):
        return
    owner = run.owner
    raise ConflictError(
        f"run {run.run_id!r} was canceled but is still stopping: process {owner.pid} on "
        f"{owner.host} is finishing the step it was running; resume it once that has ended"
    )
