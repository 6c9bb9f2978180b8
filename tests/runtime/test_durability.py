"""Durability and concurrency on the SQLite store, with real processes."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import flightlog

SRC = str(Path(flightlog.__file__).resolve().parent.parent)


def _record(url: str, worker: int, steps: int) -> None:
    fl = flightlog.open(url)

    @fl.task
    def square(x: int) -> int:
        return x * x

    @fl.workflow
    def flow(n: int) -> int:
        return sum(square(i) for i in range(n))

    flow.run(steps, run_id=f"worker-{worker}")
    fl.close()


def test_four_processes_times_500_steps_lose_nothing(sqlite_url: str) -> None:
    flightlog.open(sqlite_url).close()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_record, args=(sqlite_url, i, 500)) for i in range(4)]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(120)
            assert process.exitcode == 0
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    fl = flightlog.open(sqlite_url)
    for worker in range(4):
        run_id = f"worker-{worker}"
        assert fl.get_status(run_id) == "SUCCESSFUL"
        assert fl.get_output(run_id) == sum(i * i for i in range(500))
        assert len(fl.steps(run_id)) == 500
    fl.close()


def test_long_step_is_visible_as_running(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    flag = tmp_path / "release"
    script = textwrap.dedent(
        f"""
        import sys, time, pathlib
        sys.path.insert(0, {SRC!r})
        import flightlog
        fl = flightlog.open({url!r})

        @fl.task
        def wait() -> int:
            while not pathlib.Path({str(flag)!r}).exists():
                time.sleep(0.01)
            return 1

        @fl.workflow
        def flow() -> int:
            return wait()

        flow.run(run_id="slow")
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        fl = flightlog.open(url)
        deadline = time.monotonic() + 20
        step = None
        while time.monotonic() < deadline:
            try:
                step = fl.get_metadata("slow", name="wait")
                break
            except flightlog.NotFoundError:
                time.sleep(0.05)
        assert step is not None, "the running step never became visible"
        assert step["status"] == "RUNNING"
        assert "end_time" not in step["stats"]
        assert fl.get_status("slow") == "RUNNING"
        flag.touch()
        assert child.wait(20) == 0
        assert fl.get_metadata("slow", name="wait")["status"] == "SUCCESSFUL"
    finally:
        flag.touch()
        if child.poll() is None:
            child.kill()
            child.wait()


def test_killed_process_loses_at_most_the_step_in_flight(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kill.db"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {SRC!r})
        import flightlog
        fl = flightlog.open({url!r})

        @fl.task
        def step(i: int) -> int:
            return i

        @fl.workflow
        def flow() -> None:
            i = 0
            while True:
                step(i)
                i += 1

        flow.run(run_id="doomed")
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        fl = flightlog.open(url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            run = fl.list_runs()
            if run and run[0]["step_count"] >= 200:
                break
            time.sleep(0.02)
        os.kill(child.pid, 9)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    path = tmp_path / "kill.db"
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()
    fl = flightlog.open(url)
    steps = fl.steps("doomed")
    assert len(steps) >= 200
    # Every recorded step is complete and they form an unbroken prefix of the calls.
    assert [s["name"] for s in steps] == ["step"] + [f"step_{i}" for i in range(1, len(steps))]
    for index, step in enumerate(steps):
        assert step["status"] == "SUCCESSFUL"
        assert fl.get_step_result("doomed", step["name"]) == index
    assert fl.get_status("doomed") == "RESUMABLE"
