"""Fan-outs on every executor, with real engines: a process pool, a Dask LocalCluster and a local
Ray (started by the job itself, inside a network namespace that has only loopback, since Ray
binds to every interface). Each job runs as a script in its own process group, which is killed
and reaped in a ``finally``; every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.model import Status

JOB = str(Path(__file__).with_name("fanout_job.py"))
SRC = str(Path(flightlog.__file__).resolve().parent.parent)
ENGINES = ["threads", "processes", "dask", "ray"]
WAIT = 240.0

pytestmark = pytest.mark.timeout(600)


def _command(executor: str, *args: str) -> list[str]:
    command = [sys.executable, JOB, *args]
    if executor != "ray":
        return command
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("the Ray tests need root and unshare (a network namespace with loopback)")
    script = "ip link set lo up && exec " + " ".join(f"'{part}'" for part in command)
    return ["unshare", "--net", "sh", "-c", script]


def _environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
    env["RAY_AUTH_MODE"] = "disabled"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env.update(extra)
    return env


@contextlib.contextmanager
def _job(
    tmp_path: Path, url: str, executor: str, run_id: str, mode: str, count: int, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    output = tmp_path / f"{run_id}-{executor}-{time.monotonic_ns()}.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            _command(executor, url, executor, run_id, mode, str(count)),
            cwd=tmp_path,
            env=_environment(**env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.output = output  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=WAIT)


def _run(
    tmp_path: Path,
    url: str,
    executor: str,
    run_id: str,
    mode: str = "plain",
    count: int = 200,
    **env: str,
) -> str:
    with _job(tmp_path, url, executor, run_id, mode, count, **env) as process:
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the {executor} job did not end: {process.output.read_text()[-3000:]}")  # type: ignore[attr-defined]
        return str(process.output.read_text())  # type: ignore[attr-defined]


def _shape(fl: flightlog.Flightlog, run_id: str) -> list[tuple[Any, ...]]:
    """What must be the same on every executor: names, positions, parents, identities,
    arguments, results, statuses (not times, hosts, pids)."""
    return [
        (
            s.name,
            s.position,
            s.parent,
            s.task_name,
            s.execution_id,
            s.arguments,
            s.result,
            s.status,
            s.origin,
        )
        for s in fl.store.list_steps(run_id)
    ]


INLINE_TASK_IDS: dict[str, set[str]] = {}


def _task_ids(fl: flightlog.Flightlog, run_id: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for step in fl.store.list_steps(run_id):
        found.setdefault(step.task_name, set()).add(step.task_id)
    return found


@pytest.fixture(scope="module")
def inline_shape(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    directory = tmp_path_factory.mktemp("inline")
    url = f"sqlite:///{directory}/inline.db"
    output = _run(directory, url, "inline", "fan")
    assert "result 40000" in output, output
    with flightlog.open(url) as fl:
        shape = _shape(fl, "fan")
        INLINE_TASK_IDS.update(_task_ids(fl, "fan"))
    assert len(shape) == 400  # 200 steps, each with one sub-step
    return shape


@pytest.mark.parametrize("executor", ENGINES)
def test_a_fan_out_of_200_steps_is_recorded_as_inline(
    tmp_path: Path, executor: str, inline_shape: list[tuple[Any, ...]]
) -> None:
    url = f"sqlite:///{tmp_path}/fan.db"
    output = _run(tmp_path, url, executor, "fan")
    assert "result 40000" in output, output[-3000:]
    with flightlog.open(url) as fl:
        shape = _shape(fl, "fan")
        assert fl.get_status("fan") == "SUCCESSFUL"
        # The same code has the same identity wherever it ran (a script's tasks too).
        assert _task_ids(fl, "fan") == INLINE_TASK_IDS
        logs = [s.log for s in fl.store.list_steps("fan") if s.task_name == "score"]

    # Positions follow the order steps started in; names, identities, arguments, results and
    # statuses are those of the inline run. Sub-steps of a submitted step are named after it
    # (inline, without an executor, they are numbered in call order).
    def top(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return sorted((row[0], *row[2:]) for row in rows if row[2] is None)

    def subs(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return sorted(row[3:] for row in rows if row[2] is not None)

    assert top(shape) == top(inline_shape)
    assert subs(shape) == subs(inline_shape)
    assert all(row[0] == f"{row[2]}.double" for row in shape if row[2] is not None)
    assert sorted(row[1] for row in shape) == list(range(400))
    assert all(log.startswith("scoring ") for log in logs), logs[:3]


@pytest.mark.parametrize("executor", ENGINES)
def test_a_fan_out_whose_driver_is_killed_resumes_where_it_stopped(
    tmp_path: Path, executor: str
) -> None:
    url = f"sqlite:///{tmp_path}/kill.db"
    marks = tmp_path / "marks"
    with _job(tmp_path, url, executor, "kill", "slow", 40, FANOUT_MARKS=str(marks)) as process:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with flightlog.open(url) as fl:
                done = (
                    [
                        s
                        for s in fl.store.list_steps("kill")
                        if s.status is Status.SUCCESSFUL and s.parent is None
                    ]
                    if fl.store.get_run("kill")
                    else []
                )
            if len(done) >= 4:
                break
            assert process.poll() is None, process.output.read_text()[-3000:]  # type: ignore[attr-defined]
            time.sleep(0.05)
        else:
            pytest.fail("no step finished in time")
        os.kill(process.pid, signal.SIGKILL)  # the driver only
        process.wait(timeout=WAIT)
    with flightlog.open(url) as fl:
        assert fl.get_status("kill") == "RESUMABLE"
        finished = {
            s.name
            for s in fl.store.list_steps("kill")
            if s.status is Status.SUCCESSFUL and s.parent is None
        }
    assert 4 <= len(finished) < 40
    marks.unlink()
    output = _run(tmp_path, url, executor, "kill", "slow", 40, FANOUT_MARKS=str(marks))
    assert "result 1600" in output, output[-3000:]
    ran_again = {int(line) for line in marks.read_text().split()}
    with flightlog.open(url) as fl:
        steps = [s for s in fl.store.list_steps("kill") if s.parent is None]
        assert fl.get_status("kill") == "SUCCESSFUL"
    replayed = {s.name for s in steps if s.origin.value == "replayed"}
    assert replayed == finished
    assert len(steps) == 40
    assert len(ran_again) == 40 - len(finished)


@pytest.mark.parametrize("executor", ["threads", "processes", "dask"])
def test_a_failed_fan_out_resumes_after_a_fix_and_reruns_only_the_failed_items(
    tmp_path: Path, executor: str
) -> None:
    url = f"sqlite:///{tmp_path}/fail.db"
    output = _run(tmp_path, url, executor, "fail", "failing", 20, FANOUT_FAIL="3,15")
    assert "failed ValueError item 15 is bad" in output, output[-3000:]
    with flightlog.open(url) as fl:
        steps = {s.name: s for s in fl.store.list_steps("fail") if s.parent is None}
        assert len(steps) == 20  # every item ran and was recorded, not only up to the failure
        failed = sorted(n for n, s in steps.items() if s.status is Status.FAILED)
        assert failed == ["score_15", "score_3"]
        assert steps["score_3"].error is not None
        assert "item 3 is bad" in steps["score_3"].error.message
    output = _run(tmp_path, url, executor, "fail", "failing", 20, FANOUT_FAIL="")
    assert "result 400" in output, output[-3000:]
    with flightlog.open(url) as fl:
        steps = {s.name: s for s in fl.store.list_steps("fail") if s.parent is None}
    executed = sorted(n for n, s in steps.items() if s.origin.value == "executed")
    assert executed == ["score_15", "score_3"]
    assert [a.status for a in steps["score_3"].attempt_records()] == [
        Status.FAILED,
        Status.SUCCESSFUL,
    ]


@pytest.mark.parametrize("executor", ["processes", "ray"])
def test_a_worker_killed_mid_step_is_an_attempt_and_the_task_retries(
    tmp_path: Path, executor: str
) -> None:
    url = f"sqlite:///{tmp_path}/die.db"
    output = _run(tmp_path, url, executor, "die", "die", 4, FANOUT_MARKS=str(tmp_path / "m"))
    assert "result 60" in output, output[-3000:]
    with flightlog.open(url) as fl:
        step = fl.store.get_step("die", "fragile_1")
    assert step is not None and step.status is Status.SUCCESSFUL
    attempts = step.attempt_records()
    assert [a.status for a in attempts] == [Status.FAILED, Status.SUCCESSFUL]
    assert attempts[0].error is not None and "died" in attempts[0].error.message


@pytest.mark.parametrize("executor", ["dask", "processes"])
def test_steps_of_one_cache_key_compute_once_on_an_engine(tmp_path: Path, executor: str) -> None:
    url = f"sqlite:///{tmp_path}/key.db"
    marks = tmp_path / "m"
    output = _run(tmp_path, url, executor, "key", "samekey", 8, FANOUT_MARKS=str(marks))
    assert "result 8060" in output, output[-3000:]
    assert sorted((tmp_path / "m.computed").read_text().split()) == ["7", "8"]
    with flightlog.open(url) as fl:
        origins = sorted(s.origin.value for s in fl.store.list_steps("key"))
    assert origins == ["cached"] * 6 + ["executed"] * 2


@pytest.mark.parametrize("executor", ["dask", "processes"])
def test_workers_record_steps_themselves_in_postgresql(
    tmp_path: Path, executor: str, postgres_url: str, inline_shape: list[tuple[Any, ...]]
) -> None:
    output = _run(tmp_path, postgres_url, executor, "fan", FANOUT_RECORD="worker")
    assert "result 40000" in output, output[-3000:]
    with flightlog.open(postgres_url) as fl:
        steps = fl.store.list_steps("fan")
        assert fl.get_status("fan") == "SUCCESSFUL"
    shape = [
        (s.name, s.parent, s.task_name, s.execution_id, s.arguments, s.result, s.status)
        for s in steps
    ]
    assert sorted(row for row in shape if row[1] is None) == sorted(
        (r[0], r[2], r[3], r[4], r[5], r[6], r[7]) for r in inline_shape if r[2] is None
    )
    assert len(shape) == 400
    assert "driver batches 0" in output  # every record was written by the workers


def test_record_worker_needs_a_shared_store(tmp_path: Path) -> None:
    with pytest.raises(flightlog.ConfigurationError, match="record='worker' needs a store"):
        flightlog.open(f"sqlite:///{tmp_path}/x.db", executor="processes", record="worker")
    with pytest.raises(flightlog.ConfigurationError, match="record must be"):
        flightlog.open(f"sqlite:///{tmp_path}/x.db", record="elsewhere")


@pytest.mark.parametrize("executor", ["dask", "ray", "processes"])
def test_a_cancel_of_a_fan_out_cancels_the_steps_queued_on_the_engine(
    tmp_path: Path, executor: str
) -> None:
    url = f"sqlite:///{tmp_path}/cancel.db"
    marks = tmp_path / "marks"
    output = _run(tmp_path, url, executor, "cancel", "cancel", 60, FANOUT_MARKS=str(marks))
    assert "failed CanceledError" in output, output[-3000:]
    started = len(marks.read_text().split())
    with flightlog.open(url) as fl:
        assert fl.get_status("cancel") == "CANCELED"
        steps = [s for s in fl.store.list_steps("cancel") if s.parent is None]
    statuses = [s.status for s in steps]
    assert len(steps) == 60  # every item recorded: none left RUNNING
    assert Status.RUNNING not in statuses
    assert statuses.count(Status.CANCELED) >= 60 - started > 0


def test_a_dead_worker_does_not_fail_the_steps_its_broken_pool_took_along(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/once.db"
    output = _run(
        tmp_path, url, "processes", "once", "die-once", 4, FANOUT_MARKS=str(tmp_path / "m")
    )
    assert "result 60" in output, output[-3000:]
    with flightlog.open(url) as fl:
        steps = {s.name: s for s in fl.store.list_steps("once")}
    assert all(s.status is Status.SUCCESSFUL for s in steps.values())
    died = steps["fragile_once_1"].attempt_records()
    assert [a.status for a in died] == [Status.FAILED, Status.SUCCESSFUL]
    assert died[0].error is not None and "died" in died[0].error.message


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_resources_fetched_in_workers_name_their_run_and_step_and_record_uses(
    tmp_path: Path, executor: str
) -> None:
    url = f"sqlite:///{tmp_path}/cubes.db"
    output = _run(tmp_path, url, executor, "first", "resources", 6)
    assert f"result {sum(x**3 for x in range(6))}" in output, output[-3000:]
    output = _run(tmp_path, url, executor, "second", "resources", 4)
    assert f"result {sum(x**3 for x in range(4))}" in output, output[-3000:]
    with flightlog.open(url) as fl:
        positions = {s.name: s.position for s in fl.store.list_steps("first")}
        for x in range(6):
            record = fl.store.get_resource("cubes", f"c{x}")
            assert record is not None and record.run_id == "first"
            assert record.position == positions["cube_of" if x == 0 else f"cube_of_{x}"]
        used = {(use.collection, use.ident) for use in fl.store.resource_uses(["second"])}
        assert used == {("cubes", f"c{x}") for x in range(4)}
        report = fl.delete_run("first")
        assert report.resources == ["cubes/c4", "cubes/c5"]  # c0-c3: the second run used them


def test_a_task_of_main_that_uses_the_recorder_says_why_it_cannot_go_to_dask(
    tmp_path: Path,
) -> None:
    """Dask and Ray send tasks of a script's __main__ by value: one that calls the recorder
    (here ``fl.fetch``) cannot go, and the error says what to do."""
    output = _run(tmp_path, f"sqlite:///{tmp_path}/cubes.db", "dask", "first", "resources", 2)
    assert "failed SerializationError step 'cube_of' of run 'first' cannot be sent" in output
    assert "must move to a module the workers can import" in output
