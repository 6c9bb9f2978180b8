"""The runs page answered by the store (selection, counts, ordering) gives what reading every
run gives, for every filter, sort, direction and page, with running, dead and collection runs
among them; and it never reads every run."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flightlog
from flightlog.browse import RunFilter
from flightlog.browse.filters import RUN_SORTS
from flightlog.model import ErrorInfo, Run, Status
from flightlog.resources.view import PREFIX
from flightlog.runtime.liveness import effective_end, effective_status
from flightlog.selection import RunSelection, run_matches
from flightlog.stores import Store, open_store
from flightlog.testing import make_step

NOW = time.time() - 10_000


def record(fl: flightlog.Flightlog) -> None:
    """Runs with ties in every column, two of them RUNNING (one whose owner is gone), some
    with steps, and a resource collection."""
    for number in range(26):
        run_id = f"run-{(number * 7) % 26:02d}"  # ids not in creation order
        created = NOW + number
        start = created + (number % 4) * 10  # ties, and a start order not the creation order
        fl.store.create_run(
            Run(run_id, ["flow0", "Flow1", "flow2"][number % 3], Status.RUNNING,
                tag=[None, "t0", "T1"][number % 3 if number % 5 else 0],
                arguments=f'{{"n":{number},"label":"Needle-{number % 4}"}}',
                created_time=created, start_time=start, lease_expires=time.time() + 3600)
        )  # fmt: skip
        for position in range(number % 3):
            fl.store.finish_step(make_step(run_id, position))
        if number in (20, 24):
            continue  # RUNNING: 20 alive (its lease holds), 24 gone (below)
        status = [Status.SUCCESSFUL, Status.FAILED, Status.CANCELED][
            number % 3 if number % 4 else 0
        ]
        fl.store.finish_run(
            run_id,
            status=status,
            end_time=start + (number % 5),
            error=ErrorInfo("ValueError", f"bad {number}", "") if status is Status.FAILED else None,
        )
    dead = fl.store.get_run(f"run-{(24 * 7) % 26:02d}")
    assert dead is not None
    fl.store.renew_leases([dead.run_id], time.time() - 5)  # its owner stopped renewing it

    @fl.resource("pictures")
    def compute(ident: str, args: object, ctx: object) -> str:
        return ident

    fl.fetch("pictures", "a")
    fl.fetch("pictures", "b")


def reference(
    fl: flightlog.Flightlog, chosen: RunFilter, sort: str, descending: bool, offset: int, limit: int
) -> dict[str, Any]:
    """The page as read from every run (the way the page was built before the store could
    answer it)."""
    runs = fl.store.list_runs(workflow=chosen.workflow, tag=chosen.tag)
    if chosen.tag is None and (chosen.workflow is None or chosen.workflow.startswith(PREFIX)):
        name = chosen.workflow
        runs += fl._queries.resources.runs(None if name is None else name[len(PREFIX) :])
    workflows = sorted({run.workflow for run in runs})
    since = float("-inf") if chosen.since is None else chosen.since
    until = float("inf") if chosen.until is None else chosen.until
    runs = [run for run in runs if since <= (run.created_time or 0.0) <= until]
    if chosen.text:
        runs = [run for run in runs if run_matches(run, RunSelection(search=chosen.text))]
    statuses = {run.run_id: effective_status(run) for run in runs}
    counts = {status.value: 0 for status in Status}
    for status in statuses.values():
        counts[status.value] += 1
    if chosen.statuses:
        runs = [run for run in runs if statuses[run.run_id] in chosen.statuses]

    def duration(run: Run) -> float:
        end = effective_end(run, statuses[run.run_id])
        return 0.0 if run.start_time is None or end is None else end - run.start_time

    keys: dict[str, Callable[[Run], Any]] = {
        "created": lambda run: run.created_time or 0.0,
        "start": lambda run: run.start_time or 0.0,
        "duration": duration,
        "status": lambda run: statuses[run.run_id].value,
        "steps": lambda run: run.step_count,
        "tag": lambda run: run.tag or "",
        "workflow": lambda run: run.workflow,
        "run_id": lambda run: run.run_id,
    }
    runs.sort(key=keys[sort], reverse=descending)
    return {
        "total": len(runs),
        "counts": counts,
        "workflows": workflows,
        "offset": offset,
        "limit": limit,
        "runs": [fl._queries.run_metadata(run) for run in runs[offset : offset + limit]],
    }


FILTERS = [
    RunFilter(),
    RunFilter(statuses=frozenset({Status.FAILED})),
    RunFilter(statuses=frozenset({Status.RUNNING})),
    RunFilter(statuses=frozenset({Status.RESUMABLE, Status.SUCCESSFUL})),
    RunFilter(workflow="Flow1"),
    RunFilter(tag="t0", since=NOW + 3, until=NOW + 20),
    RunFilter(text="needle-1"),
    RunFilter(workflow=f"{PREFIX}pictures"),
]


def test_every_view_equals_the_page_read_from_every_run(fl: flightlog.Flightlog) -> None:
    record(fl)
    checked = 0
    for chosen in FILTERS:
        for sort in RUN_SORTS:
            for descending in (True, False):
                for offset, limit in ((0, 50), (3, 4), (20, 5)):
                    page = fl.browse.runs(
                        chosen, sort=sort, descending=descending, offset=offset, limit=limit
                    )
                    expected = reference(fl, chosen, sort, descending, offset, limit)
                    assert page == expected, (chosen, sort, descending, offset)
                    checked += bool(page["runs"])
    assert checked > 200  # most views are not empty
    every = fl.browse.runs()
    assert every["total"] == 27 and every["counts"]["RUNNING"] == 1
    assert every["counts"]["RESUMABLE"] == 1
    assert every["workflows"] == ["Flow1", "flow0", "flow2", f"{PREFIX}pictures"]


class CountingStore:
    """A store that notes every run it reads, and how it was asked."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.listed: list[str] = []
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if name not in ("list_runs", "select_runs", "order_runs"):
            return found

        def counted(*args: Any, **options: Any) -> Any:
            runs = found(*args, **options)
            self.read += len(runs)
            only_running = args and args[0].statuses == frozenset({Status.RUNNING})
            if name == "list_runs" or (options.get("limit") is None and not only_running):
                self.listed.append(name)
            return runs

        return counted


def test_no_view_reads_every_run(tmp_path: Path) -> None:
    with flightlog.open(f"sqlite:///{tmp_path}/runs.db") as writer:
        record(writer)
        for number in range(300):  # many more runs than a page
            writer.store.create_run(
                Run(f"more-{number}", "flow0", Status.RUNNING, arguments="{}",
                    created_time=NOW - 1000 + number, start_time=NOW - 1000 + number)
            )  # fmt: skip
            writer.store.finish_run(f"more-{number}", status=Status.SUCCESSFUL, end_time=NOW)
    store = CountingStore(open_store(f"sqlite:///{tmp_path}/runs.db"))
    fl = flightlog.Flightlog(store)  # type: ignore[arg-type]
    try:
        for chosen in FILTERS:
            for sort in RUN_SORTS:
                for descending in (True, False):
                    for offset in (0, 150):
                        store.read = 0
                        fl.browse.runs(chosen, sort=sort, descending=descending, offset=offset)
                        assert store.listed == []
                        # the page, the runs going now (2), and held runs' share (4 at most)
                        assert store.read <= 50 + 2 + 4, (chosen, sort, descending, offset)
    finally:
        fl.close()


def test_the_page_names_a_new_workflow_when_as_many_runs_were_deleted(
    fl: flightlog.Flightlog,
) -> None:
    """A store kept at the same number of runs (old ones deleted as new ones come, as a
    retention policy does) still shows the workflows of its new runs."""

    def add(run_id: str, workflow: str, created: float) -> None:
        fl.store.create_run(
            Run(run_id, workflow, Status.RUNNING, arguments="{}", created_time=created,
                start_time=created)
        )  # fmt: skip
        fl.store.finish_run(run_id, status=Status.SUCCESSFUL, end_time=created + 1, output="1")

    add("old", "before", NOW)
    add("kept", "kept", NOW + 1)
    assert fl.browse.runs()["workflows"] == ["before", "kept"]
    fl.delete_run("old")
    add("new", "after", NOW + 2)
    page = fl.browse.runs()
    assert [run["run_id"] for run in page["runs"]] == ["new", "kept"]
    assert page["workflows"] == ["after", "kept"]


def test_a_new_store_never_shows_another_stores_workflows() -> None:
    """Nothing is kept per store object: a store made where another was freed (Python then
    often reuses its ``id``) shows its own workflows, though it holds as many runs, and a
    newest run of the same id and time, as the one before."""
    for number in range(20):
        with flightlog.open("memory://") as fl:
            fl.store.create_run(
                Run("same-id", f"flow{number}", Status.SUCCESSFUL, arguments="{}",
                    created_time=NOW, start_time=NOW, end_time=NOW + 1)
            )  # fmt: skip
            assert fl.browse.runs()["workflows"] == [f"flow{number}"]
        del fl
        gc.collect()
