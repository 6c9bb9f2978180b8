"""SQLite answers the runs page's questions from its indexes: no statement that counts,
orders or names runs reads every step, whatever the page filters by (checked with SQLite's
own ``EXPLAIN QUERY PLAN`` on the statements the store runs)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from flightlog.model import Run, Status
from flightlog.selection import RunSelection
from flightlog.stores import open_store
from flightlog.stores.python_ordering import RUN_ORDERS
from flightlog.testing import make_step


def test_no_question_of_the_runs_page_scans_the_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plans.db"
    store: Any = open_store(f"sqlite:///{path}")
    try:
        for number in range(30):
            run_id = f"run-{number}"
            store.create_run(
                Run(run_id, f"flow{number % 3}", Status.RUNNING, tag=f"t{number % 2}",
                    arguments="{}", created_time=1000.0 + number, start_time=1000.0 + number)
            )  # fmt: skip
            for position in range(20):
                store.finish_step(make_step(run_id, position))
            if number % 5:
                store.finish_run(run_id, status=Status.SUCCESSFUL, end_time=2000.0 + number)
        with sqlite3.connect(path) as connection:  # the statistics of a big store
            connection.execute("ANALYZE")
            connection.execute("DELETE FROM sqlite_stat1 WHERE tbl IN ('runs', 'steps')")
            connection.executemany(
                "INSERT INTO sqlite_stat1 VALUES (?, ?, ?)",
                [("steps", None, "1000000"), ("runs", "sqlite_autoindex_runs_1", "10000 1")],
            )
        statements: list[tuple[str, Sequence[Any]]] = []
        real = store._query

        def noted(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            statements.append((sql, params))
            return real(sql, params)  # type: ignore[no-any-return]

        monkeypatch.setattr(store, "_query", noted)
        for selection in (
            RunSelection(),
            RunSelection(workflow="flow1"),
            RunSelection(tag="t0"),
            RunSelection(tag="none", since=1005.0),
            RunSelection(search="run-1"),
        ):
            store.count_statuses(selection)
            store.count_runs(selection)
            store.workflow_names(selection)
            for order in RUN_ORDERS:
                store.order_runs(selection, order=order, descending=False, limit=5)
        assert len(statements) > 50
        with sqlite3.connect(path) as connection:  # plans made with those statistics
            for sql, params in statements:
                plan = connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
                details = [row[-1] for row in plan]
                assert not any(detail.startswith("SCAN steps") for detail in details), (sql, plan)
    finally:
        store.close()
