"""Resume after a fix: the fixed step runs, unchanged steps replay, later steps run again only
when their arguments changed; plan and explain say so beforehand and afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog


class Pipeline:
    """load x3 -> clean (the step we break and fix) -> square -> report."""

    def __init__(self, fl: Flightlog) -> None:
        self.fl = fl
        self.calls: list[str] = []
        calls = self.calls

        @fl.task
        def load(i: int) -> int:
            calls.append(f"load {i}")
            return i

        @fl.task
        def square(x: int) -> int:
            calls.append(f"square {x}")
            return x * x

        @fl.task
        def report(x: int) -> str:
            calls.append(f"report {x}")
            return f"total {x}"

        self.tasks: dict[str, Any] = {}

        @fl.workflow
        def pipeline(n: int) -> str:
            total = sum(load(i) for i in range(n))
            return str(report(square(self.tasks["clean"](total))))

        self.workflow = pipeline
        self.use(fixed=False)

    def use(self, fixed: bool) -> None:
        self.tasks["clean"] = self.fl.task(name="clean")(self.make(fixed))

    def make(self, fixed: bool) -> Callable[[int], int]:
        """The step we break and fix: one function whose code the fix edits."""
        calls = self.calls
        if fixed:

            def clean(x: int) -> int:
                calls.append(f"clean {x}")
                return x + 1

        else:

            def clean(x: int) -> int:
                calls.append(f"clean {x}")
                raise ValueError("clean: off by one")

        return clean


def origins(fl: Flightlog, run_id: str) -> dict[str, str]:
    return {step["name"]: step["origin"] for step in fl.steps(run_id)}


def test_the_fixed_step_runs_and_the_steps_before_it_replay(fl: Flightlog) -> None:
    pipeline = Pipeline(fl)
    with pytest.raises(ValueError, match="off by one"):
        pipeline.workflow.run(3, run_id="fix")
    pipeline.use(fixed=True)
    pipeline.calls.clear()
    assert fl.resume("fix") == "total 16"
    assert pipeline.calls == ["clean 3", "square 4", "report 16"]
    assert origins(fl, "fix") == {
        "load": "replayed",
        "load_1": "replayed",
        "load_2": "replayed",
        "clean": "executed",
        "square": "executed",
        "report": "executed",
    }
    clean = fl.get_metadata("fix", name="clean")
    assert [a["status"] for a in clean["attempts"]] == ["FAILED", "SUCCESSFUL"]
    assert [a["attempt_number"] for a in clean["attempts"]] == [1, 2]
    assert clean["attempts"][0]["error"]["message"] == "clean: off by one"
    why = fl.explain("fix", "clean")["why"]
    assert "left it FAILED (ValueError: clean: off by one)" in why
    assert "its code differs (changed: " in why and ".clean" in why


def test_strict_resume_refuses_the_changed_step(fl: Flightlog) -> None:
    pipeline = Pipeline(fl)
    with pytest.raises(ValueError):
        pipeline.workflow.run(3, run_id="strict")
    pipeline.use(fixed=True)
    with pytest.raises(flightlog.NondeterminismError, match=r"step 'clean' changed.*code differs"):
        fl.resume("strict", strict=True)
    assert fl.resume("strict") == "total 16"


def test_rerun_changed_is_deprecated_and_resume_does_the_right_thing(fl: Flightlog) -> None:
    pipeline = Pipeline(fl)
    with pytest.raises(ValueError):
        pipeline.workflow.run(3, run_id="old")
    pipeline.use(fixed=True)
    pipeline.calls.clear()
    with pytest.warns(DeprecationWarning, match="strict=True"):
        assert fl.resume("old", rerun_changed=True) == "total 16"
    assert pipeline.calls == ["clean 3", "square 4", "report 16"]


def test_later_steps_replay_when_a_changed_step_gives_the_same_result(fl: Flightlog) -> None:
    calls: list[str] = []
    fail = {"report": True}
    clean: dict[str, Any] = {}

    @fl.task
    def square(x: int) -> int:
        calls.append(f"square {x}")
        return x * x

    @fl.task
    def report(x: int) -> str:
        calls.append(f"report {x}")
        if fail["report"]:
            raise RuntimeError("printer on fire")
        return f"total {x}"

    @fl.workflow
    def flow(n: int) -> str:
        return report(square(clean["task"](n)))

    @fl.task(name="clean")
    def clean_first(x: int) -> int:
        calls.append(f"clean {x}")
        return x + 1

    clean["task"] = clean_first
    with pytest.raises(RuntimeError):
        flow.run(3, run_id="same")
    fail["report"] = False

    @fl.task(name="clean")
    def clean_refactored(x: int) -> int:  # other code, same result: square replays
        calls.append(f"clean {x}")
        return 1 + x

    clean["task"] = clean_refactored
    calls.clear()
    assert flow.run(3, run_id="same") == "total 16"
    assert calls == ["clean 3", "report 16"]
    assert origins(fl, "same") == {"clean": "executed", "square": "replayed", "report": "executed"}
    assert "its code differs" in fl.explain("same", "clean")["why"]


def test_later_steps_run_again_when_their_arguments_changed(fl: Flightlog) -> None:
    calls: list[str] = []
    offset = {"value": 1, "fail": True}

    @fl.task
    def base(x: int) -> int:
        calls.append(f"base {x}")
        return x + offset["value"]

    @fl.task
    def double(x: int) -> int:
        calls.append(f"double {x}")
        return 2 * x

    @fl.task
    def last(x: int) -> int:
        calls.append(f"last {x}")
        if offset["fail"]:
            raise RuntimeError("late")
        return x

    @fl.workflow
    def flow() -> int:
        return last(double(base(1)))

    with pytest.raises(RuntimeError):
        flow.run(run_id="args")
    offset.update(value=2, fail=False)

    @fl.task(name="base")
    def base_fixed(x: int) -> int:  # the fix changes what base returns
        calls.append(f"base {x}")
        return x + offset["value"]

    @fl.workflow(name="flow")
    def flow_fixed() -> int:
        return last(double(base_fixed(1)))

    calls.clear()
    assert fl.resume("args") == 6
    assert calls == ["base 1", "double 3", "last 6"]
    assert origins(fl, "args") == {"base": "executed", "double": "executed", "last": "executed"}
    why = fl.explain("args", "double")["why"]
    assert "parameter 'x' was 2 then, now 3" in why


def test_a_step_added_by_the_fix_runs_and_the_others_keep_their_records(fl: Flightlog) -> None:
    calls: list[str] = []
    version = {"fixed": False}

    @fl.task
    def one() -> int:
        calls.append("one")
        return 1

    @fl.task
    def validate(x: int) -> int:
        calls.append("validate")
        return x

    @fl.task
    def two(x: int) -> int:
        calls.append("two")
        if not version["fixed"]:
            raise RuntimeError("needs validation first")
        return x + 1

    @fl.workflow
    def flow() -> int:
        x = one()
        if version["fixed"]:
            x = validate(x)
        return two(x)

    with pytest.raises(RuntimeError):
        flow.run(run_id="added")
    version["fixed"] = True
    calls.clear()
    assert fl.resume("added") == 2
    assert calls == ["validate", "two"]
    steps = fl.steps("added")
    assert [(s["name"], s["origin"]) for s in steps] == [
        ("one", "replayed"),
        ("two", "executed"),
        ("validate", "executed"),
    ]
    second = fl.get_metadata("added", name="two")
    assert [a["status"] for a in second["attempts"]] == ["FAILED", "SUCCESSFUL"]


def test_a_replayed_step_keeps_its_recorded_attempts(fl: Flightlog) -> None:
    fail = {"now": True}

    @fl.task
    def first() -> int:
        return 1

    @fl.task
    def second(x: int) -> int:
        if fail["now"]:
            raise RuntimeError("not yet")
        return x

    @fl.workflow
    def flow() -> int:
        return second(first())

    with pytest.raises(RuntimeError):
        flow.run(run_id="kept")
    recorded = fl.get_metadata("kept", name="first")
    assert len(recorded["attempts"]) == 1
    fail["now"] = False
    assert fl.resume("kept") == 1
    replayed = fl.get_metadata("kept", name="first")
    assert replayed["origin"] == "replayed"
    assert replayed["attempts"] == recorded["attempts"]


def test_plan_agrees_with_what_resume_then_does(fl: Flightlog) -> None:
    pipeline = Pipeline(fl)
    with pytest.raises(ValueError):
        pipeline.workflow.run(3, run_id="plan")
    pipeline.use(fixed=True)
    plan = fl.plan_resume("plan")
    assert {item["step"]: item["decision"] for item in plan} == {
        "load": "replay",
        "load_1": "replay",
        "load_2": "replay",
        "clean": "execute",
    }
    clean = next(item for item in plan if item["step"] == "clean")
    assert "FAILED" in clean["why"] and "its code differs (changed: " in clean["why"]
    assert plan.notes == []
    fl.resume("plan")
    decided = {item["step"]: item["decision"] for item in plan}
    done = origins(fl, "plan")
    assert {name: done[name] for name in decided} == {
        name: {"replay": "replayed", "execute": "executed"}[decision]
        for name, decision in decided.items()
    }


def test_plan_says_once_which_steps_it_cannot_judge(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    with flightlog.open(url) as fl:
        pipeline = Pipeline(fl)
        with pytest.raises(ValueError):
            pipeline.workflow.run(3, run_id="blind")
    with flightlog.open(url) as reader:  # defines none of the tasks, as the CLI
        plan = reader.plan_resume("blind")
    assert [item["decision"] for item in plan] == ["replay", "replay", "replay", "execute"]
    assert all("not defined" not in item["why"] for item in plan)
    (note,) = plan.notes
    assert "load, load_1, load_2" in note and "not defined in this process" in note


SCRIPT = """
import sys
import threading

import flightlog

fl = flightlog.open(sys.argv[1])
SCALE = 3


@fl.task
def load(i: int) -> int:
    print(f"load {i}")
    return i


@fl.task
def clean(x: int) -> int:
    print(f"clean {x}")
    BODY


@fl.workflow
def pipeline(n: int) -> int:
    return clean(sum(load(i) for i in range(n)))


if __name__ == "__main__":
    if sys.argv[2] == "run":
        pipeline.run(3, run_id="nightly")
    else:
        print("resumed:", fl.resume("nightly"))
"""


def run_script(script: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Write the script (as edited), and run it in a new process in its folder."""
    script.write_text(text)
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fix_the_script_and_resume_in_a_new_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"

    def run(body: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_script(tmp_path / "pipeline.py", SCRIPT.replace("BODY", body), url, *args)

    first = run('raise ValueError("bug")', "run")
    assert first.returncode != 0 and "ValueError: bug" in first.stderr
    assert first.stdout.split("\n")[:4] == ["load 0", "load 1", "load 2", "clean 3"]
    second = run("return x * SCALE", "resume")
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["clean 3", "resumed: 9"]
    with flightlog.open(url) as fl:
        assert origins(fl, "nightly") == {
            "load": "replayed",
            "load_1": "replayed",
            "load_2": "replayed",
            "clean": "executed",
        }
        assert fl.get_status("nightly") == "SUCCESSFUL"


def test_a_resumed_step_gets_its_retries_again_and_numbers_on(fl: Flightlog) -> None:
    failures = {"left": 3}

    @fl.task(retries=1)
    def flaky() -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("try again")
        return "ok"

    @fl.workflow
    def flow() -> str:
        return flaky()

    with pytest.raises(ConnectionError):
        flow.run(run_id="retry")
    assert fl.resume("retry") == "ok"
    attempts = fl.get_metadata("retry", name="flaky")["attempts"]
    assert [(a["attempt_number"], a["status"]) for a in attempts] == [
        (1, "FAILED"),
        (2, "FAILED"),
        (3, "FAILED"),
        (4, "SUCCESSFUL"),
    ]


def test_plan_and_explain_name_a_changed_closure_variable_with_both_values(
    fl: Flightlog,
) -> None:
    fail = {"last": True}
    tasks: dict[str, Any] = {}

    def make(factor: int) -> Any:
        @fl.task(name="mul")
        def mul(x: int) -> int:
            return x * factor

        return mul

    @fl.task
    def last(x: int) -> int:
        if fail["last"]:
            raise RuntimeError("late")
        return x

    @fl.workflow
    def flow() -> int:
        return last(tasks["mul"](5))

    tasks["mul"] = make(2)
    with pytest.raises(RuntimeError):
        flow.run(run_id="closure")
    tasks["mul"] = make(3)
    fail["last"] = False
    (mul, _) = fl.plan_resume("closure")
    assert mul["decision"] == "execute"
    assert "closure variable 'factor' was 2, now 3" in mul["why"]
    assert fl.resume("closure") == 15
    assert "closure variable 'factor' was 2, now 3" in fl.explain("closure", "mul")["why"]


CONSTANT_SCRIPT = """
import json
import sys
import threading

import flightlog

fl = flightlog.open(sys.argv[1])
SCALE = VALUE


@fl.task
def scale(x: int) -> int:
    return x * SCALE


@fl.task
def report(x: int) -> str:
    if SCALE == 3:
        raise RuntimeError("wrong scale")
    return f"scaled {x}"


@fl.workflow
def pipeline(n: int) -> str:
    return report(scale(n))


if __name__ == "__main__":
    if sys.argv[2] == "run":
        pipeline.run(5, run_id="scaled")
    elif sys.argv[2] == "plan":
        print(json.dumps(list(fl.plan_resume("scaled"))))
    else:
        print(fl.resume("scaled"))
"""


def test_a_changed_module_constant_is_named_with_old_and_new_values(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"

    def run(value: str, *args: str) -> subprocess.CompletedProcess[str]:
        text = CONSTANT_SCRIPT.replace("VALUE", value)
        return run_script(tmp_path / "scaling.py", text, url, *args)

    assert run("3", "run").returncode != 0
    planned = run("4", "plan")
    assert planned.returncode == 0, planned.stderr
    plan = {item["step"]: item for item in json.loads(planned.stdout)}
    assert plan["scale"]["decision"] == "execute"
    assert "scaling.SCALE (was 3, now 4)" in plan["scale"]["why"]
    assert plan["report"]["decision"] == "execute"
    resumed = run("4", "resume")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "scaled 20"
    with flightlog.open(url) as fl:
        assert "scaling.SCALE (was 3, now 4)" in fl.explain("scaled", "scale")["why"]


def test_a_step_running_again_reads_running_not_as_it_was(fl: Flightlog) -> None:
    entered, release = threading.Event(), threading.Event()
    fail = {"now": True}

    @fl.task
    def long() -> int:
        if fail["now"]:
            raise RuntimeError("first time")
        entered.set()
        assert release.wait(10)
        return 1

    @fl.workflow
    def flow() -> int:
        return long()

    with pytest.raises(RuntimeError):
        flow.run(run_id="again")
    fail["now"] = False
    resumed = threading.Thread(target=fl.resume, args=("again",))
    resumed.start()
    try:
        assert entered.wait(10)
        step = fl.get_metadata("again", name="long")
        assert step["status"] == "RUNNING"
        assert [a["status"] for a in step["attempts"]] == ["FAILED"]
    finally:
        release.set()
        resumed.join(10)
    assert fl.get_metadata("again", name="long")["status"] == "SUCCESSFUL"
