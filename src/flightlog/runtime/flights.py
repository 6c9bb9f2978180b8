"""Claims of computations, shared by resources and cache-enabled steps: who computes a key
right now, whether that process still lives, and keeping its lease fresh.

A claim names its owner (host, pid, process start time, boot id; see
:mod:`flightlog.runtime.liveness`) and carries a lease. Computations running in this process are
also kept in a registry (:data:`FLIGHTS`), so that a thread waiting for another thread's
computation wakes at once when it ends, and so that their leases are renewed by one daemon
thread. The claims themselves are the store's resource claims (``Store.claim_resource``,
``finish_resource``, ``renew_resource_leases``): see :mod:`flightlog.resources.engine` and
:mod:`flightlog.runtime.cache_claims`.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from ..model import Owner
from ..stores.forking import background
from .liveness import current_owner, owner_alive
from .state import LEASE_RENEWAL, LEASE_SECONDS

if TYPE_CHECKING:
    from ..stores import Store

__all__ = [
    "FLIGHTS",
    "LEASE_SECONDS",
    "RESERVED_PREFIX",
    "Flight",
    "Flights",
    "owner_gone",
    "process_owner",
    "when",
]

RESERVED_PREFIX = "flightlog.cache."
"""Resource collections whose names start with this are flightlog's own: the claims of cache
keys, one collection per cache-enabled task (see :mod:`flightlog.runtime.cache_claims`). Users
cannot define such a collection, and listings of collections leave them out."""

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


def when(epoch: float) -> str:
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
        return f"the lease{who} ran out at {when(lease_expires)} and was not renewed"
    return None


class Flight:
    """A computation running in this process. ``running`` is held by the computing thread
    until the computation ends: a waiting thread acquires it to wake at that moment."""

    __slots__ = ("attempt", "collection", "error", "ident", "renewed", "running", "store", "thread")

    def __init__(self, store: Store, collection: str, ident: str, attempt: int) -> None:
        self.store = store
        self.collection = collection
        self.ident = ident
        self.attempt = attempt
        self.thread: int | None = threading.get_ident()
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

    def computes(self, collection: str, ident: str, attempt: int) -> bool:
        """Whether a thread of this process computes that claim, through any store object
        (several may open one database)."""
        return any(
            key[1] == collection and key[2] == ident and flight.attempt == attempt
            for key, flight in self._flights.copy().items()
        )

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
