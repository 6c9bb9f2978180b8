"""Shell steps: a command as a step, its output as the log, its exit status as the outcome."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import flightlog
from flightlog import Flightlog


def test_a_command_runs_as_a_step_with_its_output_as_log(
    fl: Flightlog, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    @fl.workflow
    def pipeline() -> None:
        fl.shell(
            "prepare",
            'echo "preparing $DATASET in $(pwd)"; echo "warning: slow" >&2',
            env={"DATASET": "mnist", "API_TOKEN": "secret"},
            cwd=tmp_path,
        )
        fl.shell("prepare", "echo again")

    pipeline.run(run_id="r")
    steps = fl.steps("r")
    assert [(step["name"], step["task_name"], step["status"]) for step in steps] == [
        ("prepare", "shell", "SUCCESSFUL"),
        ("prepare_1", "shell", "SUCCESSFUL"),
    ]
    log = steps[0]["log"]
    assert f"preparing mnist in {tmp_path}\n" in log and "warning: slow\n" in log
    shown = capfd.readouterr()
    assert "preparing mnist" in shown.out and "warning: slow" in shown.err
    arguments = fl.run_log("r")["steps"]["prepare"]["attempts"][0]["parameters"]
    assert arguments == {
        "command": 'echo "preparing $DATASET in $(pwd)"; echo "warning: slow" >&2',
        "cwd": str(tmp_path),
        "env": ["API_TOKEN", "DATASET"],
    }
    assert "secret" not in str(fl.get_metadata("r", name="prepare"))


def test_a_failing_command_fails_the_step_with_shell_error(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline() -> None:
        fl.shell("build", "echo starting; echo 'error: missing file' >&2; exit 3")

    with pytest.raises(flightlog.ShellError) as raised:
        pipeline.run(run_id="r")
    error = raised.value
    assert isinstance(error, flightlog.FlightlogError)
    assert error.returncode == 3
    assert error.stderr_tail == "error: missing file\n"
    step = fl.get_metadata("r", name="build")
    assert step["status"] == "FAILED"
    assert step["error"]["type"] == "flightlog.errors.ShellError"
    assert "exited with status 3" in step["error"]["message"]
    assert "error: missing file" in step["error"]["message"]
    assert fl.get_status("r") == "FAILED"


def test_exported_variables_are_the_steps_metrics(fl: Flightlog) -> None:
    os.environ["FLIGHTLOG_TRACK_BEFORE"] = "same"
    try:

        @fl.workflow
        def pipeline() -> None:
            fl.shell(
                "train",
                "export FLIGHTLOG_TRACK_accuracy=0.93\n"
                "export FLIGHTLOG_TRACK_loss_STEP_2=0.25\n"
                "export FLIGHTLOG_TRACK_model=resnet\n"
                "export FLIGHTLOG_TRACK_BEFORE=same\n"
                "NOT_EXPORTED=1\n"
                "echo done",
            )
            fl.shell("crash", "export FLIGHTLOG_TRACK_progress=40; exit 1")

        with pytest.raises(flightlog.ShellError):
            pipeline.run(run_id="r")
    finally:
        del os.environ["FLIGHTLOG_TRACK_BEFORE"]
    assert "FLIGHTLOG_TRACK_accuracy" not in os.environ  # the child's, not ours
    found = {(m["name"], m["step"], m["task_step"]): m["value"] for m in fl.metrics("r")}
    assert found == {
        ("accuracy", 0, "train"): 0.93,
        ("loss", 2, "train"): 0.25,
        ("model", 0, "train"): "resnet",
        ("progress", 0, "crash"): 40,
    }


def test_a_successful_shell_step_is_replayed_on_resume(fl: Flightlog, tmp_path: Path) -> None:
    counter = tmp_path / "count"

    @fl.task
    def check() -> None:
        if not (tmp_path / "ok").exists():
            raise RuntimeError("not yet")

    @fl.workflow
    def pipeline() -> None:
        fl.shell("count", f"echo x >> {counter}")
        check()

    with pytest.raises(RuntimeError):
        pipeline.run(run_id="r")
    (tmp_path / "ok").touch()
    fl.resume("r")
    assert counter.read_text() == "x\n"
    assert fl.get_metadata("r", name="count")["origin"] == "replayed"


def test_bad_shell_calls_are_refused_before_any_step(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline(case: int) -> None:
        if case == 0:
            fl.shell("", "true")
        elif case == 1:
            fl.shell("x", "  ")
        else:
            fl.shell("x", "true", env={"A": 1})  # type: ignore[dict-item]

    for case, message in ((0, "non-empty string"), (1, "command"), (2, "env must be")):
        with pytest.raises(flightlog.InvalidInputError, match=message):
            pipeline.run(case, run_id=f"bad{case}")
        assert fl.steps(f"bad{case}") == []
