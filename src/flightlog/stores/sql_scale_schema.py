"""What the SQL stores add to schema version 2 for questions at scale and large values.

``step_counts``
    per finished run, how many of its steps have each status: written when the run finishes
    (:meth:`~flightlog.stores.sql_selection.SQLSelection.finish_run`), not on every step, so
    the step commit costs what it did. ``runs.step_count`` holds the run's total; it is NULL
    while the run's counts are not kept (a run that has not finished, or was resumed), and
    then the steps are counted where they lie.
``blob_chunks``
    the bytes of a blob written in parts (large values, see :mod:`flightlog.large_values`):
    ``(sha256, part)`` in order; the blob's ``blobs`` row (its size, and empty ``data``) is
    written last, in the same transaction, so a blob is either whole or absent.
``runs_created``
    an index on ``runs.created_time`` for questions by date.

They are added, when missing, to a store being opened for writing, in one transaction under
the store's schema lock; a store written before keeps working (its finished runs' counts are
filled in then). They are idempotent DDL in SQLite's words; PostgreSQL translates them as it
does the rest of the schema.
"""

from __future__ import annotations

TABLES = """
CREATE TABLE IF NOT EXISTS step_counts (
    run_seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (run_seq, status)
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_time);
CREATE TABLE IF NOT EXISTS blob_chunks (
    sha256 TEXT NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sha256, part)
)
"""

ADDED_COLUMN = ("runs", "step_count", "INTEGER")

FINISHED = "('SUCCESSFUL', 'FAILED', 'CANCELED')"

# The counts of runs that finished before the store had them.
BACKFILL = (
    "INSERT INTO step_counts (run_seq, status, count)"
    " SELECT runs.seq, steps.status, count(*) FROM runs JOIN steps"
    " ON steps.id BETWEEN runs.seq * 4294967296 AND runs.seq * 4294967296 + 4294967295"
    f" WHERE runs.status IN {FINISHED} AND runs.step_count IS NULL"
    " GROUP BY runs.seq, steps.status",
    "UPDATE runs SET step_count = (SELECT coalesce(sum(count), 0) FROM step_counts"
    f" WHERE step_counts.run_seq = runs.seq) WHERE status IN {FINISHED} AND step_count IS NULL",
)

# The table made last: when it exists, so does everything else here.
MARKER = "blob_chunks"


def statements() -> list[str]:
    """The additions, in SQLite's words, without the added column and the backfill."""
    return [statement.strip() for statement in TABLES.split(";") if statement.strip()]
