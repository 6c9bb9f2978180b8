"""``fl.logs`` (and ``flightlog logs``) of a large run reads its step records a page at a time
and keeps only the logs: the same answer as from the whole run, without holding it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import cli, live_query
from flightlog.model import Step
from flightlog.stores.sqlite import SQLiteStore


def _record(url: str) -> None:
    with flightlog.open(url) as fl:

        @fl.task
        def quiet(x: int) -> int:
            return x

        @fl.task
        def loud(x: int) -> int:
            print(f"loud {x}")
            return x

        @fl.workflow
        def many(n: int) -> int:
            return sum(loud(index) if index % 3 == 0 else quiet(index) for index in range(n))

        many.run(25, run_id="many")


def test_logs_reads_pages_and_keeps_the_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/logs.db"
    _record(url)
    expected = [
        {"step": "loud" if index == 0 else f"loud_{index // 3}", "status": "SUCCESSFUL"}
        for index in range(0, 25, 3)
    ]
    limits: list[int | None] = []
    page_of = SQLiteStore.steps_page

    def counted(self: SQLiteStore, run_id: str, **options: Any) -> list[Step]:
        limits.append(options.get("limit"))
        return page_of(self, run_id, **options)

    def whole(self: SQLiteStore, run_id: str) -> list[Step]:
        raise AssertionError("logs read the whole run")

    monkeypatch.setattr(live_query, "LOG_PAGE", 10)
    monkeypatch.setattr(SQLiteStore, "steps_page", counted)
    monkeypatch.setattr(SQLiteStore, "list_steps", whole)
    with flightlog.open(url) as fl:
        found = fl.logs("many")
        assert [{"step": i["step"], "status": i["status"]} for i in found] == expected
        assert [item["log"] for item in found] == [f"loud {i}\n" for i in range(0, 25, 3)]
        assert limits == [10, 10, 10]  # 25 steps: pages of 10, 10 and 5
        with pytest.raises(flightlog.NotFoundError, match="nosuch"):
            fl.logs("nosuch")
    out = io.StringIO()
    assert cli.main(["logs", "many", "--url", url], out=out) == 0
    assert out.getvalue().splitlines() == [f"{i['step']} | {i['log'].strip()}" for i in found]


def test_logs_of_a_resource_collection_as_from_its_whole_run(tmp_path: Path) -> None:
    with flightlog.open(f"sqlite:///{tmp_path}/resources.db") as fl:

        @fl.resource("tables")
        def load_table(ident: str, args: dict[str, Any], ctx: Any) -> int:
            ctx.logger.info("loading %s", ident)  # in the resource's log file, not its step
            return len(ident)

        for ident in ("a", "bb", "ccc"):
            fl.fetch("tables", ident, {})
        assert len(fl.steps("resource:tables")) == 3
        assert fl.logs("resource:tables") == [
            {"step": item["name"], "status": item["status"], "log": item["log"]}
            for item in fl.steps("resource:tables")
            if item["log"] or item["status"] == "RUNNING"
        ]
