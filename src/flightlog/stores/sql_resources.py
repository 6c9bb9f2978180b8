"""The resource methods of the shared SQL layer (``SQLStore`` inherits them).

Table ``resources`` (schema version 1), one row per ``(collection, ident)``: the resource's
current state, which is also its latest computation. ``status`` is "unavailable", "pending",
"completed" or "error"; ``attempt`` counts the computations claimed (the compare-and-set token
of the claim); ``arguments`` and ``result`` are flightlog's codec text; ``error`` is
``{"type", "message", "traceback"}``; ``owner`` is the claiming process
(``{"host", "pid", "process_start", "boot_id"}``) with its ``lease_expires``; ``history`` is a
JSON list of the earlier computations (attempts, as in ``steps.attempts``). Times are Unix epoch
seconds. An index on ``(collection, status)`` serves counts and listings by status.
Schema version 4 added ``run_id`` and ``position``: the run (and its step) that claimed the
latest computation, NULL outside any run (and for what was computed before), with an index.

Table ``resource_uses`` (schema version 4), one row per ``(run_id, collection, ident)``: a run
that fetched the resource (``position``: the fetching step's, NULL for the run's own body),
written before the fetch reads the record. Deleting a run deletes its uses.

Every statement is portable between SQLite and PostgreSQL: the claim is one
``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE`` (or an ``UPDATE ... WHERE attempt = ?``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..model import (
    Attempt,
    ErrorInfo,
    Owner,
    ResourceCount,
    ResourceRecord,
    ResourceStatus,
    ResourceUse,
)

RESOURCE_COLUMNS = (
    "collection, ident, status, attempt, task_id, arguments, result, error, start_time,"
    " end_time, owner, lease_expires, created_time, history, run_id, position"
)
# The same, from a store still at schema version 3 (read where it could not be upgraded).
RESOURCE_COLUMNS_V3 = RESOURCE_COLUMNS.replace("run_id, position", "NULL, NULL")
_CLAIM_SET = (
    "status = 'pending', attempt = ?, task_id = ?, arguments = ?, result = NULL, error = NULL,"
    " start_time = ?, end_time = NULL, owner = ?, lease_expires = ?, history = ?, run_id = ?,"
    " position = ?"
)
_INSERT_CLAIM = (
    f"INSERT INTO resources ({RESOURCE_COLUMNS})"
    " VALUES (?, ?, 'pending', ?, ?, ?, NULL, NULL, ?, NULL, ?, ?, ?, ?, ?, ?)"
)
CLAIM_ABSENT = _INSERT_CLAIM + " ON CONFLICT (collection, ident) DO NOTHING"
CLAIM_NEW = (
    _INSERT_CLAIM + " ON CONFLICT (collection, ident) DO UPDATE SET status = 'pending',"
    " attempt = excluded.attempt, task_id = excluded.task_id, arguments = excluded.arguments,"
    " result = NULL, error = NULL, start_time = excluded.start_time, end_time = NULL,"
    " owner = excluded.owner, lease_expires = excluded.lease_expires, history = excluded.history,"
    " run_id = excluded.run_id, position = excluded.position WHERE resources.attempt = 0"
)
CLAIM_AGAIN = (
    f"UPDATE resources SET {_CLAIM_SET} WHERE collection = ? AND ident = ? AND attempt = ?"
)
FINISH = (
    "UPDATE resources SET status = ?, result = ?, error = ?, end_time = ?, owner = NULL,"
    " lease_expires = NULL WHERE collection = ? AND ident = ? AND attempt = ?"
)
PUT = (
    f"INSERT INTO resources ({RESOURCE_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (collection, ident) DO UPDATE SET status = excluded.status,"
    " attempt = excluded.attempt, task_id = excluded.task_id, arguments = excluded.arguments,"
    " result = excluded.result, error = excluded.error, start_time = excluded.start_time,"
    " end_time = excluded.end_time, owner = excluded.owner,"
    " lease_expires = excluded.lease_expires, created_time = excluded.created_time,"
    " history = excluded.history, run_id = excluded.run_id, position = excluded.position"
)
GET = "SELECT {columns} FROM resources WHERE collection = ? AND ident = ?"
USE = (
    "INSERT INTO resource_uses (run_id, collection, ident, position) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (run_id, collection, ident) DO NOTHING"
)
DECLARE = (
    "INSERT INTO resources (collection, ident, status, attempt, created_time)"
    " VALUES (?, ?, 'unavailable', 0, ?) ON CONFLICT (collection, ident) DO NOTHING"
)
# Every collection name, one index probe each (a loose index scan; no full scan).
COLLECTIONS = (
    "WITH RECURSIVE names(name) AS ("
    " SELECT min(collection) FROM resources"
    " UNION ALL SELECT (SELECT min(collection) FROM resources WHERE collection > names.name)"
    " FROM names WHERE names.name IS NOT NULL)"
    " SELECT name FROM names WHERE name IS NOT NULL"
)


_CHUNK = 500  # identifiers per IN (...) list


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in parts of at most 500 (one ``IN (...)`` list each)."""
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def marks(count: int) -> str:
    """``count`` parameter marks, comma-separated."""
    return ", ".join("?" * count)


# Members by value: ResourceStatus(text) goes through the enum metaclass (slow), and every
# fetch builds a record.
_STATUSES = {status.value: status for status in ResourceStatus}


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _history_text(history: list[Attempt]) -> str | None:
    return _text([attempt.to_dict() for attempt in history]) if history else None


_last_owner: tuple[Owner | None, str | None] = (None, None)


def _owner_text(owner: Owner | None) -> str | None:
    global _last_owner
    if owner is None:
        return None
    known, text = _last_owner  # a process claims as the same owner object each time
    if known is not owner or text is None:
        text = _text(owner.to_dict())
        _last_owner = (owner, text)
    return text


def _owner(text: str | None) -> Owner | None:
    return None if text is None else Owner.from_dict(json.loads(text))


def _error_text(error: ErrorInfo | None) -> str | None:
    return None if error is None else _text(error.to_dict())


def finish_params(record: ResourceRecord) -> tuple[Any, ...]:
    """The parameters of FINISH for a record."""
    return (
        record.status._value_,  # not .value: a slow descriptor on Python 3.11
        record.result,
        _error_text(record.error),
        record.end_time,
        record.collection,
        record.ident,
        record.attempt,
    )


def resource_from_row(row: Sequence[Any]) -> ResourceRecord:
    history = row[13]
    return ResourceRecord(
        collection=row[0],
        ident=row[1],
        status=_STATUSES.get(row[2]) or ResourceStatus(row[2]),  # unknown: its ValueError
        attempt=row[3],
        task_id=row[4],
        arguments=row[5],
        result=row[6],
        error=None if row[7] is None else ErrorInfo.from_dict(json.loads(row[7])),
        start_time=row[8],
        end_time=row[9],
        owner=_owner(row[10]),
        lease_expires=row[11],
        created_time=row[12],
        history=[]
        if history is None
        else [Attempt.from_dict(item) for item in json.loads(history)],
        run_id=row[14],
        position=row[15],
    )


class SQLResources:
    """Resource storage in SQL; needs the dialect hooks of ``SQLStore``."""

    _read_only_reason: str | None  # set by SQLStore: why this store may not be written
    _resource_columns = RESOURCE_COLUMNS  # RESOURCE_COLUMNS_V3 on a store read as version 3
    _resource_get = GET.format(columns=RESOURCE_COLUMNS)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Execute one statement per parameter row, all in one transaction; return the number
        of rows changed. Dialects override this; the default is one transaction per row."""
        return sum(self._write(sql, row) for row in rows)

    def _writable(self) -> None:
        raise NotImplementedError

    def data_directory(self) -> str | None:
        return None

    def get_resource(self, collection: str, ident: str) -> ResourceRecord | None:
        rows = self._query(self._resource_get, (collection, ident))
        return resource_from_row(rows[0]) if rows else None

    def claim_resource(self, record: ResourceRecord, *, expected_attempt: int | None) -> bool:
        if self._read_only_reason is not None:
            self._writable()
        owner = _owner_text(record.owner)
        history = _history_text(record.history)
        if expected_attempt is None or expected_attempt == 0:
            params: tuple[Any, ...] = (
                record.collection,
                record.ident,
                1,
                record.task_id,
                record.arguments,
                record.start_time,
                owner,
                record.lease_expires,
                record.created_time,
                history,
                record.run_id,
                record.position,
            )
            return self._write(CLAIM_NEW if expected_attempt == 0 else CLAIM_ABSENT, params) > 0
        params = (
            expected_attempt + 1,
            record.task_id,
            record.arguments,
            record.start_time,
            owner,
            record.lease_expires,
            history,
            record.run_id,
            record.position,
            record.collection,
            record.ident,
            expected_attempt,
        )
        return self._write(CLAIM_AGAIN, params) > 0

    def finish_resource(self, record: ResourceRecord) -> bool:
        if self._read_only_reason is not None:
            self._writable()
        return self._write(FINISH, finish_params(record)) > 0

    def put_resource(self, record: ResourceRecord) -> None:
        self._writable()
        params = (
            record.collection,
            record.ident,
            record.status._value_,
            record.attempt,
            record.task_id,
            record.arguments,
            record.result,
            _error_text(record.error),
            record.start_time,
            record.end_time,
            _owner_text(record.owner),
            record.lease_expires,
            record.created_time,
            _history_text(record.history),
            record.run_id,
            record.position,
        )
        self._write(PUT, params)

    def declare_resources(self, collection: str, idents: Sequence[str], created_time: float) -> int:
        self._writable()
        if not idents:
            return 0
        return self._write_many(DECLARE, [(collection, ident, created_time) for ident in idents])

    def list_resources(
        self, collection: str, *, status: ResourceStatus | None = None
    ) -> list[ResourceRecord]:
        if status is None:
            rows = self._query(
                f"SELECT {self._resource_columns} FROM resources WHERE collection = ?"
                " ORDER BY ident",
                (collection,),
            )
        else:
            # Through the status index first: the planner would otherwise walk the collection.
            rows = self._query(
                f"SELECT {self._resource_columns} FROM resources WHERE collection = ? AND ident IN"
                " (SELECT ident FROM resources WHERE collection = ? AND status = ?)"
                " ORDER BY ident",
                (collection, collection, status.value),
            )
        return [resource_from_row(row) for row in rows]

    def resource_identifiers(self, collection: str, status: ResourceStatus) -> list[str]:
        rows = self._query(
            "SELECT ident FROM resources WHERE collection = ? AND status = ? ORDER BY ident",
            (collection, status.value),
        )
        return [row[0] for row in rows]

    def count_resources(
        self, collection: str | None = None, *, times: bool = False
    ) -> list[ResourceCount]:
        names = [row[0] for row in self._query(COLLECTIONS)] if collection is None else [collection]
        found: list[ResourceCount] = []
        for name in names:
            if times:  # reads the rows: slower than the counts alone, which need the index only
                rows = self._query(
                    "SELECT status, count(*), min(created_time), min(start_time), max(end_time)"
                    " FROM resources WHERE collection = ? GROUP BY status",
                    (name,),
                )
                found.extend(
                    ResourceCount(name, ResourceStatus(status), int(count), created, start, end)
                    for status, count, created, start, end in rows
                )
                continue
            for status in ResourceStatus:  # one index range each: faster than GROUP BY
                rows = self._query(
                    "SELECT count(*) FROM resources WHERE collection = ? AND status = ?",
                    (name, status.value),
                )
                if rows[0][0]:
                    found.append(ResourceCount(name, status, int(rows[0][0])))
        return found

    def renew_resource_leases(
        self, claims: Sequence[tuple[str, str, int]], lease_expires: float
    ) -> None:
        self._writable()
        self._write_many(
            "UPDATE resources SET lease_expires = ? WHERE collection = ? AND ident = ?"
            " AND attempt = ? AND status = 'pending'",
            [(lease_expires, collection, ident, attempt) for collection, ident, attempt in claims],
        )

    # -- which runs computed and used which resources (schema version 4) ---------------------
    def record_resource_uses(self, uses: Sequence[ResourceUse]) -> None:
        self._writable()
        if uses:
            self._write_many(
                USE, [(use.run_id, use.collection, use.ident, use.position) for use in uses]
            )

    def resource_uses(self, run_ids: Sequence[str]) -> list[ResourceUse]:
        if self._resource_columns is RESOURCE_COLUMNS_V3:
            return []  # a store read as version 3: no run is linked to a resource
        found: list[ResourceUse] = []
        for part in chunks(list(dict.fromkeys(run_ids))):
            rows = self._query(
                "SELECT run_id, collection, ident, position FROM resource_uses"
                f" WHERE run_id IN ({marks(len(part))})",
                tuple(part),
            )
            found.extend(ResourceUse(*row) for row in rows)
        return found

    def resource_users(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
        if self._resource_columns is RESOURCE_COLUMNS_V3:
            return {}
        found: dict[tuple[str, str], set[str]] = {}
        for key in dict.fromkeys(keys):
            rows = self._query(
                "SELECT run_id FROM resource_uses WHERE collection = ? AND ident = ?", key
            )
            if rows:
                found[key] = {row[0] for row in rows}
        return found

    def resources_computed_by(self, run_ids: Sequence[str]) -> list[ResourceRecord]:
        if self._resource_columns is RESOURCE_COLUMNS_V3:
            return []  # a store read as version 3: no run is linked to a resource
        found: list[ResourceRecord] = []
        for part in chunks(list(dict.fromkeys(run_ids))):
            rows = self._query(
                f"SELECT {self._resource_columns} FROM resources"
                f" WHERE run_id IN ({marks(len(part))})",
                tuple(part),
            )
            found.extend(resource_from_row(row) for row in rows)
        return found

    def delete_resource(self, collection: str, ident: str, *, attempt: int) -> bool:
        self._writable()
        deleted = self._write(
            "DELETE FROM resources WHERE collection = ? AND ident = ? AND attempt = ?",
            (collection, ident, attempt),
        )
        return deleted > 0
