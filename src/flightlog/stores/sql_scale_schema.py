"""What schema version 3 adds to the SQL stores for questions at scale and large values.

``runs.step_count``, ``runs.step_counts``
    a finished run's number of steps, and how many have each status (JSON: ``{"SUCCESSFUL":
    120, "FAILED": 1}``), computed by the very statement that records the run's outcome
    (no other write, and nothing on a step's commit). NULL while the run's counts are not
    kept (a run going on, resumed, or canceled by another process while its owner lives):
    then its steps are counted where they lie, a key range of the steps table.
``blob_chunks``
    the bytes of a blob written in parts (large values, see :mod:`flightlog.large_values`):
    ``(sha256, part)`` in order; the blob's ``blobs`` row (its size, and empty ``data``) is
    written last, in the same transaction, so a blob is either whole or absent.
``runs_created``
    an index on ``runs.created_time`` for questions by date.

A new store has them; an older one gets them from the migration ladder's step from version 2
to 3 (``upgrade_2_to_3`` of :mod:`flightlog.stores.sqlite_schema` and
:mod:`flightlog.stores.postgres_schema`), which fills in the counts of the runs that finished
before (:func:`backfill`). A store opened without upgrading it (``upgrade=False``) has none
of them: its questions are answered where the steps lie. They are idempotent DDL in SQLite's
words; PostgreSQL translates them as it does the rest of the schema.
"""

from __future__ import annotations

TABLES = """
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_time);
CREATE TABLE IF NOT EXISTS blob_chunks (
    sha256 TEXT NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sha256, part)
)
"""

VERSION = 3  # the schema version that added what this module describes
ADDED_COLUMNS = (("runs", "step_count", "INTEGER"), ("runs", "step_counts", "TEXT"))

# The JSON object aggregate of each dialect, with ``{key}`` and ``{value}``.
SQLITE_OBJECT_AGG = "json_group_object({key}, {value})"
POSTGRES_OBJECT_AGG = "json_object_agg({key}, {value})::text"

FINISHED = "('SUCCESSFUL', 'FAILED', 'CANCELED')"

STEP_RANGE = "steps.id BETWEEN runs.seq * 4294967296 AND runs.seq * 4294967296 + 4294967295"


def kept_counts(object_agg: str) -> str:
    """The assignments that keep a finished run's counts (part of an UPDATE of ``runs``);
    ``object_agg`` is the dialect's JSON object aggregate, with ``{key}`` and ``{value}``."""
    pairs = object_agg.format(key="c.status", value="c.n")
    return (
        f", step_count = (SELECT count(*) FROM steps WHERE {STEP_RANGE})"
        f", step_counts = (SELECT coalesce({pairs}, '{{}}') FROM (SELECT steps.status AS status,"
        f" count(*) AS n FROM steps WHERE {STEP_RANGE} GROUP BY steps.status) AS c)"
    )


def backfill(object_agg: str) -> str:
    """The counts of the runs that finished before the store kept them."""
    return (
        f"UPDATE runs SET status = status{kept_counts(object_agg)}"
        f" WHERE status IN {FINISHED} AND step_counts IS NULL"
    )


# The table made last: when it exists, so does everything else here.
MARKER = "blob_chunks"


def statements() -> list[str]:
    """The additions, in SQLite's words, without the added column and the backfill."""
    return [statement.strip() for statement in TABLES.split(";") if statement.strip()]
