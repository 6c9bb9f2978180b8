"""Trackers: told what runs record, with bandsaw's method names and info shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.trackers import Attachments, Ids, Tracker


class Recording(Tracker):
    """Keeps every call, as (method, ids, info)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Ids, Any]] = []

    def _keep(self, method: str, ids: Ids, info: Any) -> None:
        self.calls.append((method, ids, info))

    def track_run(self, ids: Ids, info: dict[str, Any]) -> None:
        self._keep("track_run", ids, info)

    def track_distribution_archive(self, ids: Ids, info: dict[str, Any]) -> None:
        self._keep("track_distribution_archive", ids, info)

    def track_task(self, ids: Ids, info: dict[str, Any]) -> None:
        self._keep("track_task", ids, info)

    def track_execution(self, ids: Ids, info: dict[str, Any]) -> None:
        self._keep("track_execution", ids, info)

    def track_session(self, ids: Ids, info: dict[str, Any]) -> None:
        self._keep("track_session", ids, info)

    def track_result(self, ids: Ids, info: dict[str, Any]) -> None:
        self._keep("track_result", ids, info)

    def track_attachments(self, ids: Ids, attachments: Attachments) -> None:
        self._keep("track_attachments", ids, dict(attachments))

    def track_metrics(self, ids: Ids, info: dict[str, Any]) -> None:
        self._keep("track_metrics", ids, info)

    def methods(self) -> list[str]:
        return [method for method, _, _ in self.calls]


def recorded_run(url: str, tracker: Tracker) -> Flightlog:
    fl = flightlog.open(url, trackers=[tracker])

    @fl.task
    def add(left: int, right: int) -> int:
        flightlog.track(total=left + right)
        return left + right

    @fl.task
    def save() -> None:
        flightlog.attach("out.txt", data=b"saved")

    @fl.workflow
    def pipeline(n: int) -> int:
        flightlog.track(phase="begin")
        total = add(n, 1) + add(n, 1)
        save()
        flightlog.track(phase="end", step=1)
        return total

    assert pipeline.run(2, run_id="r", tag="exp") == 6
    return fl


def test_trackers_hear_what_a_run_records(sqlite_url: str) -> None:
    tracker = Recording()
    fl = recorded_run(sqlite_url, tracker)
    assert tracker.methods() == [
        "track_run",
        "track_distribution_archive",
        "track_metrics",  # the body's "begin", written with the first step's end record
        "track_task",  # bandsaw's order: task, execution, session, result, attachments
        "track_execution",
        "track_session",
        "track_result",
        "track_attachments",  # every step, as bandsaw (none attached here)
        "track_metrics",  # flightlog's own, last
        "track_session",  # add_1: task and execution known already
        "track_result",
        "track_attachments",
        "track_metrics",
        "track_task",
        "track_execution",
        "track_session",
        "track_result",
        "track_attachments",
        "track_metrics",  # the body's "end", at the run's end
        "track_run",
    ]
    first, last = tracker.calls[0], tracker.calls[-1]
    assert first[1] == Ids("r") and str(first[1]) == "r"
    assert first[2]["run"]["status"] == "RUNNING" and first[2]["run"]["tag"] == "exp"
    assert last[2]["run"]["status"] == "SUCCESSFUL"
    assert last[2]["run"]["output"] == {"type": "int", "value": "6"}
    assert last[2]["run"]["arguments"] == [{"type": "int", "value": "2", "name": "args[0]"}]
    session_ids, session = tracker.calls[5][1], tracker.calls[5][2]
    step = fl.get_metadata("r", name="add")
    assert session_ids == Ids("r", step["task_id"], step["execution_id"])
    assert session_ids.session_id == f"{step['task_id']}_{step['execution_id']}_r"
    assert session["session"]["name"] == "add" and session["session"]["status"] == "SUCCESSFUL"
    assert session["task"]["id"] == step["task_id"]
    assert session["execution"]["arguments"] == [
        {"type": "int", "value": "2", "name": "left"},
        {"type": "int", "value": "1", "name": "right"},
    ]
    assert tracker.calls[6][2]["result"] == {"value": {"type": "int", "value": "3"}}
    assert tracker.calls[7][2] == {}
    metrics = tracker.calls[8][2]
    assert metrics["session"]["name"] == "add"
    assert [(p["name"], p["step"], p["value"]) for p in metrics["metrics"]] == [("total", 0, 3)]
    assert tracker.calls[2][1] == Ids("r")
    assert tracker.calls[2][2]["metrics"][0]["value"] == "begin"
    assert tracker.calls[17][2] == {"out.txt": b"saved"}
    for _, _, info in tracker.calls:
        if not isinstance(next(iter(info.values()), None), bytes):
            json.dumps(info)  # every info is JSON-ready
    assert fl.run_log("r")["run_config"]["trackers"] == [
        {"type": f"{Recording.__module__}.Recording"}
    ]
    fl.close()


def test_a_failing_step_reports_its_exception(fl: Flightlog) -> None:
    tracker = Recording()
    fl = flightlog.open(fl.url, trackers=[tracker])

    @fl.task
    def boom() -> None:
        raise ValueError("bad input")

    @fl.workflow
    def pipeline() -> None:
        boom()

    with pytest.raises(ValueError):
        pipeline.run(run_id="f")
    results = [info for method, _, info in tracker.calls if method == "track_result"]
    assert results[0]["result"] == {"exception": "ValueError", "message": "bad input"}
    assert tracker.calls[-1][2]["run"]["status"] == "FAILED"
    assert tracker.calls[-1][2]["run"]["error"]["message"] == "bad input"


class Broken(Tracker):
    def __init__(self) -> None:
        self.count = 0

    def track_session(self, ids: Ids, info: dict[str, Any]) -> None:
        self.count += 1
        raise ConnectionError("tracking server is down")


def test_a_failing_tracker_is_reported_once_and_the_run_goes_on() -> None:
    broken, recording = Broken(), Recording()
    fl = flightlog.open("memory://", trackers=[broken, recording])

    @fl.task
    def add(x: int) -> int:
        return x + 1

    @fl.workflow
    def pipeline() -> int:
        return add(1) + add(2)

    with pytest.warns(flightlog.TrackerWarning, match="tracking server is down") as caught:
        assert pipeline.run(run_id="r") == 5
    assert len(caught) == 1
    assert broken.count == 2
    assert recording.methods().count("track_session") == 2
    assert fl.get_status("r") == "SUCCESSFUL"


def test_trackers_must_be_trackers() -> None:
    with pytest.raises(flightlog.ConfigurationError, match="Tracker instances, not object"):
        flightlog.open("memory://", trackers=[object()])


def test_no_trackers_no_record_of_them(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline() -> None:
        pass

    pipeline.run(run_id="r")
    assert "trackers" not in fl.get_metadata("r")["environment"]
    assert fl.run_log("r")["run_config"]["trackers"] == []


def test_a_resumed_run_is_tracked_again(sqlite_url: str) -> None:
    tracker = Recording()
    fl = flightlog.open(sqlite_url, trackers=[tracker])
    fail = [True]

    @fl.task
    def step_a() -> int:
        return 1

    @fl.task
    def step_b() -> int:
        if fail:
            fail.pop()
            raise RuntimeError("once")
        return 2

    @fl.workflow
    def pipeline() -> int:
        return step_a() + step_b()

    with pytest.raises(RuntimeError):
        pipeline.run(run_id="r")
    tracker.calls.clear()
    assert fl.resume("r") == 3
    runs = [info["run"] for method, _, info in tracker.calls if method == "track_run"]
    assert [(run["status"], run["resumes"]) for run in runs] == [("RUNNING", 1), ("SUCCESSFUL", 1)]
    sessions = [info["session"] for method, _, info in tracker.calls if method == "track_session"]
    assert [(s["name"], s["origin"]) for s in sessions] == [
        ("step_a", "replayed"),
        ("step_b", "executed"),
    ]
    fl.close()


def test_export_replays_a_recorded_run(sqlite_url: str) -> None:
    live = Recording()
    fl = recorded_run(sqlite_url, live)
    exported = Recording()
    assert fl.export("r", exported) == ["r"]
    assert exported.methods() == [
        "track_run",
        "track_distribution_archive",
        "track_task",
        "track_execution",
        "track_session",
        "track_result",
        "track_attachments",
        "track_metrics",
        "track_session",
        "track_result",
        "track_attachments",
        "track_metrics",
        "track_task",
        "track_execution",
        "track_session",
        "track_result",
        "track_attachments",
        "track_metrics",  # what the body tracked, all at once after the steps
        "track_run",
    ]
    bodies = [info for method, ids, info in exported.calls if method == "track_metrics"
              and ids == Ids("r")]  # fmt: skip
    assert [p["value"] for p in bodies[0]["metrics"]] == ["begin", "end"]
    assert exported.calls[-1][2]["run"]["status"] == "SUCCESSFUL"
    with pytest.raises(flightlog.NotFoundError, match="missing"):
        fl.export(["r", "missing"], Recording())
    fl.close()
