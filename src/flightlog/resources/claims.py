"""Who computes a resource right now, whether that process still lives, and keeping its
lease fresh.

A claim names its owner (host, pid, process start time, boot id; see
:mod:`flightlog.runtime.liveness`) and carries a lease. A PENDING resource whose owner is gone
(on this host: the process is not running any more; elsewhere: the lease ran out) reads as
"error"; nothing is written for that, the next claim takes it over. Computations running in
this process are also kept in a registry, so that a thread waiting for another thread's
computation wakes at once and gets the same outcome, and so that their leases are renewed.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from ..model import Owner, ResourceRecord, ResourceStatus
from ..runtime.liveness import current_owner, owner_alive
from ..runtime.state import LEASE_RENEWAL, LEASE_SECONDS
from ..stores.forking import background

if TYPE_CHECKING:
    from ..stores import Store

__all__ = [
    "FLIGHTS",
    "LEASE_SECONDS",
    "death_of",
    "owner_gone",
    "process_owner",
    "split_pending",
]

_owner: Owner | None = None


def process_owner() -> Owner:
    """This process as the owner of a claim (computed once per process; a forked child
    forgets its parent's)."""
    global _owner
    owner = _owner
    if owner is None:
        owner = _owner = current_owner()
    return owner


def _forget_owner() -> None:
    global _owner
    _owner = None


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def owner_gone(owner: Owner | None, lease_expires: float | None, now: float) -> str | None:
    """Why the owner of a claim is gone, or None when it may still be computing."""
    if owner is not None:
        alive = owner_alive(owner)
        if alive is True:
            return None
        if alive is False:
            return f"process {owner.pid} on host {owner.host} is no longer running"
    if lease_expires is not None and lease_expires < now:
        who = "" if owner is None else f" of process {owner.pid} on host {owner.host}"
        return f"the lease{who} ran out at {_when(lease_expires)} and was not renewed"
    return None


def death_of(record: ResourceRecord, now: float | None = None) -> str | None:
    """For a PENDING record: why its computation can never finish (its process died), as a
    sentence for users; None while it may still finish."""
    why = owner_gone(record.owner, record.lease_expires, now or time.time())
    if why is None:
        return None
    started = "" if record.start_time is None else f" started at {_when(record.start_time)}"
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


class Flight:
    """A computation running in this process. ``running`` is held by the computing thread
    until the computation ends: a waiting thread acquires it to wake at that moment."""

    __slots__ = ("attempt", "collection", "error", "ident", "renewed", "running", "store", "thread")

    def __init__(self, store: Store, collection: str, ident: str, attempt: int) -> None:
        self.store = store
        self.collection = collection
        self.ident = ident
        self.attempt = attempt
        self.thread = threading.get_ident()
        self.error: BaseException | None = None
        self.renewed = time.monotonic()
        self.running = threading.Lock()
        self.running.acquire()

    def wait(self) -> None:
        with self.running:
            pass


class Flights:
    """The computations running in this process, by store, collection and identifier; a
    daemon thread (started by the first) renews the lease of those that run long."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every computation and thread (a forked child starts afresh)."""
        self._lock = threading.Lock()
        self._flights: dict[tuple[int, str, str], Flight] = {}
        self._thread: threading.Thread | None = None

    def begin(self, store: Store, collection: str, ident: str, attempt: int) -> Flight | None:
        """Register a computation about to claim the resource (before the claim, so that no
        reader ever takes the claim for an abandoned one); None when a thread of this process
        computes it already."""
        flight = Flight(store, collection, ident, attempt)
        # setdefault is atomic: of two threads registering one key, one gets the other's.
        if self._flights.setdefault((id(store), collection, ident), flight) is not flight:
            flight.running.release()
            return None
        if self._thread is None:
            self._start_renewing()
        return flight

    def _start_renewing(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="flightlog-resource-leases", daemon=True
                )
                self._thread.start()

    def end(self, flight: Flight) -> None:
        # Only the computing thread ends its flight, and only it removes its key.
        flights = self._flights
        key = (id(flight.store), flight.collection, flight.ident)
        if flights.get(key) is flight:
            del flights[key]
        flight.running.release()

    def find(self, store: Store, collection: str, ident: str) -> Flight | None:
        return self._flights.get((id(store), collection, ident))

    def _loop(self) -> None:
        while True:
            time.sleep(LEASE_RENEWAL / 3)
            try:
                self.renew(older_than=LEASE_RENEWAL)
            except Exception:  # the store failed: the lease runs out, others take over
                pass

    def renew(self, older_than: float = 0.0) -> None:
        """Renew the lease of every computation not renewed for ``older_than`` seconds."""
        now = time.monotonic()
        by_store: dict[int, tuple[Store, list[tuple[str, str, int]]]] = {}
        with self._lock:  # a copy: other threads add and remove flights meanwhile
            for (key, collection, ident), flight in self._flights.copy().items():
                if flight.renewed <= now - older_than:
                    flight.renewed = now
                    claims = by_store.setdefault(key, (flight.store, []))[1]
                    claims.append((collection, ident, flight.attempt))
        expires = time.time() + LEASE_SECONDS
        for store, claims in by_store.values():
            with background():  # see flightlog.stores.forking
                store.renew_resource_leases(claims, expires)


FLIGHTS = Flights()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=FLIGHTS.reset)
    os.register_at_fork(after_in_child=_forget_owner)
