"""The SQLite store's file: what lies at its path, whether that is still the file the store has
open, and what a failed open or write means, in words.

A process keeps writing into a database file that was deleted or replaced while it had it
open (its connections hold the old file), and nothing else would ever tell: the store records
the identity (device and inode) of the file it opened and compares it with the file at its
path (see ``SQLiteStore.check``). SQLite's own errors name a code, not a cause: a full disk, a
read-only filesystem (even one that went read-only under an open file, where only a write
fails) and a damaged file are told apart here, by looking at the file and its filesystem.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import tempfile
from pathlib import Path

from ..errors import ConfigurationError, NoStoreError, StoreError

# SQLite result codes (the primary code is the low byte of the extended one).
_FULL = 13
_READONLY = 8
_IOERR = 10
_CANTOPEN = 14
_CORRUPT = 11
_NOTADB = 26

_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def check_url_text(url: str) -> None:
    """Refuse a URL that no file name can hold."""
    if "\x00" in url:
        raise ConfigurationError(
            f"the store URL {url!r} contains a NUL character, which no file name may hold"
        )


def check_path(path: Path, url: str, *, create: bool) -> bool:
    """Check what lies at ``path`` before SQLite opens it; whether a file is there.

    A directory, a device or anything else that is not a regular file is refused
    (ConfigurationError); so is a missing file when ``create`` is false (NotFoundError: read
    commands never make a store). Creates the missing folders of a new store."""
    try:
        found = path.stat()
    except FileNotFoundError:
        found = None
    except OSError as error:  # a file where a folder should be, a loop, no permission
        raise ConfigurationError(f"cannot use {path} as an SQLite store ({url}): {error}") from None
    if found is not None:
        if stat.S_ISDIR(found.st_mode):
            raise ConfigurationError(
                f"{path} is a directory, not an SQLite database file ({url}); name a file "
                f"in it, e.g. sqlite:///{path / 'flightlog.db'}"
            )
        if not stat.S_ISREG(found.st_mode):
            kind = next((name for test, name in _KINDS if test(found.st_mode)), "not a file")
            raise ConfigurationError(
                f"{path} is {kind}, not an SQLite database file ({url}); an SQLite store "
                "needs a regular file"
            )
        return True
    if not create:
        raise NoStoreError(f"there is no store at {url}: {path} does not exist")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the SQLite store {path}: its folder cannot be made ({cause_of(error)})"
        ) from None
    return False


def identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of the file at ``path``, or None when there is none."""
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (found.st_dev, found.st_ino)


def cause_of(error: OSError) -> str:
    if error.errno == errno.EROFS:
        return "the filesystem is read-only"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    return error.strerror or str(error)


def filesystem_problem(path: Path) -> str | None:
    """Why the file at ``path`` cannot be written, when its filesystem says: read-only (also
    one that went read-only after an error, which only opening a file for writing shows) or
    full. Never opens the database file itself: closing any descriptor of a file drops every
    lock this process holds on it, SQLite's included."""
    try:
        wal = Path(f"{path}-wal")
        if wal.exists():  # SQLite holds no locks on the log
            os.close(os.open(wal, os.O_WRONLY))
        else:
            descriptor, probe = tempfile.mkstemp(prefix=".flightlog-probe-", dir=path.parent)
            os.close(descriptor)
            os.unlink(probe)
    except OSError as error:
        if error.errno in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            return cause_of(error)
    try:
        found = os.statvfs(path.parent)
    except OSError:
        return None
    if found.f_flag & os.ST_RDONLY:
        return "the filesystem is read-only"
    if found.f_bavail == 0:
        return "the disk is full"
    return None


def unwritable(path: Path) -> str | None:
    """Why the existing database file at ``path`` cannot be written here, as far as the
    system says without a write: a read-only filesystem, or no permission (for the file, or
    for its folder when SQLite would have to make its log files there)."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "the filesystem is read-only"
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return "the file is not writable by this user"
    beside = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    if not os.access(path.parent, os.W_OK) and not all(os.access(p, os.W_OK) for p in beside):
        return "its folder is not writable by this user (SQLite makes its log files there)"
    return None


def describe(error: sqlite3.Error, path: Path) -> str:
    """What a failed SQLite call means for the file at ``path``, for people, with SQLite's own
    words and code in parentheses."""
    code = getattr(error, "sqlite_errorcode", None)
    name = getattr(error, "sqlite_errorname", None)
    said = f"{error} ({name})" if name else str(error)
    primary = None if code is None else code & 0xFF
    text = str(error).lower()
    if primary == _FULL or "disk is full" in text:
        return f"the disk is full ({said}); what was committed before is kept"
    if primary == _NOTADB or "not a database" in text:
        return f"{path} is not an SQLite database ({said})"
    if primary == _CORRUPT or "malformed" in text:
        return f"the database file {path} is damaged or truncated ({said})"
    if primary in (_READONLY, _IOERR, _CANTOPEN) or "readonly" in text or "i/o" in text:
        problem = filesystem_problem(path)
        if problem is not None:
            return f"{problem} ({said})"
        if primary == _READONLY or "readonly" in text:
            return f"the database file cannot be written here ({said})"
    return said


def failure(error: sqlite3.Error, path: Path) -> StoreError:
    """A StoreError that names the store and what went wrong."""
    return StoreError(f"SQLite store {path}: {describe(error, path)}")
