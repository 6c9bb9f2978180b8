"""Resources in the general query API: a collection is a run, each resource a step."""

from __future__ import annotations

import io
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog, cli


def images(fl: Flightlog) -> None:
    @fl.resource("images")
    def make(ident: str, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        if args.get("fail"):
            raise ValueError(f"no {ident}")
        return {"ident": ident, "size": args.get("size")}


def test_a_collection_is_a_run_of_its_resources(fl: Flightlog) -> None:
    images(fl)
    fl.fetch("images", "b", args={"size": 2})
    fl.fetch("images", "a", args={"size": 1})
    run = fl.get_metadata("resource:images")
    assert run["run_id"] == run["workflow"] == "resource:images"
    assert run["status"] == "SUCCESSFUL" and run["step_count"] == 2
    assert run["stats"]["end_time"] >= run["stats"]["start_time"]
    steps = fl.steps("resource:images")
    assert [step["name"] for step in steps] == ["a", "b"]
    first = steps[0]
    assert first["status"] == "SUCCESSFUL"
    assert first["arguments"] == {"ident": "a", "args": {"size": 1}}
    assert first["stats"]["end_time"] >= first["stats"]["start_time"] > 0
    assert first["task_name"] == "resource:images"
    assert first["task_id"] == fl.get_resource("images", "a").task_id
    assert first["step_options"]["collection"] == "images"
    assert first["position"] == 0 and steps[1]["position"] == 1
    assert fl.get_metadata("resource:images", name="b")["position"] == 1
    assert fl.get_step_result("resource:images", "b") == {"ident": "b", "size": 2}
    assert fl.get_status("resource:images") == "SUCCESSFUL"
    with pytest.raises(flightlog.NotFoundError):
        fl.get_metadata("resource:images", name="zzz")
    with pytest.raises(flightlog.NotFoundError):
        fl.get_metadata("resource:nothing")


def test_a_collection_answers_the_metric_questions_of_a_run(fl: Flightlog) -> None:
    images(fl)
    fl.fetch("images", "a", args={"size": 1})
    assert fl.metrics("resource:images") == []
    assert fl.metrics("resource:images", "loss") == []
    assert fl.attachments("resource:images") == []
    assert fl.compare(["resource:images"]) == {"resource:images": {}}
    with pytest.raises(flightlog.NotFoundError, match="resource:nothing"):
        fl.metrics("resource:nothing")


def test_a_resource_function_that_tracks_is_told_what_it_has_instead(fl: Flightlog) -> None:
    @fl.resource("tracking")
    def tracking(ident: str, args: Any, ctx: Any) -> int:
        flightlog.track(loss=0.5)
        return 1

    with pytest.raises(flightlog.OutsideRunError, match=r"ctx\.logger .* ctx\.subdir"):
        fl.fetch("tracking", "a")
    assert fl.status("tracking", "a") == "error"
    assert "OutsideRunError" in fl.fetch_error("tracking", "a")


def test_failures_and_retries_are_attempts(fl: Flightlog) -> None:
    images(fl)
    with pytest.raises(ValueError):
        fl.fetch("images", "x", args={"fail": True})
    assert fl.get_status("resource:images") == "FAILED"
    step = fl.get_metadata("resource:images", name="x")
    assert step["status"] == "FAILED" and "ValueError: no x" in step["error"]["traceback"]
    with pytest.raises(flightlog.NoOutputError):
        fl.get_step_result("resource:images", "x")
    fl.fetch("images", "x", args={"size": 3})
    step = fl.get_metadata("resource:images", name="x")
    assert [attempt["status"] for attempt in step["attempts"]] == ["FAILED", "SUCCESSFUL"]
    assert step["attempts"][0]["error"]["message"] == "no x"
    assert fl.get_status("resource:images") == "SUCCESSFUL"


def test_collections_are_listed_with_runs(fl: Flightlog) -> None:
    images(fl)
    fl.declare("images", ["later"])
    fl.fetch("images", "a")

    @fl.workflow
    def pipeline() -> int:
        return 1

    pipeline.run(run_id="newer", tag="t")
    runs = fl.list_runs()
    assert [run["run_id"] for run in runs] == ["newer", "resource:images"]
    assert runs[1]["status"] == "PENDING"  # one resource is not computed yet
    assert runs[1]["step_count"] == 2
    assert [r["run_id"] for r in fl.list_runs(workflow="resource:images")] == ["resource:images"]
    assert [r["run_id"] for r in fl.list_runs(workflow="pipeline")] == ["newer"]
    assert [r["run_id"] for r in fl.list_runs(tag="t")] == ["newer"]
    assert [r["run_id"] for r in fl.list_runs(status="PENDING")] == ["resource:images"]
    assert [r["run_id"] for r in fl.list_runs(limit=1)] == ["newer"]


def test_flightlog_show_prints_a_collection(sqlite_fl: Flightlog) -> None:
    images(sqlite_fl)
    sqlite_fl.fetch("images", "a", args={"size": 1})
    out = io.StringIO()
    assert cli.main(["show", "resource:images", "--url", sqlite_fl.url], out=out) == 0
    text = out.getvalue()
    assert "run resource:images  workflow resource:images  SUCCESSFUL" in text
    assert "- a  SUCCESSFUL" in text


def test_flightlog_metrics_of_a_collection_is_empty_not_missing(sqlite_fl: Flightlog) -> None:
    images(sqlite_fl)
    sqlite_fl.fetch("images", "a", args={"size": 1})
    out = io.StringIO()
    command = ["metrics", "resource:images", "--json", "--url", sqlite_fl.url]
    assert cli.main(command, out=out) == 0
    assert out.getvalue().strip() == "[]"
