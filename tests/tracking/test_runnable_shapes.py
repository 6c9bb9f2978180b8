"""runnable's exact shapes: metrics from environment variables as its experiment tracking
reads them, and a run log that validates against its own run-log models.

What runnable does, read from its source (AstraZeneca/runnable, the release whose run log
flightlog follows: ``runnable==0.2.0`` on PyPI, ``runnable/experiment_tracker.py``
``get_tracked_data`` and ``runnable/datastore.py``):

- at the end of a step every ``<PREFIX><KEY>[_STEP_<n>]`` variable is read, its value decoded
  with ``json.loads`` (a value that is not JSON is kept as the text), and the variable is
  deleted from ``os.environ``; so ``'{"ham": "world"}'`` is a dict, ``'"value"'`` the string
  ``value``, ``'1'`` an int; ``'true'`` stays text (runnable documents that no boolean comes
  from the environment, and flightlog keeps that rule although its code would decode one),
  and ``'True'``, ``'+1'`` or ``'.5'`` are not JSON and stay text;
- the run-log models below, rebuilt here with their field names, types and defaults (the
  package itself is not a test dependency: importing it configures the process's logging and
  pulls its command-line and YAML dependencies, and that release needs Python < 3.13).
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import flightlog
from flightlog import Flightlog
from flightlog.model import Run, Status, Step
from flightlog.runlog import step_log

PREFIX = "FLIGHTLOG_TRACK_"


# -- runnable 0.2.0's run-log models (runnable/datastore.py), field for field -----------------
class DataCatalog(pydantic.BaseModel, extra="allow"):
    name: str
    data_hash: str = ""
    catalog_relative_path: str = ""
    catalog_handler_location: str = ""
    stage: str = ""


class StepAttempt(pydantic.BaseModel):
    attempt_number: int = 0
    start_time: str = ""
    end_time: str = ""
    duration: str = ""
    status: str = "FAIL"
    message: str = ""
    parameters: dict[str, Any] = pydantic.Field(default_factory=dict)


class CodeIdentity(pydantic.BaseModel, extra="allow"):
    code_identifier: str | None = ""
    code_identifier_type: str | None = ""
    code_identifier_dependable: bool | None = False
    code_identifier_url: str | None = ""
    code_identifier_message: str | None = ""


class StepLog(pydantic.BaseModel):
    name: str
    internal_name: str
    status: str = "FAIL"
    step_type: str = "task"
    message: str = ""
    mock: bool = False
    code_identities: list[CodeIdentity] = pydantic.Field(default_factory=list)
    attempts: list[StepAttempt] = pydantic.Field(default_factory=list)
    user_defined_metrics: dict[str, Any] = pydantic.Field(default_factory=dict)
    branches: dict[str, BranchLog] = pydantic.Field(default_factory=dict)
    data_catalog: list[DataCatalog] = pydantic.Field(default_factory=list)


class BranchLog(pydantic.BaseModel):
    internal_name: str
    status: str = "FAIL"
    steps: OrderedDict[str, StepLog] = pydantic.Field(default_factory=OrderedDict)


StepLog.model_rebuild()


class RunLog(pydantic.BaseModel):
    run_id: str
    dag_hash: str | None = None
    use_cached: bool = False
    tag: str | None = ""
    original_run_id: str | None = ""
    status: str = "FAIL"
    steps: OrderedDict[str, StepLog] = pydantic.Field(default_factory=OrderedDict)
    parameters: dict[str, Any] = pydantic.Field(default_factory=dict)
    run_config: dict[str, Any] = pydantic.Field(default_factory=dict)


def every_field_given(model: pydantic.BaseModel) -> None:
    """Each field of the model and of the models inside it came from the document (none from
    a default): the run log has all of runnable's fields."""
    missing = set(type(model).model_fields) - model.model_fields_set
    assert not missing, f"{type(model).__name__} lacks {sorted(missing)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value.values() if isinstance(value, dict) else value
        for item in items if isinstance(value, (dict, list)) else [value]:
            if isinstance(item, pydantic.BaseModel):
                every_field_given(item)


def validated(log: dict[str, Any]) -> RunLog:
    """The run log through runnable's models, after a JSON round trip."""
    model = RunLog.model_validate(json.loads(json.dumps(log)))
    every_field_given(model)
    return model


# -- environment variables --------------------------------------------------------------------
@pytest.fixture(autouse=True)
def clean_environment() -> Iterator[None]:
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    for name, value in before.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


VALUES = {
    "ham": ('{"ham": "world"}', {"ham": "world"}),
    "word": ('"value"', "value"),
    "count": ("3", 3),
    "rate": ("0.25", 0.25),
    "big": ("1e3", 1000.0),
    "items": ("[1, 2]", [1, 2]),
    "nothing": ("null", None),
    "flag": ("true", "true"),  # no booleans from the environment (runnable's documented rule)
    "python_flag": ("True", "True"),  # not JSON: the text
    "plus": ("+1", "+1"),
    "point": (".5", ".5"),
    "text": ("resnet", "resnet"),
    "spaced": (" 7 ", 7),
}


def test_values_are_decoded_as_json_like_runnable(fl: Flightlog) -> None:
    @fl.task
    def train() -> None:
        for name, (text, _) in VALUES.items():
            os.environ[PREFIX + name] = text
        os.environ[PREFIX + "odd"] = "NaN"

    @fl.workflow
    def pipeline() -> None:
        train()

    pipeline.run(run_id="r")
    found = {m["name"]: m["value"] for m in fl.metrics("r")}
    odd = found.pop("odd")
    assert isinstance(odd, float) and math.isnan(odd)
    assert found == {name: value for name, (_, value) in VALUES.items()}
    for name, (_, value) in VALUES.items():
        assert type(found[name]) is type(value), name
    assert fl.run_log("r")["steps"]["train"]["user_defined_metrics"]["ham"] == {"ham": "world"}


def test_variables_a_step_set_are_removed_once_recorded(fl: Flightlog) -> None:
    os.environ[PREFIX + "KEPT"] = "1"
    seen: dict[str, Any] = {}

    @fl.task
    def inner() -> None:
        os.environ[PREFIX + "inner_loss_STEP_2"] = "0.5"

    @fl.task
    def outer() -> None:
        os.environ[PREFIX + "outer"] = "1"
        inner()
        seen["after inner"] = {k for k in os.environ if k.startswith(PREFIX)}

    @fl.workflow
    def pipeline() -> None:
        outer()
        seen["after outer"] = {k for k in os.environ if k.startswith(PREFIX)}

    pipeline.run(run_id="r")
    # The inner step's variable is gone when it ends; the outer's when the outer ends; the
    # one set before the run, which no step set, stays.
    assert seen["after inner"] == {PREFIX + "KEPT", PREFIX + "outer"}
    assert seen["after outer"] == {PREFIX + "KEPT"}
    assert os.environ[PREFIX + "KEPT"] == "1"
    found = sorted((m["name"], m["step"], m["task_step"]) for m in fl.metrics("r"))
    # Recorded once, by the step that set it (not again by the outer step around it).
    assert found == [("inner_loss", 2, "inner"), ("outer", 0, "outer")]


def test_a_value_set_again_is_recorded_again(fl: Flightlog) -> None:
    @fl.task
    def epoch(n: int) -> None:
        os.environ[PREFIX + "loss"] = "0.5"  # the same text each time

    @fl.workflow
    def pipeline() -> None:
        epoch(1)
        epoch(2)

    pipeline.run(run_id="r")
    assert [(m["task_step"], m["value"]) for m in fl.metrics("r")] == [
        ("epoch", 0.5),
        ("epoch_1", 0.5),
    ]


# -- the run log ------------------------------------------------------------------------------
def record(fl: Flightlog) -> None:
    fail = [True]

    @fl.task
    def prepare(n: int) -> int:
        flightlog.attach("data.csv", data=b"a,b\n")
        return n

    @fl.task
    def train(n: int) -> int:
        os.environ[PREFIX + "loss"] = "0.5"
        if fail:
            fail.pop()
            raise RuntimeError("once")
        return n + 1

    @fl.task
    def outer(n: int) -> int:
        return train(n)

    @fl.workflow
    def pipeline(n: int) -> int:
        return outer(prepare(n))

    with pytest.raises(RuntimeError):
        pipeline.run(1, run_id="r", tag="exp")


def test_the_run_log_validates_against_runnables_models(fl: Flightlog) -> None:
    record(fl)
    first = fl.run_log("r")
    model = validated(first)
    assert model.run_id == "r" and model.tag == "exp" and model.status == "FAIL"
    assert model.use_cached is False and model.original_run_id == ""
    assert model.dag_hash and len(model.dag_hash) == 40
    train = model.steps["train"]
    assert train.internal_name == "train" and train.mock is False and train.branches == {}
    assert train.attempts[0].end_time != "" and train.attempts[0].duration != ""
    catalog = model.steps["prepare"].data_catalog[0]
    assert (catalog.name, catalog.stage, catalog.catalog_relative_path) == (
        "data.csv",
        "put",
        "data.csv",
    )
    assert catalog.catalog_handler_location == fl.run_log("r")["run_config"]["store"]["url"]

    assert fl.resume("r") == 2
    resumed = validated(fl.run_log("r"))
    assert resumed.status == "SUCCESS"
    # A resumed run re-used its recorded steps, as runnable's re-run of an original run: the
    # replayed step is a mock (not executed again), the others ran.
    assert resumed.use_cached is True and resumed.original_run_id == "r"
    assert resumed.steps["prepare"].mock is True
    assert resumed.steps["outer"].mock is False and resumed.steps["train"].mock is False
    assert resumed.dag_hash == model.dag_hash  # the same steps of the same code


def test_a_running_step_validates_too() -> None:
    run = Run(run_id="live", workflow="pipeline", status=Status.RUNNING, start_time=1.0)
    step = Step(run_id="live", name="look", position=0, task_name="look", task_id="t1",
                status=Status.RUNNING, start_time=2.0)  # fmt: skip
    model = StepLog.model_validate(json.loads(json.dumps(step_log(run, step, [], []))))
    every_field_given(model)
    assert model.status == "PROCESSING"
    assert (model.attempts[0].end_time, model.attempts[0].duration) == ("", "")
