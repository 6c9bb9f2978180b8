"""Opening a JSON-files store: its URL, its folder, and when it may be written.

``file:///path/to/dir`` names a folder (``file://relative/dir`` one below the working
directory); the file system's root and anything that is not a folder are refused. A store
that exists (``flightlog/store.json``) is opened without writing anything, so one on
read-only media or a full disk can be read. A new store is made on open (its folders and
``store.json``), unless ``create=False``: then a folder without a store is a StoreError ("no
store at ..."), and a folder that holds bandsaw's layout without flightlog's files (written
by bandsaw, or by a ``FileSystemTracker``) is read as it is, its ``store.json`` written only
when something is written to it.

A store that cannot be written here (read-only media, a newer schema version, an upgrade that
could not be written) says so at its first write, with a StoreError (SchemaVersionError for
a version) naming the store and the reason; a write that fails on the way (a full disk, a
folder without permission) is a StoreError naming the store, the file and the cause.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from .._version import __version__
from ..errors import ConfigurationError, NoStoreError, SchemaVersionError, StoreError
from ..redaction import redact
from .base import SCHEMA_VERSION
from .files_io import dump
from .files_layout import OWN, Layout
from .files_records import decoded
from .files_root import StoreRoot

LOGGER = logging.getLogger("flightlog.upgrade")

F = TypeVar("F", bound=Callable[..., Any])

FOLDERS = ("runs", "tasks", f"{OWN}/order", f"{OWN}/locks", f"{OWN}/cache")
WRITERS = (  # every Store method that writes
    "create_run",
    "restart_run",
    "finish_run",
    "renew_leases",
    "request_cancel",
    "record_task",
    "start_step",
    "finish_step",
    "record_tracked",
    "put_blob",
    "delete_run",
    "delete_blobs",
    "clear_cache",
    "claim_resource",
    "finish_resource",
    "declare_resources",
    "renew_resource_leases",
    "put_run",
    "put_resource",
)


def path_from_url(url: str) -> tuple[str, dict[str, str]]:
    """``file:///absolute/dir`` (or ``file://relative/dir``) and its query settings."""
    rest = url[len("file://") :] if url.startswith("file://") else ""
    path, _, query = rest.partition("?")
    if not path:
        raise ConfigurationError(
            f"malformed files store URL {redact(url)!r}: expected file:///absolute/path/to/dir"
        )
    path = unquote(path)
    if "\0" in path:
        raise ConfigurationError(f"malformed files store URL {redact(url)!r}: its path holds a NUL")
    settings = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    return os.path.abspath(path), settings


def check_root(url: str, root: str) -> None:
    """ConfigurationError unless ``root`` can be a store's folder: not the file system's
    root, and a folder (or nothing yet)."""
    if os.path.dirname(root) == root:
        raise ConfigurationError(
            f"the files store URL {url!r} names the root of the file system: give the store "
            "a folder of its own, e.g. file:///path/to/store"
        )
    try:
        is_folder = os.path.isdir(root)
        exists = is_folder or os.path.lexists(root)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"the files store URL {url!r} is unusable: {error}") from error
    if exists and not is_folder:
        raise ConfigurationError(
            f"the files store URL {url!r} names {root}, which is not a folder (a file or a "
            "device): a files store is a folder"
        )


def flag(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{what} must be true or false, not {value!r}")


def _read_only_media(root: str) -> bool:
    try:
        return bool(os.statvfs(root).f_flag & getattr(os, "ST_RDONLY", 1))
    except (OSError, AttributeError):  # no statvfs (Windows): found out at the first write
        return False


def upgrade_1_to_2(store: FileSetUp) -> None:
    """Version 2 added a run's ``history`` and ``last_seen`` and a task's ``constants``: keys
    that read as empty where absent, so no file is rewritten."""


def upgrade_2_to_3(store: FileSetUp) -> None:
    """Version 3 (deleting runs, large values out of line): a blob's put time is its file's
    modification time, cleared cache entries and large values are new files, and step counts
    are counted where the steps lie, so no file is rewritten."""


def upgrade_3_to_4(store: FileSetUp) -> None:
    """Version 4 (which run computed and used each resource): a record's ``run_id`` and
    ``position`` read as None where absent (computed outside any run, as far as deleting runs
    goes), and uses are new files, so no file is rewritten."""


def upgrade_4_to_5(store: FileSetUp) -> None:
    """Version 5 (every run's parameters by name): a run's record keeps them from now on; an
    older record's are derived as it is read, so no file is rewritten. (Metrics' last points
    are the SQL stores' only: this store compares metrics as it reads them.)"""


# The migration ladder of the files store: LADDER[n] takes version n to version n + 1.
LADDER: dict[int, Callable[[FileSetUp], None]] = {
    1: upgrade_1_to_2,
    2: upgrade_2_to_3,
    3: upgrade_3_to_4,
    4: upgrade_4_to_5,
}


class FileSetUp:
    """Opening, setting up and upgrading a files store, and refusing writes it cannot take."""

    url: str
    root: str
    layout: Layout
    disk: StoreRoot
    _version: int
    _read_only_reason: str | None
    _read_only_error: type[StoreError]
    _pending_set_up: bool
    _upgrade_wanted: bool

    def _path(self, *parts: str) -> str:
        return "/".join((self.root, OWN, *parts))

    def _set_up(self, create: bool) -> None:
        self._read_only_reason = None
        self._read_only_error = StoreError
        self._pending_set_up = False
        found = self.disk.read_object(self._path("store.json"))
        if found is None:
            if not create and not self._has_records():
                what = "does not exist" if not os.path.isdir(self.root) else "holds no store"
                raise NoStoreError(
                    f"there is no store at {self.url}: {self.root} {what} (nothing is created "
                    "when reading)"
                )
            if create:
                found = self._make()
            else:  # bandsaw's folder, read as it is; flightlog's files come with a write
                self._pending_set_up = True
                found = {}
        version = found.get("schema_version", SCHEMA_VERSION)
        self._version = decoded(self._path("store.json"), "the schema version", int, version)
        if self._version < SCHEMA_VERSION and not self._upgrade_wanted:
            self._refuse(
                f"the store at {self.url} has schema version {self._version} and was opened "
                f"with upgrade=false; run `flightlog upgrade URL`, or open it without that "
                f"option, to upgrade it to version {SCHEMA_VERSION}; it can be read, not written",
                SchemaVersionError,
            )
        elif self._version < SCHEMA_VERSION:
            self._upgrade(found)
        if self._version > SCHEMA_VERSION:
            self._refuse(
                f"the store at {self.url} has schema version {self._version}, newer than "
                f"version {SCHEMA_VERSION} that this flightlog writes; upgrade flightlog to "
                "write to it",
                SchemaVersionError,
            )
        if self._read_only_reason is None and _read_only_media(self.root):
            self._refuse(
                f"the store at {self.url} is on a read-only file system: it can be read, "
                "not written"
            )

    def _refuse(self, reason: str, error: type[StoreError] = StoreError) -> None:
        self._read_only_reason = reason
        self._read_only_error = error

    def _has_records(self) -> bool:
        return any(self.disk.exists(f"{self.root}/{name}") for name in ("runs", "tasks", OWN))

    def _make(self) -> dict[str, Any]:
        """Make the store's folders and ``store.json`` (unless another process did); its
        content. A folder of records that cannot be written here is read, not written."""
        meta = {"schema_version": SCHEMA_VERSION, "layout": "bandsaw", "flightlog": __version__}
        try:
            # The folders above the store are not the store's: made as an SQLite file's are
            # (writes.folder below makes the root itself, and refuses to climb out of it).
            os.makedirs(os.path.dirname(self.root), exist_ok=True)
            writes = self.layout.writes()
            for folder in FOLDERS:
                writes.folder(f"{self.root}/{folder}")
            writes.file(self._path("store.json"), dump(meta), replace=False)
            writes.commit()
        except OSError as error:
            cause = error.strerror or str(error)
            if not self._has_records():
                raise StoreError(f"cannot make a files store at {self.root}: {cause}") from error
            self._refuse(
                f"the store at {self.url} cannot be written here ({cause}): it can be read, "
                "not written"
            )
            return {}
        return self.disk.read_object(self._path("store.json")) or meta

    def _upgrade(self, found: dict[str, Any]) -> None:
        """Migrate an older store forward, up the ladder (``LADDER[n]`` takes version n to
        n + 1), then record the new version in ``store.json``, rewritten atomically. Every
        step is idempotent (several processes may open the store at once, and each climbs
        it). A store that cannot be written here stays readable, and refuses writes."""
        meta = {**found, "schema_version": SCHEMA_VERSION, "flightlog": __version__}
        writes = self.layout.writes()
        try:
            for version in range(self._version, SCHEMA_VERSION):
                LADDER[version](self)
            writes.file(self._path("store.json"), dump(meta))
            writes.commit()
        except OSError as error:
            self._refuse(
                f"the store at {self.url} has schema version {self._version} and cannot be "
                f"upgraded to version {SCHEMA_VERSION} here ({error}); it can be read, not "
                "written",
                SchemaVersionError,
            )
            return
        LOGGER.warning(
            "flightlog upgraded the store %s from schema version %d to %d",
            self.root,
            self._version,
            SCHEMA_VERSION,
        )
        self._version = SCHEMA_VERSION

    def _writable(self) -> None:
        if self._read_only_reason is not None:
            raise self._read_only_error(self._read_only_reason)
        if self._pending_set_up:
            self._pending_set_up = False
            self._make()
            self._writable()

    def _write_error(self, error: OSError) -> StoreError:
        where = f" {error.filename}" if error.filename else ""
        return StoreError(
            f"the files store at {self.root} cannot write{where}: {error.strerror or error}"
        )


def writing(method: F) -> F:
    """``method``, whose OSError (a full disk, a folder without permission) becomes a
    StoreError naming the store, the file and the cause."""

    @functools.wraps(method)
    def write(self: FileSetUp, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except OSError as error:
            raise self._write_error(error) from error

    return write  # type: ignore[return-value]
