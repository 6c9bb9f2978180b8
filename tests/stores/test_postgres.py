"""What the PostgreSQL store does beyond the conformance suite (which runs over it too):
its schema against SQLite's, statement translation, connections per thread and process,
dropped connections, deadlocks, and schema versions."""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import flightlog
from flightlog import ConfigurationError, ConflictError, SchemaVersionError, StoreError
from flightlog.model import Status
from flightlog.stores import open_store
from flightlog.stores.base import SCHEMA_VERSION
from flightlog.stores.postgres import PostgresStore
from flightlog.stores.postgres_statements import repeatable, translate
from flightlog.stores.sql import (
    REPEATABLE,
    RUN_INSERT,
    STEP_LOG_APPEND,
    STEP_START,
    STEP_UPSERT,
    step_row,
)
from flightlog.testing import make_run, make_step

from ..postgres_server import Schemas, free_port


@pytest.fixture
def schema(postgres_schemas: Schemas) -> tuple[str, str]:
    """(name, url) of a fresh, empty schema."""
    return postgres_schemas.fresh()


@pytest.fixture
def store(schema: tuple[str, str]) -> Iterator[PostgresStore]:
    opened = open_store(schema[1])
    assert isinstance(opened, PostgresStore)
    yield opened
    opened.close()


@pytest.fixture
def admin(postgres_schemas: Schemas, schema: tuple[str, str]) -> Iterator[psycopg.Connection[Any]]:
    """A connection of our own to the test's schema, outside the store."""
    connection = psycopg.connect(postgres_schemas.base_url, autocommit=True)
    connection.execute(f"SET search_path = {schema[0]}")
    yield connection
    connection.close()


def _backend(store: PostgresStore) -> int:
    return int(store._connection().info.backend_pid)


# -- schema ------------------------------------------------------------------------------------
def test_schema_has_the_tables_and_columns_of_sqlite(
    store: PostgresStore, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """A table, column, view or index added to the SQLite schema must exist in PostgreSQL too,
    with a type of the same kind (REAL -> DOUBLE PRECISION, never float4)."""
    open_store(f"sqlite:///{tmp_path}/twin.db").close()
    lite = sqlite3.connect(tmp_path / "twin.db")
    try:
        objects = lite.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        lite_columns = {
            name: [(row[1], row[2].upper()) for row in lite.execute(f"PRAGMA table_info({name})")]
            for kind, name in objects
            if kind in ("table", "view")
        }
        lite_indexes = {name for kind, name in objects if kind == "index"}
    finally:
        lite.close()
    pg_columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in admin.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        pg_columns.setdefault(table, []).append((column, kind))
    pg_indexes = {
        row[0]
        for row in admin.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%key'"
        )
    }
    assert sorted(pg_columns) == sorted(lite_columns)
    assert pg_indexes == lite_indexes
    kinds = {"REAL": "double precision", "INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea"}
    for table, columns in lite_columns.items():
        assert [name for name, _ in pg_columns[table]] == [name for name, _ in columns], table
        for (name, lite_type), (_, pg_type) in zip(columns, pg_columns[table], strict=True):
            if lite_type in kinds:
                assert pg_type == kinds[lite_type], f"{table}.{name}: {pg_type}"
            assert pg_type != "real", f"{table}.{name} is a float4"
    version = admin.execute("SELECT value FROM flightlog_meta WHERE key = 'schema_version'")
    assert version.fetchone() == (str(store.schema_version()),)


def test_concurrent_set_up_of_one_fresh_schema(schema: tuple[str, str]) -> None:
    """Eight sessions creating the schema at once (concurrent CREATE TABLE IF NOT EXISTS
    collides in the catalogue without the advisory lock)."""
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def open_one() -> None:
        barrier.wait(10)
        try:
            opened = open_store(schema[1])
            outcomes.append(opened.schema_version())
            opened.close()
        except BaseException as error:  # reported below
            outcomes.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == [SCHEMA_VERSION] * 8


def test_newer_schema_is_read_but_never_written(
    schema: tuple[str, str], admin: psycopg.Connection[Any]
) -> None:
    first = open_store(schema[1])
    first.create_run(make_run())
    first.close()
    admin.execute("UPDATE flightlog_meta SET value = '99' WHERE key = 'schema_version'")
    newer = open_store(schema[1])
    try:
        assert newer.schema_version() == 99
        run = newer.get_run("run-1")
        assert run is not None and run.status is Status.RUNNING
        with pytest.raises(SchemaVersionError, match="schema version 99"):
            newer.create_run(make_run("run-2"))
        with pytest.raises(SchemaVersionError):
            newer.finish_run("run-1", status=Status.FAILED, end_time=1.0)
    finally:
        newer.close()
    assert admin.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_older_schema_is_migrated_forward_keeping_its_data(
    schema: tuple[str, str], admin: psycopg.Connection[Any]
) -> None:
    first = open_store(schema[1])
    first.create_run(make_run())
    first.close()
    admin.execute("DROP TABLE tasks")
    admin.execute("UPDATE flightlog_meta SET value = '0' WHERE key = 'schema_version'")
    again = open_store(schema[1])
    try:
        assert again.schema_version() == SCHEMA_VERSION
        assert again.get_task("t" * 32) is None  # the table is back
        assert again.get_run("run-1") is not None
    finally:
        again.close()
    version = admin.execute("SELECT value FROM flightlog_meta WHERE key = 'schema_version'")
    assert version.fetchone() == (str(SCHEMA_VERSION),)


# -- statements --------------------------------------------------------------------------------
def test_placeholders_are_translated_once_leaving_quoted_text_alone() -> None:
    sql = "SELECT '?', \"a?b\", 'it''s 100%' FROM t WHERE x LIKE 'a%' AND y = ? AND z = ?"
    text, _ = translate(sql)
    assert text == (
        "SELECT '?', \"a?b\", 'it''s 100%%' FROM t WHERE x LIKE 'a%%' AND y = %s AND z = %s"
    )
    before = translate.cache_info().hits
    translate(sql)
    assert translate.cache_info().hits == before + 1


def test_literal_percent_and_question_marks_reach_the_server(store: PostgresStore) -> None:
    rows = store._query("SELECT '100%', '?', CAST(? AS TEXT) || '%'", ("x",))
    assert rows == [("100%", "?", "x%")]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", True),
        (STEP_UPSERT, True),
        (STEP_START, True),
        (RUN_INSERT, False),
        (RUN_INSERT + " ON CONFLICT (run_id) DO NOTHING RETURNING seq", True),
        ("UPDATE runs SET status = ?, end_time = ? WHERE run_id = ?", True),
        ("UPDATE runs SET lease_expires = ? WHERE run_id = ? AND status = 'RUNNING'", True),
        ("UPDATE runs SET resumes = resumes + 1 WHERE run_id = ?", False),
        (STEP_LOG_APPEND, False),
        ("UPDATE runs SET resumes = ? WHERE run_id = ? AND resumes = ?", False),
        ("UPDATE runs SET resumes = ? WHERE run_id = ? AND resumes = ?" + REPEATABLE, True),
        ("INSERT INTO t (k) VALUES (?) ON CONFLICT (k) DO UPDATE SET v = 1 WHERE t.v = 0", False),
        ("DELETE FROM runs WHERE run_id = ?", True),
        ("CREATE TABLE x (k BIGINT)", False),
    ],
)
def test_which_statements_may_run_again_after_a_lost_connection(sql: str, expected: bool) -> None:
    assert repeatable(sql) is expected


def test_nul_in_text_is_stored_as_a_replacement_character(store: PostgresStore) -> None:
    store.create_run(make_run(tag="a\x00b"))
    store.finish_step(make_step(log="line\x00\n"))
    rows = [step_row(store._seq("run-1"), make_step(position=p, log="\x00")) for p in (1, 2)]
    assert store._write_many(STEP_UPSERT, rows) == 2
    run = store.get_run("run-1")
    assert run is not None and run.tag == "a\ufffdb"
    assert [step.log for step in store.list_steps("run-1")] == ["line\ufffd\n", "\ufffd", "\ufffd"]


# -- connections -------------------------------------------------------------------------------
def test_unreachable_server_is_a_clear_error_without_the_password() -> None:
    port = free_port()
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}") as caught:
        open_store(f"postgresql://someone:secret@127.0.0.1:{port}/db")
    assert "secret" not in str(caught.value)


def test_password_stays_out_of_the_url_the_store_shows(schema: tuple[str, str]) -> None:
    url = schema[1].replace("postgresql://postgres@", "postgresql://postgres:secret@")
    with flightlog.open(url) as fl:  # the test server trusts every password
        assert "secret" not in fl.url and "secret" not in repr(fl)
        assert fl.url.startswith("postgresql://postgres:***@127.0.0.1:")
        with pytest.raises(flightlog.NotFoundError) as caught:
            fl.get_status("nope")
        assert "secret" not in str(caught.value)


def test_bad_urls_and_options_are_configuration_errors(postgres_schemas: Schemas) -> None:
    with pytest.raises(ConfigurationError, match="malformed PostgreSQL URL"):
        open_store("postgresql://127.0.0.1/db?bogus=1")
    with pytest.raises(ConfigurationError, match="bad options"):
        open_store(postgres_schemas.fresh_url(), colour="blue")


def test_missing_schema_in_the_search_path_is_a_clear_error(postgres_schemas: Schemas) -> None:
    url = postgres_schemas.base_url + "?options=-csearch_path%3Dnowhere"
    with pytest.raises(StoreError, match="cannot set up flightlog's schema"):
        open_store(url)


def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigurationError, match=r"flightlog\[postgres\]"):
        open_store("postgres://localhost/db")


def test_one_connection_per_thread_and_ended_threads_give_theirs_back(
    store: PostgresStore, admin: psycopg.Connection[Any]
) -> None:
    store.create_run(make_run())
    main = _backend(store)
    seen: list[int] = []

    def use() -> None:
        store.finish_step(make_step(position=len(seen)))
        seen.append(_backend(store))

    for _ in range(5):
        thread = threading.Thread(target=use)
        thread.start()
        thread.join(30)
    assert len(set(seen)) == 5 and main not in seen
    # Each thread that opened a connection closed those of the threads that had ended.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (seen[:4],)
        ).fetchone()
        if alive == (0,):
            break
        time.sleep(0.05)
    assert alive == (0,)
    assert len(store._connections.by_thread) == 2  # this thread's and the last one's
    assert _backend(store) == main


def _child_writes(store: PostgresStore) -> None:
    store.finish_step(make_step(position=1))
    store.create_run(make_run("child"))


def test_forked_child_opens_its_own_connection_and_leaves_the_parents(
    store: PostgresStore,
) -> None:
    store.create_run(make_run())
    before = _backend(store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        child = multiprocessing.get_context("fork").Process(target=_child_writes, args=(store,))
        child.start()
    child.join(60)
    assert child.exitcode == 0
    store.finish_step(make_step(position=2))
    assert _backend(store) == before  # the child neither used nor closed our connection
    assert [step.position for step in store.list_steps("run-1")] == [1, 2]
    assert store.get_run("child") is not None


def test_terminated_connection_is_reopened_and_the_write_retried(
    store: PostgresStore, admin: psycopg.Connection[Any]
) -> None:
    store.create_run(make_run())
    old = _backend(store)
    admin.execute("SELECT pg_terminate_backend(%s)", (old,))
    store.finish_step(make_step())  # an upsert: run again on a new connection
    assert _backend(store) != old
    admin.execute("SELECT pg_terminate_backend(%s)", (_backend(store),))
    store.create_run(make_run("second"))
    admin.execute("SELECT pg_terminate_backend(%s)", (_backend(store),))
    assert [step.name for step in store.list_steps("run-1")] == ["add"]
    assert admin.execute("SELECT count(*) FROM runs").fetchone() == (2,)


def test_a_connection_whose_socket_closed_is_lost_before_psycopg_marks_it_closed(
    store: PostgresStore,
) -> None:
    """libpq may report "connection socket closed" (no SQLSTATE) while the connection is
    broken but not yet closed: it is lost, so a repeatable write runs again on a new one
    (this raced in ``test_terminated_connection_is_reopened_and_the_write_retried``)."""

    class Broken:
        closed = False
        broken = True

    class Healthy:
        closed = False
        broken = False

    error = psycopg.OperationalError("connection socket closed")
    assert store._lost(Broken(), error)  # type: ignore[arg-type]
    assert not store._lost(Healthy(), error)  # type: ignore[arg-type]


def test_lost_connection_during_an_unrepeatable_write_says_so(
    store: PostgresStore, admin: psycopg.Connection[Any]
) -> None:
    store.create_run(make_run())
    admin.execute("SELECT pg_terminate_backend(%s)", (_backend(store),))
    with pytest.raises(StoreError, match="may or may not have been committed"):
        store._write("UPDATE runs SET resumes = resumes + 1 WHERE run_id = ?", ("run-1",))
    run = store.get_run("run-1")  # the store works on afterwards
    assert run is not None and run.resumes == 0


@pytest.mark.parametrize("committed", [True, False])
def test_batch_whose_commit_is_lost_is_settled_by_its_transaction_id(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch, committed: bool
) -> None:
    """Plain inserts cannot run twice; if the connection drops during their COMMIT, the
    store asks the server whether that transaction committed, and runs it again only if not."""
    store._write("CREATE TABLE scratch (k BIGINT, v TEXT)")
    real = store._commit
    calls: list[int] = []

    def lost_commit(connection: psycopg.Connection[Any]) -> None:
        calls.append(1)
        if len(calls) > 1:
            return real(connection)
        if committed:
            real(connection)
        connection.close()  # the server aborts an uncommitted transaction
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(store, "_commit", lost_commit)
    insert = "INSERT INTO scratch (k, v) VALUES (?, ?)"
    store._write_batch([(insert, [(1, "a"), (2, "b")]), (insert, [(3, "c")])])
    assert store._query("SELECT k FROM scratch ORDER BY k") == [(1,), (2,), (3,)]
    assert len(calls) == (1 if committed else 2)


def test_run_insert_replayed_after_a_lost_reply_is_recognised_as_ours(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first try committed but its reply was lost: the second finds the row it wrote."""
    real = store._execute

    def committed_but_lost(sql: str, params: Any, fetch: bool) -> tuple[Any, bool]:
        if sql.startswith("INSERT INTO runs"):
            real(sql, params, fetch)
            return [], True
        return real(sql, params, fetch)

    monkeypatch.setattr(store, "_execute", committed_but_lost)
    store.create_run(make_run())
    assert store.get_run("run-1") is not None
    with pytest.raises(ConflictError, match="run-1"):  # someone else's run under that id
        store.create_run(make_run(created_time=1.0))


def test_deadlock_is_retried_not_surfaced(
    store: PostgresStore,
    postgres_schemas: Schemas,
    schema: tuple[str, str],
    admin: psycopg.Connection[Any],
) -> None:
    """The store's transaction closes a cycle of waits and is chosen as the victim (its
    session checks for deadlocks after the server's 1 s, the other one after a minute)."""
    store._write("CREATE TABLE scratch (k BIGINT PRIMARY KEY)")
    other = psycopg.connect(postgres_schemas.base_url)
    other.execute(f"SET search_path = {schema[0]}")
    other.execute("SET deadlock_timeout = '60s'")
    other.execute("INSERT INTO scratch VALUES (2)")  # holds key 2, uncommitted
    outcome: list[object] = []

    def write() -> None:
        try:
            outcome.append(
                store._write_many(
                    "INSERT INTO scratch (k) VALUES (?) ON CONFLICT (k) DO NOTHING", [(1,), (2,)]
                )
            )
        except BaseException as error:  # reported below
            outcome.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the store waits for key 2
            waiting = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND pid <> pg_backend_pid() AND datname = current_database()"
            ).fetchone()
            if waiting and waiting[0]:
                break
            time.sleep(0.01)
        other.execute("INSERT INTO scratch VALUES (1)")  # waits for the store's key 1: deadlock
        other.commit()
    finally:
        writer.join(30)
        other.close()
    assert outcome == [0]  # retried after the deadlock: both keys were there by then
    assert store._query("SELECT k FROM scratch ORDER BY k") == [(1,), (2,)]
