"""WAL checkpoints in a background thread, off the path of every commit.

In WAL mode, the commit that makes the log longer than ``wal_autocheckpoint`` pages copies the
log back into the database file and syncs that file: with SQLite's default, one commit in a few
hundred pays for all the others, and with indexes that spread a commit over several pages that
becomes most of what a commit costs. SQLite stores leave checkpoints to one thread per process
instead, which runs a PASSIVE checkpoint (it neither waits for nor blocks readers and writers)
of each open database whose log has grown, a few times a second at most when it keeps growing.
Writers still checkpoint themselves once the log reaches :data:`SAFETY_PAGES` (if this thread
cannot keep up, or is not running yet in a forked child).

The thread holds one connection per database file, ends when no store is open, and starts
again with the next store. It uses SQLite only inside ``forking.background()``: a fork waits
until it is out of SQLite (see flightlog.stores.forking).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from .forking import background

# Pages of log after which a writing connection checkpoints by itself (40 MiB of 4 KiB pages).
SAFETY_PAGES = 10_000
# Seconds between looks at a log that grows, and at most between looks at one that does not.
_SOON = 0.02
_LATER = 0.5

_lock = threading.Lock()
_watched: weakref.WeakKeyDictionary[object, Path] = weakref.WeakKeyDictionary()
_thread: threading.Thread | None = None


def watch(store: object, path: Path) -> None:
    """Checkpoint ``path`` while ``store`` is open (until :func:`unwatch` or its collection)."""
    global _thread
    with _lock:
        _watched[store] = path
        if _thread is None or not _thread.is_alive():  # (a thread that failed is replaced)
            _thread = threading.Thread(target=_run, name="flightlog-checkpoints", daemon=True)
            _thread.start()


def unwatch(store: object) -> None:
    with _lock:
        _watched.pop(store, None)


def running() -> bool:
    """Whether the checkpoint thread runs (it ends soon after the last store closes)."""
    with _lock:
        return _thread is not None and _thread.is_alive()


def _run() -> None:
    global _thread
    connections: dict[Path, tuple[int, sqlite3.Connection]] = {}
    seen: dict[Path, int] = {}
    delay = _SOON
    try:
        while True:
            with _lock:
                paths = set(_watched.values())
                if not paths:
                    _thread = None
                    return
            grew = False
            with background():
                for path in set(connections) - paths:
                    connections.pop(path)[1].close()
                    seen.pop(path, None)
                for path in paths:
                    log = _checkpoint(connections, path)
                    if log is not None and log != seen.get(path):
                        seen[path] = log
                        grew = True
            delay = _SOON if grew else min(delay * 2, _LATER)
            time.sleep(delay)
    finally:
        with background():
            for _, connection in connections.values():
                connection.close()


def _checkpoint(connections: dict[Path, tuple[int, sqlite3.Connection]], path: Path) -> int | None:
    """Checkpoint one database; the length of its log in pages (None if it could not)."""
    try:
        inode = path.stat().st_ino
    except OSError:
        inode = None
    known = connections.get(path)
    if known is not None and known[0] != inode:  # deleted, or replaced by another file
        connections.pop(path)[1].close()
        known = None
    if inode is None:
        return None
    try:
        if known is None:
            known = connections[path] = (inode, sqlite3.connect(path, isolation_level=None))
        row = known[1].execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error:  # busy, or unreadable: the writers' own checkpoints are the safety net
        stale = connections.pop(path, None)
        if stale is not None:
            stale[1].close()
        return None
    return None if row is None else int(row[1])


def _after_fork() -> None:
    """A forked child has no checkpoint thread: its stores start one with their first write."""
    global _lock, _thread
    _lock = threading.Lock()
    _thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
