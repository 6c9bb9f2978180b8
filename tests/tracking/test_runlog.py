"""The run log: one JSON document per run, in runnable's shape (held by a schema)."""

from __future__ import annotations

import io
import json
from typing import Any, Literal

import pydantic
import pytest

import flightlog
from flightlog import Flightlog, cli, runlog
from flightlog.model import Status
from flightlog.runlog import runnable_status
from flightlog.stores.sqlite import SQLiteStore
from flightlog.tracking.infos import redacted_url

Closed = pydantic.ConfigDict(extra="forbid", strict=True)
StatusName = Literal["SUCCESS", "FAIL", "PROCESSING"]
Json = Any


class CodeIdentity(pydantic.BaseModel):
    model_config = Closed
    code_identifier: str
    code_identifier_type: str
    code_identifier_dependable: bool
    code_identifier_url: str | None
    code_identifier_message: str


class AttemptLog(pydantic.BaseModel):
    model_config = Closed
    attempt_number: int
    start_time: str
    end_time: str
    duration: str
    status: StatusName
    message: str
    parameters: dict[str, Json]


class RunAttemptLog(pydantic.BaseModel):
    model_config = Closed
    attempt_number: int
    start_time: str
    end_time: str | None
    duration: str | None
    status: StatusName
    host: str | None
    pid: int | None


class CatalogItem(pydantic.BaseModel):
    model_config = Closed
    name: str
    data_hash: str
    catalog_relative_path: str
    catalog_handler_location: str
    stage: Literal["put"]
    size: int


class StepLog(pydantic.BaseModel):
    model_config = Closed
    name: str
    internal_name: str
    status: StatusName
    step_type: Literal["task", "shell"]
    message: str
    mock: bool
    parent: str | None
    origin: Literal["executed", "replayed", "cached"]
    attempts: list[AttemptLog]
    code_identities: list[CodeIdentity]
    user_defined_metrics: dict[str, Json]
    branches: dict[str, Json]
    data_catalog: list[CatalogItem]


class RunConfig(pydantic.BaseModel):
    model_config = Closed
    store: dict[str, str]
    trackers: list[dict[str, Json]]


class RunLog(pydantic.BaseModel):
    model_config = Closed
    run_id: str
    dag_hash: str
    use_cached: bool
    tag: str
    original_run_id: str
    status: StatusName
    workflow: str
    start_time: str | None
    end_time: str | None
    parameters: dict[str, Json]
    user_defined_metrics: dict[str, Json]
    data_catalog: list[CatalogItem]
    attempts: list[RunAttemptLog]
    steps: dict[str, StepLog]
    run_config: RunConfig


def record(fl: Flightlog) -> None:
    @fl.task(retries=1)
    def train(epochs: int, rate: float = 0.1) -> float:
        for epoch in range(1, epochs + 1):
            flightlog.track(loss=1 / epoch, step=epoch)
        flightlog.track(accuracy=0.9, model="small")
        flightlog.attach("weights.bin", data=b"w" * 10)
        if not attempts:
            attempts.append(1)
            raise ConnectionError("flaky")
        return 0.9

    attempts: list[int] = []

    @fl.workflow
    def pipeline(epochs: int, *, label: str = "x") -> float:
        flightlog.track(stage="start")
        fl.shell("fetch", "echo fetched")
        return train(epochs)

    pipeline.run(2, label="y", run_id="good", tag="exp1")

    @fl.workflow
    def broken() -> None:
        fl.shell("build", "echo nope >&2; exit 2")

    with pytest.raises(flightlog.ShellError):
        broken.run(run_id="bad")


def test_run_log_has_runnables_shape(fl: Flightlog) -> None:
    record(fl)
    log = fl.run_log("good")
    json.dumps(log)  # JSON-ready
    RunLog.model_validate(json.loads(json.dumps(log)))  # the schema, after a JSON round trip
    assert log["run_id"] == "good" and log["status"] == "SUCCESS" and log["tag"] == "exp1"
    assert log["parameters"] == {"epochs": 2, "label": "y"}
    assert log["user_defined_metrics"] == {"stage": "start"}
    assert list(log["steps"]) == ["fetch", "train"]
    train = log["steps"]["train"]
    assert train["status"] == "SUCCESS" and train["step_type"] == "task"
    assert train["user_defined_metrics"] == {
        "accuracy": 0.9,
        "loss": {1: 1.0, 2: 0.5},
        "model": "small",
    }
    assert [(a["attempt_number"], a["status"], a["message"]) for a in train["attempts"]] == [
        (1, "FAIL", "flaky"),
        (2, "SUCCESS", ""),
    ]
    assert train["attempts"][0]["parameters"] == {"epochs": 2, "rate": 0.1}
    assert train["data_catalog"][0]["name"] == "weights.bin"
    assert train["code_identities"][-1] == {
        "code_identifier": fl.get_metadata("good", name="train")["task_id"],
        "code_identifier_type": "flightlog-task",
        "code_identifier_dependable": True,
        "code_identifier_url": None,
        "code_identifier_message": "",
    }
    assert log["steps"]["fetch"]["step_type"] == "shell"
    assert log["run_config"]["store"] == {"url": fl.url, "type": type(fl.store).__name__}

    failed = fl.run_log("bad")
    RunLog.model_validate(json.loads(json.dumps(failed)))
    assert failed["status"] == "FAIL"
    assert failed["steps"]["build"]["status"] == "FAIL"
    assert "exited with status 2" in failed["steps"]["build"]["message"]


def test_store_passwords_are_not_shown() -> None:
    assert redacted_url("postgresql://me:s3cret@db.example/flightlog") == (
        "postgresql://me:***@db.example/flightlog"
    )
    assert redacted_url("sqlite:///a/b.db") == "sqlite:///a/b.db"


def test_statuses_map_onto_runnables() -> None:
    assert runnable_status(Status.SUCCESSFUL) == "SUCCESS"
    assert runnable_status(Status.FAILED) == "FAIL"
    assert runnable_status(Status.CANCELED) == "FAIL"
    for status in (Status.RUNNING, Status.PENDING, Status.RESUMABLE):
        assert runnable_status(status) == "PROCESSING"


def test_unknown_run_is_not_found(fl: Flightlog) -> None:
    with pytest.raises(flightlog.NotFoundError, match="no run with id 'nope'"):
        fl.run_log("nope")


def test_show_format_run_log(sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url)
    record(fl)
    fl.close()
    out = io.StringIO()
    assert cli.main(["show", "good", "--url", sqlite_url, "--format", "run-log"], out=out) == 0
    shown = json.loads(out.getvalue())
    RunLog.model_validate(shown)
    assert shown["steps"]["train"]["user_defined_metrics"]["loss"] == {"1": 1.0, "2": 0.5}
    # Without the workflow's code at hand the parameters are named by position.
    assert shown["parameters"] in ({"epochs": 2, "label": "y"}, {"args[0]": 2, "label": "y"})


def test_the_run_log_written_a_step_at_a_time_is_the_same_document(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``iter_run_log`` (what ``show --format run-log`` writes) gives the text of
    ``json.dumps(run_log, indent=2)``, reading the steps a page at a time."""
    record(fl)

    @fl.task
    def leaf(i: int) -> int:
        flightlog.track(seen=i)
        return i

    @fl.task
    def branch(i: int) -> int:
        return leaf(i) + leaf(i + 1)  # nested steps

    @fl.workflow
    def many(n: int) -> int:
        return sum(branch(i) for i in range(n))

    @fl.workflow
    def nothing() -> None:
        return None

    many.run(4, run_id="many")
    nothing.run(run_id="none")
    pages: list[int | None] = []
    page_of = fl.store.steps_page

    def counted(run_id: str, **options: Any) -> Any:
        pages.append(options.get("limit"))
        return page_of(run_id, **options)

    monkeypatch.setattr(runlog, "PAGE", 3)
    monkeypatch.setattr(fl.store, "steps_page", counted)
    for run_id in ("good", "bad", "many", "none"):
        whole = json.dumps(fl.run_log(run_id), indent=2, default=str)
        assert "".join(fl.iter_run_log(run_id)) == whole
    assert pages and set(pages) == {3}  # never the whole run at once
    assert len(json.loads("".join(fl.iter_run_log("many")))["steps"]) == 12
    with pytest.raises(flightlog.NotFoundError, match="no run with id 'nope'"):
        list(fl.iter_run_log("nope"))


def test_show_format_run_log_writes_before_reading_the_rest(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fl = flightlog.open(sqlite_url)

    @fl.task
    def one(i: int) -> int:
        return i

    @fl.workflow
    def many(n: int) -> int:
        return sum(one(i) for i in range(n))

    many.run(25, run_id="many")
    whole = json.dumps(fl.run_log("many"), indent=2) + "\n"
    fl.close()
    out = io.StringIO()
    written: list[int] = []  # characters written before each page of steps was read
    page_of = SQLiteStore.steps_page

    def counted(self: SQLiteStore, run_id: str, **options: Any) -> Any:
        written.append(len(out.getvalue()))
        return page_of(self, run_id, **options)

    monkeypatch.setattr(runlog, "PAGE", 10)
    monkeypatch.setattr(SQLiteStore, "steps_page", counted)
    assert cli.main(["show", "many", "--url", sqlite_url, "--format", "run-log"], out=out) == 0
    assert out.getvalue() == whole
    # the dag hash reads the pages once (nothing written yet), then each is written in turn
    assert written[:3] == [0, 0, 0] and len(written) == 6
    assert 0 < written[4] < written[5] < len(whole)
