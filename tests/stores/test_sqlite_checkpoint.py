"""WAL checkpoints of the SQLite store run in a background thread, not in commits."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from pathlib import Path

import flightlog
from flightlog.stores import sqlite_checkpoint

SRC = str(Path(flightlog.__file__).parents[1])


def wait_for(condition: object, seconds: float = 30.0) -> bool:
    """Whether ``condition()`` held within ``seconds``. A checkpoint syncs the log and the
    database file, which a shared disk busy writing back can hold up: once, in a CI run right
    after the installs, 10 seconds were not enough (cause not established)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def checkpoint_report(database: Path) -> str:
    """What a failure needs to be understood: where the checkpoint thread is, and whether a
    checkpoint can copy the log at all (it cannot while a reader holds an old snapshot)."""
    stacks = {
        thread.name: "".join(traceback.format_stack(sys._current_frames()[thread.ident]))
        for thread in threading.enumerate()
        if thread.name == "flightlog-checkpoints" and thread.ident in sys._current_frames()
    }
    probe = sqlite3.connect(database, isolation_level=None)
    try:
        state = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        probe.close()
    return (
        f"the log was not copied into {database} in time; a PASSIVE checkpoint now gives "
        f"(busy, log pages, copied) = {state}; checkpoint thread: {stacks or 'none'}"
    )


def record_steps(fl: flightlog.Flightlog, count: int) -> int:
    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.workflow
    def pipeline(n: int) -> int:
        return sum(add(index, 1) for index in range(n))

    return pipeline(count)


def test_the_thread_copies_the_log_into_the_database(tmp_path: Path) -> None:
    database = tmp_path / "fl.db"
    fl = flightlog.open(f"sqlite:///{database}")
    try:
        before = database.stat().st_size
        assert record_steps(fl, 2000) == sum(range(1, 2001))
        # Writers alone would not checkpoint before SAFETY_PAGES pages of log: the database
        # file grows only because the thread copies the log into it, with the store open.
        assert sqlite_checkpoint.running()
        grew = wait_for(lambda: database.stat().st_size > before + 100_000)
        assert grew, checkpoint_report(database)
        assert len(fl.steps(fl.list_runs()[0]["run_id"])) == 2000
    finally:
        fl.close()


def test_a_database_made_again_at_the_same_path_is_checkpointed(tmp_path: Path) -> None:
    database = tmp_path / "fl.db"
    first = flightlog.open(f"sqlite:///{database}")
    record_steps(first, 10)
    first.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    second = flightlog.open(f"sqlite:///{database}")  # at once: before the thread looks again
    try:
        before = database.stat().st_size
        record_steps(second, 2000)
        assert wait_for(lambda: database.stat().st_size > before + 100_000)
    finally:
        second.close()


def run_script(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "fl.db")],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_thread_ends_when_the_last_store_closes(tmp_path: Path) -> None:
    lines = run_script(
        tmp_path,
        """
        import sys, time
        import flightlog
        from flightlog.stores import sqlite_checkpoint

        first = flightlog.open(f"sqlite:///{sys.argv[1]}")
        second = flightlog.open(f"sqlite:///{sys.argv[1]}")
        first.list_runs(), second.list_runs()
        print(sqlite_checkpoint.running())
        first.close()
        time.sleep(1.2)
        print(sqlite_checkpoint.running())
        second.close()
        deadline = time.monotonic() + 10
        while sqlite_checkpoint.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        print(sqlite_checkpoint.running())
        third = flightlog.open(f"sqlite:///{sys.argv[1]}")
        third.list_runs()
        print(sqlite_checkpoint.running())
        """,
    )
    assert lines == ["True", "True", "False", "True"]


def test_a_forked_child_checkpoints_its_own_writes(tmp_path: Path) -> None:
    lines = run_script(
        tmp_path,
        """
        import os, sys, time
        import flightlog
        from flightlog.stores import sqlite_checkpoint

        path = sys.argv[1]
        fl = flightlog.open(f"sqlite:///{path}")

        @fl.task
        def add(left, right):
            return left + right

        @fl.workflow
        def pipeline(n):
            return sum(add(i, 1) for i in range(n))

        pipeline(10)
        child = os.fork()
        if child == 0:
            code = 1
            try:
                before = os.path.getsize(path)
                pipeline(2000)
                deadline = time.monotonic() + 10
                while os.path.getsize(path) <= before + 100_000 and time.monotonic() < deadline:
                    time.sleep(0.05)
                code = 0 if sqlite_checkpoint.running() and os.path.getsize(path) > before else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        print(os.waitstatus_to_exitcode(status))
        print(len(fl.list_runs()))
        fl.close()
        """,
    )
    assert lines == ["0", "2"]


def test_a_fork_waits_for_background_threads_to_leave_the_stores(tmp_path: Path) -> None:
    lines = run_script(
        tmp_path,
        """
        import os, threading, time
        from flightlog.stores.forking import background

        entered = threading.Event()

        def busy():
            with background():
                entered.set()
                time.sleep(0.5)

        thread = threading.Thread(target=busy)
        thread.start()
        entered.wait()
        started = time.monotonic()
        child = os.fork()
        if child == 0:
            with background():  # the child's own background work goes on
                pass
            os._exit(0)
        waited = time.monotonic() - started
        _, status = os.waitpid(child, 0)
        thread.join()
        print(waited >= 0.3, os.waitstatus_to_exitcode(status))
        """,
    )
    assert lines == ["True", "0"]
