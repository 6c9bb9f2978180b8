"""Who computes a resource right now, and whether that process still lives.

A claim names its owner (host, pid, process start time, boot id; see
:mod:`flightlog.runtime.liveness`) and carries a lease. A PENDING resource whose owner is gone
(on this host: the process is not running any more; elsewhere: the lease ran out) reads as
"error"; nothing is written for that, the next claim takes it over. Computations running in
this process are also kept in a registry (:data:`FLIGHTS`, shared with cache-enabled steps: see
:mod:`flightlog.runtime.flights`), so that a thread waiting for another thread's computation
wakes at once and gets the same outcome, and so that their leases are renewed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..model import ResourceRecord, ResourceStatus
from ..runtime.flights import FLIGHTS, LEASE_SECONDS, Flight, owner_gone, process_owner, when

if TYPE_CHECKING:
    from ..stores import Store

__all__ = [
    "FLIGHTS",
    "LEASE_SECONDS",
    "Flight",
    "death_of",
    "owner_gone",
    "process_owner",
    "split_pending",
]


def death_of(record: ResourceRecord, now: float | None = None) -> str | None:
    """For a PENDING record: why its computation can never finish (its process died), as a
    sentence for users; None while it may still finish."""
    why = owner_gone(record.owner, record.lease_expires, now or time.time())
    if why is None:
        return None
    started = "" if record.start_time is None else f" started at {when(record.start_time)}"
    return (
        f"the process computing it died: its computation (attempt {record.attempt}){started} "
        f"never finished; {why}. Fetch it again to compute it anew"
    )


def split_pending(store: Store, collection: str) -> tuple[list[str], list[str]]:
    """The identifiers of the collection's PENDING resources: those that may still finish,
    and those whose computation died (which read as "error")."""
    now = time.time()
    live: list[str] = []
    dead: list[str] = []
    for record in store.list_resources(collection, status=ResourceStatus.PENDING):
        (live if death_of(record, now) is None else dead).append(record.ident)
    return live, dead
