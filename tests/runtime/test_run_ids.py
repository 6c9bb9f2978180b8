"""A run id given again never returns the wrong thing: another workflow or other arguments
under an existing id is an error, whatever the run's status; the same call is idempotent."""

from __future__ import annotations

import pytest

import flightlog
from flightlog import Flightlog


def test_other_arguments_under_a_successful_run_id_are_refused(fl: Flightlog) -> None:
    calls: list[int] = []

    @fl.workflow
    def pipeline(n: int) -> int:
        calls.append(n)
        return n * 10

    assert pipeline.run(1, run_id="r") == 10
    with pytest.raises(
        flightlog.ArgumentMismatchError, match=r"run 'r'.*parameter 'n': recorded 1, given 99"
    ):
        pipeline.run(99, run_id="r")
    assert pipeline.run(1, run_id="r") == 10  # the same call again: the recorded output
    assert calls == [1]
    assert fl.get_output("r") == 10


def test_another_workflow_under_a_successful_run_id_is_refused(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline(n: int) -> int:
        return n

    @fl.workflow
    def other_workflow(text: str) -> str:
        return text

    pipeline.run(1, run_id="r")
    with pytest.raises(flightlog.ConflictError, match=r"belongs to a run of 'pipeline'"):
        other_workflow.run("x", run_id="r")
    assert fl.get_metadata("r")["workflow"] == "pipeline"


def test_other_arguments_under_a_failed_run_id_are_refused_too(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline(n: int) -> int:
        raise RuntimeError(f"fails for {n}")

    with pytest.raises(RuntimeError):
        pipeline.run(1, run_id="f")
    with pytest.raises(flightlog.ArgumentMismatchError, match=r"recorded 1, given 2"):
        pipeline.run(2, run_id="f")
    assert fl.get_metadata("f")["resumes"] == 0


def test_the_same_arguments_written_differently_are_the_same_call(fl: Flightlog) -> None:
    calls: list[int] = []

    @fl.workflow
    def pipeline(n: int, scale: int = 1) -> int:
        calls.append(n)
        return n * scale

    assert pipeline.run(1, run_id="same") == 1
    assert pipeline.run(n=1, run_id="same") == 1
    assert pipeline.run(1, 1, run_id="same") == 1
    assert pipeline.run(1, scale=1, run_id="same") == 1
    assert calls == [1]
    with pytest.raises(
        flightlog.ArgumentMismatchError, match=r"parameter 'n': recorded 1, given 1.0"
    ):
        pipeline.run(1.0, run_id="same")
    with pytest.raises(
        flightlog.ArgumentMismatchError, match=r"parameter 'n': recorded 1, given True"
    ):
        pipeline.run(True, run_id="same")
