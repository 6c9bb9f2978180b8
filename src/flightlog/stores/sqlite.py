"""The embedded default store: one SQLite file, many threads and processes at once.

Settings: WAL journal, ``synchronous=NORMAL`` (a committed step survives a killed process;
``synchronous=FULL`` in the URL query or as an option also survives power loss), a busy
timeout, and retries with backoff whenever SQLite reports the database busy or locked.
Each thread has its own connection, closed when the thread ends or the store closes (see
thread_end); a forked child opens new ones. WAL checkpoints run in a background thread, not in
the commit that happens to fill the log (see sqlite_checkpoint).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigurationError, ConflictError, StoreError
from ..redaction import redact
from . import sqlite_checkpoint, thread_end
from .base import SCHEMA_VERSION
from .forking import quiet
from .sql import RUN_INSERT, SQLStore
from .sql_tracking import Statements

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS flightlog_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    status TEXT NOT NULL,
    tag TEXT,
    arguments TEXT,
    user_metadata TEXT,
    created_time REAL,
    start_time REAL,
    end_time REAL,
    output TEXT,
    error TEXT,
    environment TEXT,
    owner TEXT,
    lease_expires REAL,
    resumes INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    history TEXT,
    last_seen REAL
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT,
    options TEXT,
    user_metadata TEXT,
    components TEXT,
    constants TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    task_id TEXT NOT NULL,
    execution_id TEXT,
    parent TEXT,
    status TEXT NOT NULL,
    start_time REAL,
    end_time REAL,
    attempts TEXT,
    arguments TEXT,
    result TEXT,
    error TEXT,
    user_metadata TEXT,
    options TEXT,
    log TEXT,
    origin TEXT,
    source_run TEXT,
    cache INTEGER,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS steps_cache ON steps (task_id, execution_id, end_time)
    WHERE cache = 1 AND status = 'SUCCESSFUL' AND (origin IS NULL OR origin = 'replayed');
CREATE TABLE IF NOT EXISTS resources (
    collection TEXT NOT NULL,
    ident TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    task_id TEXT,
    arguments TEXT,
    result TEXT,
    error TEXT,
    start_time REAL,
    end_time REAL,
    owner TEXT,
    lease_expires REAL,
    created_time REAL,
    history TEXT,
    PRIMARY KEY (collection, ident)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resources_status ON resources (collection, status);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    run_seq INTEGER NOT NULL,
    position INTEGER,
    step_name TEXT,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics (run_seq, name);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY,
    run_seq INTEGER NOT NULL,
    position INTEGER,
    step_name TEXT,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_time REAL
);
CREATE INDEX IF NOT EXISTS attachments_run ON attachments (run_seq);
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE VIEW IF NOT EXISTS step_view AS
    SELECT runs.run_id AS run_id, steps.id & 4294967295 AS position, steps.*
    FROM steps JOIN runs ON runs.seq = steps.id >> 32;
"""

# What each schema version added to the one before, as (table, column, type): migrating a
# store forward adds them, at the end of their tables, as a new store's tables have them.
ADDED_COLUMNS: dict[int, tuple[tuple[str, str, str], ...]] = {
    2: (("runs", "history", "TEXT"), ("runs", "last_seen", "REAL"), ("tasks", "constants", "TEXT")),
}

_BUSY_WORDS = ("locked", "busy")
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


def _stored_version(connection: sqlite3.Connection) -> int | None:
    """The schema version recorded in the database, or None when there is none yet."""
    row = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'flightlog_meta'"
    ).fetchone()
    if row is None:
        return None
    value = connection.execute(
        "SELECT value FROM flightlog_meta WHERE key = 'schema_version'"
    ).fetchone()
    return None if value is None else int(value[0])


def _add_columns(connection: sqlite3.Connection, found: int) -> None:
    """Add the columns that the versions after ``found`` added (those not there yet)."""
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for table, column, kind in ADDED_COLUMNS.get(version, ()):
            present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


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
    """A store in one SQLite file (``sqlite:///path.db``)."""

    def __init__(self, url: str, *, synchronous: str | None = None, timeout: float = 30.0):
        super().__init__()
        self.url = url
        self.path = path_from_url(url).absolute()
        query = url.split("?", 1)[1] if "?" in url else ""
        settings = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        unknown = set(settings) - {"synchronous"}
        if unknown:
            raise ConfigurationError(f"unknown SQLite URL option(s): {', '.join(sorted(unknown))}")
        mode = (synchronous or settings.get("synchronous") or "NORMAL").upper()
        if mode not in ("NORMAL", "FULL"):
            raise ConfigurationError(f"synchronous must be NORMAL or FULL, not {mode!r}")
        self.synchronous = mode
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
        _OPEN_STORES.add(self)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._retry(self._set_up)

    # -- connections ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        # Checkpoints run in a background thread (see sqlite_checkpoint); this is the fallback.
        connection.execute(f"PRAGMA wal_autocheckpoint = {sqlite_checkpoint.SAFETY_PAGES}")
        return connection

    def _forget_connections(self) -> None:
        """In a forked child: never use the parent's connections (nor close them)."""
        self._local = threading.local()
        thread_end.INHERITED.extend(connection for _, connection, _ in self._all)
        self._all.clear()
        self._pid = os.getpid()

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
            sqlite_checkpoint.watch(self, self.path)
        return connection

    def _retry(self, action: Callable[[], T]) -> T:
        delay = 0.001
        deadline = time.monotonic() + _MAX_WAIT
        while True:
            try:
                return action()
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() > deadline:
                    raise StoreError(f"SQLite store {self.path}: {error}") from error
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.1)

    def _set_up(self) -> None:
        connection = self._connection()
        if connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        found = _stored_version(connection)  # a plain read: no write lock when it is current
        problem = None
        if found is None or found < SCHEMA_VERSION:
            try:
                found = self._create_or_migrate(connection)
            except sqlite3.OperationalError as error:
                if found is None or _is_busy(error):
                    raise
                problem = str(error)  # e.g. a read-only file: read it as it is
        self._version = found
        self._check_version(found, problem)

    def _create_or_migrate(self, connection: sqlite3.Connection) -> int:
        """Create the schema, or migrate it forward, in one transaction that holds the write
        lock (so of many processes opening the store at once, one does it and the others find
        it done); return the version found afterwards."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            found = _stored_version(connection)
            if found is None or found < SCHEMA_VERSION:
                # Every statement of the schema is idempotent: they create what is missing
                # (a new store's tables, or a table a version added); then the columns that
                # later versions added to existing tables.
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                if found is not None:
                    _add_columns(connection, found)
                connection.execute(
                    "INSERT OR REPLACE INTO flightlog_meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                found = SCHEMA_VERSION
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return found

    # -- dialect hooks -------------------------------------------------------------------------
    def schema_version(self) -> int:
        return self._version

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise StoreError(f"SQLite store {self.path}: {error}") from error
            return self._retry(lambda: self._connection().execute(sql, params).fetchall())

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        connection = self._connection()
        try:
            return connection.execute(sql, params).rowcount
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise StoreError(f"SQLite store {self.path}: {error}") from error
            return self._retry(lambda: connection.execute(sql, params).rowcount)

    def _insert_run(self, params: Sequence[Any]) -> int:
        def insert() -> int:
            cursor = self._connection().execute(RUN_INSERT, params)
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

    def data_directory(self) -> str | None:
        """The folder of the database file: resources go under its ``resources/``."""
        return str(self.path.parent)

    def close(self) -> None:
        """Close every connection: this thread's, those of threads that have ended, and those
        of flightlog's background threads (the monitor, lease renewals), which live on, while
        they are kept out of the stores. A connection of another live thread (a worker) may be
        in the middle of a query: closing it under that query can crash, so it is closed when
        its thread ends (see thread_end). Using the store afterwards raises StoreError."""
        self._closed = True
        sqlite_checkpoint.unwatch(self)
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


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
