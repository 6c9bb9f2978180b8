"""Upgrading an SQLite store in place: a backup of the file first, and a log line saying so.

The process that upgrades holds the write lock (``BEGIN IMMEDIATE``) from before the backup
until the upgrade commits, so the backup is the store exactly as the old version left it, and
of many processes opening the store at once, one backs it up and upgrades it; the others wait
for the lock and find it done. The backup is read through a second connection (a WAL reader
sees the last commit while the first connection holds the write lock), written to a hidden
temporary file beside the store, and renamed into place: ``<file>.v<N>.bak`` (``.v<N>.2.bak``
… when that name is taken), so a half-written backup never carries the name.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

LOGGER = logging.getLogger("flightlog.upgrade")


def backup_path(path: Path, version: int) -> Path:
    """The first free name for a backup of ``path`` at schema ``version``."""
    candidate = path.with_name(f"{path.name}.v{version}.bak")
    number = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.v{version}.{number}.bak")
        number += 1
    return candidate


def back_up(path: Path, version: int, timeout: float) -> Path:
    """Copy the database at ``path`` (its last commit) to a new backup file; its path."""
    target = backup_path(path, version)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with (
            closing(sqlite3.connect(path, timeout=timeout)) as source,
            closing(sqlite3.connect(temporary)) as copy,
        ):
            source.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def say_upgraded(where: str, found: int, version: int, backup: Path | None) -> None:
    kept = f"; the file as it was is kept as {backup}" if backup is not None else ""
    LOGGER.warning(
        "flightlog upgraded the store %s from schema version %d to %d%s",
        where,
        found,
        version,
        kept,
    )
