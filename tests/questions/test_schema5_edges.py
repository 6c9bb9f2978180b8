"""Parameters by name and metrics' last points at their edges: values too long to keep by
name, names the codec tags or JSON escapes, chunks written without a last point (by a
process of an older flightlog, still writing after another upgraded the store), and an
upgrade that reads its rows a few at a time."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

import flightlog
from flightlog.named_arguments import LONG, LONGEST
from flightlog.stores import sqlite_schema

FIXTURES = Path(__file__).resolve().parent.parent / "stores" / "fixtures"


def _ids(fl: flightlog.Flightlog, **params: Any) -> list[str]:
    return [str(run["run_id"]) for run in fl.list_runs(params=params)]


def test_a_value_too_long_to_keep_by_name_is_read_from_the_arguments(
    fl: flightlog.Flightlog,
) -> None:
    @fl.workflow
    def label(lr: float, text: str, words: list[str]) -> float:
        return lr

    long_text = "x" * (LONGEST + 10)
    many = [f"w{index}" for index in range(400)]  # a list whose text is long
    label.run(0.1, long_text, many, run_id="long")
    label.run(0.2, "short", ["a"], run_id="short")
    run = fl.store.get_run("long")
    assert run is not None and run.parameters is not None
    assert json.loads(run.parameters) == {"lr": "0.1", "text": LONG, "words": LONG}
    assert _ids(fl, text=long_text) == ["long"]
    assert _ids(fl, words=many) == ["long"]
    assert _ids(fl, text="short") == ["short"]
    assert _ids(fl, text="x") == []
    assert _ids(fl, words=["a"]) == ["short"]
    assert _ids(fl, lr=0.1, text=long_text) == ["long"]
    assert _ids(fl, lr=0.2, text=long_text) == []


def test_keyword_names_that_are_tagged_or_escaped_leave_the_run_to_its_stored_text(
    fl: flightlog.Flightlog,
) -> None:
    @fl.workflow
    def w(lr: float, **options: Any) -> float:
        return lr

    w.run(0.1, **{"__flightlog__": "x", "items": 1}, run_id="tagged")  # the codec tags them
    w.run(0.2, **{"a\x00b": 1, "tab\there": 2}, run_id="control")  # JSON escapes them
    w.run(0.3, plain=1, run_id="plain")
    for run_id in ("tagged", "control"):
        run = fl.store.get_run(run_id)
        assert run is not None and run.parameters is None
    assert _ids(fl, items=1) == ["tagged"]
    assert _ids(fl, items=[["__flightlog__", "x"], ["items", 1]]) == []
    assert _ids(fl, lr=0.2) == ["control"]  # every other run is still asked by name
    assert _ids(fl, **{"a\x00b": 1}) == ["control"]
    assert _ids(fl, plain=1) == ["plain"]
    assert _ids(fl, lr=0.3) == ["plain"]


def _track_twice(fl: flightlog.Flightlog) -> None:
    @fl.workflow
    def fit() -> None:
        flightlog.track(loss=1.0, step=1)

    @fl.task
    def later() -> None:
        flightlog.track(loss=0.1, step=2)

    @fl.workflow
    def fit_more() -> None:
        flightlog.track(loss=1.0, step=1)  # a chunk of the run's body, kept with its end
        later()  # a chunk of the step, written first

    fit.run(run_id="high")
    fit_more.run(run_id="across")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_chunk_written_without_its_last_point_is_compared_by_the_query_api(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """An older flightlog's process writes chunks without ``last_step``/``last_value``: the
    store cannot tell their last value, so it gives their runs for the query API to judge."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/mixed.db"
    else:
        url = request.getfixturevalue("postgres_url")
    with flightlog.open(url) as fl:
        _track_twice(fl)
        assert [run["run_id"] for run in fl.list_runs(metric=("loss", "<", 0.3))] == ["across"]
    # the step's chunk, as a process of an older flightlog writes it
    forget = (
        "UPDATE metrics SET last_step = NULL, last_value = NULL"
        " WHERE id = (SELECT min(id) FROM metrics WHERE name = 'loss' AND last_step = 2)"
    )
    if kind == "sqlite":
        with closing(sqlite3.connect(f"{tmp_path}/mixed.db")) as connection:
            connection.execute(forget)
            connection.commit()
    else:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(forget)
    with flightlog.open(url) as fl:
        assert [run["run_id"] for run in fl.list_runs(metric=("loss", "<", 0.3))] == ["across"]
        assert [run["run_id"] for run in fl.list_runs(metric=("loss", ">", 0.5))] == ["high"]


def test_an_upgrade_reads_a_few_rows_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the rows are grouped (here one at a time, two looked at per read), every run
    and metric chunk of the version-4 fixture gets its parameters and last point."""
    monkeypatch.setattr(sqlite_schema, "BACKFILL_BYTES", 1)
    monkeypatch.setattr(sqlite_schema, "BACKFILL_BATCH", 2)
    database = tmp_path / "v4.db"
    shutil.copy(FIXTURES / "sqlite_v4.db", database)
    with flightlog.open(f"sqlite:///{database}") as fl:
        assert _ids(fl, size=4) == ["resumed"]
        assert _ids(fl, n=5) == ["squares"]
        ids = [run["run_id"] for run in fl.list_runs(metric=("rows", "<", 3))]
        assert ids == ["plain"]
    with closing(sqlite3.connect(database)) as connection:
        runs = connection.execute(
            "SELECT count(*) FROM runs WHERE arguments IS NOT NULL AND parameters IS NULL"
        ).fetchone()
        chunks = connection.execute("SELECT count(*) FROM metrics WHERE last_step IS NULL")
        assert runs == (0,) and chunks.fetchone() == (0,)
