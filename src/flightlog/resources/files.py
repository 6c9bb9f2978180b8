"""A resource's folder: ``<data dir>/resources/<collection>/<ident>/``.

Inside it (hadrosaur's names): ``storage/`` (``ctx.subdir``, the function's own files),
``run.log`` (written through ``ctx.logger``, rotated: ``run.log.1`` … are older),
``status``, ``result.json`` and ``error.log``. The store holds the record; the folder and the
log file are made only when the function uses ``ctx.subdir`` or ``ctx.logger``, and the
``status``, ``result.json`` and ``error.log`` files are a view of the record, written (again)
each time someone asks for ``Resource.paths``. So a resource that needs no files costs no
file-system work.

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
RESULT = "result.json"


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
        base = self.base
        return {
            "base": str(base),
            "error": str(base / ERROR),
            "log": str(base / LOG),
            "status": str(base / STATUS),
            "result": str(base / RESULT),
            "storage": str(base / STORAGE),
        }

    def materialise(self, status: str, result: str | None, error: str | None) -> dict[str, str]:
        """Make every path real: folders, an (empty if unused) log, and the status, result and
        error files written from the record (``result.json`` holds ``null`` and ``error.log``
        is empty when there is none)."""
        self.make_storage()
        self._inside(self.log).touch(exist_ok=True)
        write_atomically(self.base / STATUS, status + "\n")
        write_atomically(self.base / RESULT, (result if result is not None else "null") + "\n")
        write_atomically(self.base / ERROR, error or "")
        return self.paths()

    def read_log(self) -> str:
        """The log text, rotated backups first (oldest first), or "" when nothing was logged."""
        log = self.log
        base = self._inside(self.base, folder=True)
        backups = sorted(
            (
                (int(path.name[len(LOG) + 1 :]), path)
                for path in base.glob(LOG + ".*")
                if path.name[len(LOG) + 1 :].isdigit()
            ),
            reverse=True,
        )
        parts = [self._read(path) for _, path in backups]
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
