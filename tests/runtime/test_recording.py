"""Runs and steps as users see them through the Python API."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.runtime.environment import code_identity


def test_readme_api_round_trip(fl: Flightlog) -> None:
    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.workflow
    def pipeline(n: int) -> int:
        return sum(add(i, i) for i in range(n))

    assert pipeline(3) == 6
    assert pipeline.run(3, run_id="my-run", metadata={"k": "v"}, tag="exp1") == 6
    run = fl.get_metadata("my-run")
    assert run["run_id"] == "my-run"
    assert run["status"] == "SUCCESSFUL"
    assert run["user_metadata"] == {"k": "v"}
    assert run["tag"] == "exp1"
    assert run["workflow"] == "pipeline"
    assert run["arguments"] == {"args": [3], "kwargs": {}}
    assert run["stats"]["end_time"] >= run["stats"]["start_time"] > 0
    assert [step["name"] for step in fl.steps("my-run")] == ["add", "add_1", "add_2"]
    step = fl.get_metadata("my-run", name="add_1")
    assert step["name"] == "add_1"
    assert step["status"] == "SUCCESSFUL"
    assert step["stats"]["end_time"] >= step["stats"]["start_time"]
    assert step["step_options"]["retries"] == 0
    assert fl.get_status("my-run") == "SUCCESSFUL"
    assert fl.get_output("my-run") == 6
    assert fl.get_step_result("my-run", "add_2") == 4
    runs = fl.list_runs()
    assert len(runs) == 2 and runs[0]["run_id"] == "my-run"
    assert fl.list_runs(tag="exp1")[0]["run_id"] == "my-run"
    assert fl.list_runs(workflow="nope") == []
    assert len(fl.list_runs(status="SUCCESSFUL", limit=1)) == 1


def test_generated_run_ids_are_readable_and_distinct(fl: Flightlog) -> None:
    @fl.workflow
    def noop() -> None:
        return None

    for _ in range(5):
        noop()
    ids = [run["run_id"] for run in fl.list_runs()]
    assert len(set(ids)) == 5
    for run_id in ids:
        adjective, name, number = run_id.split("-")
        assert adjective.isalpha() and name.isalpha() and len(number) == 4


def test_step_options_and_metadata(fl: Flightlog) -> None:
    @fl.task(metadata={"task_k": 1}, retries=2)
    def add(left: int, right: int) -> int:
        return left + right

    @fl.workflow
    def flow() -> int:
        first = add.options(name="add_step", metadata={"step_k": "step_v"})(10, 20)
        return first + add(1, 2)

    assert flow.run(run_id="opts") == 33
    step = fl.get_metadata("opts", name="add_step")
    assert step["user_metadata"] == {"task_k": 1, "step_k": "step_v"}
    assert step["step_options"]["retries"] == 2
    assert fl.get_metadata("opts", name="add")["user_metadata"] == {"task_k": 1}


def test_unknown_run_and_step_are_key_errors(fl: Flightlog) -> None:
    with pytest.raises(KeyError, match="nope") as caught:
        fl.get_metadata("nope")
    assert isinstance(caught.value, flightlog.NotFoundError)

    @fl.workflow
    def flow() -> int:
        return 1

    flow.run(run_id="r")
    with pytest.raises(flightlog.NotFoundError, match="missing_step"):
        fl.get_metadata("r", name="missing_step")


def test_lone_task_is_a_run_of_its_own(fl: Flightlog) -> None:
    @fl.task
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
    (run,) = fl.list_runs()
    assert run["workflow"] == "double"
    assert run["status"] == "SUCCESSFUL"
    assert fl.get_output(run["run_id"]) == 42
    assert [step["name"] for step in fl.steps(run["run_id"])] == ["double"]


def test_nested_steps_record_their_parent(fl: Flightlog) -> None:
    @fl.task
    def inner(x: int) -> int:
        return x + 1

    @fl.task
    def outer(x: int) -> int:
        return inner(x) + inner(x)

    @fl.workflow
    def flow() -> int:
        return outer(1)

    assert flow.run(run_id="nest") == 4
    steps = {step["name"]: step for step in fl.steps("nest")}
    assert steps["outer"]["parent"] is None
    assert steps["inner"]["parent"] == "outer"
    assert steps["inner_1"]["parent"] == "outer"
    assert [step["name"] for step in fl.steps("nest")] == ["outer", "inner", "inner_1"]


def test_async_tasks_and_workflows(fl: Flightlog) -> None:
    @fl.task
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        return x * 10

    @fl.task
    def plain(x: int) -> int:
        return x + 1

    @fl.workflow
    async def flow(n: int) -> int:
        values = [await fetch(i) for i in range(n)]
        return plain(sum(values))

    assert asyncio.run(flow(3)) == 31
    assert asyncio.run(flow.run(2, run_id="async-run")) == 11
    assert fl.get_status("async-run") == "SUCCESSFUL"
    assert [step["name"] for step in fl.steps("async-run")] == ["fetch", "fetch_1", "plain"]


def test_retries_record_every_attempt(fl: Flightlog) -> None:
    calls = {"n": 0}

    @fl.task(retries=2)
    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError(f"try {calls['n']}")
        return "ok"

    @fl.workflow
    def flow() -> str:
        return flaky()

    assert flow.run(run_id="retry") == "ok"
    step = fl.get_metadata("retry", name="flaky")
    attempts = step["attempts"]
    assert [a["attempt_number"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == ["FAILED", "FAILED", "SUCCESSFUL"]
    assert attempts[0]["error"]["type"] == "ConnectionError"
    assert attempts[0]["error"]["message"] == "try 1"
    assert "ConnectionError: try 1" in attempts[0]["error"]["traceback"]
    assert attempts[2]["error"] is None
    assert all(a["duration"] >= 0 for a in attempts)
    assert step["status"] == "SUCCESSFUL"


def test_async_retries_and_timeout(fl: Flightlog) -> None:
    @fl.task(timeout=0.05, retries=1)
    async def slow() -> int:
        await asyncio.sleep(5)
        return 1

    @fl.workflow
    async def flow() -> int:
        return await slow()

    with pytest.raises(flightlog.StepTimeoutError):
        asyncio.run(flow.run(run_id="slow"))
    step = fl.get_metadata("slow", name="slow")
    assert [a["status"] for a in step["attempts"]] == ["FAILED", "FAILED"]
    assert fl.get_status("slow") == "FAILED"


# pytest-timeout watches from a thread here: its default method takes SIGALRM, and then a plain
# task's attempt cannot be interrupted (it runs to its end; see test_timeouts.py).
@pytest.mark.timeout(300, method="thread")
def test_timeout_fails_an_attempt(fl: Flightlog) -> None:
    @fl.task(timeout=0.1)
    def sleepy() -> None:
        time.sleep(2)

    @fl.workflow
    def flow() -> None:
        sleepy()

    started = time.monotonic()
    with pytest.raises(flightlog.StepTimeoutError, match="sleepy"):
        flow.run(run_id="t")
    assert time.monotonic() - started < 1.5
    step = fl.get_metadata("t", name="sleepy")
    assert step["status"] == "FAILED"
    assert step["error"]["type"] == "flightlog.errors.StepTimeoutError"


def test_failure_is_recorded_and_reraised_unchanged(fl: Flightlog) -> None:
    class Boom(Exception):
        pass

    raised = Boom("kaboom")

    @fl.task
    def explode() -> None:
        raise raised

    @fl.workflow
    def flow() -> None:
        explode()

    with pytest.raises(Boom) as caught:
        flow.run(run_id="boom")
    assert caught.value is raised
    run = fl.get_metadata("boom")
    assert run["status"] == "FAILED"
    assert run["error"]["message"] == "kaboom"
    step = fl.get_metadata("boom", name="explode")
    assert step["status"] == "FAILED"
    assert step["error"]["type"].endswith("Boom")
    assert "raise raised" in step["error"]["traceback"]
    with pytest.raises(flightlog.NoOutputError, match="FAILED"):
        fl.get_output("boom")


def test_logs_and_prints_are_captured_and_still_shown(
    fl: Flightlog, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("user.pipeline")

    @fl.task
    def chatty(x: int) -> int:
        print(f"printing {x}")
        logger.warning("warned about %d", x)
        return x

    @fl.workflow
    def flow() -> int:
        print("outside any step")
        return chatty(7)

    with caplog.at_level(logging.INFO):
        flow.run(run_id="chat")
    log = fl.get_metadata("chat", name="chatty")["log"]
    assert "printing 7" in log
    assert "WARNING user.pipeline: warned about 7" in log
    assert "outside any step" not in log
    assert "printing 7" in capsys.readouterr().out
    assert "warned about 7" in caplog.text


@dataclasses.dataclass
class Point:
    x: int
    y: float


def test_results_keep_their_types(fl: Flightlog) -> None:
    values = {
        "bytes": b"\x00\xff",
        "tuple": (1, "a", (2, 3)),
        "set": {1, 2, 3},
        "datetime": dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone.utc),
        "point": Point(1, 2.5),
        "nested": {"k": [1, {"x": None}]},
    }

    @fl.task
    def produce(key: str) -> object:
        return values[key]

    @fl.workflow
    def flow() -> None:
        for key in values:
            produce.options(name=key)(key)

    flow.run(run_id="types")
    for key, value in values.items():
        stored = fl.get_step_result("types", key)
        assert stored == value and type(stored) is type(value)


def test_pickle_only_when_asked(tmp_path: object) -> None:
    class Opaque:
        def __init__(self, n: int) -> None:
            self.n = n

    fl = flightlog.open("memory://")

    @fl.task
    def make() -> Opaque:
        return Opaque(1)

    @fl.workflow
    def flow() -> None:
        make()

    with pytest.raises(flightlog.SerializationError, match="make"):
        flow.run(run_id="no-pickle")
    step = fl.get_metadata("no-pickle", name="make")
    assert step["status"] == "FAILED"
    assert "Opaque" in step["error"]["message"]
    assert fl.get_status("no-pickle") == "FAILED"


def test_environment_is_recorded(
    fl: Flightlog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "flowmod.py").write_text(
        "def build(fl):\n"
        "    @fl.workflow\n"
        "    def flow() -> int:\n"
        "        return 1\n"
        "    return flow\n"
    )
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://example.com/repo.git"], check=True)
    subprocess.run([*git, "add", "flowmod.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.syspath_prepend(str(work))
    import flowmod  # type: ignore[import-not-found]

    flowmod.build(fl).run(run_id="env")
    environment = fl.get_metadata("env")["environment"]
    assert environment["flightlog"] == flightlog.__version__
    for key in ("host", "user", "python", "pid"):
        assert environment[key]
    assert environment["git_commit"] == commit
    assert environment["git_dirty"] is False
    assert environment["git_remote"] == "https://example.com/repo.git"
    (work / "flowmod.py").write_text((work / "flowmod.py").read_text() + "# edited\n")
    code_identity.cache_clear()
    flowmod.build(fl).run(run_id="env-dirty")
    assert fl.get_metadata("env-dirty")["environment"]["git_dirty"] is True
    sys.modules.pop("flowmod", None)


def test_end_time_absent_while_running(fl: Flightlog) -> None:
    seen: dict[str, object] = {}

    @fl.task
    def look() -> None:
        seen["run"] = fl.get_metadata("live")
        seen["status"] = fl.get_status("live")

    @fl.workflow
    def flow() -> None:
        look()

    flow.run(run_id="live")
    run = seen["run"]
    assert isinstance(run, dict)
    assert run["status"] == "RUNNING" and "end_time" not in run["stats"]
    assert seen["status"] == "RUNNING"


class Opaque:
    """A class the JSON codec cannot encode; pickle can (it is importable by name)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n


def test_pickle_when_asked_on_the_task(fl: Flightlog) -> None:
    @fl.task(serializer="pickle")
    def make(n: int) -> Opaque:
        return Opaque(n)

    @fl.task(cache=True, serializer="pickle")
    def cached(n: int) -> Opaque:
        return Opaque(n * 2)

    @fl.workflow
    def flow() -> int:
        return make(3).n + cached(4).n

    assert flow.run(run_id="pickled") == 11
    assert flow.run(run_id="pickled-again") == 11
    assert fl.get_metadata("pickled-again", name="cached")["origin"] == "cached"
    # Reading a pickled result back needs the user's explicit consent.
    with pytest.raises(flightlog.SerializationError, match="allow_pickle"):
        fl.get_step_result("pickled", "make")
    trusting = flightlog.open(fl.url, allow_pickle=True) if fl.url != "memory://" else None
    if trusting is not None:
        assert trusting.get_step_result("pickled", "make") == Opaque(3)
        trusting.close()


def test_pickle_when_asked_on_the_store(tmp_path: Path) -> None:
    fl = flightlog.open(f"sqlite:///{tmp_path}/p.db", serializer="pickle")

    @fl.workflow
    def flow() -> Opaque:
        return Opaque(5)

    assert flow.run(run_id="p") == Opaque(5)
    assert fl.get_output("p") == Opaque(5)
    fl.close()
    with pytest.raises(flightlog.SerializationError, match="allow_pickle"):
        flightlog.open(f"sqlite:///{tmp_path}/p.db").get_output("p")
