"""Questions over many runs through the Python API, on every store."""

from __future__ import annotations

import datetime as dt
import time

import pytest

import flightlog
from flightlog.questions import parse_time


def _record(fl: flightlog.Flightlog) -> None:
    @fl.task
    def step(x: float) -> float:
        if x < 0:
            raise ValueError("negative input: timeout upstream")
        return x * 2

    @fl.workflow(metadata={"team": "nlp"})
    def train(lr: float, epochs: int = 1, *, name: str = "base") -> float:
        for index in range(epochs):
            flightlog.track(loss=1.0 / (index + 1) * lr * 10)
            step(lr * index)
        if name == "bad":
            step(-1.0)
        return lr

    train.run(0.1, 3, run_id="a")
    train.run(0.05, epochs=2, run_id="b")
    train.run(0.2, 1, name="other", run_id="c")
    with pytest.raises(ValueError):
        train.run(0.1, 1, name="bad", run_id="d")


def _ids(runs: list[dict[str, object]]) -> list[str]:
    return [str(run["run_id"]) for run in runs]


def test_filters_by_parameter_metadata_metric_and_text(fl: flightlog.Flightlog) -> None:
    _record(fl)
    assert _ids(fl.list_runs()) == ["d", "c", "b", "a"]
    assert _ids(fl.list_runs(params={"lr": 0.1})) == ["d", "a"]
    assert _ids(fl.list_runs(params={"lr": 0.1, "epochs": 3})) == ["a"]
    assert _ids(fl.list_runs(params={"epochs": 2})) == ["b"]
    assert _ids(fl.list_runs(params={"name": "other"})) == ["c"]
    assert fl.list_runs(params={"lr": 0.3}) == []
    assert _ids(fl.list_runs(metadata={"team": "nlp"}, limit=2)) == ["d", "c"]
    assert fl.list_runs(metadata={"team": "cv"}) == []
    # the last loss of a: 1/3 * 0.1 * 10; of b: 1/2 * 0.05 * 10; of c and d: 2.0 and 1.0
    assert _ids(fl.list_runs(metric=("loss", "<", 0.4))) == ["b", "a"]
    assert _ids(fl.list_runs(metric=("loss", ">=", 1.0))) == ["d", "c"]
    assert _ids(fl.list_runs(search="TIMEOUT")) == ["d"]
    assert _ids(fl.list_runs(status="FAILED")) == ["d"]
    assert _ids(fl.list_runs(params={"lr": 0.1}, status="SUCCESSFUL")) == ["a"]


def test_offset_and_limit_page_through_runs(fl: flightlog.Flightlog) -> None:
    _record(fl)
    assert _ids(fl.list_runs(offset=1, limit=2)) == ["c", "b"]
    assert _ids(fl.list_runs(offset=3)) == ["a"]
    assert _ids(fl.list_runs(metadata={"team": "nlp"}, offset=1, limit=2)) == ["c", "b"]
    assert fl.list_runs(offset=10) == []


def test_since_and_until(fl: flightlog.Flightlog) -> None:
    _record(fl)
    created = {run["run_id"]: run["created_time"] for run in fl.list_runs()}
    middle = created["b"]
    assert _ids(fl.list_runs(since=middle)) == ["d", "c", "b"]
    assert _ids(fl.list_runs(until=middle)) == ["a"]
    assert _ids(fl.list_runs(since="1h")) == ["d", "c", "b", "a"]
    assert fl.list_runs(until="1h") == []
    moment = dt.datetime.fromtimestamp((created["a"] + middle) / 2)
    assert _ids(fl.list_runs(since=moment, until=created["d"])) == ["c", "b"]
    assert _ids(fl.list_runs(since=dt.date.today() - dt.timedelta(days=1))) == [
        "d",
        "c",
        "b",
        "a",
    ]


def test_counts_by_status(fl: flightlog.Flightlog) -> None:
    _record(fl)
    counts = fl.counts()
    assert counts == {
        "runs": {"SUCCESSFUL": 3, "FAILED": 1},
        "steps": {"SUCCESSFUL": 7, "FAILED": 1},
    }
    assert fl.counts(workflow="nothing") == {"runs": {}, "steps": {}}
    assert fl.counts(since="1h") == counts
    assert fl.counts(until="1h") == {"runs": {}, "steps": {}}


def test_paged_and_streamed_steps(fl: flightlog.Flightlog) -> None:
    @fl.task
    def one(x: int) -> int:
        return x

    @fl.workflow
    def many(count: int) -> int:
        return sum(one(index) for index in range(count))

    many.run(25, run_id="m")
    every = fl.steps("m")
    assert len(every) == 25
    assert [step["position"] for step in fl.steps("m", offset=5, limit=3)] == [5, 6, 7]
    assert list(fl.iter_steps("m", page=4)) == every
    assert fl.get_metadata("m")["step_count"] == 25
    with_results = list(fl.iter_steps("m", page=7, results=True))
    assert [step["result"] for step in with_results] == list(range(25))
    assert with_results == fl.steps("m", results=True)


def test_iter_steps_checks_its_page_and_run_at_once(fl: flightlog.Flightlog) -> None:
    @fl.workflow
    def empty() -> None:
        return None

    empty.run(run_id="e")
    for page in (0, -1, 2.5, True, "10"):
        with pytest.raises(flightlog.InvalidInputError, match="page must be a positive integer"):
            fl.iter_steps("e", page=page)  # type: ignore[arg-type]
    with pytest.raises(flightlog.NotFoundError, match="nosuch"):
        fl.iter_steps("nosuch")
    assert list(fl.iter_steps("e", page=1)) == []


def test_bad_filters_are_named(fl: flightlog.Flightlog) -> None:
    with pytest.raises(flightlog.InvalidInputError, match="since"):
        fl.list_runs(since="yesterday-ish")
    with pytest.raises(flightlog.InvalidInputError, match="metric"):
        fl.list_runs(metric=("loss", "~", 1))
    with pytest.raises(flightlog.InvalidInputError, match="offset"):
        fl.list_runs(offset=-1)
    with pytest.raises(flightlog.InvalidInputError, match="params"):
        fl.list_runs(params=["lr"])  # type: ignore[arg-type]
    with pytest.raises(flightlog.InvalidInputError, match="'status' only"):
        fl.counts(by="workflow")


def test_parse_time_forms() -> None:
    now = 1_800_000_000.0
    assert parse_time("2h", now=now) == now - 7200
    assert parse_time("30d", now=now) == now - 30 * 86400
    assert parse_time(1234.5) == 1234.5
    assert parse_time("1234.5") == 1234.5
    moment = dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.timezone.utc)
    assert parse_time("2026-12-01T08:30+00:00") == moment.timestamp()
    assert parse_time(moment) == moment.timestamp()
    assert parse_time("2026-12-01") == dt.datetime(2026, 12, 1).timestamp()
    assert parse_time(None) is None
    assert abs(parse_time("0s") - time.time()) < 5  # type: ignore[operator]
