"""``fl.steps()`` of recorded runs, straight from a store's rows where the store can (SQLite,
PostgreSQL), gives exactly what the generic path gives, on every store."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.notebook import StepList
from flightlog.stores import StepRowStore, open_store
from flightlog.testing_steps import assert_listings_match, assert_same, generic_steps

from ..store_urls import store_url


def _record(fl: flightlog.Flightlog) -> None:
    """Runs with retries, errors, children, logs, metrics, typed values, cache hits and a
    resume that replays."""
    failures = {"flaky": 1, "finish": 1}

    @fl.task(retries=2, metadata={"kind": "io"})
    def flaky(x: int) -> dict[str, Any]:
        print(f"try of flaky({x}) ✓")
        flightlog.track(progress=x / 2)
        if failures["flaky"]:
            failures["flaky"] -= 1
            raise ConnectionError("flaky network")
        return {"x": x, "when": dt.datetime(2026, 12, 4, 12, 30), "raw": b"\x01\x02"}

    @fl.task(cache=True)
    def square(x: float) -> float:
        return x * x

    @fl.task
    def child(value: float) -> float:
        return square(value) + 0.5

    @fl.task
    def finish(total: float) -> float:
        if failures["finish"]:
            failures["finish"] -= 1
            raise RuntimeError("stopped on purpose: 'quoted' and \"double\"\nsecond line")
        return total

    @fl.workflow(metadata={"team": "nlp"})
    def pipeline(n: int, scale: float = 1.5) -> float:
        flaky(n)
        total = sum(child(index * scale) for index in range(n))
        total += square(2.0)
        return finish(total)

    with pytest.raises(RuntimeError):
        pipeline.run(3, run_id="rich")
    assert fl.resume("rich") == pytest.approx(0.5 + 2.75 + 9.5 + 4.0)
    pipeline.run(3, run_id="again")  # square's results served from the cache


def test_recorded_runs_list_as_on_the_generic_path(fl: flightlog.Flightlog) -> None:
    _record(fl)
    for run_id in ("rich", "again"):
        expected = assert_listings_match(fl._queries, run_id)
        listed = fl.steps(run_id, results=True)
        assert type(listed) is StepList
        assert_same(list(listed), generic_steps(fl._queries, run_id, results=True))
        assert_same(fl.steps(run_id, offset=1, limit=2), StepList(expected[1:3]))
        assert_same(list(fl.iter_steps(run_id, page=2)), expected)
    rich = {step["name"]: step for step in fl.steps("rich", results=True)}
    assert {step["origin"] for step in rich.values()} == {"executed", "replayed"}
    assert rich["flaky"]["origin"] == "replayed"
    assert [a["status"] for a in rich["flaky"]["attempts"]] == ["FAILED", "SUCCESSFUL"]
    assert rich["flaky"]["result"]["when"] == dt.datetime(2026, 12, 4, 12, 30)
    assert rich["square"]["parent"] == "child"
    assert rich["finish"]["origin"] == "executed"
    again = {step["name"]: step for step in fl.steps("again")}
    assert again["square_3"]["origin"] == "cached"


def test_the_sql_stores_read_rows(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for kind in ("sqlite", "postgres"):
        store = open_store(store_url(kind, request, tmp_path))
        try:
            assert isinstance(store, StepRowStore)
        finally:
            store.close()
    for kind in ("memory", "files"):
        store = open_store(store_url(kind, request, tmp_path))
        try:
            assert not isinstance(store, StepRowStore)  # these use the generic path
        finally:
            store.close()


@pytest.mark.parametrize(
    ("got", "expected"),
    [
        ([{"a": 1}], [{"a": 1.0}]),
        ([{"a": 1}], [{"a": True}]),
        ([{"a": 1, "b": 2}], [{"b": 2, "a": 1}]),
        ([{"a": [1, 2]}], [{"a": [1, 2, 3]}]),
        ([{"a": {"b": None}}], [{"a": {"b": ""}}]),
        ([{"a": (1,)}], [{"a": [1]}]),
        ([{"a": 0.1 + 0.2}], [{"a": 0.3}]),
    ],
)
def test_the_comparison_sees_every_difference(got: Any, expected: Any) -> None:
    with pytest.raises(AssertionError):
        assert_same(got, expected)
    assert_same(expected, expected)


def test_listing_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    with flightlog.open(f"sqlite:///{tmp_path}/store.db") as fl:

        @fl.task
        def add(x: int) -> int:
            return x + 1

        @fl.workflow
        def many(n: int) -> int:
            return sum(add(index) for index in range(n))

        many.run(50, run_id="many")
        assert gc.isenabled()
        assert len(fl.steps("many")) == 50 and gc.isenabled()
        assert len(fl.steps("many", offset=10, limit=20)) == 20 and gc.isenabled()
        gc.freeze()  # the program's own frozen objects stay frozen
        try:
            frozen = gc.get_freeze_count()
            assert frozen > 1000
            fl.steps("many")
            # (a few frozen objects may be freed meanwhile; none is unfrozen)
            assert gc.get_freeze_count() > frozen - 100 and gc.isenabled()
        finally:
            gc.unfreeze()
        gc.disable()  # and a collector the program paused stays paused
        try:
            fl.steps("many")
            assert not gc.isenabled()
        finally:
            gc.enable()
