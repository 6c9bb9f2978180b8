"""The deleting methods of the shared SQL: runs, blobs and cache entries.

A run is deleted in one transaction that first marks its row (status ``DELETING``, seen by no
other transaction) only while the compare-and-set holds, and then deletes what the mark
names: its steps, metric chunks, attachment references and row. So the conditions are judged
once, and the deletion is all or nothing in either dialect. When the run had the highest
``seq``, the ``deleted_seq`` setting in ``flightlog_meta`` keeps it from being given to the
next run (SQLite would reuse it; a process that still knew the deleted run by its ``seq``
would then read another run's records as its).

Blobs carry the time they were last put in ``blob_puts`` (stamped by the database's clock).
``put_blob`` writes that row first and the blob second; deleting a blob deletes its
``blob_puts`` row first (only if old enough and unreferenced) and the blob only when that
row is gone: the two row locks order a concurrent put and delete on PostgreSQL, and SQLite
serialises writers anyway.

A cleared cache entry is a step whose ``cache`` is 2 instead of 1: it reads as cache-enabled,
and the partial index that serves cache lookups (``cache = 1``) leaves it out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import NotFoundError
from ..model import Status
from .files_io import check_digest
from .sql_resources import chunks, marks
from .sql_tracking import Statements

POSITION_BITS = 32
POSITION_MASK = (1 << POSITION_BITS) - 1

BLOB_PUT = (
    "INSERT INTO blob_puts (sha256, put_time) VALUES (?, {now})"
    " ON CONFLICT (sha256) DO UPDATE SET put_time = excluded.put_time"
)
BLOB_INSERT = (
    "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING"
)
_UNREFERENCED = "NOT EXISTS (SELECT 1 FROM attachments WHERE attachments.sha256 = {table}.sha256)"


class SQLDeleting:
    """Needs the dialect hooks of :class:`~flightlog.stores.sql.SQLStore`; ``NOW_SQL`` is
    the database's clock in epoch seconds, as an SQL expression."""

    NOW_SQL = "((julianday('now') - 2440587.5) * 86400.0)"
    # When a blob is kept (keep_blobs): never earlier than a moment read from the clock
    # before (the start of the run keeping it): SQLite's 'now' is cut to the millisecond, so
    # it is rounded up.
    STAMP_SQL = "((julianday('now') - 2440587.5) * 86400.0 + 0.0011)"
    _seqs: dict[str, int]

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def _write_batch(self, statements: Statements) -> None:
        raise NotImplementedError

    def _writable(self) -> None:
        raise NotImplementedError

    # -- runs ----------------------------------------------------------------------------------
    def delete_run(
        self,
        run_id: str,
        *,
        expected_status: Status,
        expected_resumes: int,
        force: bool = False,
    ) -> bool:
        self._writable()
        rows = self._query("SELECT seq FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"no run with id {run_id!r}")
        seq = int(rows[0][0])
        low, high = seq << POSITION_BITS, (seq << POSITION_BITS) | POSITION_MASK
        mark = "UPDATE runs SET status = 'DELETING' WHERE seq = ? AND status = ? AND resumes = ?"
        params: tuple[Any, ...] = (seq, expected_status.value, expected_resumes)
        if not force:
            mark += (
                " AND NOT EXISTS (SELECT 1 FROM steps WHERE steps.source_run = ?"
                " AND steps.origin = 'cached' AND (steps.id < ? OR steps.id > ?))"
            )
            params += (run_id, low, high)
        marked = "EXISTS (SELECT 1 FROM runs WHERE seq = ? AND status = 'DELETING')"
        statements: Statements = [
            (mark, [params]),
            (f"DELETE FROM steps WHERE id BETWEEN ? AND ? AND {marked}", [(low, high, seq)]),
            (f"DELETE FROM metrics WHERE run_seq = ? AND {marked}", [(seq, seq)]),
            (f"DELETE FROM attachments WHERE run_seq = ? AND {marked}", [(seq, seq)]),
            (f"DELETE FROM resource_uses WHERE run_id = ? AND {marked}", [(run_id, seq)]),
            (
                "INSERT INTO flightlog_meta (key, value) SELECT 'deleted_seq', CAST(? AS TEXT)"
                f" WHERE {marked} AND NOT EXISTS (SELECT 1 FROM runs WHERE seq > ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(str(seq), seq, seq)],
            ),
            ("DELETE FROM runs WHERE seq = ? AND status = 'DELETING'", [(seq,)]),
        ]
        self._write_batch(statements)
        deleted = not self._query("SELECT 1 FROM runs WHERE seq = ?", (seq,))
        if deleted:
            self._seqs.pop(run_id, None)
        return deleted

    def cache_dependents(self, run_ids: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for part in chunks(list(dict.fromkeys(run_ids))):
            rows = self._query(
                "SELECT DISTINCT steps.source_run, runs.run_id FROM steps"
                " JOIN runs ON runs.seq = steps.id / 4294967296"
                f" WHERE steps.origin = 'cached' AND steps.source_run IN ({marks(len(part))})",
                tuple(part),
            )
            for source, user in rows:
                if source != user:
                    found.setdefault(source, set()).add(user)
        return found

    # -- blobs ---------------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        self._writable()
        data = bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        self._write_batch(
            [
                (BLOB_PUT.format(now=self.NOW_SQL), [(digest,)]),
                (BLOB_INSERT, [(digest, len(data), data)]),
            ]
        )
        return digest

    def put_blob_stream(self, sha256: str, size: int, chunks: Iterable[bytes | memoryview]) -> bool:
        """Every put of a blob, whole or in pieces, records when it was last put (so gc
        leaves a blob that a live run is about to refer to again); then the pieces (see
        :class:`~flightlog.stores.streamed_blobs.SQLBlobs`)."""
        self._writable()
        self._write_batch([(BLOB_PUT.format(now=self.NOW_SQL), [(check_digest(sha256),)])])
        return bool(super().put_blob_stream(sha256, size, chunks))  # type: ignore[misc]

    def keep_blobs(self, digests: Sequence[str]) -> set[str]:
        """Stamped in ``blob_puts`` first, then looked for: a deletion that removed the
        ``blob_puts`` row before the stamp took the blob too (its transaction, in SQLite
        by serialisation, in PostgreSQL by the row's lock), one after it leaves the blob."""
        self._writable()
        wanted = [check_digest(digest) for digest in dict.fromkeys(digests)]
        if not wanted:
            return set()
        self._write_batch([(BLOB_PUT.format(now=self.STAMP_SQL), [(d,) for d in wanted])])
        found: set[str] = set()
        for part in chunks(wanted):
            rows = self._query(
                f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks(len(part))})", tuple(part)
            )
            found.update(str(row[0]) for row in rows)
        return set(wanted) - found

    def blob_users(self, digests: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for part in chunks(list(dict.fromkeys(digests))):
            rows = self._query(
                "SELECT DISTINCT attachments.sha256, runs.run_id FROM attachments"
                " JOIN runs ON runs.seq = attachments.run_seq"
                f" WHERE attachments.sha256 IN ({marks(len(part))})",
                tuple(part),
            )
            for digest, run_id in rows:
                found.setdefault(digest, set()).add(run_id)
        return found

    def _before(self, put_before: float | None) -> tuple[str, tuple[Any, ...]]:
        if put_before is None:
            return self.NOW_SQL, ()
        return "?", (put_before,)

    def unused_blobs(self, *, put_before: float | None = None) -> dict[str, int]:
        limit, params = self._before(put_before)
        rows = self._query(
            "SELECT sha256, size FROM blobs WHERE "
            + _UNREFERENCED.format(table="blobs")
            + " AND NOT EXISTS (SELECT 1 FROM blob_puts WHERE blob_puts.sha256 = blobs.sha256"
            f" AND blob_puts.put_time >= {limit})",
            params,
        )
        return {str(digest): int(size) for digest, size in rows}

    def delete_blobs(
        self, digests: Sequence[str], *, put_before: float | None = None
    ) -> dict[str, int]:
        self._writable()
        limit, params = self._before(put_before)
        deleted: dict[str, int] = {}
        for part in chunks(list(dict.fromkeys(digests))):
            part_marks = marks(len(part))
            sizes = dict(
                self._query(f"SELECT sha256, size FROM blobs WHERE sha256 IN ({part_marks})", part)
            )
            if not sizes:
                continue
            rows: list[Sequence[Any]] = [(digest, *params) for digest in sizes]
            self._write_batch(
                [
                    (
                        "DELETE FROM blob_puts WHERE sha256 = ? AND put_time < "
                        + limit
                        + " AND "
                        + _UNREFERENCED.format(table="blob_puts"),
                        rows,
                    ),
                    (
                        "DELETE FROM blobs WHERE sha256 = ? AND "
                        + _UNREFERENCED.format(table="blobs")
                        + " AND NOT EXISTS (SELECT 1 FROM blob_puts"
                        " WHERE blob_puts.sha256 = blobs.sha256)",
                        [(digest,) for digest in sizes],
                    ),
                    (  # the pieces of a streamed blob go with it (large values)
                        "DELETE FROM blob_chunks WHERE sha256 = ? AND NOT EXISTS"
                        " (SELECT 1 FROM blobs WHERE blobs.sha256 = blob_chunks.sha256)",
                        [(digest,) for digest in sizes],
                    ),
                ]
            )
            left = {
                row[0]
                for row in self._query(
                    f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks(len(sizes))})",
                    tuple(sizes),
                )
            }
            deleted.update(
                (digest, int(size)) for digest, size in sizes.items() if digest not in left
            )
        return deleted

    # -- the cache -----------------------------------------------------------------------------
    def clear_cache(self, task_id: str, execution_id: str | None = None) -> int:
        self._writable()
        sql = (
            "UPDATE steps SET cache = 2 WHERE task_id = ? AND cache = 1"
            " AND status = 'SUCCESSFUL' AND (origin IS NULL OR origin = 'replayed')"
        )
        params: tuple[Any, ...] = (task_id,)
        if execution_id is not None:
            sql += " AND execution_id = ?"
            params += (execution_id,)
        return self._write(sql, params)
