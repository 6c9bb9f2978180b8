"""A folder of files that no path leads out of: the JSON-files store's root, a resource folder.

Every path the files store (and a resource's folder) reads or writes is built from its root
and checked names (:func:`~flightlog.stores.files_io.check_component`), so only a symbolic link
planted inside the folder could lead elsewhere: a run's folder linked to another place would
have a resume rewrite ``run-info.json`` there, a linked blob would be read from there. So
before a path is used, :meth:`StoreRoot.check` looks at each part of it below the root
(``lstat``): a part that is a symbolic link is followed only when it resolves (``realpath``)
to a place inside the root; otherwise the path is refused with a StoreError naming the path,
the link and where it leads. Links inside the root stay allowed (the files store makes its own:
``flightlog/runs/<run_id>/steps/<position>`` to session folders, ``flightlog/order/<n>`` to
runs), and so does a root that is itself reached through a link (it is resolved once).

The check costs one ``lstat`` per part of the path below the root. Folders found inside are
remembered until :meth:`StoreRoot.forget` (the files store forgets them whenever a run starts
or resumes), so a step looks only at the folders it makes and the files it reads. Files are
written by renaming a new file over their name, which replaces a link rather than following
it, so writes look at the folder only. This does not guard against a link planted between
the check and the use (a race with a process that can write into the folder anyway, or
planted during a run in a folder the run has used); it stops links that were planted, or
copied in, before.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from typing import Any

from ..errors import StoreError

_VERIFIED_LIMIT = 50_000


class StoreRoot:
    """The root folder of a store (or of resource folders), and checked access below it."""

    __slots__ = ("_real", "path", "verified", "what")

    def __init__(self, path: str, what: str = "the files store") -> None:
        self.path = path.rstrip("/") or "/"
        self.what = what
        self.verified: set[str] = set()  # folders found inside (see check and forget)
        self._real: str | None = None

    @property
    def real(self) -> str:
        """The root with every link resolved (resolved on first use: it may not exist yet)."""
        real = self._real
        if real is None:
            real = self._real = os.path.realpath(self.path)
        return real

    def inside(self, resolved: str) -> bool:
        real = self.real
        return resolved == real or resolved.startswith(real.rstrip("/") + "/")

    def check(self, path: str, *, folder: bool = False) -> str:
        """``path``, once no part of it below the root is a symbolic link leading outside
        the root; StoreError otherwise. The folders on the way (and ``path`` itself, when
        ``folder``) are remembered as checked until :meth:`forget`; the last part of any
        other path is looked at every time."""
        verified = self.verified
        if folder and path in verified:
            return path
        root = self.path
        prefix = root if root.endswith("/") else root + "/"
        if path == root:
            return path
        if not path.startswith(prefix):
            raise StoreError(f"{self.what} at {root} refuses {path}: it is not inside {root}")
        parent = path.rpartition("/")[0]
        if not folder and parent in verified:
            self._look(path, path)
            return path
        parts = path[len(prefix) :].split("/")
        last = len(parts) - 1
        current = root.rstrip("/")
        for index, part in enumerate(parts):
            current = f"{current}/{part}"
            if current in verified:
                continue
            if not self._look(path, current):
                return path  # nothing below exists: what is made there is made inside
            if index < last or folder:
                if len(verified) > _VERIFIED_LIMIT:
                    verified.clear()
                verified.add(current)
        return path

    def forget(self) -> None:
        """Look at every folder again from now on (a run starts: links planted since the
        last one are found)."""
        self.verified.clear()

    def _look(self, path: str, current: str) -> bool:
        """Whether ``current`` exists; StoreError if it is a link that leads outside."""
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as error:
            raise StoreError(
                f"{self.what} at {self.path} cannot look at {current}: {error}"
            ) from None
        if stat.S_ISLNK(mode):
            self._follow(path, current)
        return True

    def _follow(self, path: str, link: str) -> None:
        resolved = os.path.realpath(link)
        if self.inside(resolved):
            return
        try:
            target = os.readlink(link)
        except OSError:
            target = resolved
        leads = repr(target) if target == resolved else f"{target!r} ({resolved})"
        raise StoreError(
            f"{self.what} at {self.path} refuses {path}: {link} is a symbolic link to "
            f"{leads}, outside {self.path}; remove the link, or move what it names inside"
        )

    # -- reading -----------------------------------------------------------------------------
    def read_bytes(self, path: str) -> bytes | None:
        """The bytes of the file at ``path``, or None when there is none."""
        self.check(path)
        try:
            with open(path, "rb") as stream:
                return stream.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise StoreError(f"{self.what} cannot read {path}: {error.strerror or error}") from None

    def read_json(self, path: str) -> Any:
        """The JSON document at ``path``, or None when there is no such file."""
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError as error:  # UnicodeDecodeError too
            raise StoreError(
                f"{self.what} cannot read {path}: it is not valid JSON ({error})"
            ) from error

    def read_object(self, path: str) -> dict[str, Any] | None:
        """The JSON object at ``path``, or None when there is no such file."""
        found = self.read_json(path)
        if found is None or isinstance(found, dict):
            return found
        raise StoreError(
            f"{self.what} cannot read {path}: it is not a JSON object but a {type(found).__name__}"
        )

    def entries(self, path: str) -> list[str]:
        """Every entry of the folder at ``path`` (none when it does not exist)."""
        self.check(path, folder=True)
        try:
            return os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            raise StoreError(f"{self.what} cannot list {path}: {error.strerror or error}") from None

    def names(self, path: str) -> list[str]:
        """The visible entries of the folder at ``path`` (temporary files start with '.')."""
        return [name for name in self.entries(path) if not name.startswith(".")]

    def exists(self, path: str) -> bool:
        return os.path.exists(self.check(path))

    def readlink(self, path: str) -> str | None:
        """Where the symbolic link ``path`` points (not followed), or None without one."""
        self.check(os.path.dirname(path), folder=True)
        try:
            return os.readlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            if error.errno == errno.EINVAL:  # not a link
                return None
            raise StoreError(f"{self.what} cannot read the link {path}: {error.strerror}") from None
