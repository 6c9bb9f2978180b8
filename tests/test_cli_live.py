"""Following runs from the command line: ``logs --follow`` and ``watch`` against a workflow
running in another process, Ctrl-C, and colour on a terminal (a real pty)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import flightlog

pytestmark = pytest.mark.timeout(120)

WORKFLOW = """
import os, sys, time
import flightlog

fl = flightlog.open(os.environ["FLIGHTLOG_URL"])

@fl.task
def work(n: int) -> int:
    print("started", n, flush=True)
    flightlog.track(progress=n, step=n)
    gate = os.environ.get("GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.02)
    print("finished", n)
    if os.environ.get("FAIL"):
        raise ValueError("told to fail")
    return n * 2

@fl.workflow
def pipeline(count: int) -> list:
    return [work(n) for n in range(count)]

if __name__ == "__main__":
    pipeline.run(int(sys.argv[1]), run_id=sys.argv[2])
"""


def environment(url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    env.update(FLIGHTLOG_URL=url, **extra)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipeline_module.py").write_text(WORKFLOW)
    return tmp_path


class Processes:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.started.append(process)
        return process


@pytest.fixture
def processes() -> Iterator[Processes]:
    found = Processes()
    yield found
    for process in found.started:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def wait_for_run(url: str, run_id: str, text: str) -> None:
    """Until the running step's log (as the store has it) holds ``text``."""
    deadline = time.monotonic() + 60
    with flightlog.open(url) as fl:
        while time.monotonic() < deadline:
            if any(text in item["log"] for item in _logs(fl, run_id)):
                return
            time.sleep(0.05)
    pytest.fail(f"the running step never showed {text!r}")


def _logs(fl: flightlog.Flightlog, run_id: str) -> list[dict[str, str]]:
    try:
        return fl.logs(run_id)
    except flightlog.NotFoundError:
        return []


def read_until(process: subprocess.Popen[str], text: str) -> str:
    """What the process printed up to the first line holding ``text``."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            seen += line
            if text in line:
                return seen
    pytest.fail(f"never printed {text!r}; printed {seen!r}")


def test_logs_follow_tails_a_running_step_until_it_ends(
    project: Path, processes: Processes
) -> None:
    url = f"sqlite:///{project}/store.db"
    gate = project / "gate"
    env = environment(url, GATE=str(gate))
    runner = processes.start([sys.executable, "pipeline_module.py", "1", "run-a"], project, env)
    wait_for_run(url, "run-a", "started 0")
    follower = processes.start(
        [sys.executable, "-m", "flightlog", "logs", "run-a", "work", "--follow"], project, env
    )
    assert "started 0" in read_until(follower, "started 0")
    assert follower.poll() is None  # still following: the step runs
    gate.touch()
    rest, errors = follower.communicate(timeout=60)
    assert follower.returncode == 0, errors
    assert rest == "finished 0\n" and errors == ""
    assert runner.wait(60) == 0


def test_logs_follow_of_a_whole_run_prefixes_lines_with_their_step(
    project: Path, processes: Processes
) -> None:
    url = f"sqlite:///{project}/store.db"
    gate = project / "gate"
    env = environment(url, GATE=str(gate))
    processes.start([sys.executable, "pipeline_module.py", "2", "run-b"], project, env)
    wait_for_run(url, "run-b", "started 0")
    follower = processes.start(
        [sys.executable, "-m", "flightlog", "logs", "run-b", "-f"], project, env
    )
    read_until(follower, "work | started 0")
    gate.touch()
    rest, errors = follower.communicate(timeout=60)
    assert follower.returncode == 0, errors
    assert rest.splitlines() == ["work | finished 0", "work_1 | started 1", "work_1 | finished 1"]


def test_ctrl_c_ends_a_follow_quietly_with_130(project: Path, processes: Processes) -> None:
    url = f"sqlite:///{project}/store.db"
    env = environment(url, GATE=str(project / "never"))
    processes.start([sys.executable, "pipeline_module.py", "1", "run-c"], project, env)
    wait_for_run(url, "run-c", "started 0")
    follower = processes.start(
        [sys.executable, "-m", "flightlog", "logs", "run-c", "--follow"], project, env
    )
    read_until(follower, "started 0")
    follower.send_signal(signal.SIGINT)
    _, errors = follower.communicate(timeout=60)
    assert follower.returncode == 130
    assert errors == ""


def test_watch_follows_a_run_to_its_end(project: Path, processes: Processes) -> None:
    url = f"sqlite:///{project}/store.db"
    gate = project / "gate"
    env = environment(url, GATE=str(gate))
    processes.start([sys.executable, "pipeline_module.py", "2", "run-d"], project, env)
    wait_for_run(url, "run-d", "started 0")
    watcher = processes.start(
        [sys.executable, "-m", "flightlog", "watch", "run-d", "--interval", "0.1"], project, env
    )
    first = read_until(watcher, "now work")
    assert "run-d RUNNING  0 done  1 running  0 failed" in first
    gate.touch()
    rest, errors = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, errors
    last = rest.splitlines()[-1]
    assert last.startswith("run-d SUCCESSFUL  2 done  0 running  0 failed")
    assert "now " not in last and "steps/s" in last


def test_watch_of_a_failed_run_fails(project: Path) -> None:
    url = f"sqlite:///{project}/store.db"
    env = environment(url, FAIL="1")
    subprocess.run(
        [sys.executable, "pipeline_module.py", "1", "run-e"],
        cwd=project, env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "flightlog", "watch", "run-e"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "run-e FAILED  0 done  0 running  1 failed" in done.stdout
    assert done.stderr == "flightlog: error: run run-e ended FAILED\n"


def in_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """What the command prints on a terminal (a pseudo-terminal)."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower
        )
        os.close(follower)
        follower = -1
        chunks = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process ended
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        process.wait(30)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


def test_colour_on_a_terminal_plain_when_piped_or_no_color(project: Path) -> None:
    url = f"sqlite:///{project}/store.db"
    env = environment(url)
    subprocess.run(
        [sys.executable, "pipeline_module.py", "1", "run-f"],
        cwd=project, env=env, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    command = [sys.executable, "-m", "flightlog", "runs"]
    shown = in_terminal(command, {**env, "TERM": "xterm"}, project)
    assert "\x1b[32mSUCCESSFUL" in shown and "\x1b[1mRUN ID" in shown
    plain = in_terminal(command, {**env, "TERM": "xterm", "NO_COLOR": "1"}, project)
    assert "\x1b[" not in plain and "SUCCESSFUL" in plain
    piped = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert "\x1b[" not in piped.stdout and "SUCCESSFUL" in piped.stdout
    shown = in_terminal(
        [sys.executable, "-m", "flightlog", "show", "run-f"], {**env, "TERM": "xterm"}, project
    )
    assert "\x1b[32mSUCCESSFUL" in shown
