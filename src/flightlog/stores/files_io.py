"""Atomic files for the JSON-files layout: names that cannot escape, writes that cannot tear.

Every file is written as a hidden temporary file in its own directory (``.<name>.<pid>.<n>.tmp``:
readers skip names starting with ``.``), flushed with ``fsync``, then renamed over its name (or,
for files that must be created only once, hard-linked to it, which fails if it exists); the
directory is then synced so that the rename itself is durable. A reader therefore sees the
old file or the new one, never a part of either. Empty marker files and symbolic links are
created directly: they have no content that could be torn.

A :class:`Writes` batch collects the directories to sync, so that a step's several files cost
one directory sync each at the end (on ext4 the first of them commits the journal for all).
Read-modify-write sequences across processes hold an exclusive lock on a lock file
(:func:`locked`), never across user code: ``fcntl.flock`` (POSIX), else ``msvcrt.locking``
(Windows); on a platform with neither, writing is a StoreError that says so (reading needs no
lock).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from ..errors import InvalidInputError, StoreError
from .files_root import StoreRoot

fcntl: ModuleType | None
msvcrt: ModuleType | None
try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None

_counter = itertools.count()
_KNOWN_LIMIT = 50_000
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

MAX_NAME_BYTES = 255
MAX_RUN_ID_BYTES = 180  # a session marker adds two 32-character ids and two underscores
MAX_COMPONENT_BYTES = 200
_IDENTITY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}").fullmatch
_DIGEST = re.compile(r"[0-9a-f]{64}").fullmatch


# -- names ---------------------------------------------------------------------------------
def _problem(name: str, limit: int) -> str | None:
    """Why ``name`` cannot be one path component of the layout, or None when it can."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "it names a directory ('.' or '..')"
    bad = sorted({char for char in name if char in "/\\" or not char.isprintable()})
    if bad:
        listed = ", ".join(repr(char) for char in bad)
        return f"it contains {listed}: path separators and control characters are not allowed"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it contains a lone surrogate character"
    if size > limit:
        return f"it is {size} bytes long in UTF-8; the files store allows {limit}"
    return None


def check_component(kind: str, value: object, limit: int = MAX_COMPONENT_BYTES) -> str:
    """``value`` if it can be a file or folder name of the layout, else InvalidInputError."""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"the files store needs a {kind} that is a string, not {type(value).__name__}: "
            f"{value!r:.80}"
        )
    problem = _problem(value, limit)
    if problem is not None:
        raise InvalidInputError(f"the files store refuses the {kind} {value!r:.120}: {problem}")
    return value


def check_run_id(run_id: object) -> str:
    return check_component("run id", run_id, MAX_RUN_ID_BYTES)


def check_identity(kind: str, value: object) -> str:
    """A task or execution id: letters, digits and ``-`` (never ``_``, which separates the
    parts of a session id), at most 64 characters."""
    if isinstance(value, str) and _IDENTITY(value):
        return value
    raise InvalidInputError(
        f"the files store refuses the {kind} {value!r:.120}: it must be 1 to 64 letters, "
        "digits or '-' (an id that would escape the directory or break a session id)"
    )


def check_digest(digest: object) -> str:
    if isinstance(digest, str) and _DIGEST(digest):
        return digest
    raise InvalidInputError(
        f"the files store refuses the blob digest {digest!r:.120}: expected 64 lowercase "
        "hexadecimal characters (a sha256)"
    )


def visible(name: str) -> bool:
    """Whether a directory entry is a real file of the layout (not a temporary one)."""
    return not name.startswith(".")


def dump(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def members(document: dict[str, Any]) -> bytes:
    """The members of a JSON object, without its braces: to encode a part that many files
    share once, and :func:`assemble` it into each of them."""
    return json.dumps(document, separators=(",", ":")).encode()[1:-1]


def assemble(*parts: bytes) -> bytes:
    """One JSON object (and a newline) from the members of several (none sharing a key)."""
    return b"{" + b",".join(part for part in parts if part) + b"}\n"


# -- writing -------------------------------------------------------------------------------
def sync_directory(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _replace(temporary: str, path: str) -> None:
    """Rename ``temporary`` over ``path`` atomically; on failure leave no temporary behind."""
    try:
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _temporary(path: str) -> str:
    directory, _, name = path.rpartition("/")
    return f"{directory}/.{name[:32]}.{os.getpid()}.{next(_counter)}.tmp"


class Writes:
    """One batch of atomic writes: files are replaced (or created) at once; the directories
    whose entries changed are synced by :meth:`commit`. ``sync=False`` skips every fsync
    (atomic against killed processes, not against power loss). Every path is checked first
    not to lead out of ``disk``'s root (the parts checked are remembered for the batch)."""

    __slots__ = ("directories", "disk", "known", "sync")

    def __init__(self, sync: bool, known: set[str] | None, disk: StoreRoot) -> None:
        self.sync = sync
        self.directories: set[str] = set()
        self.known = known if known is not None else set()
        self.disk = disk

    def _inside(self, path: str) -> None:
        """Refuse ``path`` if its folder leads out of the root (a file written here replaces
        a link in its place rather than following it)."""
        self.disk.check(path.rpartition("/")[0], folder=True)

    def folder(self, path: str) -> bool:
        """Make sure the directory exists (its parents too); new ones are synced in. True
        when this call made it (so it holds nothing yet)."""
        self.disk.check(path, folder=True)
        known = self.known
        if path in known:
            return False
        if len(known) > _KNOWN_LIMIT:  # a long-lived process: forget, and ask the disk again
            known.clear()
        made = True
        try:
            os.mkdir(path)
        except FileExistsError:
            made = False
        except FileNotFoundError:
            self.folder(os.path.dirname(path))
            try:
                os.mkdir(path)
            except FileExistsError:
                made = False
        if made:
            self.directories.add(os.path.dirname(path))
            self.disk.verified.add(path)  # made here: a folder, inside
        known.add(path)
        return made

    def file(
        self,
        path: str,
        data: bytes | Iterable[bytes | memoryview],
        *,
        replace: bool = True,
        mode: int = 0o644,
    ) -> bool:
        """Write ``data`` (bytes, or pieces of them) to ``path`` atomically. With
        ``replace=False`` an existing file is left alone (and False returned): the first
        writer wins."""
        self._inside(path)
        temporary = _temporary(path)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, mode)
        pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
        try:
            try:
                for piece in pieces:
                    view = memoryview(piece)
                    while view:
                        view = view[os.write(descriptor, view) :]
                if self.sync:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
            if replace:
                os.rename(temporary, path)
                created = True
            else:
                try:
                    os.link(temporary, path)
                    created = True
                except FileExistsError:
                    created = False
                os.unlink(temporary)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        if created:
            self.directories.add(os.path.dirname(path))
        return created

    def hard_link(self, source: str, path: str) -> bool:
        """Make ``path`` another name of the file ``source`` (replacing what was there);
        False when the file system cannot (no hard links there, or no ``source``)."""
        temporary = _temporary(path)
        try:
            os.link(source, temporary)
        except OSError:
            return False
        _replace(temporary, path)
        self.directories.add(os.path.dirname(path))
        return True

    def empty(self, path: str) -> bool:
        """Create an empty marker file unless it exists; True when this call created it."""
        self._inside(path)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        os.close(descriptor)
        self.directories.add(os.path.dirname(path))
        return True

    def symlink(self, target: str, path: str, *, replace: bool = False) -> bool:
        """Point the symbolic link ``path`` at ``target``; an existing link is replaced only
        with ``replace`` (atomically). True when this call changed it."""
        self._inside(path)
        try:
            os.symlink(target, path)
        except FileExistsError:
            if not replace:
                return False
            temporary = _temporary(path)
            os.symlink(target, temporary)
            _replace(temporary, path)
        self.directories.add(os.path.dirname(path))
        return True

    def remove(self, path: str) -> bool:
        self._inside(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        self.directories.add(os.path.dirname(path))
        return True

    def commit(self) -> None:
        """Sync every directory whose entries this batch changed (deepest first)."""
        if self.sync and self.directories:
            for directory in sorted(self.directories, key=len, reverse=True):
                sync_directory(directory)
        self.directories.clear()


def _lock_windows(descriptor: int) -> None:
    """Lock the first byte of the file (``msvcrt.locking`` gives up after ten tries a second
    apart: wait on, as ``flock`` does)."""
    assert msvcrt is not None
    while True:
        try:
            msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)
            return
        except OSError:  # still held by another process after ten seconds
            continue


@contextlib.contextmanager
def locked(path: str, disk: StoreRoot) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` (made if missing) of ``disk``."""
    if fcntl is None and msvcrt is None:
        raise StoreError(
            "the JSON-files store cannot write here: its cross-process locking needs fcntl "
            "(POSIX) or msvcrt (Windows), and this Python has neither; use the SQLite store"
        )
    disk.check(path)
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | _O_CLOEXEC, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | _O_CLOEXEC, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # closing the descriptor releases it
            yield
        else:
            assert msvcrt is not None
            _lock_windows(descriptor)
            try:
                yield
            finally:
                os.lseek(descriptor, 0, os.SEEK_SET)
                msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
    finally:
        os.close(descriptor)


def touch(path: str) -> None:
    """Set a file's modification time (a blob's: when it was last put) to now, by the clock
    that runs' start times are read from (the file system's own lags it by up to a tick)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))
