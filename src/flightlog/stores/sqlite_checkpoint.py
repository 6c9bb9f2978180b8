"""WAL checkpoints in a background thread, off the path of every commit; a log kept small.

In WAL mode, the commit that makes the log longer than ``wal_autocheckpoint`` pages copies the
log back into the database file and syncs that file: with SQLite's default, one commit in a few
hundred pays for all the others, and with indexes that spread a commit over several pages that
becomes most of what a commit costs. SQLite stores leave checkpoints to one thread per process
instead, which runs a PASSIVE checkpoint (it neither waits for nor blocks readers and writers)
of each open database whose log has grown, a few times a second at most when it keeps growing.
Writers still checkpoint themselves once the log reaches :data:`SAFETY_PAGES` (if this thread
cannot keep up, or is not running yet in a forked child).

A checkpoint copies the log into the database but does not shorten it: SQLite writes the log
from its start again only when a writer begins while the whole log is copied, and while commits
keep coming that moment never comes by itself (10,000 steps would leave a 40 MiB log). So:

- once the log passes :data:`START_OVER_PAGES`, the thread holds writers back for a moment (a
  write transaction of its own, waiting at most ``WAIT`` seconds for one) while it copies the
  few pages written since its last checkpoint; the next commit then writes the log from its
  start, and cuts the file back to :data:`LOG_LIMIT` bytes (the stores' ``journal_size_limit``);
- a log that stopped growing (between runs, a slow step) is cut to nothing (a TRUNCATE
  checkpoint, which nobody waits for then);
- the last store on a file cuts its log to nothing when it closes, and so does every open store
  at exit (:func:`truncate`).

The thread holds two connections per database file, ends when no store is open, and starts
again with the next store. It uses SQLite only inside ``forking.background()``: a fork waits
until it is out of SQLite (see flightlog.stores.forking).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .forking import background

# Pages of log after which a writing connection checkpoints by itself (40 MiB of 4 KiB pages).
SAFETY_PAGES = 10_000
# Pages of log after which the thread makes the next commit write the log from its start
# (16 MiB of 4 KiB pages: writers wait a few milliseconds each time), and bytes that a log
# written from its start again is cut back to.
START_OVER_PAGES = 4096
LOG_LIMIT = START_OVER_PAGES * 4096
# The longest the thread waits for writers (or readers) to hold them back or cut the log.
WAIT = 0.05
# Seconds between looks at a log that grows, and at most between looks at one that does not
# (a run that starts after a pause may write 80 MB a second before the next look).
_SOON = 0.02
_LATER = 0.1

_lock = threading.Lock()
# Each open store's file: its path, and the device and inode of the file it has open there.
_watched: weakref.WeakKeyDictionary[object, tuple[Path, tuple[int, int]]] = (
    weakref.WeakKeyDictionary()
)
_thread: threading.Thread | None = None


def watch(store: object, path: Path, identity: tuple[int, int]) -> None:
    """Checkpoint ``path`` while ``store`` is open (until :func:`unwatch` or its collection),
    as long as the file there is the one the store opened (``identity``: device and inode). A
    file that replaced it shares its log with the store that still writes the old one: it is
    left alone (checkpointing it would copy the old file's pages into it)."""
    global _thread
    with _lock:
        _watched[store] = (path, identity)
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


def _connect(path: Path, wait: float) -> sqlite3.Connection:
    """A connection to an existing database (never one made anew where the file went)."""
    return sqlite3.connect(
        f"file:{quote(str(path))}?mode=rw", uri=True, timeout=wait, isolation_level=None
    )


def truncate(path: Path, wait: float = 0.5) -> bool:
    """Copy the log of the database at ``path`` into it and cut the log to nothing, trying for
    at most ``wait`` seconds (another checkpoint, e.g. this module's thread, makes one attempt
    fail at once; writers and readers are waited for); whether it did."""
    deadline = time.monotonic() + wait
    try:
        connection = _connect(path, wait)
    except sqlite3.Error:
        return False
    try:
        while True:
            with background():
                row = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if row is not None and row[0] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
    except sqlite3.Error:
        return False
    finally:
        connection.close()


@dataclass
class _File:
    """The thread's connections to one database file, and the length of its log."""

    identity: tuple[int, int]
    checkpoints: sqlite3.Connection
    holder: sqlite3.Connection  # holds writers back while the log is copied to its end
    log: int = -1

    def close(self) -> None:
        self.checkpoints.close()
        self.holder.close()


def _run() -> None:
    global _thread
    files: dict[Path, _File] = {}
    delay = _SOON
    try:
        while True:
            with _lock:
                wanted = dict(_watched.values())
                if not wanted:
                    _thread = None
                    return
            grew = False
            with background():
                for path in set(files) - set(wanted):
                    files.pop(path).close()
                for path, identity in wanted.items():
                    grew = _look_after(files, path, identity) or grew
            delay = _SOON if grew else min(delay * 2, _LATER)
            time.sleep(delay)
    finally:
        with background():
            for known in files.values():
                known.close()


def _look_after(files: dict[Path, _File], path: Path, identity: tuple[int, int]) -> bool:
    """Checkpoint one database, and keep its log short; whether its log grew."""
    known = _file(files, path, identity)
    if known is None:
        return False
    try:
        log = _pages(known.checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        if log and log == known.log:  # no commit since the last look: cut it, nobody waits
            known.checkpoints.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        elif log >= START_OVER_PAGES:
            _start_over(known)
    except sqlite3.Error:  # busy, or unreadable: the writers' own checkpoints are the safety net
        files.pop(path).close()
        return False
    grew = log != known.log
    known.log = log
    return grew


def _file(files: dict[Path, _File], path: Path, identity: tuple[int, int]) -> _File | None:
    """The connections to the file at ``path`` when it is the one the stores opened, else
    None (deleted, replaced, or it cannot be opened)."""
    try:
        found = path.stat()
        now: tuple[int, int] | None = (found.st_dev, found.st_ino)
    except OSError:
        now = None
    known = files.get(path)
    if known is not None and known.identity != now:  # deleted, or replaced by another file
        files.pop(path).close()
        known = None
    if known is None and now == identity:
        try:
            checkpoints = _connect(path, WAIT)
        except sqlite3.Error:
            return None
        try:
            holder = _connect(path, WAIT)
        except sqlite3.Error:
            checkpoints.close()
            return None
        known = files[path] = _File(identity, checkpoints, holder)
    return known


def _start_over(known: _File) -> None:
    """Hold writers back while the pages written since the last checkpoint are copied: once
    the whole log is copied, the next commit writes the log from its start (and cuts it to
    LOG_LIMIT). Writers wait for one small checkpoint, once per START_OVER_PAGES pages."""
    try:
        known.holder.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # a writer did not let go in time: at the next look
        return
    try:
        known.checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        known.holder.execute("COMMIT")


def _pages(row: tuple[int, int, int] | None) -> int:
    return 0 if row is None or row[1] < 0 else int(row[1])


def _after_fork() -> None:
    """A forked child has no checkpoint thread: its stores start one with their first write."""
    global _lock, _thread
    _lock = threading.Lock()
    _thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
