"""Killed, canceled and impersonated runs.

The tests with real processes use the SQLite store (the memory store lives in one process);
the owner-identity test runs over every store. The workflows live in small modules written
into ``tmp_path`` at test time, so that a fresh process can import them again to resume a
run. Every child process is killed (if it still runs) and reaped in a ``finally``, and every
wait has a timeout.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.model import Owner, Run, Status
from flightlog.runtime.liveness import current_owner

SRC = str(Path(flightlog.__file__).resolve().parent.parent)

# The longest any single wait on a child may take before the test fails instead of hanging.
WAIT = 30.0


# ------------------------------------------------------------------------------------ helpers
def _script(directory: Path, body: str) -> str:
    """A ``python -c`` script that can import flightlog and the modules in ``directory``."""
    prelude = f"import sys\nsys.path[:0] = [{SRC!r}, {str(directory)!r}]\n"
    return prelude + textwrap.dedent(body)


@contextlib.contextmanager
def _child(
    directory: Path, body: str, env: dict[str, str], output: Path, stdin: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a child process running ``body``; kill it if it still runs, and reap it."""
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", _script(directory, body)],
            cwd=directory,
            env=env,
            stdin=stdin,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(WAIT)
            if process.stdin is not None:
                process.stdin.close()


def _run_child(directory: Path, body: str, env: dict[str, str]) -> str:
    """Run ``body`` in a fresh process to its end (killed after WAIT s); return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", _script(directory, body)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, f"child failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout


def _wait_for(
    condition: Callable[[], bool],
    what: str,
    child: subprocess.Popen[bytes],
    output: Path,
    poll: float = 0.01,
) -> None:
    """Poll ``condition`` until it holds; fail if the child exits first or WAIT s pass."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if child.poll() is not None and not condition():
            text = output.read_text(errors="replace")
            pytest.fail(f"the child exited ({child.returncode}) before {what}:\n{text}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


def _indices(log: Path) -> list[int]:
    """The step indices written to a side-effect log, one a line, in order."""
    if not log.exists():
        return []
    text = log.read_text()
    assert text == "" or text.endswith("\n"), f"a torn line in the side-effect log: {text[-20:]!r}"
    return [int(line) for line in text.splitlines()]


def _lines(log: Path) -> int:
    """How many complete lines a side-effect log holds now (it may be growing)."""
    return log.read_text().count("\n") if log.exists() else 0


def _has_lines(log: Path, count: int) -> Callable[[], bool]:
    """Whether a side-effect log holds ``count`` complete lines (or more)."""
    return lambda: _lines(log) >= count


def _integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def _names(base: str, count: int) -> list[str]:
    return [f"{base}_{i}" if i else base for i in range(count)]


# ------------------------------------------------------- 1. SIGKILL at points the test chooses
CRASHFLOW = '''
"""Many fast steps, each leaving one line in a side-effect log.

CRASH_MODE and CRASH_AT choose where the process waits to be killed: it blocks reading its
standard input (which the test never writes) inside step CRASH_AT ("held"), at the last step
("flow": the test kills it as step CRASH_AT goes by, while the run goes on), or once the run
has ended ("ended").
"""

import os
import sys

import flightlog

fl = flightlog.open(os.environ["CRASH_URL"])
LOG = os.environ["CRASH_LOG"]
MODE = os.environ.get("CRASH_MODE", "")
AT = int(os.environ.get("CRASH_AT", "-1"))


def wait_to_be_killed() -> None:
    sys.stdin.read()
    raise SystemExit("standard input closed: the test did not kill this process")


@fl.task
def step(i: int, last: int) -> int:
    with open(LOG, "a") as log:
        log.write(f"{i}\\n")
        log.flush()
    if (MODE == "held" and i == AT) or (MODE == "flow" and i == last):
        wait_to_be_killed()
    return i


@fl.workflow
def crashflow(n: int) -> int:
    return sum(step(i, n - 1) for i in range(n))


def main(n: int) -> None:
    crashflow.run(n, run_id="crash")
    if MODE == "ended":
        with open(LOG + ".ended", "w"):
            pass
        wait_to_be_killed()
'''

CRASH_STEPS = 400
CRASH_RUN = "crash"
# Where each trial kills the run: "held" blocks inside step CRASH_AT after its effect, before
# its result is committed (killed at once, or once the monitor has written the step's start:
# "held-started"); "flow" is killed as step CRASH_AT goes by, at whatever instant of the step
# path the signal lands (a commit, an encoding, the next step's start), while the run goes on
# (its last step blocks); "ended" is killed after the run's end was committed.
CRASH_MODES = ["held", "flow", "held-started", "flow"] * 4 + ["ended", "flow", "held", "ended"]


def _step_started(path: Path, position: int) -> Callable[[], bool]:
    """Whether the store holds step ``position`` as RUNNING (the monitor wrote its start)."""

    def started() -> bool:
        with contextlib.closing(sqlite3.connect(path, timeout=WAIT)) as connection:
            row = connection.execute(
                "SELECT status FROM step_view WHERE run_id = ? AND position = ?",
                (CRASH_RUN, position),
            ).fetchone()
        return row is not None and row[0] == "RUNNING"

    return started


@pytest.mark.timeout(240)
def test_sigkill_at_chosen_points_loses_at_most_the_step_in_flight(tmp_path: Path) -> None:
    (tmp_path / "crashflow.py").write_text(CRASHFLOW)
    expected = sum(range(CRASH_STEPS))
    start_run = f"import crashflow\ncrashflow.main({CRASH_STEPS})"
    resume = f"import json, crashflow\nprint(json.dumps(crashflow.fl.resume({CRASH_RUN!r})))"
    # The step at which each trial kills: one in each of as many equal slices of the run.
    rng = random.Random(20240611)
    slot = CRASH_STEPS / len(CRASH_MODES)
    points = [int(slot * (trial + rng.random())) for trial in range(len(CRASH_MODES))]

    for trial, (mode, at) in enumerate(zip(CRASH_MODES, points, strict=True)):
        where = f"trial {trial} ({mode} at step {at})"
        folder = tmp_path / f"trial-{trial}"
        folder.mkdir()
        path, log, output = folder / "store.db", folder / "effects.log", folder / "child.out"
        env = dict(os.environ, CRASH_URL=f"sqlite:///{path}", CRASH_LOG=str(log))
        held = dict(env, CRASH_MODE=mode.removesuffix("-started"), CRASH_AT=str(at))
        with _child(tmp_path, start_run, held, output, stdin=subprocess.PIPE) as child:
            if mode == "ended":
                _wait_for(Path(f"{log}.ended").exists, "the run's end", child, output)
            else:
                _wait_for(_has_lines(log, at + 1), f"step {at}", child, output, poll=0.0005)
            if mode == "held-started":
                _wait_for(_step_started(path, at), f"the start of step {at}", child, output)
            child.send_signal(signal.SIGKILL)
            returncode = child.wait(WAIT)
        assert returncode == -signal.SIGKILL, f"{where}: {output.read_text()}"
        assert _integrity(path) == "ok", f"{where}: integrity check failed"

        with contextlib.closing(flightlog.open(f"sqlite:///{path}")) as fl:
            before = fl.get_status(CRASH_RUN)
            assert before == ("SUCCESSFUL" if mode == "ended" else "RESUMABLE"), where

            # What the kill left: an unbroken prefix of committed steps, and at most the step
            # in flight written as RUNNING (it took longer than the lazy start delay).
            steps = fl.steps(CRASH_RUN)
            done = sum(1 for step in steps if step["status"] == "SUCCESSFUL")
            assert [s["name"] for s in steps] == _names("step", len(steps)), where
            assert all(s["status"] == "SUCCESSFUL" for s in steps[:done]), where
            assert len(steps) - done <= 1, where
            assert all(s["status"] == "RUNNING" for s in steps[done:]), where
            if mode.startswith("held"):  # exactly where it was held
                assert done == at, f"{where}: {done} steps done"
                if mode == "held-started":
                    assert len(steps) == done + 1, where
            elif mode == "flow":
                assert at <= done < CRASH_STEPS, f"{where}: {done} steps done"
            else:
                assert done == CRASH_STEPS, where
            # Every committed step had its effect once; beyond them only the step in flight did.
            logged = _indices(log)
            assert logged[:done] == list(range(done)), where
            assert logged[done:] in ([], [done]), f"{where}: {logged[done - 2 :]}"

            printed = _run_child(tmp_path, resume, env)
            assert json.loads(printed.splitlines()[-1]) == expected, where

            assert fl.get_status(CRASH_RUN) == "SUCCESSFUL"
            assert fl.get_output(CRASH_RUN) == expected
            steps = fl.steps(CRASH_RUN)
            assert [s["name"] for s in steps] == _names("step", CRASH_STEPS)
            assert all(s["status"] == "SUCCESSFUL" for s in steps), where
            origins = [s["origin"] for s in steps]
            replayed = 0 if mode == "ended" else done
            assert origins == ["replayed"] * replayed + ["executed"] * (CRASH_STEPS - replayed)

        counts = collections.Counter(_indices(log))
        assert set(counts) == set(range(CRASH_STEPS)), f"{where}: a step never ran"
        twice = sorted(index for index, count in counts.items() if count > 1)
        assert twice in ([], [done]), f"{where}: ran more than once: {twice}"
        assert max(counts.values()) <= 2


# --------------------------------------------------- 2. a killed run reads RESUMABLE, resumes
BLOCKFLOW = '''
"""A workflow whose second step waits for a flag file."""

import os
import pathlib
import time

import flightlog

fl = flightlog.open(os.environ["BLOCK_URL"])
FOLDER = pathlib.Path(os.environ["BLOCK_DIR"])


def _note(name: str) -> None:
    with open(FOLDER / "calls.log", "a") as log:
        log.write(name + "\\n")
        log.flush()


@fl.task
def prepare() -> int:
    _note("prepare")
    return 2


@fl.task
def block(x: int) -> int:
    _note("block")
    deadline = time.monotonic() + 60
    while not (FOLDER / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.01)
    return x * 20


@fl.workflow
def blockflow() -> int:
    return block(prepare()) + 2
'''


@pytest.mark.timeout(120)
def test_killed_run_reads_resumable_and_resume_all_finishes_it(tmp_path: Path) -> None:
    (tmp_path / "blockflow.py").write_text(BLOCKFLOW)
    url = f"sqlite:///{tmp_path}/store.db"
    env = dict(os.environ, BLOCK_URL=url, BLOCK_DIR=str(tmp_path))
    calls = tmp_path / "calls.log"
    start_run = "import blockflow\nblockflow.blockflow.run(run_id='blocked')"

    output = tmp_path / "child.out"
    with contextlib.closing(flightlog.open(url)) as fl:
        with _child(tmp_path, start_run, env, output) as child:

            def blocking() -> bool:
                try:
                    step = fl.get_metadata("blocked", name="block")
                except flightlog.NotFoundError:
                    return False
                return bool(step["status"] == "RUNNING")

            _wait_for(blocking, "the blocking step to show as RUNNING", child, output)
            assert fl.get_status("blocked") == "RUNNING"
            child.kill()
            # Killed but not reaped yet (a zombie; Popen.poll would reap it): the run already
            # reads RESUMABLE.
            deadline = time.monotonic() + WAIT
            while fl.get_status("blocked") != "RESUMABLE":
                assert time.monotonic() < deadline, "a killed owner still reads as RUNNING"
                time.sleep(0.01)
            assert child.returncode is None
            assert child.wait(WAIT) == -signal.SIGKILL

        assert fl.get_status("blocked") == "RESUMABLE"
        assert fl.get_metadata("blocked")["status"] == "RESUMABLE"
        assert [r["run_id"] for r in fl.list_runs(status="RESUMABLE")] == ["blocked"]
        assert fl.list_runs(status="RUNNING") == []
        assert calls.read_text().split() == ["prepare", "block"]

        (tmp_path / "release").touch()
        # A fresh process that never imports blockflow itself: resume_all finds the workflow
        # by the module and qualname recorded with the run.
        resume_all = """
            import json, os
            import flightlog
            fl = flightlog.open(os.environ["BLOCK_URL"])
            outcomes = fl.resume_all()
            print(json.dumps({key: repr(value) for key, value in outcomes.items()}))
            print(json.dumps("blockflow" in sys.modules))
            """
        printed = _run_child(tmp_path, resume_all, env).splitlines()
        assert json.loads(printed[-2]) == {"blocked": "42"}
        assert json.loads(printed[-1]) is True

        assert fl.get_status("blocked") == "SUCCESSFUL"
        assert fl.get_output("blocked") == 42
        assert fl.list_runs(status="RESUMABLE") == []
        steps = {s["name"]: s for s in fl.steps("blocked")}
        assert {name: s["status"] for name, s in steps.items()} == {
            "prepare": "SUCCESSFUL",
            "block": "SUCCESSFUL",
        }
        assert steps["prepare"]["origin"] == "replayed"
        assert steps["block"]["origin"] == "executed"
        assert calls.read_text().split() == ["prepare", "block", "block"]
        assert fl.get_metadata("blocked")["resumes"] == 1


# -------------------------------------------------------- 3. cancel from another process
CANCELFLOW = '''
"""Many steps of about 10 ms, each leaving one line in a side-effect log."""

import os
import time

import flightlog

fl = flightlog.open(os.environ["CANCEL_URL"])
LOG = os.environ["CANCEL_LOG"]


@fl.task
def tick(i: int) -> int:
    with open(LOG, "a") as log:
        log.write(f"{i}\\n")
        log.flush()
    time.sleep(0.01)
    return i


@fl.workflow
def cancelflow(n: int) -> int:
    return sum(tick(i) for i in range(n))
'''

CANCEL_STEPS = 300


@pytest.mark.timeout(120)
def test_cancel_from_another_process_stops_the_run_and_it_resumes(tmp_path: Path) -> None:
    (tmp_path / "cancelflow.py").write_text(CANCELFLOW)
    url = f"sqlite:///{tmp_path}/store.db"
    log = tmp_path / "effects.log"
    env = dict(os.environ, CANCEL_URL=url, CANCEL_LOG=str(log))
    start_run = f"""
        import flightlog, cancelflow
        try:
            cancelflow.cancelflow.run({CANCEL_STEPS}, run_id="stop")
        except flightlog.CanceledError as error:
            print("CANCELED:", error)
            sys.exit(3)
        print("NOT CANCELED")
        """
    output = tmp_path / "child.out"

    with contextlib.closing(flightlog.open(url)) as fl:
        with _child(tmp_path, start_run, env, output) as child:
            _wait_for(lambda: _lines(log) >= 20, "20 steps", child, output)
            fl.cancel("stop")
            at_cancel = _lines(log)
            assert child.wait(WAIT) == 3, output.read_text()
        assert "CANCELED:" in output.read_text()

        run = fl.get_metadata("stop")
        assert run["status"] == "CANCELED"
        assert fl.get_status("stop") == "CANCELED"
        # It ended when its owner stopped: at the end of the step in flight at the cancel.
        last_end = max(step["stats"]["end_time"] for step in fl.steps("stop"))
        assert last_end <= run["stats"]["end_time"] <= time.time()
        assert fl.list_runs(status="CANCELED")[0]["run_id"] == "stop"
        steps = fl.steps("stop")
        done = len(steps)
        assert at_cancel <= done < CANCEL_STEPS
        assert done - at_cancel < 100, "the cancel took more than a second to be noticed"
        assert run["step_count"] == done
        assert [s["name"] for s in steps] == _names("tick", done)
        assert all(s["status"] == "SUCCESSFUL" for s in steps)
        # No step started once the cancel was noticed: every step that had an effect was
        # recorded as finished, and nothing ran beyond them.
        assert _indices(log) == list(range(done))

        resume = "import json, cancelflow\nprint(json.dumps(cancelflow.fl.resume('stop')))"
        printed = _run_child(tmp_path, resume, env)
        assert json.loads(printed.splitlines()[-1]) == sum(range(CANCEL_STEPS))

        assert fl.get_status("stop") == "SUCCESSFUL"
        assert fl.get_output("stop") == sum(range(CANCEL_STEPS))
        assert "end_time" in fl.get_metadata("stop")["stats"]
        steps = fl.steps("stop")
        assert [s["name"] for s in steps] == _names("tick", CANCEL_STEPS)
        assert all(s["status"] == "SUCCESSFUL" for s in steps)
        origins = [s["origin"] for s in steps]
        assert origins == ["replayed"] * done + ["executed"] * (CANCEL_STEPS - done)
        # The steps done before the cancel were not executed again.
        assert _indices(log) == list(range(CANCEL_STEPS))


# ------------------------------------------------------------- 4. whose run is it, really
def _running_run(fl: Flightlog, run_id: str, owner: Owner, lease_expires: float) -> None:
    now = time.time()
    fl.store.create_run(
        Run(
            run_id=run_id,
            workflow="somewhere",
            status=Status.RUNNING,
            created_time=now,
            start_time=now,
            owner=owner,
            lease_expires=lease_expires,
        )
    )


def test_owner_identity_guards_against_pid_reuse_and_other_hosts(fl: Flightlog) -> None:
    me = current_owner()
    assert me.pid == os.getpid()
    assert me.process_start is not None, "the process start time is needed on Linux"
    later = time.time() + 600
    earlier = time.time() - 600

    # This process's pid, but another process's start time: the pid was reused.
    impostor = Owner(me.host, me.pid, me.process_start + 1, me.boot_id)
    _running_run(fl, "reused-pid", impostor, later)
    assert fl.get_status("reused-pid") == "RESUMABLE"

    _running_run(fl, "mine", me, later)
    assert fl.get_status("mine") == "RUNNING"
    # Liveness, not the lease, decides for an owner on this host.
    _running_run(fl, "mine-old-lease", current_owner(), earlier)
    assert fl.get_status("mine-old-lease") == "RUNNING"

    assert socket.gethostname() != "elsewhere"
    _running_run(fl, "away-live", Owner("elsewhere", me.pid, me.process_start), later)
    assert fl.get_status("away-live") == "RUNNING"
    _running_run(fl, "away-expired", Owner("elsewhere", me.pid, me.process_start), earlier)
    assert fl.get_status("away-expired") == "RESUMABLE"

    resumable = {r["run_id"] for r in fl.list_runs(status="RESUMABLE")}
    running = {r["run_id"] for r in fl.list_runs(status="RUNNING")}
    assert resumable == {"reused-pid", "away-expired"}
    assert running == {"mine", "mine-old-lease", "away-live"}
