"""Forks wait until flightlog's background threads are out of the stores.

A process that forks while another of its threads is inside SQLite (or a database driver)
leaves the child with that library's mutexes held by a thread that does not exist there: the
child hangs at its first call. flightlog's own background threads (WAL checkpoints, the run
monitor, the renewal of resource leases) call stores only inside :func:`background`, and a fork
waits until none of them is inside one; they wait while the fork happens. The threads of users
(and tasks that run in threads) are theirs to keep out of stores when they fork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_condition = threading.Condition()
_inside = 0
_forking = False


@contextmanager
def background() -> Iterator[None]:
    """Around a background thread's use of a store: a fork does not happen meanwhile."""
    global _inside
    with _condition:
        while _forking:
            _condition.wait()
        _inside += 1
    try:
        yield
    finally:
        with _condition:
            _inside -= 1
            if not _inside:
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
    global _condition, _inside, _forking
    _condition = threading.Condition()
    _inside = 0
    _forking = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
