"""Stores of schema version 1 (every store written before version 2) are migrated forward in
place when opened, by many processes at once, keeping their records; one that cannot be
upgraded where it is opened is still read.

The version-1 schema below is frozen: a copy of what flightlog 0.x created, never to change.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

import flightlog
from flightlog import SchemaVersionError
from flightlog.model import Owner, RunAttempt, Status, TaskRecord
from flightlog.stores import Store, open_store
from flightlog.stores.base import SCHEMA_VERSION
from flightlog.stores.files_io import Writes
from flightlog.stores.postgres_schema import postgres_statements
from flightlog.stores.sqlite import SQLiteStore
from flightlog.testing import make_run

from ..postgres_server import Schemas

V1_SCHEMA = """
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
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT,
    options TEXT,
    user_metadata TEXT,
    components TEXT
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


OWNER = {"host": "old-host", "pid": 4242, "process_start": 99, "boot_id": "boot"}
ARGUMENTS = '{"args":[3],"kwargs":{}}'
# The rows a version-1 store holds: a failed run that was resumed once, a task, a step. The
# step's id is the run's seq (1) times 2**32 plus its position (0).
RUN_ROW = (
    1, "old-run", "pipeline", "FAILED", "exp1", ARGUMENTS, '{"k":"v"}', 100.0, 150.0, 160.0,
    None, '{"type":"ValueError","message":"bad","traceback":"tb"}', '{"python":"3.11"}',
    json.dumps(OWNER), 220.0, 1, 0,
)  # fmt: skip
TASK_ROW = ("t" * 32, "add", None, None, None, '{"pipeline.add":"abc"}')
STEP_ROW = (
    (1 << 32) | 0, "add", "t" * 32, "e" * 32, None, "SUCCESSFUL", 151.0, 152.0, None,
    '{"left":1}', "2", None, None, None, None, None, None, None, None,
)  # fmt: skip
INSERTS = (
    ("INSERT INTO flightlog_meta VALUES ('schema_version', '1')", ()),
    (f"INSERT INTO runs VALUES ({', '.join(['?'] * 17)})", RUN_ROW),
    (f"INSERT INTO tasks VALUES ({', '.join(['?'] * 6)})", TASK_ROW),
    (f"INSERT INTO steps VALUES ({', '.join(['?'] * 19)})", STEP_ROW),
)


def _v1_sqlite(path: Path) -> str:
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(V1_SCHEMA)
        for sql, params in INSERTS:
            connection.execute(sql, params)
        connection.commit()
    return f"sqlite:///{path}"


def _columns_sqlite(path: Path, table: str) -> list[str]:
    with closing(sqlite3.connect(path)) as connection:
        return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]


def _check_old_records_read_back(store: Store) -> None:
    run = store.get_run("old-run")
    assert run is not None
    assert (run.status, run.tag, run.arguments) == (Status.FAILED, "exp1", ARGUMENTS)
    assert (run.created_time, run.start_time, run.end_time) == (100.0, 150.0, 160.0)
    assert run.owner == Owner.from_dict(OWNER)
    assert run.resumes == 1 and run.history == [] and run.last_seen is None
    assert run.step_count == 1
    # Its first attempt was never recorded: the one known is numbered as the second.
    assert run.attempt_records() == [RunAttempt(2, 150.0, 160.0, Status.FAILED, "old-host", 4242)]
    task = store.get_task("t" * 32)
    assert task == TaskRecord("t" * 32, "add", components={"pipeline.add": "abc"})
    (step,) = store.list_steps("old-run")
    assert (step.name, step.status, step.result) == ("add", Status.SUCCESSFUL, "2")


def _check_new_records_are_written(store: Store) -> None:
    first = RunAttempt(2, 150.0, 160.0, Status.FAILED, "old-host", 4242)
    owner = Owner(host="new-host", pid=7)
    run = store.restart_run(
        "old-run",
        expected_resumes=1,
        owner=owner,
        start_time=300.0,
        lease_expires=360.0,
        history=[first],
    )
    assert run.history == [first] and run.resumes == 2 and run.last_seen == 300.0
    store.create_run(make_run("new-run"))
    store.renew_leases(["new-run"], time.time() + 60)
    new = store.get_run("new-run")
    assert new is not None and new.last_seen is not None
    task = TaskRecord("n" * 32, "scale", constants={"pipeline.SCALE": "3"})
    store.record_task(task)
    assert store.get_task("n" * 32) == task


# -- SQLite --------------------------------------------------------------------------------------
def test_version_1_sqlite_database_is_migrated_in_place(tmp_path: Path) -> None:
    url = _v1_sqlite(tmp_path / "old.db")
    store = open_store(url)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 5
        _check_old_records_read_back(store)
        _check_new_records_are_written(store)
    finally:
        store.close()
    with closing(sqlite3.connect(tmp_path / "old.db")) as connection:
        version = connection.execute("SELECT value FROM flightlog_meta").fetchall()
        assert version == [("5",)]
        # version 3: every blob has the time it was last put (0 for those put before)
        blobs = connection.execute("SELECT count(*) FROM blobs").fetchone()[0]
        puts = connection.execute("SELECT count(*) FROM blob_puts").fetchone()[0]
        assert blobs == puts
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # The migrated tables have a new store's columns, in the same order.
    open_store(f"sqlite:///{tmp_path}/new.db").close()
    tables = (
        "runs",
        "tasks",
        "steps",
        "resources",
        "resource_uses",
        "metrics",
        "attachments",
        "blobs",
        "blob_puts",
    )
    for table in tables:
        assert _columns_sqlite(tmp_path / "old.db", table) == _columns_sqlite(
            tmp_path / "new.db", table
        ), table


def test_version_1_sqlite_database_records_and_resumes_runs(tmp_path: Path) -> None:
    url = _v1_sqlite(tmp_path / "old.db")
    with flightlog.open(url) as fl:
        meta = fl.get_metadata("old-run")
        assert meta["status"] == "FAILED"
        assert meta["created_time"] == 100.0
        assert [a["status"] for a in meta["attempts"]] == ["FAILED"]
        assert fl.steps("old-run")[0]["name"] == "add"

        @fl.workflow
        def flow() -> int:
            return 1

        assert flow.run(run_id="fresh") == 1
        assert [a["status"] for a in fl.get_metadata("fresh")["attempts"]] == ["SUCCESSFUL"]


def _at_once(count: int, action: Callable[[], Any]) -> list[Any]:
    """Run ``action`` in ``count`` threads released together; their results or errors."""
    barrier = threading.Barrier(count)
    outcomes: list[Any] = []

    def one() -> None:
        barrier.wait(30)
        try:
            outcomes.append(action())
        except BaseException as error:  # reported by the caller's assertion
            outcomes.append(error)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def _open_and_version(url: str) -> int:
    store = open_store(url)
    try:
        return store.schema_version()
    finally:
        store.close()


def test_many_openers_of_a_version_1_sqlite_database_migrate_it_once(tmp_path: Path) -> None:
    url = _v1_sqlite(tmp_path / "old.db")
    assert _at_once(8, lambda: _open_and_version(url)) == [SCHEMA_VERSION] * 8
    assert _columns_sqlite(tmp_path / "old.db", "runs")[-5:] == [
        "history",
        "last_seen",
        "step_count",  # added for questions at scale (sql_scale_schema)
        "step_counts",
        "parameters",  # version 5: every parameter by name
    ]
    with closing(open_store(url)) as store:
        _check_old_records_read_back(store)


def test_version_1_sqlite_database_that_cannot_be_upgraded_is_read_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _v1_sqlite(tmp_path / "old.db")

    def refuse(self: SQLiteStore, connection: sqlite3.Connection) -> int:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    # As on read-only media (which a test running as root cannot make).
    monkeypatch.setattr(SQLiteStore, "_create_or_migrate", refuse)
    with flightlog.open(url) as fl:
        assert fl.store.schema_version() == 1
        _check_old_records_read_back(fl.store)
        assert [a["status"] for a in fl.get_metadata("old-run")["attempts"]] == ["FAILED"]
        with pytest.raises(SchemaVersionError, match=r"version 1 .*readonly"):
            fl.store.create_run(make_run("new-run"))
    assert _columns_sqlite(tmp_path / "old.db", "runs")[-1] == "cancel_requested"


# -- JSON files -----------------------------------------------------------------------------------
def _v1_files(root: Path) -> str:
    """A files store as version 1 wrote it: no history, last-seen time or constants."""
    url = f"file://{root}?fsync=false"
    store = open_store(url)
    store.create_run(make_run("old-run", resumes=1))
    store.record_task(TaskRecord("t" * 32, "add"))
    store.close()
    (root / "flightlog" / "store.json").write_text(
        json.dumps({"schema_version": 1, "layout": "bandsaw"})
    )
    info_path = root / "runs" / "old-run" / "run-info.json"
    info = json.loads(info_path.read_text())
    for key in ("history", "last_seen"):
        del info["flightlog"]["record"][key]
    info_path.write_text(json.dumps(info))
    task_path = root / "tasks" / ("t" * 32) / "task-info.json"
    task = json.loads(task_path.read_text())
    del task["flightlog"]["task"]["constants"]
    task_path.write_text(json.dumps(task))
    return url


def test_version_1_files_store_is_migrated_in_place(tmp_path: Path) -> None:
    url = _v1_files(tmp_path / "files")
    with closing(open_store(url)) as store:
        assert store.schema_version() == SCHEMA_VERSION
        run = store.get_run("old-run")
        assert run is not None and run.history == [] and run.last_seen is None
        assert [attempt.number for attempt in run.attempt_records()] == [2]
        task = store.get_task("t" * 32)
        assert task is not None and task.constants == {}
        first = RunAttempt(2, 1.0, 2.0, Status.FAILED, "host-a", 4242)
        store.finish_run("old-run", status=Status.FAILED, end_time=2.0)
        claimed = store.restart_run(
            "old-run",
            expected_resumes=1,
            owner=Owner("new-host", 7),
            start_time=3.0,
            lease_expires=None,
            history=[first],
        )
        assert claimed.history == [first]
    meta = json.loads((tmp_path / "files" / "flightlog" / "store.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION and meta["layout"] == "bandsaw"


def test_version_1_files_store_that_cannot_be_upgraded_is_read_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _v1_files(tmp_path / "files")
    original = Writes.file

    def refuse(self: Writes, path: str, data: bytes, **options: Any) -> bool:
        if path.endswith("store.json") and options.get("replace", True):
            raise PermissionError(13, "Permission denied", path)
        return original(self, path, data, **options)

    monkeypatch.setattr(Writes, "file", refuse)
    with closing(open_store(url)) as store:
        assert store.schema_version() == 1
        run = store.get_run("old-run")
        assert run is not None and run.history == []
        with pytest.raises(SchemaVersionError, match=r"version 1 .*Permission denied"):
            store.create_run(make_run("new-run"))


# -- PostgreSQL ----------------------------------------------------------------------------------
@pytest.fixture
def v1_postgres(postgres_schemas: Schemas) -> Iterator[tuple[str, str]]:
    """(schema, url) of a schema holding a version-1 store."""
    name, url = postgres_schemas.fresh()
    with psycopg.connect(postgres_schemas.base_url, autocommit=True) as admin:
        admin.execute(f"SET search_path = {name}")
        with admin.transaction():
            for statement in postgres_statements(V1_SCHEMA):
                admin.execute(statement)
            for sql, params in INSERTS:
                admin.execute(sql.replace("?", "%s"), params)
            # seq is an identity column: as version 1 left it after inserting run 1.
            admin.execute("SELECT setval(pg_get_serial_sequence('runs', 'seq'), 1)")
    yield name, url


def _columns_postgres(url: str, table: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()
    return [row[0] for row in rows]


def test_version_1_postgres_schema_is_migrated_in_place(
    v1_postgres: tuple[str, str], postgres_url: str
) -> None:
    url = v1_postgres[1]
    store = open_store(url)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        _check_old_records_read_back(store)
        _check_new_records_are_written(store)
    finally:
        store.close()
    open_store(postgres_url).close()  # a new store, for its columns
    for table in ("runs", "tasks", "steps"):
        assert _columns_postgres(url, table) == _columns_postgres(postgres_url, table), table
    with flightlog.open(url) as fl:
        assert fl.get_metadata("old-run")["created_time"] == 100.0


def test_many_openers_of_a_version_1_postgres_schema_migrate_it_once(
    v1_postgres: tuple[str, str],
) -> None:
    url = v1_postgres[1]
    assert _at_once(8, lambda: _open_and_version(url)) == [SCHEMA_VERSION] * 8
    with closing(open_store(url)) as store:
        _check_old_records_read_back(store)


def test_version_1_postgres_schema_without_the_right_to_alter_it_is_read_not_written(
    v1_postgres: tuple[str, str], postgres_schemas: Schemas
) -> None:
    name, url = v1_postgres
    role = f"reader_{name}"
    with psycopg.connect(postgres_schemas.base_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT USAGE ON SCHEMA {name} TO {role}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {name} TO {role}")
    try:
        parts = urlsplit(url)
        reader_url = urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[-1]}"))
        with closing(open_store(reader_url)) as store:
            assert store.schema_version() == 1
            _check_old_records_read_back(store)
            with pytest.raises(
                SchemaVersionError, match=r"version 1 .*must be owner of table runs"
            ):
                store.create_run(make_run("new-run"))
    finally:
        with psycopg.connect(postgres_schemas.base_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
    assert _columns_postgres(url, "runs")[-1] == "cancel_requested"
