"""flightlog.browse over every store: pages of runs, the light outline of a run's steps (the
same from a store's fast path as from its full records), previews and comparisons."""

from __future__ import annotations

import time

import pytest

import flightlog
from flightlog.browse import RunFilter, parse_when
from flightlog.errors import InvalidInputError, NotFoundError
from flightlog.model import Origin, Status, StepOutline


def record_runs(fl: flightlog.Flightlog) -> None:
    state: dict[str, int] = {}

    @fl.task(retries=1)
    def flaky(x: int) -> int:
        state["calls"] = state.get("calls", 0) + 1
        if state["calls"] == 1:
            raise RuntimeError("first try fails")
        return x

    @fl.task
    def boom(x: int) -> int:
        raise ValueError(f"bad value {x}")

    @fl.task
    def inner(x: int) -> int:
        return x + 1

    @fl.task
    def outer(x: int) -> int:
        return inner(x) * 2

    @fl.workflow
    def good(n: int, label: str = "alpha") -> int:
        return outer(n) + flaky(n)

    @fl.workflow
    def bad(n: int) -> int:
        inner(n)
        return boom(n)

    good.run(1, run_id="good-one", tag="t1")
    good.run(2, label="needle-label", run_id="good-two", tag="t2")
    with pytest.raises(ValueError):
        bad.run(3, run_id="bad-one")


def test_outline_matches_the_full_records(fl: flightlog.Flightlog) -> None:
    record_runs(fl)
    for run_id in ("good-one", "bad-one"):
        fast = fl.browse.outline(run_id)
        slow = StepOutline()
        for step in fl.store.list_steps(run_id):
            slow.add(step)
        assert fast == slow
    outline = fl.browse.outline("good-one")
    assert outline.names == ["outer", "inner", "flaky"]
    assert outline.parents == [None, "outer", None]
    assert list(outline.attempts) == [2]
    assert [item.status for item in outline.attempts[2]] == [Status.FAILED, Status.SUCCESSFUL]
    assert outline.origins == [Origin.EXECUTED] * 3
    with pytest.raises(NotFoundError, match="no-such-run"):
        fl.browse.outline("no-such-run")


def test_timeline_columns(fl: flightlog.Flightlog) -> None:
    record_runs(fl)
    drawn = fl.browse.timeline("bad-one")
    assert drawn["status"] == "FAILED"
    assert drawn["names"] == ["inner", "boom"]
    assert [drawn["statuses"][code] for code in drawn["status_of"]] == ["SUCCESSFUL", "FAILED"]
    assert drawn["failed"] == [0, 1]
    assert all(start >= 0 for start in drawn["start"])
    assert drawn["stop"][1] >= drawn["start"][1]
    nested = fl.browse.timeline("good-one")
    assert nested["parents"] == [-1, 0, -1]
    assert nested["attempts"]["2"][0][2] == nested["statuses"].index("FAILED")
    assert fl.browse.timeline("good-one", first=2)["names"] == ["flaky"]


def test_failing_steps_come_first(fl: flightlog.Flightlog) -> None:
    record_runs(fl)
    failing = fl.browse.failing_steps("bad-one")
    assert [step["name"] for step in failing] == ["boom"]
    assert failing[0]["error"]["message"] == "bad value 3"
    assert fl.browse.failing_steps("good-one") == []


def test_runs_page_filters_counts_sorts_and_pages(fl: flightlog.Flightlog) -> None:
    record_runs(fl)
    page = fl.browse.runs()
    assert page["total"] == 3
    assert page["counts"]["SUCCESSFUL"] == 2 and page["counts"]["FAILED"] == 1
    assert [run["run_id"] for run in page["runs"]] == ["bad-one", "good-two", "good-one"]
    assert page["workflows"] == ["bad", "good"]
    failed = fl.browse.runs(RunFilter.parse(statuses=["failed"]))
    assert [run["run_id"] for run in failed["runs"]] == ["bad-one"]
    assert failed["counts"]["SUCCESSFUL"] == 2  # counts ignore the status filter
    assert fl.browse.runs(RunFilter.parse(text="NEEDLE"))["total"] == 1
    assert fl.browse.runs(RunFilter.parse(text="bad value"))["runs"][0]["run_id"] == "bad-one"
    assert fl.browse.runs(RunFilter.parse(tag="t1"))["runs"][0]["run_id"] == "good-one"
    assert fl.browse.runs(RunFilter.parse(workflow="good"))["total"] == 2
    by_id = fl.browse.runs(sort="run_id", descending=False, offset=1, limit=1)
    assert [run["run_id"] for run in by_id["runs"]] == ["good-one"]
    assert by_id["total"] == 3
    assert fl.browse.runs(RunFilter.parse(since="1h"))["total"] == 3
    assert fl.browse.runs(RunFilter.parse(until="2000-01-01"))["total"] == 0


def test_bad_page_requests_are_named() -> None:
    with flightlog.open("memory://") as fl:
        with pytest.raises(InvalidInputError, match="unknown sort 'size'"):
            fl.browse.runs(sort="size")
        with pytest.raises(InvalidInputError, match="limit"):
            fl.browse.runs(limit=0)
        with pytest.raises(InvalidInputError, match="offset"):
            fl.browse.runs(offset=-1)
        with pytest.raises(InvalidInputError, match="unknown status 'DONE'"):
            RunFilter.parse(statuses=["DONE"])
        with pytest.raises(InvalidInputError, match="cannot read 'yesterday' as a time for since"):
            RunFilter.parse(since="yesterday")


def test_parse_when() -> None:
    now = 1_000_000.0
    assert parse_when("2h", "since", now) == now - 7200
    assert parse_when("3d", "since", now) == now - 3 * 86400
    assert parse_when("2026-12-04T10:00:00+00:00", "since") == 1796378400.0


def test_previews_and_comparisons(fl: flightlog.Flightlog) -> None:
    record_runs(fl)
    values = fl.browse.step_values("good-one", "outer")
    assert values["arguments"]["kind"] == "json" and '"x": 1' in values["arguments"]["text"]
    assert values["result"]["text"] == "4"
    assert fl.browse.step_values("bad-one", "boom")["result"] is None
    rows = {(row["group"], row["name"]): row for row in fl.browse.compare(["good-one", "good-two"])}
    # By parameter name, as `flightlog show` names them (the default is not recorded).
    assert rows[("arguments", "n")]["values"] == ["1", "2"]
    assert rows[("arguments", "n")]["differs"]
    assert rows[("arguments", "label")]["values"] == [None, '"needle-label"']
    assert not rows[("run", "workflow")]["differs"]
    differences = {row["name"]: row for row in fl.browse.step_differences("good-one", "bad-one")}
    assert differences["flaky"]["differences"] == ["missing"]
    assert "arguments" in differences["inner"]["differences"]
    assert differences["boom"]["first"] is None


def test_preview_of_frames_and_arrays() -> None:
    numpy = pytest.importorskip("numpy")
    pandas = pytest.importorskip("pandas")
    from flightlog.browse import preview

    table = preview(pandas.DataFrame({"a": [1, 2], "b": ["x", "<y>"]}))
    assert table["kind"] == "table" and table["columns"] == ["a", "b"]
    assert table["rows"][1] == ["2", "<y>"]
    assert preview(numpy.zeros((3, 4)))["summary"] == "array of shape (3, 4), dtype float64"
    assert time.time() > 0
