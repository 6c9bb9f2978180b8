"""The SQL shared by every relational store; SQLite and PostgreSQL are dialects of it.

Schema (version 4). Users may query it with any SQL tool:

``runs``
    one row per run. ``seq`` is an integer key; ``run_id`` the public id. JSON text columns:
    ``arguments`` and ``output`` (flightlog's codec), ``user_metadata``, ``error``
    (``{"type", "message", "traceback"}``), ``environment``, ``owner``, and ``history``: the
    run's earlier attempts, oldest first (``[{"attempt_number", "start_time", "end_time",
    "duration", "status", "host", "pid"}]``, NULL before the first resume); ``start_time``,
    ``end_time``, ``status`` and ``owner`` are the latest attempt's, ``created_time`` the
    first start. ``last_seen`` is when the owner last renewed its lease (``lease_expires``).
``tasks``
    one row per task version (``task_id``): name, version, options, metadata, the digests
    of the code its identity covers (``components``) and, as JSON, a short text of each
    module-level constant among them (``constants``).
``steps``
    one row per step. ``id`` is ``run seq * 2**32 + position`` so that a run's steps are one
    key range and appending a step touches no secondary index (each index costs every commit).
    ``attempts`` is JSON, or NULL when the step had exactly one attempt whose times, status and
    error are the step's own. ``origin`` is NULL for executed steps, else "replayed"/"cached";
    ``cache`` is 1 for calls of cache-enabled tasks (a partial index over the ones that
    computed their result, executed or replayed, serves cache lookups; steps served from
    cache add nothing to it);
    ``reason`` says why the step executed when that was known at the time (resume, recompute).
``step_view``
    the steps with their ``run_id`` and ``position`` spelled out, for people.
``resources``, ``resource_uses``
    one row per resource (collection, identifier), and one per run that used a resource: see
    :mod:`flightlog.stores.sql_resources`.
``metrics``, ``attachments``, ``blobs``
    metric series in chunks, attached files and their bytes by sha256: see
    :mod:`flightlog.stores.sql_tracking`.
``flightlog_meta``
    ``schema_version`` and other settings.
``runs.step_count``, ``runs.step_counts``, ``blob_chunks``, index ``runs_created``
    a finished run's step counts, the pieces of large blobs, runs by creation time: see
    :mod:`flightlog.stores.sql_scale_schema`.

Opening a store of an older version migrates it forward in place (each dialect under its
lock, so that many processes may open it at once): version 2 added ``runs.history``,
``runs.last_seen`` and ``tasks.constants`` (see ``ADDED_COLUMNS`` in
:mod:`flightlog.stores.sqlite`); version 3 what :mod:`flightlog.stores.sql_scale_schema`
says; version 4 ``resources.run_id`` and ``resources.position`` and the table
``resource_uses``. A store that cannot be upgraded where it is opened is read
(what it lacks reads as empty) and refuses writes; so is one written by a newer flightlog.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ConflictError, NotFoundError, SchemaVersionError
from ..model import (
    AttachmentRecord,
    Attempt,
    ErrorInfo,
    MetricChunk,
    Origin,
    Owner,
    ResourceRecord,
    Run,
    RunAttempt,
    Status,
    Step,
    StepOutline,
    TaskRecord,
)
from ..named_arguments import parameters_text
from .base import SCHEMA_VERSION, FinishedStep
from .sql_deleting import SQLDeleting
from .sql_ordering import SQLOrdering
from .sql_resources import FINISH, GET, RESOURCE_COLUMNS_V3, SQLResources, finish_params
from .sql_selection import SQLSelection
from .sql_tracking import SQLTracking, Statements
from .streamed_blobs import SQLBlobs

POSITION_BITS = 32
POSITION_MASK = (1 << POSITION_BITS) - 1
# Enum members by value, and the one most compared: Status(text) and Origin.EXECUTED are slow
# on Python 3.11, and every step commits and every listed step is built through here.
_STATUSES = {status.value: status for status in Status}
_ORIGINS = {origin.value: origin for origin in Origin}
_EXECUTED = Origin.EXECUTED
_FINISHED = frozenset({Status.SUCCESSFUL, Status.FAILED, Status.CANCELED})

RUN_COLUMNS = (
    "seq, run_id, workflow, status, tag, arguments, user_metadata, created_time, start_time, "
    "end_time, output, error, environment, owner, lease_expires, resumes, cancel_requested, "
    "history, last_seen, parameters"
)
RUN_COUNT = 20  # where a run's step count stands, after RUN_COLUMNS
TASK_COLUMNS = "task_id, name, version, options, user_metadata, components, constants"
# The same, from a store still at schema version 1 (one that could not be upgraded where it
# was opened): the columns that version 2 added read as NULL.
RUN_COLUMNS_V1 = RUN_COLUMNS.replace("history, last_seen, parameters", "NULL, NULL, NULL")
# From a store before version 5 (not upgraded where it was opened): no parameters by name.
RUN_COLUMNS_V4 = RUN_COLUMNS.replace("parameters", "NULL")
TASK_COLUMNS_V1 = TASK_COLUMNS.replace("constants", "NULL")
STEP_COLUMNS = (
    "steps.id, steps.name, steps.task_id, steps.execution_id, steps.parent, steps.status, "
    "steps.start_time, steps.end_time, steps.attempts, steps.arguments, steps.result, "
    "steps.error, steps.user_metadata, steps.options, steps.log, steps.origin, "
    "steps.source_run, steps.cache, tasks.name, steps.reason"
)
STEP_COLUMNS_ALONE = STEP_COLUMNS.replace("tasks.name", "NULL").replace("steps.", "")
STEP_INSERT = (
    "INSERT INTO steps (id, name, task_id, execution_id, parent, status, start_time, end_time,"
    " attempts, arguments, result, error, user_metadata, options, log, origin, source_run, cache,"
    " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
STEP_UPSERT = STEP_INSERT + (
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, task_id = excluded.task_id,"
    " execution_id = excluded.execution_id, parent = excluded.parent, status = excluded.status,"
    " start_time = excluded.start_time, end_time = excluded.end_time,"
    " attempts = excluded.attempts, arguments = excluded.arguments, result = excluded.result,"
    " error = excluded.error, user_metadata = excluded.user_metadata,"
    " options = excluded.options, log = excluded.log, origin = excluded.origin,"
    " source_run = excluded.source_run, cache = excluded.cache, reason = excluded.reason"
)
STEP_START = STEP_INSERT + " ON CONFLICT (id) DO NOTHING"
# A running step's output so far (see Store.append_step_log); not run again after a dropped
# connection: it would append twice.
STEP_LOG_APPEND = (
    "UPDATE steps SET log = COALESCE(log, '') || ? WHERE id = ? AND status = 'RUNNING'"
)
# Appended to a compare-and-set statement that recognises its own earlier run, so that a
# dialect may run it again after a dropped connection (see PostgresStore) with the same outcome.
REPEATABLE = " /* repeatable */"
RUN_INSERT = (
    "INSERT INTO runs (run_id, workflow, status, tag, arguments, user_metadata, created_time,"
    " start_time, end_time, output, error, environment, owner, lease_expires, resumes,"
    " cancel_requested, history, last_seen, parameters)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def dump_json(value: Any) -> str | None:
    """Compact JSON text, or None for an empty or missing value."""
    if not value:
        return None
    return json.dumps(value, separators=(",", ":"))


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _error_text(error: ErrorInfo | None) -> str | None:
    return None if error is None else json.dumps(error.to_dict(), separators=(",", ":"))


def _error(text: str | None) -> ErrorInfo | None:
    return None if text is None else ErrorInfo.from_dict(json.loads(text))


def history_text(history: Sequence[RunAttempt]) -> str | None:
    """A run's earlier attempts as JSON, or None when it has none."""
    if not history:
        return None
    return json.dumps([attempt.to_dict() for attempt in history], separators=(",", ":"))


def attempts_text(step: Step) -> str | None:
    """The attempts as JSON, or None for the implicit single attempt (see Step)."""
    attempts = step.attempts
    if not attempts:
        return None
    if len(attempts) == 1:  # (every replayed step): the same text, without json's machinery
        text = _one_attempt_text(attempts[0])
        if text is not None:
            return text
    return json.dumps([attempt.to_dict() for attempt in attempts], separators=(",", ":"))


def _one_attempt_text(attempt: Attempt) -> str | None:
    """``json.dumps([attempt.to_dict()])`` (compact) for one attempt without an error whose
    times are finite floats, else None."""
    start, end = attempt.start_time, attempt.end_time
    if attempt.error is not None or type(start) is not float or not math.isfinite(start):
        return None
    if end is None:
        times = f'{start!r},"end_time":null,"duration":null'
    elif type(end) is float and math.isfinite(end):
        times = f'{start!r},"end_time":{end!r},"duration":{end - start!r}'
    else:
        return None
    return (
        f'[{{"attempt_number":{int(attempt.number)},"start_time":{times},'
        f'"status":"{attempt.status._value_}","error":null}}]'
    )


def step_row(seq: int, step: Step) -> tuple[Any, ...]:
    """The parameters of STEP_INSERT for one step."""
    return (
        (seq << POSITION_BITS) | step.position,
        step.name,
        step.task_id,
        step.execution_id,
        step.parent,
        step.status._value_,
        step.start_time,
        step.end_time,
        attempts_text(step),
        step.arguments,
        step.result,
        _error_text(step.error),
        dump_json(step.user_metadata),
        dump_json(step.options),
        step.log or None,
        None if step.origin is _EXECUTED else step.origin._value_,
        step.source_run,
        1 if step.cache else None,
        step.reason,
    )


# The common step (no parent, retries, error, metadata, options, log, cache or reason) binds
# nine values instead of nineteen: binding is most of a step's statement cost.
STEP_UPSERT_PLAIN = (
    "INSERT INTO steps (id, name, task_id, execution_id, status, start_time, end_time,"
    " arguments, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, task_id = excluded.task_id,"
    " execution_id = excluded.execution_id, parent = NULL, status = excluded.status,"
    " start_time = excluded.start_time, end_time = excluded.end_time, attempts = NULL,"
    " arguments = excluded.arguments, result = excluded.result, error = NULL,"
    " user_metadata = NULL, options = NULL, log = NULL, origin = NULL, source_run = NULL,"
    " cache = NULL, reason = NULL"
)


def plain_step(step: Step) -> bool:
    """Whether STEP_UPSERT_PLAIN records the step completely."""
    return (
        step.parent is None
        and not step.attempts
        and step.error is None
        and not step.user_metadata
        and not step.options
        and not step.log
        and step.origin is _EXECUTED
        and step.source_run is None
        and not step.cache
        and step.reason is None
    )


def plain_step_row(seq: int, step: Step) -> tuple[Any, ...]:
    return (
        (seq << POSITION_BITS) | step.position,
        step.name,
        step.task_id,
        step.execution_id,
        step.status._value_,  # not .value: a slow descriptor on Python 3.11, and every step
        step.start_time,  # commits through here
        step.end_time,
        step.arguments,
        step.result,
    )


def step_from_row(run_id: str, row: Sequence[Any]) -> Step:
    attempts_json = row[8]
    origin = row[15]
    return Step(  # positional, and enums from tables: listing a big run builds many of these
        run_id,
        row[1],
        row[0] & POSITION_MASK,
        row[18] if row[18] is not None else row[1],
        row[2],
        row[3],
        row[4],
        _STATUSES.get(row[5]) or Status(row[5]),  # an unknown status: the enum's ValueError
        row[6],
        row[7],
        []
        if attempts_json is None
        else [Attempt.from_dict(item) for item in json.loads(attempts_json)],
        row[9],
        row[10],
        _error(row[11]),
        load_json(row[12]) or {},
        load_json(row[13]) or {},
        row[14] or "",
        _EXECUTED if origin is None else (_ORIGINS.get(origin) or Origin(origin)),
        row[16],
        bool(row[17]),
        row[19],
    )


def run_from_row(row: Sequence[Any], step_count: int = 0) -> Run:
    """A run from the columns of RUN_COLUMNS (or RUN_COLUMNS_V1)."""
    owner = load_json(row[13])
    history = load_json(row[17])
    return Run(
        run_id=row[1],
        workflow=row[2],
        status=Status(row[3]),
        tag=row[4],
        arguments=row[5],
        user_metadata=load_json(row[6]) or {},
        created_time=row[7],
        start_time=row[8],
        end_time=row[9],
        output=row[10],
        error=_error(row[11]),
        environment=load_json(row[12]) or {},
        owner=None if owner is None else Owner.from_dict(owner),
        lease_expires=row[14],
        resumes=row[15],
        cancel_requested=bool(row[16]),
        step_count=step_count,
        history=[] if history is None else [RunAttempt.from_dict(item) for item in history],
        last_seen=row[18],
        parameters=row[19],
    )


def run_params(run: Run) -> tuple[Any, ...]:
    """The parameters of RUN_INSERT (and of RUN_REPLACE, then the run_id) for one run."""
    return (
        run.run_id,
        run.workflow,
        run.status.value,
        run.tag,
        run.arguments,
        dump_json(run.user_metadata),
        run.created_time,
        run.start_time,
        run.end_time,
        run.output,
        _error_text(run.error),
        dump_json(run.environment),
        None if run.owner is None else json.dumps(run.owner.to_dict()),
        run.lease_expires,
        run.resumes,
        1 if run.cancel_requested else 0,
        history_text(run.history),
        run.last_seen,
        parameters_text(run.arguments, run.environment),
    )


# Every field of a run but its run_id, replaced (put_run).
RUN_REPLACE = (
    "UPDATE runs SET workflow = ?, status = ?, tag = ?, arguments = ?, user_metadata = ?,"
    " created_time = ?, start_time = ?, end_time = ?, output = ?, error = ?, environment = ?,"
    " owner = ?, lease_expires = ?, resumes = ?, cancel_requested = ?, history = ?,"
    " last_seen = ?, parameters = ? WHERE run_id = ?"
)


class SQLStore(SQLDeleting, SQLSelection, SQLOrdering, SQLBlobs, SQLResources, SQLTracking):
    """Every store method, written once in SQL with ``?`` placeholders.

    A dialect subclass supplies connections and transactions: ``_query`` (read rows),
    ``_write`` (one statement, committed, retried when the database is busy),
    ``_write_many`` (one statement over many parameter rows, in one transaction) and
    ``_insert_run`` (returns seq).
    """

    url: str

    def __init__(self) -> None:
        self._seqs: dict[str, int] = {}
        self._read_only_reason: str | None = None
        self._run_columns = RUN_COLUMNS
        self._task_columns = TASK_COLUMNS

    # -- dialect hooks -------------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute and commit one statement; return the number of rows it changed."""
        raise NotImplementedError

    def _insert_run(self, params: Sequence[Any]) -> int:
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------------------
    def _check_version(self, found: int, problem: str | None = None) -> None:
        """Say why the store may not be written, if it may not: a newer schema, or an older
        one that could not be upgraded where it was opened (``problem`` says why); an older
        one is still read, its missing columns as NULL."""
        if found < SCHEMA_VERSION:
            self._v5_ready = False
            self._run_columns = RUN_COLUMNS_V4
            if found < 2:
                self._run_columns = RUN_COLUMNS_V1
                self._task_columns = TASK_COLUMNS_V1
            self._resource_columns = RESOURCE_COLUMNS_V3
            self._resource_get = GET.format(columns=RESOURCE_COLUMNS_V3)
            self._read_only_reason = (
                f"the store at {self.url} has schema version {found} and cannot be upgraded to "
                f"version {SCHEMA_VERSION} here ({problem or 'unknown reason'}); it can be read, "
                "not written"
            )
        if found > SCHEMA_VERSION:
            self._read_only_reason = (
                f"the store at {self.url} has schema version {found}, newer than version "
                f"{SCHEMA_VERSION} that this flightlog writes; upgrade flightlog to write to it"
            )

    def _writable(self) -> None:
        if self._read_only_reason is not None:
            raise SchemaVersionError(self._read_only_reason)

    def _seq(self, run_id: str) -> int:
        seq = self._seqs.get(run_id)
        if seq is None:
            rows = self._query("SELECT seq FROM runs WHERE run_id = ?", (run_id,))
            if not rows:
                raise NotFoundError(f"no run with id {run_id!r}")
            seq = self._seqs[run_id] = int(rows[0][0])
        return seq

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, run: Run) -> None:
        self._writable()
        seq = self._insert_run(run_params(run))
        self._seqs[run.run_id] = seq

    def put_run(self, run: Run) -> None:
        self._writable()
        params = run_params(run)
        # The counts kept at a run's end (sql_scale_schema): a finished run's are counted from
        # the steps there are now (flightlog.copy puts a run again once its steps are in);
        # any other's are dropped, and counted where the steps lie when read.
        replace = RUN_REPLACE
        if self._scale_ready and run.status in _FINISHED:
            replace = replace.replace(" WHERE", self._kept_counts() + " WHERE")
        elif self._scale_ready:
            replace = replace.replace(" WHERE", ", step_count = NULL, step_counts = NULL WHERE")
        while not self._write(replace, (*params[1:], run.run_id)):
            try:
                self._seqs[run.run_id] = self._insert_run(params)
                return
            except ConflictError:  # made meanwhile: replace it
                continue

    def restart_run(
        self,
        run_id: str,
        *,
        expected_resumes: int,
        owner: Owner,
        start_time: float,
        lease_expires: float | None,
        history: Sequence[RunAttempt] = (),
    ) -> Run:
        self._writable()
        owner_text = json.dumps(owner.to_dict())
        changed = self._write(
            "UPDATE runs SET status = 'RUNNING', owner = ?, start_time = ?, end_time = NULL,"
            " output = NULL, error = NULL, lease_expires = ?, cancel_requested = 0,"
            " resumes = ?, history = ?, last_seen = ?"
            + (", step_count = NULL, step_counts = NULL" if self._scale_ready else "")
            + " WHERE run_id = ? AND (resumes = ?"
            # Repeatable after a dropped connection: a second run of it matches its own claim
            # (same owner and start) and writes the same values again.
            " OR (resumes = ? AND owner = ? AND start_time = ?))" + REPEATABLE,
            (
                owner_text,
                start_time,
                lease_expires,
                expected_resumes + 1,
                history_text(history),
                start_time,
                run_id,
                expected_resumes,
                expected_resumes + 1,
                owner_text,
                start_time,
            ),
        )
        if not changed:
            if self.get_run(run_id) is None:
                raise NotFoundError(f"no run with id {run_id!r}")
            raise ConflictError(f"run {run_id!r} was claimed by another process meanwhile")
        run = self.get_run(run_id)
        assert run is not None
        return run

    def finish_run(
        self,
        run_id: str,
        *,
        status: Status,
        end_time: float | None,
        output: str | None = None,
        error: ErrorInfo | None = None,
        expected_resumes: int | None = None,
    ) -> Status:
        self._writable()
        attempt = "" if expected_resumes is None else " AND resumes = ?"
        mine = (run_id,) if expected_resumes is None else (run_id, expected_resumes)
        # Repeatable after a dropped connection: a second run finds the status the first one
        # wrote, and that is what is returned either way (see the end).
        if self._write(
            "UPDATE runs SET status = ?, end_time = ?, output = ?, error = ?,"
            " lease_expires = NULL" + self._kept_counts() + " WHERE run_id = ?"
            " AND status = 'RUNNING'" + attempt + REPEATABLE,
            (status.value, end_time, output, _error_text(error), *mine),
        ):
            return status
        # Canceled meanwhile: it stays CANCELED; its end is when the owner really stopped.
        if self._write(
            "UPDATE runs SET end_time = ?, lease_expires = NULL" + self._kept_counts() + ""
            " WHERE run_id = ? AND status = 'CANCELED'" + attempt,
            (end_time, *mine),
        ):
            return Status.CANCELED
        rows = self._query("SELECT status FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"no run with id {run_id!r}")
        return _STATUSES[rows[0][0]]

    def renew_leases(self, run_ids: Sequence[str], lease_expires: float) -> None:
        self._writable()
        seen = time.time()
        for run_id in run_ids:
            self._write(
                "UPDATE runs SET lease_expires = ?, last_seen = ? WHERE run_id = ?"
                " AND status = 'RUNNING'",
                (lease_expires, seen, run_id),
            )

    def request_cancel(self, run_id: str, *, end_time: float) -> bool:
        self._writable()
        if self._write(
            "UPDATE runs SET status = 'CANCELED', cancel_requested = 1, end_time = ?"
            " WHERE run_id = ? AND (status IN ('RUNNING', 'RESUMABLE')"
            # Repeatable after a dropped connection: a second run matches its own cancel.
            " OR (status = 'CANCELED' AND cancel_requested = 1 AND end_time = ?))" + REPEATABLE,
            (end_time, run_id, end_time),
        ):
            return True
        if not self._query("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)):
            raise NotFoundError(f"no run with id {run_id!r}")
        return False

    def get_run(self, run_id: str) -> Run | None:
        rows = self._query(
            f"SELECT {self._run_columns}, {self._count_sql()} FROM runs WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            return None
        self._seqs[run_id] = int(rows[0][0])
        return run_from_row(rows[0], rows[0][RUN_COUNT])

    def has_run(self, run_id: str) -> bool:
        """Whether the run exists: one read of its key, nothing decoded (a cache hit checks
        that the run it names is still there, see ``runtime.steps``)."""
        return bool(self._query("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)))

    def get_run_uncounted(self, run_id: str) -> Run | None:
        rows = self._query(f"SELECT {self._run_columns} FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            return None
        self._seqs[run_id] = int(rows[0][0])
        return run_from_row(rows[0])

    def list_runs(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        clauses: list[str] = []
        params: list[Any] = []
        if statuses is not None:
            wanted = [status.value for status in statuses]
            if not wanted:
                return []
            clauses.append(f"status IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if workflow is not None:
            clauses.append("workflow = ?")
            params.append(workflow)
        if tag is not None:
            clauses.append("tag = ?")
            params.append(tag)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = ""
        if limit is not None:
            tail = " LIMIT ?"
            params.append(int(limit))
        rows = self._query(
            f"SELECT {self._run_columns}, {self._count_sql()} FROM runs{where}"
            f" ORDER BY seq DESC{tail}",
            params,
        )
        return [run_from_row(row, row[RUN_COUNT]) for row in rows]

    # -- tasks ---------------------------------------------------------------------------------
    def record_task(self, task: TaskRecord) -> None:
        self._writable()
        self._write(
            f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (task_id) DO NOTHING",
            (
                task.task_id,
                task.name,
                task.version,
                dump_json(task.options),
                dump_json(task.user_metadata),
                dump_json(task.components),
                dump_json(task.constants),
            ),
        )

    def get_task(self, task_id: str) -> TaskRecord | None:
        rows = self._query(
            f"SELECT {self._task_columns} FROM tasks WHERE task_id = ?",
            (task_id,),
        )
        if not rows:
            return None
        row = rows[0]
        return TaskRecord(
            task_id=row[0],
            name=row[1],
            version=row[2],
            options=load_json(row[3]) or {},
            user_metadata=load_json(row[4]) or {},
            components=load_json(row[5]) or {},
            constants=load_json(row[6]) or {},
        )

    # -- steps ---------------------------------------------------------------------------------
    def start_step(self, step: Step) -> None:
        self._writable()
        self._write(STEP_START, step_row(self._seq(step.run_id), step))

    def finish_step(
        self,
        step: Step,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        self._writable()
        seq = self._seq(step.run_id)
        if not metrics and not attachments:
            if plain_step(step):
                self._write(STEP_UPSERT_PLAIN, plain_step_row(seq, step))
            else:
                self._write(STEP_UPSERT, step_row(seq, step))
            return
        statements = self._tracked_statements(seq, metrics, attachments)
        statements.append((STEP_UPSERT, [step_row(seq, step)]))  # last: see _write_batch
        self._write_batch(statements)

    def finish_step_releasing(
        self,
        step: Step,
        claim: ResourceRecord,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        """:meth:`finish_step`, and :meth:`finish_resource` of ``claim`` (the step's cache
        claim, let go), in one transaction: a cache-enabled step that computed its key ends
        with one commit, and a waiter that sees the claim let go finds the step's result."""
        self._writable()
        seq = self._seq(step.run_id)
        statements = self._tracked_statements(seq, metrics, attachments)
        statements.append((STEP_UPSERT, [step_row(seq, step)]))
        statements.append((FINISH, [finish_params(claim)]))
        self._write_batch(statements)

    def finish_steps(self, finished: Sequence[FinishedStep]) -> None:
        self._writable()
        statements: Statements = []
        for step, metrics, attachments in finished:
            seq = self._seq(step.run_id)
            statements.extend(self._tracked_statements(seq, metrics, attachments))
            row = step_row(seq, step)
            if statements and statements[-1][0] is STEP_UPSERT:  # one executemany for a run
                statements[-1][1].append(row)  # of steps (nothing tracked between them)
            else:
                statements.append((STEP_UPSERT, [row]))
        if statements:
            self._write_batch(statements)

    def append_step_log(self, run_id: str, position: int, text: str) -> bool:
        self._writable()
        try:
            seq = self._seq(run_id)
        except NotFoundError:
            return False
        return self._write(STEP_LOG_APPEND, (text, (seq << POSITION_BITS) | position)) > 0

    def _steps_where(self, run_id: str, extra: str, params: Sequence[Any]) -> list[Step]:
        rows = self._query("SELECT seq FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            return []
        low = int(rows[0][0]) << POSITION_BITS
        rows = self._query(
            f"SELECT {STEP_COLUMNS} FROM steps LEFT JOIN tasks ON tasks.task_id = steps.task_id"
            f" WHERE steps.id BETWEEN ? AND ?{extra} ORDER BY steps.id",
            (low, low | POSITION_MASK, *params),
        )
        return [step_from_row(run_id, row) for row in rows]

    def get_step(self, run_id: str, name: str) -> Step | None:
        found = self._steps_where(run_id, " AND steps.name = ?", (name,))
        return found[0] if found else None

    def list_steps(self, run_id: str) -> list[Step]:
        return self._steps_where(run_id, "", ())

    def step_outline(self, run_id: str) -> StepOutline:
        # Nine narrow columns and no JSON but the rare attempts lists: a page draws a run of
        # 100,000 steps from this.
        outline = StepOutline()
        rows = self._query("SELECT seq FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            return outline
        low = int(rows[0][0]) << POSITION_BITS
        rows = self._query(
            "SELECT steps.id, steps.name, tasks.name, steps.parent, steps.status,"
            " steps.start_time, steps.end_time, steps.origin, steps.attempts,"
            " steps.error IS NOT NULL FROM steps LEFT JOIN tasks"
            " ON tasks.task_id = steps.task_id WHERE steps.id BETWEEN ? AND ? ORDER BY steps.id",
            (low, low | POSITION_MASK),
        )
        statuses, origins = _STATUSES, _ORIGINS
        for index, row in enumerate(rows):
            if row[8] is not None:
                outline.attempts[index] = [Attempt.from_dict(item) for item in json.loads(row[8])]
        outline.positions = [row[0] & POSITION_MASK for row in rows]
        outline.names = [row[1] for row in rows]
        outline.task_names = [row[1] if row[2] is None else row[2] for row in rows]
        outline.parents = [row[3] for row in rows]
        outline.statuses = [statuses.get(row[4]) or Status(row[4]) for row in rows]
        outline.start_times = [row[5] for row in rows]
        outline.end_times = [row[6] for row in rows]
        outline.origins = [
            _EXECUTED if row[7] is None else (origins.get(row[7]) or Origin(row[7])) for row in rows
        ]
        outline.failed = [bool(row[9]) for row in rows]
        return outline

    def find_cached(self, task_id: str, execution_id: str) -> Step | None:
        # The partial index, and the run's id by its key in the same statement: a run that gc
        # deletes meanwhile (another process) leaves no step without its run to read.
        rows = self._query(
            f"SELECT {STEP_COLUMNS_ALONE},"
            " (SELECT run_id FROM runs WHERE runs.seq = steps.id / 4294967296) FROM steps"
            " WHERE task_id = ? AND execution_id = ? AND cache = 1"
            " AND status = 'SUCCESSFUL' AND (origin IS NULL OR origin = 'replayed')"
            " ORDER BY end_time DESC LIMIT 1",
            (task_id, execution_id),
        )
        if not rows or rows[0][-1] is None:  # none, or its run is being deleted
            return None
        return step_from_row(str(rows[0][-1]), rows[0])

    def tasks_named(self, name: str) -> list[TaskRecord]:
        rows = self._query("SELECT task_id FROM tasks WHERE name = ?", (name,))
        found = [self.get_task(row[0]) for row in rows]
        return [task for task in found if task is not None]

    def cached_steps(self, task_id: str, limit: int) -> list[Step]:
        rows = self._query(
            f"SELECT {STEP_COLUMNS}, runs.run_id FROM steps"
            " LEFT JOIN tasks ON tasks.task_id = steps.task_id"
            " JOIN runs ON runs.seq = steps.id / 4294967296"
            " WHERE steps.task_id = ? AND steps.cache = 1 AND steps.status = 'SUCCESSFUL'"
            " AND (steps.origin IS NULL OR steps.origin = 'replayed')"
            " ORDER BY steps.end_time DESC LIMIT ?",
            (task_id, limit),
        )
        return [step_from_row(row[20], row) for row in rows]
