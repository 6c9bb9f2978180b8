"""The team store: PostgreSQL, written by many processes on many machines at once.

A dialect of the shared SQL (:mod:`flightlog.stores.sql`), through psycopg 3 (the
``flightlog[postgres]`` extra). Every statement runs in autocommit: one statement, one
transaction, one round trip; batches run in one transaction. Each thread of each process has
its own connection, closed when the thread ends or the store closes (see thread_end); a forked
child opens new ones and never touches its parent's. The schema
(:mod:`.postgres_schema`, the SQLite schema translated) is created and migrated forward on
first use under an advisory lock.

Failures: deadlocks and serialization failures (SQLSTATE 40P01, 40001) are retried. When the
connection drops (server restart, fail-over, ``pg_terminate_backend``), the store reconnects,
waiting up to ``retry_seconds`` for the server, and runs again what is safe to run again:
reads, repeatable writes (see :func:`.postgres_statements.repeatable`), and transactions that
did not commit (a transaction whose COMMIT was under way is settled by ``txid_status``). A
single write that cannot safely be repeated raises StoreError, saying that it may or may not
have been committed. Nothing is ever written twice.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, ConflictError, StoreError
from ..redaction import redact
from . import thread_end
from .postgres_schema import set_up_schema, stored_version
from .postgres_statements import nul_refused, translate, without_nul
from .sql import RUN_INSERT, SQLStore
from .sql_scale_schema import POSTGRES_OBJECT_AGG
from .sql_scale_schema import VERSION as SCALE_VERSION

if TYPE_CHECKING:
    import psycopg

# SQLSTATEs after which the statement was rolled back and may simply run again.
RETRY_STATES = frozenset({"40001", "40P01"})
# Server shutting down, starting up or dropping us: the connection is gone.
LOST_STATES = frozenset({"57P01", "57P02", "57P03"})

# Seconds that closing a store waits for a statement running on one of its connections.
CLOSE_WAIT = 5.0


class _CommitUnknown(Exception):
    """The connection dropped while a COMMIT was under way: ``txid_status`` will tell."""

    def __init__(self, txid: int, result: Any) -> None:
        super().__init__(f"the connection dropped during the COMMIT of transaction {txid}")
        self.txid = txid
        self.result = result


class _Connections:
    """Every connection a store opened in one process, by the thread that uses it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.by_thread: dict[
            int, tuple[threading.Thread, psycopg.Connection[Any], thread_end.Forget]
        ] = {}

    def close(self) -> None:
        if os.getpid() != self.pid:
            # A forked child: these belong to the parent (and the lock may have been held by
            # one of its threads at the fork, so do not take it).
            thread_end.INHERITED.extend(entry[1] for entry in self.by_thread.values())
            self.by_thread = {}
            return
        with self.lock:
            entries, self.by_thread = list(self.by_thread.values()), {}
        for _, connection, forget in entries:
            _close_quietly(connection, forget)


def _close_quietly(
    connection: psycopg.Connection[Any], forget: thread_end.Forget | None = None
) -> None:
    """Close a connection, waiting (a little) for a statement another thread runs on it:
    psycopg's ``close`` does not wait, and closing under a running statement crashes libpq.
    One still busy then is left open: its thread closes it when it ends (see thread_end)."""
    if not connection.lock.acquire(timeout=CLOSE_WAIT):
        return
    try:
        connection.close()
    except Exception:  # pragma: no cover - closing a broken connection
        pass
    finally:
        connection.lock.release()
    if forget is not None:
        forget()


_FORKS = [0]


def _forked() -> None:
    _FORKS[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def without_password(url: str) -> str:
    """The URL with its password (if any) shown as ``***``."""
    return redact(url)


def describe(parameters: dict[str, Any]) -> str:
    """The server and database, without the password, for messages."""
    user = f"{parameters['user']}@" if parameters.get("user") else ""
    host = parameters.get("host") or "localhost"
    port = f":{parameters['port']}" if parameters.get("port") else ""
    return redact(f"postgresql://{user}{host}{port}/{parameters.get('dbname') or ''}")


def _misread_password(parameters: dict[str, Any]) -> bool:
    """Whether libpq took part of a password for the host, port or database: a password
    holding ``@``, ``/`` or ``:`` that was not percent-encoded."""
    return any("@" in str(parameters.get(key) or "") for key in ("host", "port", "dbname")) or (
        not str(parameters.get("port") or "0").replace(",", "").isdigit()
    )


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as error:
        raise ConfigurationError(
            "the PostgreSQL store needs psycopg 3: pip install 'flightlog[postgres]'"
        ) from error
    return psycopg


class PostgresStore(SQLStore):
    """A store in a PostgreSQL database (``postgresql://user:password@host:port/database``).

    It is shared: processes on other machines open it by its URL (so steps submitted to Ray or
    Dask may record themselves from their workers: ``record="worker"``).

    The URL is libpq's: its query may carry any connection parameter, e.g.
    ``?sslmode=require`` or ``?options=-csearch_path%3Dmyschema`` to keep flightlog's tables
    in a schema of their own (which must exist). ``retry_seconds`` bounds how long a lost
    server is waited for; ``connect_timeout`` bounds one connection attempt.
    """

    shared = True  # workers may open it by its URL (record="worker")
    NOW_SQL = "extract(epoch from clock_timestamp())"  # the server's clock: hosts may differ
    STAMP_SQL = NOW_SQL  # in microseconds
    _CONTAINS = "strpos({column}, ?) > 0"
    _JSON_FIELD = "({column}::json ->> '{key}')"
    _NO_LIMIT = ""
    _BINARY_COLLATE = ' COLLATE "C"'
    _RUNS_THEN = "JOIN"
    _JSON_OBJECT_AGG = POSTGRES_OBJECT_AGG
    _JSON_EACH = "json_each_text({column}::json)"
    _JSON_ARRAY = "json_build_array({values})::text"

    def __init__(
        self,
        url: str,
        *,
        retry_seconds: float = 60.0,
        connect_timeout: float = 10.0,
        upgrade: bool = True,
    ) -> None:
        super().__init__()
        self._psycopg = _import_psycopg()
        self.url = without_password(url)  # shown in messages and records: no secrets
        self._conninfo = url
        try:
            parameters = self._psycopg.conninfo.conninfo_to_dict(url)
        except self._psycopg.ProgrammingError as error:  # its message may hold the password
            shown = redact(str(error).strip())
            raise ConfigurationError(f"malformed PostgreSQL URL: {shown}") from None
        if _misread_password(parameters):
            raise ConfigurationError(
                f"malformed PostgreSQL URL {self.url!r}: it reads as a host, port or database "
                "holding '@', or a port that is not a number; percent-encode '@', '/' and ':' "
                "in a password (%40, %2F, %3A)"
            )
        self._where = describe(parameters)
        self._extra: dict[str, Any] = {}
        if "application_name" not in parameters:
            self._extra["application_name"] = "flightlog"
        if "connect_timeout" not in parameters:
            self._extra["connect_timeout"] = max(1, round(connect_timeout))
        self.retry_seconds = retry_seconds
        self._closed = False
        self._local = threading.local()
        self._connections = _Connections()
        self._finalizer = weakref.finalize(self, self._connections.close)
        self._forks = _FORKS[0]
        self._upgrade = upgrade
        self._version, problem = self._set_up()
        self._check_version(self._version, problem)

    # -- connections ---------------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if connection is None or self._forks != _FORKS[0]:
            if self._forks != _FORKS[0]:
                self._after_fork()
            if self._closed:
                raise StoreError(f"the PostgreSQL store {self._where} is closed")
            connection = self._open()
        return connection

    def _after_fork(self) -> None:
        self._forks = _FORKS[0]
        self._finalizer.detach()
        self._connections.close()  # in the child: only keeps the parent's connections alive
        self._connections = _Connections()
        self._finalizer = weakref.finalize(self, self._connections.close)
        self._local = threading.local()

    def _open(self) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] = self._psycopg.connect(
            self._conninfo, autocommit=True, **self._extra
        )
        thread = threading.current_thread()
        forget = thread_end.close_at_thread_end(connection, lambda: _close_quietly(connection))
        pool = self._connections
        with pool.lock:
            stale = [
                ident
                for ident, (owner, _, _) in pool.by_thread.items()
                if ident == thread.ident or not owner.is_alive()
            ]
            dead = [pool.by_thread.pop(ident) for ident in stale]
            pool.by_thread[thread.ident or 0] = (thread, connection, forget)
        for _, old, forget_old in dead:  # of threads that ended, or this thread's lost one
            _close_quietly(old, forget_old)
        self._local.connection = connection
        self._local.cursor = connection.cursor()  # reused by every statement of this thread
        return connection

    def _discard(self, connection: psycopg.Connection[Any]) -> None:
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        _close_quietly(connection)

    def _lost(self, connection: psycopg.Connection[Any], error: Exception) -> bool:
        """Whether the connection is gone: closed, or broken (libpq saw its socket close,
        "connection socket closed", before psycopg marked it closed), or the server says so."""
        state = getattr(error, "sqlstate", None) or ""
        broken = connection.closed or connection.broken
        return broken or state.startswith("08") or state in LOST_STATES

    # -- running statements --------------------------------------------------------------------
    def _set_up(self) -> tuple[int, str | None]:
        """Connect (failing at once if the server cannot be reached: a wrong URL should not
        hang), then create or migrate the schema, retrying if the connection drops."""
        try:
            self._connection()
        except self._psycopg.OperationalError as error:
            raise StoreError(f"cannot connect to PostgreSQL at {self._where}: {error}") from error
        deadline = time.monotonic() + self.retry_seconds
        while True:
            try:
                # Whether this open made the store (an empty database): `flightlog upgrade` says so.
                self.created = stored_version(self._connection()) is None
                found = set_up_schema(self._connection(), self._where, self._upgrade)
                self._scale_ready = found[0] >= SCALE_VERSION  # what version 3 added
                return found
            except self._psycopg.OperationalError as error:
                connection = getattr(self._local, "connection", None)
                if connection is not None and not self._lost(connection, error):
                    raise StoreError(
                        f"cannot set up flightlog's schema in {self._where}: {error}"
                    ) from error
                if connection is not None:
                    self._discard(connection)
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"cannot reach PostgreSQL at {self._where} "
                        f"(tried for {self.retry_seconds:g} s): {error}"
                    ) from error
            time.sleep(0.05 * (1 + random.random()))

    def _execute(self, sql: str, params: Sequence[Any], fetch: bool) -> tuple[Any, bool]:
        """Run one statement; return (rows or row count, whether it ran again after its
        connection dropped)."""
        text, repeatable = translate(sql)

        def action(connection: psycopg.Connection[Any]) -> Any:
            try:
                cursor = self._local.cursor.execute(text, params)
            except self._psycopg.DataError as error:
                if not nul_refused(error):
                    raise
                cursor = self._local.cursor.execute(text, without_nul(params))
            return cursor.fetchall() if fetch else cursor.rowcount

        return self._attempt(action, repeatable)

    def _attempt(
        self, action: Callable[[psycopg.Connection[Any]], Any], repeatable: bool
    ) -> tuple[Any, bool]:
        """Run ``action`` on this thread's connection, retrying deadlocks and serialization
        failures, and (when ``repeatable``) a lost connection once it is back."""
        psycopg = self._psycopg
        deadline = 0.0
        delay = 0.002
        replayed = lost = False
        unknown: _CommitUnknown | None = None
        while True:
            try:
                connection = self._connection()
            except psycopg.OperationalError as error:  # the server is away: wait for it
                problem: Exception = error
            else:
                try:
                    if unknown is not None:  # did the lost COMMIT happen?
                        status = connection.execute(
                            "SELECT txid_status(%s)", (unknown.txid,)
                        ).fetchone()
                        if status is not None and status[0] == "committed":
                            return unknown.result, True
                        if status is not None and status[0] == "in progress":
                            raise _CommitUnknown(unknown.txid, unknown.result)
                        unknown = None  # aborted: run it again
                    return action(connection), replayed
                except _CommitUnknown as error:
                    unknown = error
                    problem = error
                    if connection.closed:
                        self._discard(connection)
                    lost = True
                except psycopg.errors.IntegrityError as error:
                    raise ConflictError(f"PostgreSQL store {self._where}: {error}") from error
                except psycopg.OperationalError as error:
                    problem = error
                    if (error.sqlstate or "") not in RETRY_STATES:
                        if not self._lost(connection, error):
                            raise StoreError(f"PostgreSQL store {self._where}: {error}") from error
                        self._discard(connection)
                        lost = True
                        if not repeatable:
                            raise StoreError(
                                f"the connection to PostgreSQL at {self._where} was lost during "
                                "a write that cannot safely be repeated; it may or may not have "
                                f"been committed: {error}"
                            ) from error
                except psycopg.Error as error:
                    raise StoreError(f"PostgreSQL store {self._where}: {error}") from error
            replayed = replayed or lost
            if not deadline:
                deadline = time.monotonic() + self.retry_seconds
            elif time.monotonic() > deadline:
                raise StoreError(
                    f"PostgreSQL store {self._where}: gave up after {self.retry_seconds:g} s: "
                    f"{problem}"
                ) from problem
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.5)

    # -- dialect hooks -------------------------------------------------------------------------
    def schema_version(self) -> int:
        return int(self._version)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._execute(sql, params, True)[0]
        return rows

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        count: int = self._execute(sql, params, False)[0]
        return count

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """One statement over many parameter rows, in one transaction."""
        return self._transaction([(sql, rows)]) if rows else 0

    def _write_batch(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Several statements, each over its parameter rows, in one transaction."""
        if len(statements) == 1 and len(statements[0][1]) == 1 and translate(statements[0][0])[1]:
            self._write(statements[0][0], statements[0][1][0])  # one round trip
        elif statements:
            self._transaction(statements)

    def _transaction(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> int:
        """Run the statements in one transaction; return the last one's row count.

        An uncommitted transaction may always run again. If the connection drops while the
        COMMIT is under way, the transaction's id tells afterwards whether it committed
        (``txid_status``), unless every statement is repeatable anyway."""
        translated = [(translate(sql), rows) for sql, rows in statements]
        track = not all(repeatable for (_, repeatable), _ in translated)
        pg = self._psycopg

        def run(connection: psycopg.Connection[Any], clean: bool) -> int:
            connection.execute("BEGIN")
            try:
                txid = connection.execute("SELECT txid_current()").fetchone() if track else None
                cursor = connection.cursor()
                for (text, _), rows in translated:
                    cursor.executemany(text, [without_nul(row) for row in rows] if clean else rows)
            except BaseException:
                if not connection.closed:
                    with contextlib.suppress(pg.Error):
                        connection.execute("ROLLBACK")
                raise
            count = cursor.rowcount
            try:
                self._commit(connection)
            except pg.OperationalError as error:
                if txid is not None and self._lost(connection, error):
                    raise _CommitUnknown(int(txid[0]), count) from error
                raise
            return count

        def action(connection: psycopg.Connection[Any]) -> int:
            try:
                return run(connection, False)
            except pg.DataError as error:  # rolled back: do it all again
                if not nul_refused(error):
                    raise
                return run(connection, True)

        count: int = self._attempt(action, True)[0]
        return count

    def _commit(self, connection: psycopg.Connection[Any]) -> None:
        connection.execute("COMMIT")

    def _insert_run(self, params: Sequence[Any]) -> int:
        rows, replayed = self._execute(
            RUN_INSERT + " ON CONFLICT (run_id) DO NOTHING RETURNING seq", params, True
        )
        if rows:
            return int(rows[0][0])
        if replayed:
            # The first try may have committed before its connection dropped: if the row
            # under this id is the one we wrote (same owner, same creation time), it is ours.
            mine = self._query(
                "SELECT seq FROM runs WHERE run_id = ? AND owner IS NOT DISTINCT FROM ?"
                " AND created_time IS NOT DISTINCT FROM ?",
                (params[0], params[12], params[6]),
            )
            if mine:
                return int(mine[0][0])
        raise ConflictError(f"run id {params[0]!r} exists already")

    def close(self) -> None:
        """Close every connection (waiting a little for a statement running on one; see
        _close_quietly). Using the store afterwards raises StoreError."""
        self._closed = True
        self._connections.close()
        self._local = threading.local()
