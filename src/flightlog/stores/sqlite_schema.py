"""The SQLite schema (version 5, described in :mod:`flightlog.stores.sql`), and its set-up: a
new store's tables, or the migration ladder that takes an older store up, one version at a
time (``LADDER``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from ..named_arguments import parameters_text
from . import sql_scale_schema as scale
from .base import SCHEMA_VERSION
from .sql_tracking import last_columns, unpack_chunk

SCHEMA = (
    """
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
    last_seen REAL,
    step_count INTEGER,
    step_counts TEXT,
    parameters TEXT
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
    run_id TEXT,
    position INTEGER,
    PRIMARY KEY (collection, ident)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resources_status ON resources (collection, status);
CREATE INDEX IF NOT EXISTS resources_run ON resources (run_id) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS resource_uses (
    run_id TEXT NOT NULL,
    collection TEXT NOT NULL,
    ident TEXT NOT NULL,
    position INTEGER,
    PRIMARY KEY (run_id, collection, ident)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resource_uses_resource ON resource_uses (collection, ident);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    run_seq INTEGER NOT NULL,
    position INTEGER,
    step_name TEXT,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    encoding TEXT NOT NULL,
    data BLOB NOT NULL,
    last_step INTEGER,
    last_value REAL
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
CREATE TABLE IF NOT EXISTS blob_puts (sha256 TEXT PRIMARY KEY, put_time REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attachments_blob ON attachments (sha256);
CREATE INDEX IF NOT EXISTS steps_source ON steps (source_run) WHERE origin = 'cached';
CREATE VIEW IF NOT EXISTS step_view AS
    SELECT runs.run_id AS run_id, steps.id & 4294967295 AS position, steps.*
    FROM steps JOIN runs ON runs.seq = steps.id >> 32;
"""
    + scale.TABLES  # version 3's tables for questions at scale and large values
)

# What each schema version added to the one before, as (table, column, type): migrating a
# store forward adds them, at the end of their tables, as a new store's tables have them.
ADDED_COLUMNS: dict[int, tuple[tuple[str, str, str], ...]] = {
    2: (("runs", "history", "TEXT"), ("runs", "last_seen", "REAL"), ("tasks", "constants", "TEXT")),
    3: scale.ADDED_COLUMNS,
    4: (("resources", "run_id", "TEXT"), ("resources", "position", "INTEGER")),
    5: (
        ("runs", "parameters", "TEXT"),
        ("metrics", "last_step", "INTEGER"),
        ("metrics", "last_value", "REAL"),
    ),
}


def _add_columns(connection: sqlite3.Connection, version: int) -> None:
    for table, column, kind in ADDED_COLUMNS[version]:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def upgrade_1_to_2(connection: sqlite3.Connection) -> None:
    """Version 2: a run's history of attempts and last-seen time, a task's constants."""
    _add_columns(connection, 2)


# Version 3's additions for deleting runs: the time each blob was last put (those put before
# count as put at time 0, so gc may take them at once when nothing names them), an index of
# attachment references by blob, and one of cached steps by the run they were served from.
VERSION_3_DELETING = """
CREATE TABLE IF NOT EXISTS blob_puts (sha256 TEXT PRIMARY KEY, put_time REAL NOT NULL);
INSERT INTO blob_puts (sha256, put_time) SELECT sha256, 0 FROM blobs WHERE true
    ON CONFLICT (sha256) DO NOTHING;
CREATE INDEX IF NOT EXISTS attachments_blob ON attachments (sha256);
CREATE INDEX IF NOT EXISTS steps_source ON steps (source_run) WHERE origin = 'cached'
"""


def version_3_statements() -> list[str]:
    """What version 3 adds to a version 2 store (after its columns, before the backfill of
    step counts), in SQLite's words, in order."""
    deleting = [part.strip() for part in VERSION_3_DELETING.split(";") if part.strip()]
    return deleting + scale.statements()


def upgrade_2_to_3(connection: sqlite3.Connection) -> None:
    """Version 3: blob put times and the indexes that deleting runs needs; finished runs'
    step counts, blob pieces, runs by creation time (sql_scale_schema)."""
    _add_columns(connection, 3)
    for statement in version_3_statements():
        connection.execute(statement)
    connection.execute(scale.backfill(scale.SQLITE_OBJECT_AGG))


def upgrade_3_to_4(connection: sqlite3.Connection) -> None:
    """Version 4: which run computed each resource (``resources.run_id``, ``position``; NULL
    for those computed before, which no run's deletion takes) and which runs used it
    (``resource_uses``, made by the schema's own statements)."""
    _add_columns(connection, 4)


BACKFILL_BATCH = 2000  # rows looked at a time
BACKFILL_BYTES = 16 << 20  # what is read at once (a row larger than this is read alone)


def _backfill(
    connection: Any,
    mark: str,
    sizes: str,
    read: str,
    update: str,
    derive: Callable[[tuple[Any, ...]], tuple[Any, ...] | None],
) -> None:
    """Fill columns of every row, reading at most about BACKFILL_BYTES at once: ``sizes``
    selects (key, size) of the rows whose key is above a mark, ``read`` the rows (key first)
    whose key is between two; ``derive`` gives a row's new values (None: none), which
    ``update`` writes before the key. Works on a SQLite and a PostgreSQL connection alike:
    ``?`` becomes ``mark``, the dialect's placeholder."""
    sizes = sizes.replace("?", mark) + f" ORDER BY 1 LIMIT {BACKFILL_BATCH}"
    read, update = read.replace("?", mark), update.replace("?", mark)
    last = -1
    while keyed := connection.execute(sizes, (last,)).fetchall():
        start = 0
        while start < len(keyed):
            end, total = start + 1, keyed[start][1] or 0
            while end < len(keyed) and total + (keyed[end][1] or 0) <= BACKFILL_BYTES:
                total += keyed[end][1] or 0
                end += 1
            rows = connection.execute(read, (keyed[start][0], keyed[end - 1][0])).fetchall()
            changes = [(*found, row[0]) for row in rows if (found := derive(row)) is not None]
            if changes:
                connection.cursor().executemany(update, changes)
            start = end
        last = keyed[-1][0]


def _parameters_of(row: tuple[Any, ...]) -> tuple[str] | None:
    _, arguments, environment = row
    try:
        found = json.loads(environment) if environment else {}
    except ValueError:
        found = {}
    text = parameters_text(arguments, found if isinstance(found, dict) else {})
    return None if text is None else (text,)


def backfill_parameters(connection: Any, mark: str = "?") -> None:
    """Every run's parameters by name (``runs.parameters``, see
    :func:`flightlog.named_arguments.parameters_text`), derived from its arguments and
    environment."""
    _backfill(
        connection,
        mark,
        "SELECT seq, length(arguments) + length(environment) FROM runs"
        " WHERE seq > ? AND arguments IS NOT NULL",
        "SELECT seq, arguments, environment FROM runs"
        " WHERE seq BETWEEN ? AND ? AND arguments IS NOT NULL",
        "UPDATE runs SET parameters = ? WHERE seq = ?",
        _parameters_of,
    )


def backfill_last_points(connection: Any, mark: str = "?") -> None:
    """Every metric chunk's last point (``metrics.last_step``, ``last_value``, see
    :func:`flightlog.stores.sql_tracking.last_columns`), read from its packed points."""
    _backfill(
        connection,
        mark,
        "SELECT id, length(data) FROM metrics WHERE id > ?",
        "SELECT id, name, count, encoding, data FROM metrics WHERE id BETWEEN ? AND ?",
        "UPDATE metrics SET last_step = ?, last_value = ? WHERE id = ?",
        lambda row: last_columns(unpack_chunk(row[1], None, None, row[2], row[3], row[4])),
    )


def upgrade_4_to_5(connection: sqlite3.Connection) -> None:
    """Version 5: every run's parameters by name (``runs.parameters``), kept beside its
    arguments, and every metric chunk's last point, for questions by parameter value and by
    metric; derived here for the runs and chunks there are."""
    _add_columns(connection, 5)
    backfill_parameters(connection)
    backfill_last_points(connection)


# The migration ladder: LADDER[n] takes a store of version n to version n + 1, inside the
# transaction of the caller (which holds the write lock). Each step adds what its version
# added; the schema's own statements (CREATE ... IF NOT EXISTS) run after the last one.
LADDER: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: upgrade_1_to_2,
    2: upgrade_2_to_3,
    3: upgrade_3_to_4,
    4: upgrade_4_to_5,
}


def climb(connection: sqlite3.Connection, found: int) -> None:
    """Take a store of version ``found`` up to SCHEMA_VERSION, one step at a time."""
    for version in range(found, SCHEMA_VERSION):
        LADDER[version](connection)
    for statement in SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)


def stored_version(connection: sqlite3.Connection) -> int | None:
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
