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
    directory: Path, body: str, env: dict[str, str], output: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a child process running ``body``; kill it if it still runs, and reap it."""
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", _script(directory, body)],
            cwd=directory,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(WAIT)


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


def _grown_to(log: Path, size: int) -> Callable[[], bool]:
    """Whether a side-effect log has reached ``size`` bytes."""
    return lambda: log.stat().st_size >= size


def _integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def _names(base: str, count: int) -> list[str]:
    return [f"{base}_{i}" if i else base for i in range(count)]


# ------------------------------------------------------------ 1. SIGKILL at random instants
CRASHFLOW = '''
"""Many fast steps, each leaving one line in a side-effect log."""

import os

import flightlog

fl = flightlog.open(os.environ["CRASH_URL"])
LOG = os.environ["CRASH_LOG"]


@fl.task
def step(i: int) -> int:
    with open(LOG, "a") as log:
        log.write(f"{i}\\n")
        log.flush()
    return i


@fl.workflow
def crashflow(n: int) -> int:
    return sum(step(i) for i in range(n))
'''

CRASH_STEPS = 1000
CRASH_TRIALS = 20
CRASH_RUN = "crash"


@pytest.mark.timeout(240)
def test_sigkill_at_random_instants_loses_at_most_the_step_in_flight(tmp_path: Path) -> None:
    (tmp_path / "crashflow.py").write_text(CRASHFLOW)
    expected = sum(range(CRASH_STEPS))
    start_run = f"import crashflow\ncrashflow.crashflow.run({CRASH_STEPS}, run_id={CRASH_RUN!r})"
    resume = f"import json, crashflow\nprint(json.dumps(crashflow.fl.resume({CRASH_RUN!r})))"

    def trial_env(name: str) -> tuple[dict[str, str], Path, Path]:
        folder = tmp_path / name
        folder.mkdir()
        env = dict(os.environ)
        env["CRASH_URL"] = f"sqlite:///{folder}/store.db"
        env["CRASH_LOG"] = str(folder / "effects.log")
        return env, folder / "store.db", folder / "effects.log"

    # Undisturbed runs: how long from the first step's effect to the last step's. The
    # shortest of a few is taken, as a machine busy with other work makes some runs slower.
    size = sum(len(f"{i}\n") for i in range(CRASH_STEPS))
    durations = []
    for attempt in range(3):
        env, _, log = trial_env(f"undisturbed-{attempt}")
        output = log.parent / "child.out"
        with _child(tmp_path, start_run, env, output) as child:
            _wait_for(log.exists, "the first step", child, output, poll=0.0005)
            began = time.monotonic()
            _wait_for(_grown_to(log, size), "the last step", child, output, poll=0.0005)
            durations.append(time.monotonic() - began)
            assert child.wait(WAIT) == 0, output.read_text()
        assert _indices(log) == list(range(CRASH_STEPS))
    duration = min(durations)

    # Kill instants spread over the run (its last fifth left out, as runs vary): one in each
    # of TRIALS equal slices, in random order.
    rng = random.Random(20240611)
    window = 0.8 * duration
    delays = [window * (slot + rng.random()) / CRASH_TRIALS for slot in range(CRASH_TRIALS)]
    rng.shuffle(delays)

    killed_mid_run = 0
    outcomes: list[str] = []
    for trial, delay in enumerate(delays):
        env, path, log = trial_env(f"trial-{trial}")
        output = path.parent / "child.out"
        with _child(tmp_path, start_run, env, output) as child:
            _wait_for(log.exists, "the first step", child, output, poll=0.0005)
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)  # a no-op when it has been reaped already
            returncode = child.wait(WAIT)
        killed = returncode == -signal.SIGKILL
        assert killed or returncode == 0, f"trial {trial}: {output.read_text()}"
        assert _integrity(path) == "ok", f"trial {trial}: integrity check failed"

        with contextlib.closing(flightlog.open(f"sqlite:///{path}")) as fl:
            before = fl.get_status(CRASH_RUN)
            # A kill may land after the run's end was committed, while the process exits.
            assert before in (("RESUMABLE", "SUCCESSFUL") if killed else ("SUCCESSFUL",))
            mid_run = before == "RESUMABLE"
            killed_mid_run += mid_run
            outcomes.append(f"{delay * 1000:.1f} ms: {before}")

            # What the kill left: an unbroken prefix of committed steps, and at most the step
            # in flight written as RUNNING (it took longer than the lazy start delay).
            steps = fl.steps(CRASH_RUN)
            done = sum(1 for step in steps if step["status"] == "SUCCESSFUL")
            assert [s["name"] for s in steps] == _names("step", len(steps))
            assert all(s["status"] == "SUCCESSFUL" for s in steps[:done])
            assert len(steps) - done <= 1
            assert all(s["status"] == "RUNNING" for s in steps[done:])
            # Every committed step had its effect once; beyond them only the step in flight did.
            logged = _indices(log)
            assert logged[:done] == list(range(done)), f"trial {trial}"
            assert logged[done:] in ([], [done]), f"trial {trial}: {logged[done - 2 :]}"

            printed = _run_child(tmp_path, resume, env)
            assert json.loads(printed.splitlines()[-1]) == expected, f"trial {trial}"

            assert fl.get_status(CRASH_RUN) == "SUCCESSFUL"
            assert fl.get_output(CRASH_RUN) == expected
            steps = fl.steps(CRASH_RUN)
            assert [s["name"] for s in steps] == _names("step", CRASH_STEPS)
            assert all(s["status"] == "SUCCESSFUL" for s in steps), f"trial {trial}"
            origins = [s["origin"] for s in steps]
            replayed = done if mid_run else 0
            assert origins == ["replayed"] * replayed + ["executed"] * (CRASH_STEPS - replayed)

        counts = collections.Counter(_indices(log))
        assert set(counts) == set(range(CRASH_STEPS)), f"trial {trial}: a step never ran"
        twice = sorted(index for index, count in counts.items() if count > 1)
        assert twice in ([], [done]), f"trial {trial}: ran more than once: {twice}"
        assert max(counts.values()) <= 2

    assert killed_mid_run >= 15, (
        f"only {killed_mid_run} of {CRASH_TRIALS} kills landed mid-run "
        f"(undisturbed run {duration * 1000:.0f} ms): {outcomes}"
    )


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
