"""The store conformance suite's part on questions over many runs: selections, counts by
status, and steps a page at a time.

:class:`flightlog.testing.StoreContract` inherits :class:`SelectionStoreContract`, so that
every store must pass these tests too.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from .model import ErrorInfo, MetricChunk, Owner, Run, Status, Step
from .questions.stored_text import argument_text
from .selection import ArgumentText, RunSelection
from .stores import Store


def _run(run_id: str, created: float, **fields: Any) -> Run:
    values: dict[str, Any] = {
        "workflow": "train",
        "status": Status.RUNNING,
        "start_time": created,
        "created_time": created,
        "owner": Owner(host="host-a", pid=4242),
    }
    values.update(fields)
    return Run(run_id=run_id, **values)


def _step(run_id: str, position: int, status: Status = Status.SUCCESSFUL) -> Step:
    start = time.time()
    return Step(
        run_id=run_id,
        name=f"s_{position}",
        position=position,
        task_name="s",
        task_id="t" * 32,
        execution_id=f"{position:032x}",
        status=status,
        start_time=start,
        end_time=start + 0.1,
        result=str(position),
    )


def _ids(runs: list[Run]) -> list[str]:
    return [run.run_id for run in runs]


class SelectionStoreContract:
    """What every store answers about many runs at once."""

    def _populate(self, store: Store) -> None:
        store.create_run(
            _run("old", 1000.0, tag="a", user_metadata={"team": "nlp"}, arguments='{"lr":0.1}')
        )
        store.create_run(_run("mid", 2000.0, workflow="eval", user_metadata={"team": "cv"}))
        store.create_run(_run("new", 3000.0, tag="b", arguments='{"args":[],"kwargs":{"lr":0.2}}'))
        store.finish_run(
            "mid",
            status=Status.FAILED,
            end_time=2001.0,
            error=ErrorInfo("TimeoutError", "Gave up waiting", ""),
        )

    def test_select_runs_by_every_criterion(self, store: Store) -> None:
        self._populate(store)
        everything = RunSelection()
        assert _ids(store.select_runs(everything)) == ["new", "mid", "old"]
        assert _ids(store.select_runs(everything, offset=1)) == ["mid", "old"]
        assert _ids(store.select_runs(everything, offset=1, limit=1)) == ["mid"]
        assert _ids(store.select_runs(everything, limit=0)) == []
        assert _ids(store.select_runs(RunSelection(since=2000.0))) == ["new", "mid"]
        assert _ids(store.select_runs(RunSelection(until=2000.0))) == ["old"]
        assert _ids(store.select_runs(RunSelection(since=1500.0, until=2500.0))) == ["mid"]
        assert _ids(store.select_runs(RunSelection(workflow="eval"))) == ["mid"]
        assert _ids(store.select_runs(RunSelection(tag="b"))) == ["new"]
        failed = RunSelection(statuses=frozenset({Status.FAILED}))
        assert _ids(store.select_runs(failed)) == ["mid"]
        assert store.select_runs(RunSelection(statuses=frozenset())) == []

    def test_search_looks_in_ids_names_errors_metadata_and_arguments(self, store: Store) -> None:
        self._populate(store)
        assert _ids(store.select_runs(RunSelection(search="gave UP"))) == ["mid"]
        assert _ids(store.select_runs(RunSelection(search="timeouterror"))) == ["mid"]
        assert _ids(store.select_runs(RunSelection(search="NLP"))) == ["old"]
        assert _ids(store.select_runs(RunSelection(search="Ne"))) == ["new"]
        assert _ids(store.select_runs(RunSelection(search="EVAL"))) == ["mid"]
        assert store.select_runs(RunSelection(search="nowhere")) == []
        assert _ids(store.select_runs(RunSelection(search='"LR":0.1'))) == ["old"]  # arguments
        # one field at a time: the end of one and the start of the next do not make a match
        assert store.select_runs(RunSelection(search="TimeoutError: Gave")) == []

    def test_stored_text_contains_is_exact(self, store: Store) -> None:
        self._populate(store)
        assert _ids(store.select_runs(RunSelection(arguments_containing=('"lr":',)))) == [
            "new",
            "old",
        ]
        assert _ids(store.select_runs(RunSelection(arguments_containing=('"LR":',)))) == []
        both = RunSelection(arguments_containing=('"lr":', "0.2"))
        assert _ids(store.select_runs(both)) == ["new"]
        team = RunSelection(metadata_containing=('"team":"cv"',))
        assert _ids(store.select_runs(team)) == ["mid"]
        assert store.select_runs(RunSelection(metadata_containing=('"team":"CV"',))) == []

    def test_parameters_are_found_where_passed_or_left_at_a_recorded_default(
        self, store: Store
    ) -> None:
        self._populate(store)
        entry = {"entry": {"parameters": ["lr", "n"], "defaults": {"n": 5}}}
        store.create_run(
            _run("dflt", 4000.0, arguments='{"args":[0.2],"kwargs":{}}', environment=entry)
        )
        store.create_run(_run("five", 5000.0, arguments='{"args":[0.3,5.0],"kwargs":{}}'))

        def ids(*wanted: ArgumentText) -> list[str]:
            return _ids(store.select_runs(RunSelection(parameters=wanted)))

        lr = ArgumentText(passed=((":0.2}", "[0.2]"),), default=('"lr":0.2}',))
        assert ids(lr) == ["dflt", "new"]
        five = ArgumentText(passed=((",5]", ",5.0]"),), default=('"n":5}', '"n":5,'))
        assert ids(five) == ["five", "dflt"]
        assert ids(lr, five) == ["dflt"]
        # one text of every group must be there (the items of a list); or one default text
        assert ids(ArgumentText(passed=(("0.3",), ("5",)), default=('"n":',))) == [
            "five",
            "dflt",
        ]
        assert ids(ArgumentText(passed=(("0.3",), ("6", "7")), default=('"m":',))) == []
        assert ids(ArgumentText(passed=(("9",),), default=('"n":9}', '"n":9,'))) == []
        assert ids(ArgumentText(passed=(("9", "[0.3"),), default=())) == ["five"]
        nothing = ArgumentText(passed=(), default=())  # nothing to look for: every run
        assert ids(nothing) == ["five", "dflt", "new", "mid", "old"]

    def test_parameters_are_kept_by_name_and_looked_at_there(self, store: Store) -> None:
        """Each run's parameters by name (``Run.parameters``), derived by the store; a value
        asked for by name is looked for under that name, not anywhere in the arguments."""
        names = ["lr", "epochs", "*rest", "**extra"]
        entry: dict[str, Any] = {"entry": {"parameters": names, "defaults": {"epochs": 3}}}
        runs = {
            "a": '{"args":[0.5,1],"kwargs":{}}',
            "b": '{"args":[1.0,2,7,8],"kwargs":{"tag":"x"}}',
            "c": '{"args":[0.1],"kwargs":{}}',  # epochs left at its default
            "d": '{"args":[],"kwargs":{"lr":{"__flightlog__":"decimal","value":"1"}}}',
        }
        for number, (run_id, arguments) in enumerate(runs.items()):
            store.create_run(_run(run_id, 1000.0 + number, arguments=arguments, environment=entry))
        store.create_run(_run("e", 2000.0, arguments='{"args":[1],"kwargs":{}}'))  # no names
        b = store.get_run("b")
        assert b is not None and b.parameters is not None
        assert json.loads(b.parameters) == {
            "lr": "1.0",
            "epochs": "2",
            "rest": "[7,8]",
            "tag": '"x"',
        }
        e = store.get_run("e")
        assert e is not None and e.parameters == '{"args[0]":"1"}'

        def ids(name: str, value: Any) -> list[str]:
            wanted = RunSelection(parameters=(argument_text(name, value),))
            return _ids(store.select_runs(wanted))

        # a 1 passed as another parameter (a's epochs, e's only argument) is not lr=1; a value
        # the codec tags (d's) may be, and is left for the query API to decode
        assert ids("lr", 1) == ["d", "b"]
        assert ids("epochs", 1) == ["a"]
        assert ids("epochs", 3) == ["d", "c"]  # left at its default
        assert ids("lr", 0.1) == ["d", "c"]
        assert ids("rest", [7, 8]) == ["b"]
        assert ids("rest", [8]) == []
        assert ids("tag", "x") == ["b"]
        assert ids("tag", "y") == []
        assert ids("missing", 1) == []
        # the run's arguments change with it
        store.put_run(replace(b, arguments='{"args":[0.5,1],"kwargs":{}}'))
        assert ids("lr", 1) == ["d"]
        assert ids("epochs", 1) == ["b", "a"]

    def test_runs_that_recorded_a_metric(self, store: Store) -> None:
        self._populate(store)
        chunk = MetricChunk("loss", None, None, [0, 1], [0.5, 0.25], [1.0, 2.0])
        store.record_tracked("old", metrics=[chunk])
        store.record_tracked("new", metrics=[replace(chunk, name="accuracy")])
        assert _ids(store.select_runs(RunSelection(metric_names=("loss",)))) == ["old"]
        assert _ids(store.select_runs(RunSelection(metric_names=("accuracy",)))) == ["new"]
        assert store.select_runs(RunSelection(metric_names=("loss", "accuracy"))) == []
        assert store.select_runs(RunSelection(metric_names=("LOSS",))) == []
        with_tag = RunSelection(metric_names=("loss",), tag="a")
        assert _ids(store.select_runs(with_tag)) == ["old"]
        assert store.count_statuses(with_tag).runs == {Status.RUNNING: 1}

    def test_runs_whose_last_value_of_a_metric_passes_a_comparison(self, store: Store) -> None:
        """The last value is the one at the highest series step, the last written among
        equal steps, across the run's chunks in the order written."""
        self._populate(store)
        store.create_run(_run("four", 4000.0))

        def loss(steps: list[int], values: list[Any]) -> MetricChunk:
            return MetricChunk("loss", None, None, steps, values, [1.0] * len(steps))

        # old: 0.25 (its highest step); new: a later chunk at a lower step leaves 0.1 last
        store.record_tracked("old", metrics=[loss([0, 1], [0.5, 0.25])])
        store.record_tracked("new", metrics=[loss([5], [0.1]), loss([3], [0.9]), loss([], [])])
        # mid: equal steps, the last written wins, within a chunk and across chunks
        store.record_tracked("mid", metrics=[loss([2, 2], [0.3, 0.7])])
        store.record_tracked("four", metrics=[loss([1], [0.0]), loss([1], [2])])
        store.record_tracked("four", metrics=[MetricChunk("acc", None, None, [9], [0.0], [1.0])])

        def ids(symbol: str, bound: float, name: str = "loss") -> list[str]:
            wanted = RunSelection(metric_names=(name,), metric_bounds=((name, symbol, bound),))
            return _ids(store.select_runs(wanted))

        assert ids("<", 0.3) == ["new", "old"]
        assert ids("<=", 0.25) == ["new", "old"]
        assert ids(">", 0.5) == ["four", "mid"]
        assert ids(">=", 2) == ["four"]
        assert ids("==", 0.7) == ["mid"]
        assert ids("!=", 0.7) == ["four", "new", "old"]
        assert ids("<", 0.0) == []
        assert ids("<", 1.0, "acc") == ["four"]
        assert ids("<", 1.0, "nothing") == []
        # paged like any selection, and counted
        both = RunSelection(metric_names=("loss",), metric_bounds=(("loss", "<", 1.0),))
        assert _ids(store.select_runs(both, offset=1, limit=1)) == ["mid"]
        assert store.count_statuses(both).runs == {Status.RUNNING: 2, Status.FAILED: 1}

    def test_metrics_of_many_runs_at_once(self, store: Store) -> None:
        self._populate(store)
        chunk = MetricChunk("loss", None, None, [0, 1], [0.5, 0.25], [1.0, 2.0])
        later = MetricChunk("loss", None, None, [2], [0.125], [3.0])
        store.record_tracked("old", metrics=[chunk, later])
        store.record_tracked("new", metrics=[replace(chunk, name="accuracy")])
        found = store.metrics_of_runs(["new", "mid", "ghost", "old", "old"], "loss")
        assert list(found) == ["old"]
        assert [list(each.values) for each in found["old"]] == [[0.5, 0.25], [0.125]]
        assert found["old"] == store.list_metrics("old", "loss")
        assert list(store.metrics_of_runs(["old", "new"], "accuracy")) == ["new"]
        assert store.metrics_of_runs([], "loss") == {}

    def test_counts_by_status_for_running_and_finished_runs(self, store: Store) -> None:
        self._populate(store)
        for position in range(3):
            store.finish_step(_step("old", position))
        store.finish_step(_step("old", 3, Status.FAILED))
        store.finish_run("old", status=Status.FAILED, end_time=1001.0)
        store.finish_step(_step("new", 0))
        store.start_step(_step("new", 1, Status.RUNNING))
        counts = store.count_statuses(RunSelection())
        assert counts.runs == {Status.FAILED: 2, Status.RUNNING: 1}
        assert counts.steps == {Status.SUCCESSFUL: 4, Status.FAILED: 1, Status.RUNNING: 1}
        newer = store.count_statuses(RunSelection(since=1500.0))
        assert newer.runs == {Status.FAILED: 1, Status.RUNNING: 1}
        assert newer.steps == {Status.SUCCESSFUL: 1, Status.RUNNING: 1}
        train = store.count_statuses(RunSelection(workflow="train", until=2000.0))
        assert train.runs == {Status.FAILED: 1}
        assert train.steps == {Status.SUCCESSFUL: 3, Status.FAILED: 1}
        got = store.get_run("old")
        assert got is not None and got.step_count == 4

    def test_counts_follow_a_resumed_run(self, store: Store) -> None:
        self._populate(store)
        store.finish_step(_step("old", 0, Status.FAILED))
        store.finish_run("old", status=Status.FAILED, end_time=1001.0)
        old = store.get_run("old")
        assert old is not None
        store.restart_run(
            "old",
            expected_resumes=old.resumes,
            owner=Owner(host="host-b", pid=7),
            start_time=1002.0,
            lease_expires=None,
        )
        store.finish_step(_step("old", 0))
        store.finish_step(_step("old", 1))
        selection = RunSelection(workflow="train", until=2000.0)
        assert store.count_statuses(selection).steps == {Status.SUCCESSFUL: 2}
        store.finish_run("old", status=Status.SUCCESSFUL, end_time=1003.0)
        counts = store.count_statuses(selection)
        assert counts.runs == {Status.SUCCESSFUL: 1}
        assert counts.steps == {Status.SUCCESSFUL: 2}
        listed = store.select_runs(selection)
        assert [run.step_count for run in listed] == [2]

    def test_steps_page(self, store: Store) -> None:
        store.create_run(_run("big", 1000.0))
        for position in range(10):
            store.finish_step(_step("big", position))
        names = [step.name for step in store.steps_page("big", offset=3, limit=4)]
        assert names == ["s_3", "s_4", "s_5", "s_6"]
        assert [step.position for step in store.steps_page("big", after=7)] == [8, 9]
        assert [step.position for step in store.steps_page("big", after=2, limit=2)] == [3, 4]
        assert [step.position for step in store.steps_page("big", offset=8)] == [8, 9]
        assert store.steps_page("missing") == []
        page = store.steps_page("big", limit=1)[0]
        assert page == store.list_steps("big")[0]
