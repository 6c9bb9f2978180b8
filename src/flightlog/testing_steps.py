"""The store conformance suite's part on listing a run's steps: ``fl.steps()``, its pages and
``iter_steps`` give, on every store, exactly the dicts that the generic path makes from
:meth:`Store.list_steps` and :meth:`flightlog.query.Queries.step_metadata`, key for key,
value for value and type for type, whether or not the store reads them straight from rows
(:class:`flightlog.stores.StepRowStore`).

:class:`flightlog.testing.StoreContract` inherits :class:`StepListingStoreContract`;
:func:`generic_steps` and :func:`assert_same` serve tests of whole recorded runs too.
"""

from __future__ import annotations

import itertools
import math
from typing import Any
from unittest import mock

from . import codec, query
from .model import Attempt, ErrorInfo, Origin, Run, Status, Step, TaskRecord
from .notebook import StepList
from .query import Queries
from .questions.runs import RunQuestions
from .stores import Store

_START = 1_796_410_076.177672  # a time with all its digits: floats must come back exactly


def generic_steps(queries: Queries, run_id: str, *, results: bool = False) -> list[Any]:
    """The run's steps as the generic path makes them: a Step per step, then its dict."""
    tasks: dict[str, Any] = {}
    steps = queries.store.list_steps(run_id)
    found = [queries.step_metadata(step, tasks) for step in steps]
    if results:
        for step, metadata in zip(steps, found, strict=True):
            metadata["result"] = queries._arguments(step.result)
    return found


def assert_same(got: Any, expected: Any, where: str = "steps") -> None:
    """``got`` is ``expected``, down to every type and the order of every dict's keys (where
    ``==`` would let ``1 == 1.0 == True`` and ``{"a": 1, "b": 2} == {"b": 2, "a": 1}`` by)."""
    assert type(got) is type(expected), f"{where}: {type(got).__name__}, not {type(expected)}"
    if isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)}, not {list(expected)}"
        for key, value in expected.items():
            assert_same(got[key], value, f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), f"{where}: {len(got)} items, not {len(expected)}"
        for index, (item, wanted) in enumerate(zip(got, expected, strict=True)):
            assert_same(item, wanted, f"{where}[{index}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), f"{where}: {got!r}, not nan"
    else:
        assert got == expected, f"{where}: {got!r:.300}, not {expected!r:.300}"


def assert_unshared(listing: list[Any]) -> None:
    """No step shares a dict or list of its own with another step or field (its options,
    metadata, stats, attempts, an attempt, an error): changing one changes nothing else, as
    with the generic path (which copies a task's options and metadata, shallowly, per step)."""
    seen: set[int] = set()
    for step in listing:
        parts = [step, step["step_options"], step["user_metadata"], step["stats"]]
        parts += [step["attempts"], *step["attempts"], step["error"]]
        parts += [attempt["error"] for attempt in step["attempts"]]
        for part in parts:
            if part is not None:
                assert id(part) not in seen, f"shared: {part!r:.200} (step {step['name']})"
                seen.add(id(part))


def assert_listings_match(queries: Queries, run_id: str) -> list[Any]:
    """Every way of listing the run's steps gives what the generic path gives; returns them."""
    expected = generic_steps(queries, run_id)
    for results, page in itertools.product((False, True), (query.ROWS_PAGE, 1, 3)):
        with mock.patch.object(query, "ROWS_PAGE", page):  # where a store reads rows by pages
            listed = queries.steps(run_id, results=results)
        assert type(listed) is StepList
        assert_unshared(listed)
        wanted = generic_steps(queries, run_id, results=results) if results else expected
        assert_same(list(listed), wanted, f"steps(results={results}), pages of {page}")
    questions = RunQuestions(queries)
    assert_same(questions.steps(run_id), expected)
    for offset, limit in ((0, 1), (1, 3), (2, None), (len(expected) - 1, 5), (len(expected), 2)):
        wanted = expected[offset:] if limit is None else expected[offset : offset + limit]
        assert_same(questions.steps(run_id, offset=offset, limit=limit), wanted)
    for page in (1, 2, 3, 1000):
        assert_same(list(questions.iter_steps(run_id, page=page)), expected)
    return expected


class StepListingStoreContract:
    def _rich_run(self, store: Store) -> None:
        store.create_run(Run("rich", "flow", Status.RUNNING, start_time=_START))
        store.record_task(
            TaskRecord(
                "t" * 32,
                "work",
                "1",
                options={"retries": 2, "timeout": 5.0},
                user_metadata={"owner": "me", "tags": ["a"]},
            )
        )
        store.record_task(TaskRecord("u" * 32, "other", "1"))
        boom = ErrorInfo("ValueError", 'bad "input" é\n\ttab', "Traceback …\n  line 1\n")
        retried = [
            Attempt(1, _START, _START + 0.25, Status.FAILED, boom),
            Attempt(2, _START + 0.5, _START + 1.125, Status.SUCCESSFUL),
        ]
        typed = codec.encode(b"\x00bytes")
        steps = [
            Step("rich", "work", 0, "work", "t" * 32, "e0", None, Status.SUCCESSFUL, _START,
                 _START + 0.000123, arguments='{"args":[1,2.5,"x"],"kwargs":{}}', result="3"),
            Step("rich", "work_1", 1, "work", "t" * 32, "e1", None, Status.SUCCESSFUL, _START,
                 _START + 2, retried, '{"args":[],"kwargs":{"n":null}}', '{"a":[1,{}]}',
                 user_metadata={"owner": "you", "n": 1}, options={"retries": 5, "extra": True},
                 log="line one\nünïcode ✓ \x01\x1f\x7f\u2028 \\ \"q\"\n"),
            Step("rich", "work_2", 2, "work", "t" * 32, "e2", "work_1", Status.FAILED, _START,
                 _START + 3, arguments=typed, error=boom, reason="arguments changed"),
            Step("rich", "other", 3, "other", "u" * 32, "e3", None, Status.SUCCESSFUL, _START,
                 _START + 1, [Attempt(1, _START, _START + 1, Status.SUCCESSFUL)], "[1]", "2",
                 origin=Origin.REPLAYED, source_run="earlier"),
            Step("rich", "other_1", 4, "other", "u" * 32, "e4", None, Status.SUCCESSFUL,
                 _START, _START, arguments="{not json", result="{not json either",
                 origin=Origin.CACHED, source_run="elsewhere", cache=True),
            Step("rich", "missing", 5, "missing", "v" * 32, None, "other", Status.CANCELED,
                 None, _START + 4, log="cancelled\n"),
            Step("rich", "work_3", 6, "work", "t" * 32, "e6", None, Status.PENDING),
            Step("rich", "work_4", 7, "work", "t" * 32, "e7", None, Status.RUNNING, _START + 5,
                 options={}, user_metadata={}),
        ]  # fmt: skip
        for step in steps[:-1]:
            store.finish_step(step)
        store.start_step(steps[-1])

    def test_listing_steps_gives_what_the_generic_path_gives(self, store: Store) -> None:
        self._rich_run(store)
        queries = Queries(store)
        expected = assert_listings_match(queries, "rich")
        assert [step["name"] for step in expected] == [
            *("work", "work_1", "work_2", "other", "other_1", "missing", "work_3", "work_4")
        ]
        work_1 = expected[1]
        assert work_1["step_options"] == {"retries": 5, "timeout": 5.0, "extra": True}
        assert work_1["user_metadata"] == {"owner": "you", "tags": ["a"], "n": 1}
        assert [attempt["status"] for attempt in work_1["attempts"]] == ["FAILED", "SUCCESSFUL"]
        assert expected[2]["attempts"][0]["error"] == expected[2]["error"]
        assert expected[2]["arguments"] == b"\x00bytes"
        assert "unreadable" in expected[4]["arguments"]
        assert [step["origin"] for step in expected[3:5]] == ["replayed", "cached"]
        assert expected[6]["attempts"] == [] and expected[6]["stats"] == {"start_time": None}

    def test_listed_steps_are_each_their_own(self, store: Store) -> None:
        self._rich_run(store)
        queries = Queries(store)
        first, second = queries.steps("rich")[:2]
        first["step_options"]["changed"] = 1
        first["user_metadata"]["changed"] = 1
        assert "changed" not in second["step_options"]
        assert "changed" not in second["user_metadata"]
        assert "changed" not in queries.steps("rich")[0]["step_options"]

    def test_listing_an_unknown_or_empty_run(self, store: Store) -> None:
        store.create_run(Run("empty", "flow", Status.RUNNING, start_time=_START))
        queries = Queries(store)
        assert queries.steps("empty") == []
        assert RunQuestions(queries).steps("empty", offset=1, limit=2) == []
        assert list(RunQuestions(queries).iter_steps("empty")) == []
