"""Asking about and steering live runs from any process that shares the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NotFoundError
from ..model import Status
from .liveness import effective_status
from .monitor import MONITOR

if TYPE_CHECKING:
    from ..stores import Store


def run_status(store: Store, run_id: str) -> Status:
    run = store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id!r} in {store.url}")
    return effective_status(run)


def cancel_run(store: Store, run_id: str) -> None:
    """Record a cancel request; the run's owner stops before its next step.

    The owner notices at once when it is this process, else within a fraction of a second.
    A run that has ended is left as it is.
    """
    status = run_status(store, run_id)
    if status.finished:
        return
    if status is Status.RESUMABLE:  # its owner is gone: nobody else will mark it
        store.finish_run(run_id, status=Status.CANCELED, end_time=None)
        return
    store.request_cancel(run_id)
    MONITOR.cancel_local(store, run_id)
