"""Metrics from FLIGHTLOG_TRACK_ environment variables set during a step."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.tracking.environ import EnvironmentMetrics, metric_of, parse_value


@pytest.fixture(autouse=True)
def clean_environment() -> Iterator[None]:
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    for name, value in before.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("-2", -2),
        ("+7", "+7"),  # not JSON: the text, as runnable keeps it
        ("007", "007"),
        ("2.5", 2.5),
        ("-.5", "-.5"),
        ("1.", "1."),
        ("1e3", 1000.0),
        ("6.02E-23", 6.02e-23),
        ("1_000", "1_000"),
        ("nan", "nan"),
        ("inf", "inf"),
        ("-Infinity", float("-inf")),  # Python's json reads it, and so runnable
        ("true", "true"),  # no booleans from the environment (runnable's documented rule)
        ("false", "false"),
        ("True", "True"),
        (" 1", 1),
        ("1 ", 1),
        ("0x10", "0x10"),
        ("", ""),
        ("1e", "1e"),
        ("abc", "abc"),
        ('"quoted"', "quoted"),
        ('{"ham": "world"}', {"ham": "world"}),
        ("[1, 2.5]", [1, 2.5]),
        ("null", None),
        ("[" * 100_000, "[" * 100_000),  # too deep for the decoder: the text
    ],
)
def test_values_are_decoded_as_json(text: str, expected: object) -> None:
    found = parse_value(text)
    assert found == expected and type(found) is type(expected)


def test_names_and_steps() -> None:
    assert metric_of("LOSS") == ("LOSS", 0)
    assert metric_of("val_loss_STEP_12") == ("val_loss", 12)
    assert metric_of("X_STEP_") == ("X_STEP_", 0)
    assert metric_of("X_STEP_a") == ("X_STEP_a", 0)
    assert metric_of("") is None


def test_variables_new_or_changed_in_a_step_are_its_metrics(fl: Flightlog) -> None:
    os.environ["FLIGHTLOG_TRACK_KEPT"] = "1"
    os.environ["FLIGHTLOG_TRACK_CHANGED"] = "1"

    @fl.task
    def train() -> None:
        os.environ["FLIGHTLOG_TRACK_CHANGED"] = "2"
        os.environ["FLIGHTLOG_TRACK_KEPT"] = "1"  # written again, same value: not new
        os.environ["FLIGHTLOG_TRACK_accuracy"] = "0.75"  # noqa: SIM112 - spelled as written
        os.environ["FLIGHTLOG_TRACK_loss_STEP_3"] = "0.5"  # noqa: SIM112 - spelled as written
        os.environ["FLIGHTLOG_TRACK_model"] = "resnet"  # noqa: SIM112 - spelled as written
        os.environ["FLIGHTLOG_TRACK_flag"] = "true"  # noqa: SIM112 - spelled as written
        os.environ["OTHER_VARIABLE"] = "ignored"

    @fl.task
    def quiet() -> None:
        pass

    @fl.workflow
    def pipeline() -> None:
        train()
        quiet()  # the variables are there, unchanged: nothing new for this step

    pipeline.run(run_id="r")
    found = {(m["name"], m["step"], m["task_step"]): m["value"] for m in fl.metrics("r")}
    assert found == {
        ("CHANGED", 0, "train"): 2,
        ("accuracy", 0, "train"): 0.75,
        ("loss", 3, "train"): 0.5,
        ("model", 0, "train"): "resnet",
        ("flag", 0, "train"): "true",
    }


def test_changes_by_the_workflow_body_belong_to_no_step(fl: Flightlog) -> None:
    @fl.task
    def work() -> None:
        pass

    @fl.workflow
    def pipeline() -> None:
        work()
        os.environ["FLIGHTLOG_TRACK_BODY"] = "1"
        work()

    pipeline.run(run_id="r")
    assert fl.metrics("r") == []


def test_a_failing_step_records_its_variables(fl: Flightlog) -> None:
    @fl.task
    def crash() -> None:
        os.environ["FLIGHTLOG_TRACK_progress"] = "40"  # noqa: SIM112 - spelled as written
        raise RuntimeError("crash")

    @fl.workflow
    def pipeline() -> None:
        crash()

    with pytest.raises(RuntimeError):
        pipeline.run(run_id="r")
    assert [(m["name"], m["value"]) for m in fl.metrics("r")] == [("progress", 40)]


def test_the_prefix_is_configurable(sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url, track_prefix="MYAPP_METRIC_")

    @fl.task
    def train() -> None:
        os.environ["MYAPP_METRIC_score"] = "9"  # noqa: SIM112 - spelled as written
        os.environ["FLIGHTLOG_TRACK_score"] = "1"  # noqa: SIM112 - spelled as written

    @fl.workflow
    def pipeline() -> None:
        train()

    pipeline.run(run_id="r")
    assert [(m["name"], m["value"]) for m in fl.metrics("r")] == [("score", 9)]
    fl.close()
    with pytest.raises(flightlog.ConfigurationError, match="track_prefix"):
        flightlog.open("memory://", track_prefix="")


def test_without_a_counting_environment_every_step_scans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = EnvironmentMetrics("FLIGHTLOG_TRACK_")
    monkeypatch.setattr(os.environ, "_data", dict(os.environ._data))  # type: ignore[attr-defined]
    mark = metrics.mark()
    assert mark[0] == -1
    os.environ["FLIGHTLOG_TRACK_SCANNED"] = "5"
    assert metrics.changes(mark) == [("SCANNED", 0, 5)]
