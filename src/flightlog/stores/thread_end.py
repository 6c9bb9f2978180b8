"""The connections a thread opened are closed when that thread ends.

Stores open one connection per thread. Another thread must not close one while its thread may
be running a statement on it (SQLite crashes; libpq too), and a connection left to the garbage
collector is closed there with a ResourceWarning. A thread that has ended runs no statement:
its connections are closed then, by the thread itself, as its thread-local data is released.
A store that closes closes at once the connections it can close safely (its own thread's,
those of threads that ended, those of flightlog's background threads while they are paused)
and forgets them here; the others are closed when their threads end.

A forked child never closes the connections it inherited (that would end its parent's
sessions, or release SQLite's locks under it): they are kept in :data:`INHERITED`, unused.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable

# Connections inherited through fork: referenced, never used, never closed.
INHERITED: list[object] = []


class ThreadEnd:
    """The connections of one thread, each with how to close it, closed when it ends."""

    __slots__ = ("__weakref__", "connections", "pid")

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.connections: dict[int, tuple[object, Callable[[], object]]] = {}

    def add(self, connection: object, close: Callable[[], object]) -> None:
        self.connections[id(connection)] = (connection, close)

    def __del__(self) -> None:
        entries = list(self.connections.values())
        self.connections.clear()
        if self.pid != os.getpid():
            INHERITED.extend(connection for connection, _ in entries)
            return
        for _, close in entries:
            with contextlib.suppress(Exception):
                close()


_local = threading.local()


def close_at_thread_end(connection: object, close: Callable[[], object]) -> Forget:
    """Close ``connection`` (by calling ``close``) when the current thread ends; returns what
    to call once it has been closed otherwise (it holds no reference to the thread's list, so
    that the list is released as the thread ends)."""
    ending: ThreadEnd | None = getattr(_local, "value", None)
    if ending is None:
        ending = _local.value = ThreadEnd()
    ending.add(connection, close)
    return Forget(ending, connection)


class Forget:
    """Take a connection off its thread's list (it was closed by its store)."""

    __slots__ = ("ending", "key")

    def __init__(self, ending: ThreadEnd, connection: object) -> None:
        self.ending = weakref.ref(ending)
        self.key = id(connection)

    def __call__(self) -> None:
        ending = self.ending()
        if ending is not None:
            ending.connections.pop(self.key, None)


def _after_fork() -> None:
    global _local
    _local = threading.local()  # the parent's: kept in INHERITED as they are released


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
