"""The store conformance suite's part on runs in a chosen order, a page at a time
(``order_runs``), the workflow names of a selection (``workflow_names``) and how many runs
it holds by status (``count_runs``).

:class:`flightlog.testing.StoreContract` inherits :class:`OrderingStoreContract`, so that
every store must pass these tests too.
"""

from __future__ import annotations

import pytest

from .errors import InvalidInputError
from .model import ErrorInfo, Run, Status
from .selection import RunSelection
from .stores import Store
from .stores.python_ordering import RUN_ORDERS, stored_order_key


def _ids(runs: list[Run]) -> list[str]:
    return [run.run_id for run in runs]


# run id, workflow, tag, start, duration (None: still running), status at the end
_RUNS = [
    ("r-b", "train", "Zeta", 1000.0, 5.0, Status.SUCCESSFUL),
    ("r-a", "Eval", None, 1010.0, 1.0, Status.FAILED),
    ("r-d", "train", "alpha", 1005.0, 5.0, Status.SUCCESSFUL),
    ("r-c", "eval", "", 1020.0, None, Status.RUNNING),
    ("r-e", "train", "beta", 1030.0, 0.5, Status.CANCELED),
]


class OrderingStoreContract:
    """What every store answers about runs in order."""

    def _populate_ordered(self, store: Store) -> None:
        for number, (run_id, workflow, tag, start, took, status) in enumerate(_RUNS):
            store.create_run(
                Run(run_id, workflow, Status.RUNNING, tag=tag, arguments=f'{{"n":{number}}}',
                    created_time=start, start_time=start)
            )  # fmt: skip
            if took is not None:
                store.finish_run(
                    run_id,
                    status=status,
                    end_time=start + took,
                    error=ErrorInfo("ValueError", "bad", "") if status is Status.FAILED else None,
                )

    def test_order_runs_by_every_order_either_way(self, store: Store) -> None:
        self._populate_ordered(store)
        every = store.select_runs(RunSelection())
        assert _ids(every) == ["r-e", "r-c", "r-d", "r-a", "r-b"]
        for order in RUN_ORDERS:
            for descending in (True, False):
                if order == "created":
                    expected = every if descending else every[::-1]
                else:  # stable: ties stay newest first either way
                    expected = sorted(every, key=stored_order_key(order), reverse=descending)
                found = store.order_runs(RunSelection(), order=order, descending=descending)
                assert _ids(found) == _ids(expected), (order, descending)
                page = store.order_runs(
                    RunSelection(), order=order, descending=descending, offset=1, limit=2
                )
                assert _ids(page) == _ids(expected)[1:3], (order, descending)
                assert (
                    _ids(store.order_runs(RunSelection(), order=order, offset=2))
                    == _ids(store.order_runs(RunSelection(), order=order))[2:]
                )

    def test_order_runs_ties_and_text_by_code_point(self, store: Store) -> None:
        self._populate_ordered(store)
        by_duration = store.order_runs(RunSelection(), order="duration", descending=False)
        assert _ids(by_duration) == ["r-c", "r-e", "r-a", "r-d", "r-b"]  # r-c runs: 0
        by_tag = store.order_runs(RunSelection(), order="tag", descending=False)
        assert _ids(by_tag) == ["r-c", "r-a", "r-b", "r-d", "r-e"]  # "", none, Z before a
        by_workflow = store.order_runs(RunSelection(), order="workflow")
        assert _ids(by_workflow) == ["r-e", "r-d", "r-b", "r-c", "r-a"]
        assert [run.step_count for run in by_workflow] == [0] * 5

    def test_order_runs_within_a_selection(self, store: Store) -> None:
        self._populate_ordered(store)
        train = RunSelection(workflow="train")
        assert _ids(store.order_runs(train, order="start")) == ["r-e", "r-d", "r-b"]
        finished = RunSelection(statuses=frozenset({Status.SUCCESSFUL, Status.FAILED}))
        assert _ids(store.order_runs(finished, order="status", descending=False)) == [
            "r-a",
            "r-d",
            "r-b",
        ]
        assert store.order_runs(RunSelection(search="nowhere"), order="tag") == []
        assert store.order_runs(RunSelection(), order="tag", offset=9) == []
        assert store.order_runs(RunSelection(), order="tag", limit=0) == []

    def test_unknown_order_is_named(self, store: Store) -> None:
        with pytest.raises(InvalidInputError, match="unknown order 'size'"):
            store.order_runs(RunSelection(), order="size")

    def test_count_runs_by_stored_status(self, store: Store) -> None:
        assert store.count_runs(RunSelection()) == {}
        self._populate_ordered(store)
        assert store.count_runs(RunSelection()) == {
            Status.SUCCESSFUL: 2,
            Status.FAILED: 1,
            Status.RUNNING: 1,
            Status.CANCELED: 1,
        }
        assert store.count_runs(RunSelection(workflow="train", tag="alpha")) == {
            Status.SUCCESSFUL: 1
        }
        assert store.count_runs(RunSelection(search='"N":4')) == {Status.CANCELED: 1}
        finished = RunSelection(statuses=frozenset({Status.FAILED, Status.RUNNING}))
        assert store.count_runs(finished) == {Status.FAILED: 1, Status.RUNNING: 1}
        assert store.count_runs(RunSelection(search="nowhere")) == {}
        for selection in (RunSelection(), RunSelection(workflow="eval"), finished):
            assert store.count_runs(selection) == store.count_statuses(selection).runs

    def test_workflow_names_of_a_selection(self, store: Store) -> None:
        assert store.workflow_names(RunSelection()) == []
        self._populate_ordered(store)
        assert store.workflow_names(RunSelection()) == ["Eval", "eval", "train"]
        assert store.workflow_names(RunSelection(tag="alpha")) == ["train"]
        assert store.workflow_names(RunSelection(since=1010.0, until=1021.0)) == ["Eval", "eval"]
