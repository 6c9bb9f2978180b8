"""Giving the space of deleted records back to the file system, for the SQLite store.

SQLite keeps the pages of deleted rows in the file, free for later rows, and the file never
shrinks by itself. A store created by this flightlog has ``auto_vacuum = INCREMENTAL``: after a
delete, ``PRAGMA incremental_vacuum`` moves the free pages to the end of the file and cuts
them off, without rewriting it, and a ``TRUNCATE`` checkpoint then shrinks the log (in WAL
mode the cut reaches the database file at the checkpoint). A store created earlier has
``auto_vacuum = NONE``, which only ``VACUUM`` can change: the full compaction switches it to
``INCREMENTAL`` and rewrites the file (it needs free disk space of the file's size and holds
the write lock meanwhile; other writers wait on their busy timeout).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from . import sqlite_checkpoint

AUTO_VACUUM = "PRAGMA auto_vacuum = INCREMENTAL"


def files_size(path: Path, *, log: bool = True) -> int:
    """The bytes of the database file (and its log)."""
    total = 0
    for name in (str(path), f"{path}-wal") if log else (str(path),):
        try:
            total += os.path.getsize(name)
        except OSError:
            pass
    return total


def compact(connection: sqlite3.Connection, path: Path, *, full: bool) -> None:
    """Release the free pages (with ``full``, rewrite the file), then cut back the log."""
    if full:
        connection.execute(AUTO_VACUUM)
        connection.execute("VACUUM")
    else:
        # One statement per page: executescript steps it to the end (execute would stop at
        # the first page).
        connection.executescript("PRAGMA incremental_vacuum")
    sqlite_checkpoint.truncate(path, wait=5.0)
