"""Many processes recording into one PostgreSQL database: nothing lost, no deadlock errors;
resume, cache and leases across processes; a server restart in the middle of a run.

The workflows live in a small module written into ``tmp_path``, so that every child process
(and a resuming one) imports the same code. Every child is killed if it still runs and reaped
in a ``finally``; every wait has a time limit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import flightlog

from ..postgres_server import PostgresServer, Schemas, ServerError

SRC = str(Path(flightlog.__file__).resolve().parent.parent)
WAIT = 60.0

WORKFLOWS = """
import os, pathlib, socket, sys, time

if os.environ.get("FAKE_HOST"):  # an owner on another machine: only its lease tells
    socket.gethostname = lambda: os.environ["FAKE_HOST"]

import flightlog
from flightlog.runtime import monitor, runs

if os.environ.get("SHORT_LEASE"):
    runs.LEASE_SECONDS = monitor.LEASE_SECONDS = 1.0
    monitor.LEASE_RENEWAL = 0.2

fl = flightlog.open(os.environ["FLIGHTLOG_URL"])
MARKS = pathlib.Path(os.environ["MARKS"])
FLAG = pathlib.Path(os.environ["FLAG"])


def mark(text):
    with MARKS.open("a") as marks:
        marks.write(f"{os.getpid()} {text}\\n")


@fl.task
def square(i: int) -> int:
    return i * i


@fl.task
def step(i: int) -> int:
    mark(f"step {i}")
    if i == int(os.environ.get("BLOCK_AT", "-1")):
        while not FLAG.exists():
            time.sleep(0.01)
    return i * 10


@fl.task(cache=True)
def shared(x: int) -> int:
    mark(f"shared {x}")
    return x + 1


@fl.workflow
def many(worker: int, n: int) -> int:
    return sum(square(i) for i in range(n)) + shared(worker % 2)


@fl.workflow
def flow(n: int) -> list:
    return [step(i) for i in range(n)] + [shared(7)]


@fl.workflow
def endless() -> int:
    i = 0
    while not FLAG.exists():
        square(i)
        i += 1
    return i
"""


@pytest.fixture
def world(tmp_path: Path, postgres_url: str) -> dict[str, str]:
    """The environment of the child processes: the store, the marks file, the flag."""
    (tmp_path / "workflows.py").write_text(WORKFLOWS)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([SRC, str(tmp_path)]),
        "FLIGHTLOG_URL": postgres_url,
        "MARKS": str(tmp_path / "marks.txt"),
        "FLAG": str(tmp_path / "flag"),
    }


def _marks(world: dict[str, str]) -> list[tuple[int, str]]:
    path = Path(world["MARKS"])
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [(int(line.split(" ", 1)[0]), line.split(" ", 1)[1]) for line in lines]


def _start(world: dict[str, str], code: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from workflows import *\n" + textwrap.dedent(code)],
        cwd=Path(world["MARKS"]).parent,
        env={**world, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextlib.contextmanager
def _children(*processes: subprocess.Popen[str]) -> Iterator[list[subprocess.Popen[str]]]:
    """Kill every child still running at the end, and reap them all."""
    try:
        yield list(processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=WAIT)


def _finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=WAIT)
    assert process.returncode == 0, f"child failed ({process.returncode}):\n{output}"
    return output


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_eight_processes_record_into_one_database(world: dict[str, str]) -> None:
    code = """
    worker = int(os.environ["WORKER"])
    print(many.run(worker, 150, run_id=f"worker-{worker}"))
    """
    processes = [_start(world, code, WORKER=str(worker)) for worker in range(8)]
    with _children(*processes):
        outputs = [_finish(process) for process in processes]
    total = sum(i * i for i in range(150))
    assert [int(output.split()[-1]) for output in outputs] == [
        total + worker % 2 + 1 for worker in range(8)
    ]
    assert all("Error" not in output for output in outputs)
    with contextlib.closing(flightlog.open(world["FLIGHTLOG_URL"])) as fl:
        for worker in range(8):
            run_id = f"worker-{worker}"
            assert fl.get_status(run_id) == "SUCCESSFUL"
            steps = fl.steps(run_id)
            assert len(steps) == 151
            assert [s["name"] for s in steps[:3]] == ["square", "square_1", "square_2"]
            assert all(s["status"] == "SUCCESSFUL" for s in steps)
            assert fl.get_step_result(run_id, "square_149") == 149 * 149


def test_killed_run_is_resumable_and_resumed_from_another_process(world: dict[str, str]) -> None:
    victim = _start(world, 'flow.run(5, run_id="victim")', BLOCK_AT="3")
    with _children(victim):
        _wait_for(lambda: (victim.pid, "step 3") in _marks(world), "the victim to reach step 3")
        victim.kill()
        victim.wait(WAIT)
    with contextlib.closing(flightlog.open(world["FLIGHTLOG_URL"])) as fl:
        assert fl.get_status("victim") == "RESUMABLE"
    rescuer = _start(world, 'print(fl.resume("victim"))')
    with _children(rescuer):
        assert _finish(rescuer).split("\n")[0] == "[0, 10, 20, 30, 40, 8]"
    done_by_rescuer = [text for pid, text in _marks(world) if pid == rescuer.pid]
    assert done_by_rescuer == ["step 3", "step 4", "shared 7"]  # 0-2 replayed, not re-run
    later = _start(world, 'print(flow.run(2, run_id="later"))')
    with _children(later):
        assert _finish(later).split("\n")[0] == "[0, 10, 8]"
    assert [text for pid, text in _marks(world) if pid == later.pid] == ["step 0", "step 1"]
    with contextlib.closing(flightlog.open(world["FLIGHTLOG_URL"])) as fl:
        assert fl.get_status("victim") == "SUCCESSFUL"
        origins = [step["origin"] for step in fl.steps("victim")]
        assert origins == ["replayed"] * 3 + ["executed"] * 3
        cached = fl.get_metadata("later", name="shared")
        assert cached["origin"] == "cached" and cached["source_run"] == "victim"


def test_concurrent_resumes_from_eight_processes_claim_the_run_once(
    world: dict[str, str],
) -> None:
    first = _start(world, 'flow.run(3, run_id="contested")', BLOCK_AT="1")
    with _children(first):
        _wait_for(lambda: (first.pid, "step 1") in _marks(world), "the first owner")
        first.kill()
        first.wait(WAIT)
    code = """
    mark("ready")
    while not FLAG.exists():  # all eight start their claims together
        time.sleep(0.002)
    try:
        print("output", fl.resume("contested"))
    except flightlog.ConflictError as error:
        print("conflict", error)
    """
    resumers = [_start(world, code) for _ in range(8)]
    with _children(*resumers):
        _wait_for(lambda: sum(text == "ready" for _, text in _marks(world)) == 8, "eight resumers")
        Path(world["FLAG"]).touch()
        outputs = [_finish(process) for process in resumers]
    assert all(output.startswith(("output", "conflict")) for output in outputs), outputs
    assert any(output.startswith("output") for output in outputs)
    resumed = [text for pid, text in _marks(world) if pid != first.pid and text != "ready"]
    assert resumed == ["step 1", "step 2", "shared 7"]  # exactly one process did the rest
    with contextlib.closing(flightlog.open(world["FLIGHTLOG_URL"])) as fl:
        assert fl.get_status("contested") == "SUCCESSFUL"


def test_lease_of_an_owner_on_another_host_decides_across_processes(
    world: dict[str, str],
) -> None:
    """An owner on another host cannot be checked by pid: while it renews its lease its run is
    RUNNING for everyone; once it stops, the lease runs out and the run is RESUMABLE."""
    remote = _start(
        world, 'flow.run(2, run_id="remote")', BLOCK_AT="1", FAKE_HOST="elsewhere", SHORT_LEASE="1"
    )
    with _children(remote), contextlib.closing(flightlog.open(world["FLIGHTLOG_URL"])) as fl:
        _wait_for(lambda: (remote.pid, "step 1") in _marks(world), "the remote owner")
        started = time.monotonic()
        while time.monotonic() - started < 2.5:  # longer than the 1 s lease: renewals hold
            assert fl.get_status("remote") == "RUNNING"
            time.sleep(0.1)
        remote.kill()
        remote.wait(WAIT)
        _wait_for(lambda: fl.get_status("remote") == "RESUMABLE", "the lease to run out")
    rescuer = _start(world, 'print(fl.resume("remote"))')
    with _children(rescuer):
        assert _finish(rescuer).split("\n")[0] == "[0, 10, 8]"


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A server of this module's own, to restart without disturbing the other tests."""
    try:
        server = PostgresServer().start()
    except ServerError as error:
        pytest.fail(f"cannot start a PostgreSQL server: {error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def test_server_restart_mid_run_is_retried_transparently(
    world: dict[str, str], own_server: PostgresServer
) -> None:
    schemas = Schemas(own_server.url())
    url = schemas.fresh_url()
    schemas.close()
    child = _start(world, 'print(endless.run(run_id="through"))', FLIGHTLOG_URL=url)
    with _children(child), contextlib.closing(flightlog.open(url)) as fl:

        def recorded() -> int:
            runs = fl.list_runs()
            return int(runs[0]["step_count"]) if runs else 0

        _wait_for(lambda: recorded() >= 100, "100 steps before the restart")
        own_server.restart()
        before = recorded()
        _wait_for(lambda: recorded() >= before + 100, "100 steps after the restart")
        Path(world["FLAG"]).touch()
        count = int(_finish(child).split("\n")[0])
        assert fl.get_status("through") == "SUCCESSFUL"
        steps = fl.steps("through")
        assert len(steps) == count
        assert [s["name"] for s in steps] == ["square"] + [f"square_{i}" for i in range(1, count)]
        assert all(s["status"] == "SUCCESSFUL" for s in steps)
        assert fl.get_step_result("through", f"square_{count - 1}") == (count - 1) ** 2
