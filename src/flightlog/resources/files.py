"""A resource's folder: ``<data dir>/resources/<collection>/<ident>/``, with hadrosaur's files.

The collection's folder is made when the collection is defined (as hadrosaur's
``Project.collection`` does). Inside a resource's folder, hadrosaur's names and contents:
``storage/`` (``ctx.subdir``, the function's own files), ``run.log`` (written through
``ctx.logger``, rotated: ``run.log.1`` … are older parts; emptied when a computation first
logs, so it holds the latest computation's log), ``status`` (the bare word, no newline:
pending, completed or error; absent while unavailable), ``start_time`` and ``end_time``
(Unix epoch milliseconds, no newline; ``end_time`` empty while pending), ``result.json`` (the
result as ``json.dump`` writes it, default separators and ASCII; empty until completed) and
``error.log`` (the traceback; empty otherwise), all in UTF-8. The store holds the record; the
folder and the log file are made only when the function uses ``ctx.subdir`` or
``ctx.logger``, and the other files are a view of the record, written (again) each time
someone asks for ``Resource.paths``. So a resource that needs no files costs no file-system
work.

None of these paths leads out of the data directory: a symbolic link planted on the way (the
collection's folder, the resource's, ``storage/``, ``run.log``) that leads outside it is
refused with a StoreError naming the path and the link, before anything is written or read
(see :class:`~flightlog.stores.files_root.StoreRoot`); links that stay inside are followed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..stores.files_root import StoreRoot

STORAGE = "storage"
LOG = "run.log"
ERROR = "error.log"
STATUS = "status"
START_TIME = "start_time"
END_TIME = "end_time"
RESULT = "result.json"


def collection_folder(root: Path, collection: str) -> Path:
    """Where a collection's resources go (made when the collection is defined)."""
    return root.joinpath("resources", collection)


class ResourceFiles:
    """Where one resource's files are; creates nothing (and builds no path) until asked."""

    __slots__ = ("_base", "_disk", "collection", "ident", "root")

    def __init__(self, root: Path, collection: str, ident: str) -> None:
        self.root = root
        self.collection = collection
        self.ident = ident
        self._base: Path | None = None
        self._disk: StoreRoot | None = None

    def _inside(self, path: Path, *, folder: bool = False) -> Path:
        """``path``, unless a link on the way leads out of the data directory (StoreError)."""
        disk = self._disk
        if disk is None:
            disk = self._disk = StoreRoot(str(self.root), "the resource folders")
        disk.check(str(path), folder=folder)
        return path

    def make_storage(self) -> Path:
        """The ``storage/`` folder, made if missing (``ctx.subdir``)."""
        storage = self._inside(self.storage, folder=True)
        storage.mkdir(parents=True, exist_ok=True)
        return storage

    def log_for_writing(self) -> Path:
        """The ``run.log`` path, its folder made (``ctx.logger``)."""
        self._inside(self.base, folder=True).mkdir(parents=True, exist_ok=True)
        return self._inside(self.log)

    @property
    def base(self) -> Path:
        base = self._base
        if base is None:
            base = self._base = self.root.joinpath("resources", self.collection, self.ident)
        return base

    @property
    def storage(self) -> Path:
        return self.base / STORAGE

    @property
    def log(self) -> Path:
        return self.base / LOG

    def paths(self) -> dict[str, str]:
        """hadrosaur's paths: base, error, log, status, start_time, end_time, result, storage."""
        base = self.base
        return {
            "base": str(base),
            "error": str(base / ERROR),
            "log": str(base / LOG),
            "status": str(base / STATUS),
            "start_time": str(base / START_TIME),
            "end_time": str(base / END_TIME),
            "result": str(base / RESULT),
            "storage": str(base / STORAGE),
        }

    def materialise(
        self,
        status: str,
        result: str | None,
        error: str | None,
        start_time: int | None = None,
        end_time: int | None = None,
    ) -> dict[str, str]:
        """Make the paths real, holding what hadrosaur writes: the folders, and unless the
        resource is unavailable (no computation yet: hadrosaur has no file then) the log (empty
        if unused), the bare status word, the times in milliseconds (``end_time`` empty while
        pending), ``result.json`` (``result``: its JSON text, given only when completed;
        otherwise empty) and ``error.log`` (the traceback, or empty)."""
        self.make_storage()
        if status == "unavailable":
            return self.paths()
        self._inside(self.log).touch(exist_ok=True)
        base = self._inside(self.base, folder=True)
        write_atomically(base / STATUS, status)
        write_atomically(base / START_TIME, "" if start_time is None else str(start_time))
        ended = end_time is not None and status != "pending"
        write_atomically(base / END_TIME, str(end_time) if ended else "")
        write_atomically(base / RESULT, result or "")
        write_atomically(base / ERROR, error or "")
        return self.paths()

    def fresh_log(self) -> None:
        """Start the log anew for a computation (hadrosaur empties it): the log and its
        rotated parts from an earlier computation are removed."""
        for path in self._log_parts():
            self._inside(path).unlink(missing_ok=True)
        self._inside(self.log).unlink(missing_ok=True)

    def _log_parts(self) -> list[Path]:
        """The rotated parts of the log, newest first (``run.log.1``, ``run.log.2`` …)."""
        parts = [
            (int(path.name[len(LOG) + 1 :]), path)
            for path in self._inside(self.base, folder=True).glob(LOG + ".*")
            if path.name[len(LOG) + 1 :].isdigit()
        ]
        return [path for _, path in sorted(parts)]

    def read_log(self) -> str:
        """The log text, rotated parts first (oldest first), or "" when nothing was logged."""
        log = self.log
        parts = [self._read(path) for path in reversed(self._log_parts())]
        if self._inside(log).exists():
            parts.append(self._read(log))
        return "".join(parts)

    def _read(self, path: Path) -> str:
        return self._inside(path).read_text(encoding="utf-8", errors="replace")


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step: a hidden temporary file beside it, renamed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    temporary.unlink(missing_ok=True)  # left by a killed process (or planted: never followed)
    try:
        with open(temporary, "x", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)  # replaces a link in its place, never follows it
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
