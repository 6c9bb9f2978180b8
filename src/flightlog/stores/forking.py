"""Forks, and stores that close, wait until flightlog's background threads are out of the stores.

A process that forks while another of its threads is inside SQLite (or a database driver)
leaves the child with that library's mutexes held by a thread that does not exist there: the
child hangs at its first call. flightlog's own background threads (WAL checkpoints, the run
monitor, the renewal of resource leases) call stores only inside :func:`background`, and a fork
waits until none of them is inside one; they wait while the fork happens. The threads of users
(and tasks that run in threads) are theirs to keep out of stores when they fork.

The same pause (:func:`quiet`) lets a store that closes close the connections of those threads,
which live on after the store is gone: none of them is using its connection meanwhile.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

_condition = threading.Condition()
_inside = 0
_forking = False
_holds = 0  # stores closing now (see quiet)
_depth = threading.local()  # how deep the current thread is inside background()
_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # those that call background()


@contextmanager
def background() -> Iterator[None]:
    """Around a background thread's use of a store: a fork (or a store's close) does not
    happen meanwhile."""
    global _inside
    with _condition:
        while _forking or _holds:
            _condition.wait()
        _inside += 1
        _threads.add(threading.current_thread())
    _depth.value = getattr(_depth, "value", 0) + 1
    try:
        yield
    finally:
        _depth.value -= 1
        with _condition:
            _inside -= 1
            if not _inside or _holds:
                _condition.notify_all()


@contextmanager
def quiet(timeout: float) -> Iterator[set[threading.Thread] | None]:
    """Until the block ends no background thread (other than the caller) is inside a store:
    yields the threads that have used :func:`background`, or None when some were still inside
    a store after ``timeout`` seconds (their connections may be in use: leave them open)."""
    global _holds
    mine = getattr(_depth, "value", 0)
    with _condition:
        _holds += 1
        calm = _condition.wait_for(lambda: _inside <= mine, timeout)
        threads = set(_threads) if calm else None
    try:
        yield threads
    finally:
        with _condition:
            _holds -= 1
            _condition.notify_all()


def _before_fork() -> None:
    global _forking
    with _condition:
        _forking = True
        while _inside:
            _condition.wait()


def _after_fork_in_parent() -> None:
    global _forking
    with _condition:
        _forking = False
        _condition.notify_all()


def _after_fork_in_child() -> None:
    global _condition, _inside, _forking, _holds, _depth, _threads
    _condition = threading.Condition()
    _inside = 0
    _forking = False
    _holds = 0
    _depth = threading.local()
    _threads = weakref.WeakSet()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
