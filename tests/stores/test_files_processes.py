"""The JSON-files store under concurrent writers, readers during writes, and SIGKILL.

Child processes run small modules written into ``tmp_path``; every child is killed (if it
still runs) and reaped in a ``finally``, and every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import flightlog

SRC = str(Path(flightlog.__file__).resolve().parent.parent)
WAIT = 60.0

FLOW = '''
"""Steps that each leave a line in a side-effect log; some track values or attach files."""

import os

import flightlog

fl = flightlog.open(os.environ["FILES_URL"])
LOG = os.environ.get("FILES_LOG")


@fl.task
def step(i: int) -> int:
    if LOG:
        with open(LOG, "a") as log:
            log.write(f"{i}\\n")
    if i % 10 == 0:
        flightlog.track(seen=i)
    if i % 50 == 0:
        flightlog.attach(f"a{i}.txt", data=str(i).encode())
    return i


@fl.workflow
def flow(n: int) -> int:
    return sum(step(i) for i in range(n))
'''


def _script(directory: Path, body: str) -> list[str]:
    prelude = f"import sys\nsys.path[:0] = [{SRC!r}, {str(directory)!r}]\n"
    return [sys.executable, "-c", prelude + textwrap.dedent(body)]


@contextlib.contextmanager
def _children(
    directory: Path, bodies: list[str], env: dict[str, str]
) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for body in bodies:
            processes.append(
                subprocess.Popen(
                    _script(directory, body),
                    cwd=directory,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(WAIT)
            if process.stdout is not None:
                process.stdout.close()


def _every_json_parses(root: Path) -> int:
    """Parse every visible JSON file of the store; return how many there are. No visible
    name is a temporary file."""
    count = 0
    for folder, _, names in os.walk(root):
        for name in names:
            if name.startswith("."):
                continue  # a temporary file (a killed writer may leave one): readers skip it
            assert not name.endswith(".tmp"), f"a visible temporary file: {folder}/{name}"
            if name.endswith(".json"):
                json.loads(Path(folder, name).read_text())
                count += 1
    return count


@pytest.mark.timeout(240)
def test_four_processes_times_200_steps_lose_nothing(tmp_path: Path) -> None:
    (tmp_path / "fileflow.py").write_text(FLOW)
    url = f"file://{tmp_path}/store"
    env = dict(os.environ, FILES_URL=url)
    bodies = [f"import fileflow\nfileflow.flow.run(200, run_id='p{n}')" for n in range(4)]
    with _children(tmp_path, bodies, env) as processes:
        for process in processes:
            output = process.communicate(timeout=WAIT * 2)[0]
            assert process.returncode == 0, output.decode(errors="replace")

    with flightlog.open(url) as fl:
        runs = fl.list_runs()
        assert sorted(run["run_id"] for run in runs) == ["p0", "p1", "p2", "p3"]
        for run_id in ("p0", "p1", "p2", "p3"):
            assert fl.get_status(run_id) == "SUCCESSFUL"
            assert fl.get_output(run_id) == sum(range(200))
            steps = fl.steps(run_id)
            assert len(steps) == 200 and all(s["status"] == "SUCCESSFUL" for s in steps)
            assert [p["value"] for p in fl.metrics(run_id, "seen")] == list(range(0, 200, 10))
            assert len(fl.attachments(run_id)) == 4
            markers = os.listdir(tmp_path / f"store/runs/{run_id}")
            assert len(markers) == 201  # a session per step, and run-info.json
    root = tmp_path / "store"
    (task,) = os.listdir(root / "tasks")
    executions = [name for name in os.listdir(root / "tasks" / task) if name != "task-info.json"]
    assert len(executions) == 200  # shared by the four runs
    for execution in executions:
        assert sorted(os.listdir(root / "tasks" / task / execution)) == [
            "execution-info.json",
            "p0",
            "p1",
            "p2",
            "p3",
        ]
    assert sorted(os.listdir(root / "flightlog/order")) == [f"{n:012d}" for n in range(1, 5)]
    _every_json_parses(root)


def test_readers_never_see_temporary_or_partial_files(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/store"
    root = tmp_path / "store"
    writer = flightlog.open(url)
    reader = flightlog.open(url)

    @writer.task
    def add(left: int, right: int) -> int:
        flightlog.track(total=left + right)
        return left + right

    @writer.workflow
    def flow(n: int) -> int:
        return sum(add(i % 7, 1) for i in range(n))

    done = threading.Event()
    problems: list[str] = []
    reads = [0]

    def read() -> None:
        while not done.is_set():
            try:
                _every_json_parses(root)
                for run in reader.list_runs():
                    steps = reader.steps(run["run_id"])
                    assert all(step["status"] == "SUCCESSFUL" for step in steps)
                    reader.metrics(run["run_id"])
                reads[0] += 1
            except Exception as error:  # reported below
                problems.append(f"{type(error).__name__}: {error}")
                return

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for index in range(2):
            assert flow.run(120, run_id=f"r{index}") == sum(i % 7 + 1 for i in range(120))
    finally:
        done.set()
        thread.join(WAIT)
        writer.close()
        reader.close()
    assert problems == []
    assert reads[0] > 0


CRASH_STEPS = 120
CRASH_TRIALS = 8


@pytest.mark.timeout(240)
def test_sigkill_at_random_instants_leaves_parseable_files_and_a_resumable_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "fileflow.py").write_text(FLOW)
    expected = sum(range(CRASH_STEPS))
    start = f"import fileflow\nfileflow.flow.run({CRASH_STEPS}, run_id='crash')"
    resume = "import json, fileflow\nprint(json.dumps(fileflow.fl.resume('crash')))"

    def trial(name: str) -> tuple[dict[str, str], Path, Path]:
        folder = tmp_path / name
        folder.mkdir()
        env = dict(os.environ, FILES_URL=f"file://{folder}/store")
        env["FILES_LOG"] = str(folder / "effects.log")
        return env, folder / "store", folder / "effects.log"

    def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            assert process.poll() is None or condition(), "the child ended too early"
            assert time.monotonic() < deadline, "timed out waiting for the child"
            time.sleep(0.0005)

    # How long an undisturbed run takes from its first step's effect to its last one's.
    env, _, log = trial("undisturbed")
    with _children(tmp_path, [start], env) as (process,):
        wait_for(log.exists, process)
        began = time.monotonic()
        wait_for(lambda: log.read_text().count("\n") >= CRASH_STEPS, process)
        duration = time.monotonic() - began
        assert process.wait(WAIT) == 0

    rng = random.Random(20240611)
    delays = [0.9 * duration * (slot + rng.random()) / CRASH_TRIALS for slot in range(CRASH_TRIALS)]
    rng.shuffle(delays)
    mid_run = 0
    for number, delay in enumerate(delays):
        env, root, log = trial(f"trial-{number}")
        with _children(tmp_path, [start], env) as (process,):
            wait_for(log.exists, process)
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            returncode = process.wait(WAIT)
        assert returncode in (0, -signal.SIGKILL), f"trial {number}"
        assert _every_json_parses(root) > 0

        with flightlog.open(env["FILES_URL"]) as fl:
            before = fl.get_status("crash")
            assert before in ("RESUMABLE", "SUCCESSFUL"), f"trial {number}: {before}"
            mid_run += before == "RESUMABLE"
            steps = fl.steps("crash")
            done = sum(1 for step in steps if step["status"] == "SUCCESSFUL")
            assert all(step["status"] == "SUCCESSFUL" for step in steps[:done])
            assert len(steps) - done <= 1  # at most the step in flight, as RUNNING

            completed = subprocess.run(
                _script(tmp_path, resume),
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=WAIT,
            )
            assert completed.returncode == 0, completed.stdout + completed.stderr
            assert json.loads(completed.stdout.splitlines()[-1]) == expected

            assert fl.get_status("crash") == "SUCCESSFUL"
            steps = fl.steps("crash")
            assert len(steps) == CRASH_STEPS
            assert all(step["status"] == "SUCCESSFUL" for step in steps), f"trial {number}"
            if before == "RESUMABLE":
                origins = [step["origin"] for step in steps]
                assert origins == ["replayed"] * done + ["executed"] * (CRASH_STEPS - done)
            assert [p["value"] for p in fl.metrics("crash", "seen")][-1] == CRASH_STEPS - 10
        _every_json_parses(root)
        lines = log.read_text().splitlines()
        assert sorted(set(lines), key=int) == [str(i) for i in range(CRASH_STEPS)]
    assert mid_run >= CRASH_TRIALS // 2, f"only {mid_run} kills landed mid-run"
