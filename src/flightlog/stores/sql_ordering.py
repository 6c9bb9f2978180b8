"""Runs in a chosen order, a page at a time, answered by the database (see
:mod:`flightlog.stores.python_ordering` for the orders and the reference behaviour).

The page's positions are found first (``seq`` only, sorted by the order's expression, ties
newest first), then only the page's runs are read, so a page costs one pass over the
selected rows' order columns and never reads every run's record. ``created`` follows the
primary key and reads no more than the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..model import Run, Status
from ..selection import RunSelection
from .python_ordering import check_order

_CHUNK = 500  # runs read per statement (well under any database's limit on parameters)
_EXPRESSIONS = {
    "start": "coalesce(runs.start_time, 0.0)",
    "duration": (
        "CASE WHEN runs.start_time IS NULL OR runs.end_time IS NULL THEN 0.0"
        " ELSE runs.end_time - runs.start_time END"
    ),
    "workflow": "runs.workflow{collate}",
    "status": "runs.status{collate}",
    "run_id": "runs.run_id{collate}",
    "tag": "coalesce(runs.tag, ''){collate}",
}


class SQLOrdering:
    """The ordering methods of :class:`~flightlog.stores.sql.SQLStore` , and the two other
    questions of a page of runs: its workflow names, and how many runs it holds by status
    (without their steps' counts, which ``count_statuses`` adds up).

    ``_BINARY_COLLATE`` makes text sort by code point, as Python sorts it (SQLite's default;
    PostgreSQL's databases often sort by a locale's rules).
    """

    _run_columns: str
    _BINARY_COLLATE = ""

    if TYPE_CHECKING:

        def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _count_sql(self) -> str: ...

        def _page_sql(self, params: list[Any], offset: int | None, limit: int | None) -> str: ...

        def _selection_sql(self, selection: RunSelection) -> tuple[list[str], list[Any]]: ...

        def select_runs(
            self, selection: RunSelection, *, offset: int = 0, limit: int | None = None
        ) -> list[Run]: ...

    def order_runs(
        self,
        selection: RunSelection,
        *,
        order: str = "created",
        descending: bool = True,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Run]:
        from .sql import RUN_COUNT, run_from_row

        check_order(order)
        if order == "created" and descending:
            return self.select_runs(selection, offset=offset, limit=limit)
        direction = " DESC" if descending else ""
        if order == "created":
            ordering = f"runs.seq{direction}"
        else:
            expression = self._count_sql() if order == "steps" else _EXPRESSIONS[order]
            expression = expression.format(collate=self._BINARY_COLLATE)
            ordering = f"{expression}{direction}, runs.seq DESC"
        clauses, params = self._selection_sql(selection)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = self._page_sql(params, offset, limit)
        seqs = [int(row[0]) for row in self._query(
            f"SELECT runs.seq FROM runs{where} ORDER BY {ordering}{tail}", params
        )]  # fmt: skip
        found: dict[int, Run] = {}
        for first in range(0, len(seqs), _CHUNK):
            chunk = seqs[first : first + _CHUNK]
            rows = self._query(
                f"SELECT {self._run_columns}, {self._count_sql()} FROM runs"
                f" WHERE runs.seq IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            found.update((int(row[0]), run_from_row(row, row[RUN_COUNT])) for row in rows)
        return [found[seq] for seq in seqs if seq in found]

    def count_runs(self, selection: RunSelection) -> dict[Status, int]:
        clauses, params = self._selection_sql(selection)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            f"SELECT runs.status, count(*) FROM runs{where} GROUP BY runs.status", params
        )
        return {Status(status): int(count) for status, count in rows if count}

    def workflow_names(self, selection: RunSelection) -> list[str]:
        clauses, params = self._selection_sql(selection)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"SELECT DISTINCT runs.workflow FROM runs{where}", params)
        return sorted(str(row[0]) for row in rows)
