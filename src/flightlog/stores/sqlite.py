"""The embedded default store: one SQLite file, many threads and processes at once.

Settings: WAL journal, ``synchronous=NORMAL`` (a committed step survives a killed process;
``synchronous=FULL`` in the URL query or as an option also survives power loss), a busy
timeout, and retries with backoff whenever SQLite reports the database busy or locked.
Each thread has its own connection, closed when the thread ends or the store closes (see
thread_end); a forked child opens new ones. WAL checkpoints run in a background thread, not in
the commit that happens to fill the log, and keep the log small (see sqlite_checkpoint); it is
truncated when the last store on the file closes, and at exit.

Faults (see sqlite_file): the store notices when its file was deleted or replaced while it
had it open (``check``, which the runtime calls at every run's end and every few seconds), and
its errors name the cause (a full disk, a read-only filesystem, a damaged file). A file that
cannot be written here (read-only media, a full disk) is opened read-only, without writing
anything: it can be read, and writes raise StoreError saying why.
"""

from __future__ import annotations

import atexit
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..errors import (
    ConfigurationError,
    ConflictError,
    NoStoreError,
    SchemaVersionError,
    StoreError,
)
from ..redaction import redact
from . import sql_scale_schema, sqlite_checkpoint, sqlite_compact, sqlite_file, thread_end
from .base import SCHEMA_VERSION
from .files_open import flag
from .forking import quiet
from .sql import RUN_INSERT, SQLStore
from .sql_tracking import Statements
from .sqlite_schema import ADDED_COLUMNS as ADDED_COLUMNS
from .sqlite_schema import SCHEMA as SCHEMA
from .sqlite_schema import climb, stored_version
from .sqlite_upgrade import back_up, say_upgraded

T = TypeVar("T")

_BUSY_WORDS = ("locked", "busy")
# A new run's seq is never one a deleted run had (SQLite gives the highest seq plus one, and
# the highest may have been deleted: see sql_deleting).
RUN_INSERT_AFTER_DELETED = RUN_INSERT.replace(
    "INSERT INTO runs (run_id,", "INSERT INTO runs (seq, run_id,"
).replace(
    "VALUES (?,",
    "VALUES ((SELECT max(coalesce((SELECT max(seq) FROM runs), 0), coalesce((SELECT"
    " CAST(value AS INTEGER) FROM flightlog_meta WHERE key = 'deleted_seq'), 0)) + 1), ?,",
)
_OPEN_STORES: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()


def _after_fork() -> None:
    for store in list(_OPEN_STORES):
        store._forget_connections()


_MAX_WAIT = 120.0
# Seconds that closing a store waits for flightlog's background threads to leave the stores.
CLOSE_WAIT = 5.0


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return any(word in text for word in _BUSY_WORDS)


def path_from_url(url: str) -> Path:
    """``sqlite:///relative.db`` and ``sqlite:////absolute.db``, as in SQLAlchemy."""
    rest = url[len("sqlite://") :]
    path = rest.split("?", 1)[0]
    if not path.startswith("/") or path == "/":
        raise ConfigurationError(
            f"malformed SQLite URL {redact(url)!r}: expected sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    return Path(path[1:])


class SQLiteStore(SQLStore):
    """A store in one SQLite file (``sqlite:///path.db``).

    With ``create=False`` only a store that exists is opened: a missing file, or one that
    holds no flightlog store, is NotFoundError, and nothing is made (read commands use it).
    """

    def __init__(
        self,
        url: str,
        *,
        synchronous: str | None = None,
        timeout: float = 30.0,
        create: bool = True,
        upgrade: bool | None = None,
    ):
        super().__init__()
        sqlite_file.check_url_text(url)
        self.url = url
        self.path = path_from_url(url).absolute()
        query = url.split("?", 1)[1] if "?" in url else ""
        settings = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        unknown = set(settings) - {"synchronous", "upgrade"}
        if unknown:
            raise ConfigurationError(f"unknown SQLite URL option(s): {', '.join(sorted(unknown))}")
        mode = (synchronous or settings.get("synchronous") or "NORMAL").upper()
        if mode not in ("NORMAL", "FULL"):
            raise ConfigurationError(f"synchronous must be NORMAL or FULL, not {mode!r}")
        self.synchronous = mode
        if upgrade is None:
            upgrade = flag(settings.get("upgrade", "true"), "the SQLite URL option upgrade")
        self._upgrade = upgrade
        # The backup made when this store upgraded the file as it opened it, else None.
        self.backup: Path | None = None
        self._timeout = timeout
        self._local = threading.local()
        # Every connection with the thread that owns it (each thread has its own), and that
        # thread's connections to close when it ends.
        self._all: list[tuple[threading.Thread, sqlite3.Connection, thread_end.Forget]] = []
        self._closed = False
        self._all_lock = threading.Lock()
        # A store collected unclosed closes its connections: none can be in use then (a thread
        # using one holds the store). Not at exit, when daemon threads may still be in a query.
        finalizer = weakref.finalize(self, _close_all, self._all)
        finalizer.atexit = False
        self._pid = os.getpid()
        # What connections open: the path (read-write), or a read-only URI (_open_read_only).
        self._target = str(self.path)
        self._uri = False
        self._read_only_error: type[StoreError] = SchemaVersionError
        # The file this store opened (device, inode), when it was last seen at its path, and
        # what happened to it once it is not there any more (see check).
        self._identity: tuple[int, int] | None = None
        self._seen = time.time()
        self._lost: str | None = None
        existed = sqlite_file.check_path(self.path, url, create=create)
        _OPEN_STORES.add(self)
        try:
            self._open(existed, create)
        except BaseException:
            self.close()
            raise
        self._identity = sqlite_file.identity(self.path)
        if not self._uri and self._identity is not None:
            sqlite_checkpoint.watch(self, self.path, self._identity)

    def _open(self, existed: bool, create: bool) -> None:
        reason = sqlite_file.unwritable(self.path) if existed else None
        if reason is None:
            try:
                self._retry(lambda: self._set_up(create))
                return
            except StoreError:
                reason = sqlite_file.filesystem_problem(self.path) if existed else None
                if reason is None:
                    raise
            self._drop_connections()
        self._open_read_only(reason, create)

    # -- connections ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        target, uri = self._target, self._uri
        if self._identity is not None:
            self.check()  # a new connection would open whatever file is at the path now
            if not uri:  # and never make one there: the file may go between check and open
                target, uri = f"file:{quote(str(self.path))}?mode=rw", True
        try:
            connection = sqlite3.connect(
                target,
                uri=uri,
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.OperationalError:
            self.check()  # gone meanwhile: say so
            raise
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            if not self._uri:
                connection.execute(f"PRAGMA synchronous = {self.synchronous}")
                # Checkpoints run in a background thread (see sqlite_checkpoint); this is the
                # fallback. A log that was restarted is cut back to this size at once.
                connection.execute(f"PRAGMA wal_autocheckpoint = {sqlite_checkpoint.SAFETY_PAGES}")
                connection.execute(f"PRAGMA journal_size_limit = {sqlite_checkpoint.LOG_LIMIT}")
        except BaseException:
            connection.close()
            raise
        return connection

    def _forget_connections(self) -> None:
        """In a forked child: never use the parent's connections (nor close them)."""
        self._local = threading.local()
        thread_end.INHERITED.extend(connection for _, connection, _ in self._all)
        self._all.clear()
        self._pid = os.getpid()

    def _drop_connections(self) -> None:
        """Close every connection (while opening: only this thread has one)."""
        with self._all_lock:
            connections, self._all = self._all, []
        for _, connection, forget in connections:
            _close(connection, forget)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            if self._closed:
                raise StoreError(f"the SQLite store {self.path} is closed")
            connection = self._connect()
            self._local.connection = connection
            forget = thread_end.close_at_thread_end(connection, connection.close)
            with self._all_lock:
                # (those of threads that ended were closed as they ended)
                self._all[:] = [entry for entry in self._all if entry[0].is_alive()]
                self._all.append((threading.current_thread(), connection, forget))
            if not self._uri and self._identity is not None:  # (a forked child's first one)
                sqlite_checkpoint.watch(self, self.path, self._identity)
        return connection

    def _failure(self, error: sqlite3.Error) -> StoreError:
        return sqlite_file.failure(error, self.path)

    def _retry(self, action: Callable[[], T]) -> T:
        if self._lost is not None:
            raise StoreError(self._lost)
        delay = 0.001
        deadline = time.monotonic() + _MAX_WAIT
        while True:
            try:
                return action()
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() > deadline:
                    raise self._failure(error) from error
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.1)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.Error as error:  # not a database, damaged, closed
                raise self._failure(error) from error

    # -- opening -------------------------------------------------------------------------------
    def _set_up(self, create: bool) -> None:
        connection = self._connection()
        found = stored_version(connection)  # a plain read: no write lock when it is current
        if found is None and not create:
            raise NoStoreError(self._no_store())
        if found is None:  # before the first page is written: a new store's files shrink
            connection.execute(sqlite_compact.AUTO_VACUUM)
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        problem = None
        if found is not None and found < SCHEMA_VERSION and not self._upgrade:
            problem = (
                "opened with upgrade=false; run `flightlog upgrade URL`, or open it without "
                "that option, to upgrade it"
            )
        elif found is None or found < SCHEMA_VERSION:
            try:
                found = self._create_or_migrate(connection)
            except sqlite3.OperationalError as error:
                if found is None or _is_busy(error):
                    raise
                problem = sqlite_file.describe(error, self.path)  # read it as it is
            except OSError as error:  # no backup can be made beside it
                if found is None:
                    raise
                problem = f"cannot back it up first: {error.strerror or error}"
        self._version = found
        self._check_version(found, problem)
        # An older store opened without upgrading it has no step counts nor blob pieces: its
        # questions are answered where the steps lie.
        self._scale_ready = sql_scale_schema.MARKER in self._tables(connection)

    def _tables(self, connection: sqlite3.Connection) -> set[str]:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}

    def _open_read_only(self, reason: str, create: bool) -> None:
        """Open a file that cannot be written here (read-only media, a full disk) without
        writing anything: SQLite's ``mode=ro``, or ``immutable=1`` where even that would write
        (a WAL database whose shared-memory file is missing, and cannot be made) and no log
        holds commits that the file lacks. Writes raise StoreError saying why."""
        location = quote(str(self.path))
        log = Path(f"{self.path}-wal")
        modes = ["mode=ro"]
        if not log.exists() or log.stat().st_size == 0:
            modes.append("immutable=1")
        for index, mode in enumerate(modes):
            self._target, self._uri = f"file:{location}?{mode}", True
            try:
                found = self._retry(lambda: stored_version(self._connection()))
                break
            except StoreError:
                self._drop_connections()
                if index == len(modes) - 1:
                    raise
        if found is None:
            if not create:
                raise NoStoreError(self._no_store())
            raise StoreError(f"cannot create a store in {self.path}: {reason}")
        self._version = found
        self._check_version(found, reason)
        if self._read_only_reason is None:
            self._read_only_error = StoreError
            self._read_only_reason = (
                f"the SQLite store {self.path} can be read, not written: {reason}"
            )

    def _no_store(self) -> str:
        what = "an empty file" if self.path.stat().st_size == 0 else "not a flightlog store"
        return f"there is no store at {self.url}: {self.path} is {what}"

    def _create_or_migrate(self, connection: sqlite3.Connection) -> int:
        """Create the schema, or back the file up and migrate it forward (the ladder of
        sqlite_schema), in one transaction that holds the write lock (so of many processes
        opening the store at once, one does it and the others find it done); return the
        version found afterwards."""
        connection.execute("BEGIN IMMEDIATE")
        upgraded = None
        try:
            found = stored_version(connection)
            if found is None:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
            elif found < SCHEMA_VERSION:
                # Backed up while this connection holds the write lock: as the old one left it.
                self.backup = back_up(self.path, found, self._timeout)
                climb(connection, found)
                upgraded = found
            if found is None or found < SCHEMA_VERSION:
                connection.execute(
                    "INSERT OR REPLACE INTO flightlog_meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                found = SCHEMA_VERSION
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        if upgraded is not None:
            say_upgraded(str(self.path), upgraded, SCHEMA_VERSION, self.backup)
        return found

    def _writable(self) -> None:
        if self._read_only_reason is not None:
            raise self._read_only_error(self._read_only_reason)

    # -- the file at the path ------------------------------------------------------------------
    def check(self) -> None:
        """Raise StoreError when the file at the store's path is no longer the database file
        this store opened: deleted (or its folder), or replaced by another file. This process
        would go on writing into the file it has open, which no one sees again. One ``stat``:
        the runtime calls it at every run's end and every few seconds while runs record."""
        if self._lost is None:
            if self._identity is None or self._closed:
                return
            try:
                now = sqlite_file.identity(self.path)
            except OSError:  # cannot tell (e.g. a folder without permission): not lost
                return
            if now == self._identity:
                self._seen = time.time()
                return
            self._lost = self._lost_message(deleted=now is None)
            self._forsake()
        raise StoreError(self._lost)

    def _forsake(self) -> None:
        """Write nothing more, and take back from the log at the path what went into it for
        the old file: a file that replaced it (or is made anew there) shares that log, and
        would read those pages as its own. Racy at best: another process that opened the new
        file meanwhile has its own pages in the log too (SQLite cannot tell them apart)."""
        sqlite_checkpoint.unwatch(self)
        connection = self._any_connection()
        if connection is None:
            return
        deadline = time.monotonic() + 1.0
        try:
            connection.execute("PRAGMA busy_timeout = 100")
            # Busy at once while another connection checkpoints: try again for a moment.
            while connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] != 0:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.005)
        except sqlite3.Error:
            pass

    def _any_connection(self) -> sqlite3.Connection | None:
        """This thread's connection, else another thread's (to the file this store opened;
        a new one would open whatever is at the path now)."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            with self._all_lock:
                connection = self._all[0][1] if self._all else None
        return connection

    def _lost_message(self, *, deleted: bool) -> str:
        seen = self._seen
        what = "deleted" if deleted else "replaced by another file"
        when = time.strftime("%H:%M:%S", time.localtime(seen))
        count = None
        connection = self._any_connection()
        if connection is not None:  # still the old file: count what went into it since
            try:
                count = connection.execute(
                    "SELECT count(*) FROM steps"
                    " WHERE max(coalesce(start_time, 0), coalesce(end_time, 0)) >= ?",
                    (seen,),
                ).fetchone()[0]
            except sqlite3.Error:
                count = None
        lost = "what was recorded" if count is None else f"{count} steps recorded"
        return (
            f"the SQLite database file {self.path} was {what} while this process had it open; "
            f"{lost} since {when} (when it was last seen in place) went into the "
            f"{'deleted' if deleted else 'old'} file and are lost"
        )

    # -- dialect hooks -------------------------------------------------------------------------
    def schema_version(self) -> int:
        return self._version

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._lost is not None:
            raise StoreError(self._lost)
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise self._failure(error) from error
            return self._retry(lambda: self._connection().execute(sql, params).fetchall())
        except sqlite3.Error as error:  # damaged, closed
            raise self._failure(error) from error

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self._lost is not None:
            raise StoreError(self._lost)
        connection = self._connection()
        try:
            return connection.execute(sql, params).rowcount
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise self._failure(error) from error
            return self._retry(lambda: connection.execute(sql, params).rowcount)
        except sqlite3.Error as error:
            raise self._failure(error) from error

    def _insert_run(self, params: Sequence[Any]) -> int:
        def insert() -> int:
            cursor = self._connection().execute(RUN_INSERT_AFTER_DELETED, params)
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        try:
            return self._retry(insert)
        except sqlite3.IntegrityError as error:
            raise ConflictError(f"run id {params[0]!r} exists already") from error

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        def write() -> int:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                changed = connection.executemany(sql, rows).rowcount
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return changed

        return self._retry(write)

    def _write_batch(self, statements: Statements) -> None:
        def write() -> None:
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    connection.executemany(sql, rows)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

        self._retry(write)

    def compact(self, *, full: bool = False) -> int:
        """See :class:`~flightlog.stores.base.CompactingStore` and
        :mod:`flightlog.stores.sqlite_compact`."""
        self._writable()
        before = sqlite_compact.files_size(self.path, log=False)  # not what the delete logged
        self._retry(lambda: sqlite_compact.compact(self._connection(), self.path, full=full))
        return max(0, before - sqlite_compact.files_size(self.path))

    def data_directory(self) -> str | None:
        """The folder of the database file: resources go under its ``resources/``."""
        return str(self.path.parent)

    def close(self) -> None:
        """Close every connection: this thread's, those of threads that have ended, and those
        of flightlog's background threads (the monitor, lease renewals), which live on, while
        they are kept out of the stores. A connection of another live thread (a worker) may be
        in the middle of a query: closing it under that query can crash, so it is closed when
        its thread ends (see thread_end). Using the store afterwards raises StoreError. The last
        store on a file in this process cuts the file's log back to nothing (SQLite would only
        when the last connection closes)."""
        if self._closed:
            return
        self._closed = True
        sqlite_checkpoint.unwatch(self)
        if not any(
            other is not self and not other._closed and other.path == self.path
            for other in list(_OPEN_STORES)
        ):
            self._truncate_log()
        with self._all_lock:
            connections = self._all[:]
            self._all.clear()
        self._local = threading.local()
        if self._pid != os.getpid():
            return
        me = threading.current_thread()
        others = []
        for thread, connection, forget in connections:
            if thread is me or not thread.is_alive():
                _close(connection, forget)
            else:
                others.append((thread, connection, forget))
        if others:
            with quiet(CLOSE_WAIT) as background_threads:
                for thread, connection, forget in others:
                    if background_threads is not None and thread in background_threads:
                        _close(connection, forget)

    def _truncate_log(self) -> None:
        """Copy the log into the database and cut it to nothing, where this store may write
        and its file is still in place."""
        if self._uri or self._identity is None or self._pid != os.getpid():
            return
        if self._lost is None and sqlite_file.identity(self.path) == self._identity:
            sqlite_checkpoint.truncate(self.path)


def _close_all(
    connections: list[tuple[threading.Thread, sqlite3.Connection, thread_end.Forget]],
) -> None:
    """(In a forked child the list holds only the child's own: see _forget_connections.)"""
    for _, connection, forget in connections[:]:
        _close(connection, forget)
    connections.clear()


def _close(connection: sqlite3.Connection, forget: thread_end.Forget) -> None:
    forget()
    try:
        connection.close()
    except sqlite3.ProgrammingError:
        pass


def _truncate_at_exit() -> None:
    """At exit, cut back the log of every file a store still has open (once per file)."""
    done: set[Path] = set()
    for store in list(_OPEN_STORES):
        if not store._closed and store.path not in done:
            done.add(store.path)
            store._truncate_log()


atexit.register(_truncate_at_exit)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
