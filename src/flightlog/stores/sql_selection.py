"""Questions over many runs, answered by the database: runs selected by date, text and
stored values, counts by status, and a run's steps a page at a time.

Counts come from ``runs.step_counts`` (see :mod:`flightlog.stores.sql_scale_schema`) for
finished runs, written by the statement that records a run's outcome, and from the steps
themselves for runs still going (few, each one key range of the steps table). The step
commit is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model import MetricChunk, Run, Status, Step
from ..named_arguments import LONG
from ..selection import ArgumentText, RunSelection, StatusCounts, ascii_lower
from .base import STEP_ROW_EXTRAS
from .sql_scale_schema import SQLITE_OBJECT_AGG, kept_counts
from .sql_tracking import Statements

POSITION_BITS = 32
POSITION_MASK = (1 << POSITION_BITS) - 1
METRICS_BATCH = 500  # run ids in one query (well under every dialect's parameter limit)
STEP_RANGE = "steps.id BETWEEN runs.seq * 4294967296 AND runs.seq * 4294967296 + 4294967295"


_SQL_OPERATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}
# A run whose last point of a metric (the chunk with the highest last step, the last written
# among equal ones; chunks without points last) passes a comparison, or whose last value is
# not known here (not kept as a number; a chunk of an older writer): compared by the caller.
LAST_POINT = (
    "EXISTS (SELECT 1 FROM metrics AS last WHERE last.id = (SELECT m.id FROM metrics AS m"
    " WHERE m.run_seq = runs.seq AND m.name = ?"
    # first a chunk with points but no last point kept (written by an older flightlog: a
    # process that opened the store before it was upgraded): the last value is not known
    # here; then the one with the highest last step, the last written among equal ones
    " ORDER BY (m.last_step IS NULL AND m.count > 0) DESC, m.last_step IS NULL,"
    " m.last_step DESC, m.id DESC LIMIT 1)"
    " AND (last.last_step IS NULL OR last.last_value IS NULL OR last.last_value {operator} ?))"
)


class SQLSelection:
    """The selection methods of :class:`~flightlog.stores.sql.SQLStore`.

    Dialects say how to find a substring (``_CONTAINS``), read a field of JSON text
    (``_JSON_FIELD``), list without a limit (``_NO_LIMIT``), make and read a JSON object
    of counts (``_JSON_OBJECT_AGG``, ``_JSON_EACH``), and join runs to their steps in that
    order (``_RUNS_THEN``); the defaults are SQLite's.
    """

    url: str
    _run_columns: str
    _scale_ready = False  # the store has what sql_scale_schema adds
    _v5_ready = True  # the store has runs.parameters and metrics.last_* (schema version 5)
    _CONTAINS = "instr({column}, ?) > 0"
    _JSON_FIELD = "json_extract({column}, '$.{key}')"
    _NO_LIMIT = " LIMIT -1"
    _JSON_OBJECT_AGG = SQLITE_OBJECT_AGG
    _JSON_EACH = "json_each({column})"
    # Runs first, then each one's key range of steps: with a workflow or tag asked for,
    # SQLite would otherwise scan every step and look its run up.
    _RUNS_THEN = "CROSS JOIN"
    _JSON_ARRAY = "json_array({values})"  # JSON text of an array of (text) values

    if TYPE_CHECKING:

        def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _write_batch(self, statements: Statements) -> None: ...

        def _seq(self, run_id: str) -> int: ...

    def _count_sql(self) -> str:
        """A run's step count, as an expression over ``runs``."""
        live = f"(SELECT count(*) FROM steps WHERE {STEP_RANGE})"
        return f"coalesce(runs.step_count, {live})" if self._scale_ready else live

    def _selection_sql(self, selection: RunSelection) -> tuple[list[str], list[Any]]:
        s = selection
        clauses: list[str] = []
        params: list[Any] = []
        if s.statuses is not None:
            wanted = sorted(status.value for status in s.statuses)
            clauses.append(f"runs.status IN ({', '.join('?' * len(wanted))})" if wanted else "1=0")
            params.extend(wanted)
        for column, value in (("workflow", s.workflow), ("tag", s.tag)):
            if value is not None:
                clauses.append(f"runs.{column} = ?")
                params.append(value)
        if s.since is not None:
            clauses.append("runs.created_time >= ?")
            params.append(float(s.since))
        if s.until is not None:
            clauses.append("runs.created_time < ?")
            params.append(float(s.until))
        if s.search is not None:
            texts = [
                "runs.run_id",
                "runs.workflow",
                "runs.tag",
                self._JSON_FIELD.format(column="runs.error", key="type"),
                self._JSON_FIELD.format(column="runs.error", key="message"),
                "runs.user_metadata",
                "runs.arguments",
            ]
            found = [self._CONTAINS.format(column=f"lower({text})") for text in texts]
            clauses.append(f"({' OR '.join(found)})")
            params.extend([ascii_lower(s.search)] * len(texts))
        for column, parts in (
            ("runs.arguments", s.arguments_containing),
            ("runs.user_metadata", s.metadata_containing),
        ):
            for part in parts:
                clauses.append(self._CONTAINS.format(column=column))
                params.append(part)
        for argument in s.parameters:
            self._parameter_sql(argument, clauses, params)
        for name in s.metric_names:
            clauses.append(
                "EXISTS (SELECT 1 FROM metrics WHERE metrics.run_seq = runs.seq"
                " AND metrics.name = ?)"
            )
            params.append(name)
        if self._v5_ready:
            for name, symbol, bound in s.metric_bounds:
                clauses.append(LAST_POINT.format(operator=_SQL_OPERATORS[symbol]))
                params.extend((name, float(bound)))
        return clauses, params

    def _parameter_sql(self, argument: ArgumentText, clauses: list[str], params: list[Any]) -> None:
        """The clause of one parameter's value (see ArgumentText): in the stored texts, or,
        for a run with its parameters by name (``runs.parameters``), in its value there."""
        stored = ""
        if argument.passed:  # else the value has no certain text: anything may hold it
            groups = [self._any_of("runs.arguments", group) for group in argument.passed]
            default = self._any_of("runs.environment", argument.default)
            stored = f"(({' AND '.join(groups)}) OR {default})"
            params.extend(text for group in argument.passed for text in group)
            params.extend(argument.default)
        if not (self._v5_ready and argument.keyed()):
            if stored:
                clauses.append(stored)
            return
        value = self._JSON_FIELD.format(column="runs.parameters", key=argument.name)
        if argument.exact is not None:
            marks = ", ".join("?" * (len(argument.exact) + 1))
            named = f"({value} IN ({marks}) OR substr({value}, 1, 1) = '{{')"
            params.extend((*argument.exact, LONG))
        else:
            parts = [self._any_of(value, group) for group in argument.within] or ["1=1"]
            named = f"({value} IS NOT NULL AND ({value} = ? OR ({' AND '.join(parts)})))"
            params.append(LONG)
            params.extend(text for group in argument.within for text in group)
        clauses.append(f"((runs.parameters IS NULL AND {stored or '1=1'}) OR {named})")

    def _any_of(self, column: str, texts: tuple[str, ...]) -> str:
        """SQL true when the column holds one of ``texts`` (given as parameters, in order)."""
        if not texts:
            return "1=0"
        return f"({' OR '.join(self._CONTAINS.format(column=column) for _ in texts)})"

    def _page_sql(self, params: list[Any], offset: int | None, limit: int | None) -> str:
        """The ``LIMIT``/``OFFSET`` of a page, its parameters appended to ``params``."""
        tail = ""
        if limit is not None:
            tail = " LIMIT ?"
            params.append(int(limit))
        elif offset:
            tail = self._NO_LIMIT
        if offset:
            tail += " OFFSET ?"
            params.append(int(offset))
        return tail

    def select_runs(
        self, selection: RunSelection, *, offset: int = 0, limit: int | None = None
    ) -> list[Run]:
        from .sql import RUN_COUNT, run_from_row

        clauses, params = self._selection_sql(selection)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = self._page_sql(params, offset, limit)
        rows = self._query(
            f"SELECT {self._run_columns}, {self._count_sql()} FROM runs{where}"
            f" ORDER BY runs.seq DESC{tail}",
            params,
        )
        return [run_from_row(row, row[RUN_COUNT]) for row in rows]

    def metrics_of_runs(self, run_ids: Sequence[str], name: str) -> dict[str, list[MetricChunk]]:
        from .sql_tracking import unpack_chunk

        found: dict[str, list[MetricChunk]] = {}
        wanted = list(dict.fromkeys(run_ids))
        for start in range(0, len(wanted), METRICS_BATCH):
            batch = wanted[start : start + METRICS_BATCH]
            marks = ", ".join("?" * len(batch))
            seqs = dict(
                self._query(f"SELECT seq, run_id FROM runs WHERE run_id IN ({marks})", batch)
            )
            if not seqs:
                continue
            # by the metrics' own index (run_seq, name), whatever the planner knows of the tables
            rows = self._query(
                "SELECT run_seq, name, position, step_name, count, encoding, data FROM metrics"
                f" WHERE run_seq IN ({', '.join('?' * len(seqs))}) AND name = ? ORDER BY id",
                [*seqs, name],
            )
            for seq, *chunk in rows:
                found.setdefault(seqs[seq], []).append(unpack_chunk(*chunk))
        return found

    def count_statuses(self, selection: RunSelection) -> StatusCounts:
        clauses, params = self._selection_sql(selection)
        where = " AND ".join(clauses) or "1=1"
        counts = StatusCounts()
        rows = self._query(
            f"SELECT runs.status, count(*) FROM runs WHERE {where} GROUP BY runs.status", params
        )
        _add(counts.runs, rows)
        if self._scale_ready:
            each = self._JSON_EACH.format(column="runs.step_counts")
            _add(
                counts.steps,
                self._query(
                    f"SELECT j.key, sum(CAST(j.value AS BIGINT)) FROM runs, {each} AS j"
                    f" WHERE runs.step_counts IS NOT NULL AND {where} GROUP BY j.key",
                    params,
                ),
            )
            where = f"runs.step_counts IS NULL AND {where}"
        _add(
            counts.steps,
            self._query(
                f"SELECT steps.status, count(*) FROM runs {self._RUNS_THEN} steps ON {STEP_RANGE}"
                f" WHERE {where} GROUP BY steps.status",
                params,
            ),
        )
        return counts

    def steps_page(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Step]:
        from .sql import STEP_COLUMNS, step_from_row

        found = self._page(run_id, offset, limit, after)
        if found is None:
            return []
        _, params, tail = found
        rows = self._query(
            f"SELECT {STEP_COLUMNS} FROM steps LEFT JOIN tasks ON tasks.task_id = steps.task_id"
            f" WHERE steps.id BETWEEN ? AND ? ORDER BY steps.id{tail}",
            params,
        )
        return [step_from_row(run_id, row) for row in rows]

    def step_rows(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        after: int | None = None,
        results: bool = True,
    ) -> list[tuple[Any, ...]]:
        # The rows as stored, the position worked out by the database, and the fields that
        # most steps lack in one column (each column costs the driver, even a NULL one):
        # fl.steps() of a run of 100,000 steps makes its dicts from these in one pass.
        found = self._page(run_id, offset, limit, after)
        if found is None:
            return []
        low, params, tail = found
        extras = ", ".join(STEP_ROW_EXTRAS)
        return self._query(
            "SELECT id - ?, name, task_id, execution_id, status, start_time, end_time, arguments,"
            f" CASE WHEN coalesce({extras}) IS NULL THEN NULL"
            f" ELSE {self._JSON_ARRAY.format(values=extras)} END{', result' if results else ''}"
            f" FROM steps WHERE id BETWEEN ? AND ? ORDER BY id{tail}",
            [low, *params],
        )

    def _page(
        self, run_id: str, offset: int, limit: int | None, after: int | None
    ) -> tuple[int, list[Any], str] | None:
        """A page of the run's steps (see ``steps_page``): the first id of the run, the
        parameters of ``id BETWEEN ? AND ?`` and of the tail of the statement (its ``LIMIT``
        and ``OFFSET``), and that tail; None for an unknown run."""
        rows = self._query("SELECT seq FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            return None
        low = int(rows[0][0]) << POSITION_BITS
        first = low if after is None else max(low, low + after + 1)
        params: list[Any] = [first, low | POSITION_MASK]
        tail = self._page_sql(params, offset, limit)
        return low, params, tail

    def _kept_counts(self) -> str:
        """The assignments that keep a run's counts, for the UPDATE that finishes it."""
        if not self._scale_ready:
            return ""
        return kept_counts(self._JSON_OBJECT_AGG)


def _add(into: dict[Status, int], rows: list[tuple[Any, ...]]) -> None:
    for status, count in rows:
        if count:
            key = Status(status)
            into[key] = into.get(key, 0) + int(count)
