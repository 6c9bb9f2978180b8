"""The SQLite store while a run records under faults: its file deleted or replaced, a full
disk, a filesystem that goes read-only, and a log (WAL) that must stay small.

A deleted or replaced database file is noticed at the run's end and by the background
monitor every few seconds, and fails the run with a StoreError (a process keeps writing into
the file it has open, and would otherwise exit 0 with nothing in the store). A full disk or a
read-only filesystem fails the run with a StoreError that names the store and the cause;
what was committed before stays, and the run resumes once the cause is gone. Faults are real
where the machine allows (tests run as root: a small tmpfs, an ext4 image that goes
read-only); where a mount is refused, the test says which simulation it uses instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import flightlog
import flightlog.testing
from flightlog import StoreError
from flightlog.runtime import monitor
from flightlog.stores import SQLiteStore, open_store, sqlite_checkpoint

from . import mounts

SRC = str(Path(flightlog.__file__).resolve().parent.parent)
WAIT = 60.0


@pytest.fixture
def no_monitor_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the check at a run's end (the monitor's would come first on a slow machine)."""
    monkeypatch.setattr(monitor, "CHECK_INTERVAL", 3600.0, raising=False)


def run_python(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script), *args],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


# ------------------------------------------------------------- the file deleted or replaced
def test_a_run_whose_database_file_is_deleted_fails_at_its_end(
    tmp_path: Path, no_monitor_checks: None
) -> None:
    database = tmp_path / "store" / "fl.db"
    fl = flightlog.open(f"sqlite:///{database}")

    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.workflow
    def pipeline(n: int) -> int:
        total = 0
        for index in range(n):
            total += add(index, 1)
            if index == 4:
                database.unlink()
        return total

    try:
        with pytest.raises(StoreError) as raised:
            pipeline(10)
        message = str(raised.value)
        assert f"the SQLite database file {database} was deleted" in message, message
        # The steps recorded since the file was last seen in place (at the latest, when it
        # was deleted, after the fifth): the message counts them.
        counted = re.search(r"; (\d+) steps recorded since ", message)
        assert counted is not None and 5 <= int(counted.group(1)) <= 10, message
        assert not database.exists()  # nothing made anew at its path
    finally:
        fl.close()


def test_a_thread_that_opens_its_connection_as_the_file_goes_makes_no_file_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file deleted between a new connection's check and its open (the lease thread's
    first connection, say): the open fails instead of making an empty file at the path,
    which would later read as the database replaced by another file."""
    database = tmp_path / "fl.db"
    store = SQLiteStore(f"sqlite:///{database}")
    try:
        store.create_run(flightlog.testing.make_run("kept"))
        database.unlink()
        checks: list[str] = []
        check = store.check

        def late_check() -> None:  # the first check comes before the file goes
            checks.append("check")
            if len(checks) > 1:
                check()

        monkeypatch.setattr(store, "check", late_check)
        failures: list[BaseException] = []

        def first_read_of_a_new_thread() -> None:
            try:
                store.get_run("kept")
            except BaseException as error:
                failures.append(error)

        reader = threading.Thread(target=first_read_of_a_new_thread)
        reader.start()
        reader.join(30)
        assert not database.exists()  # nothing made anew at its path
        (failure,) = failures
        assert isinstance(failure, StoreError)
        assert f"the SQLite database file {database} was deleted" in str(failure)
    finally:
        store.close()


def test_a_run_whose_database_file_is_replaced_fails_and_the_new_file_is_left_alone(
    tmp_path: Path, no_monitor_checks: None
) -> None:
    database = tmp_path / "fl.db"
    other = tmp_path / "other.db"
    with flightlog.open(f"sqlite:///{other}") as elsewhere:
        elsewhere.task(lambda: 1)()  # a lone task: one run in the other store
        before = [run["run_id"] for run in elsewhere.list_runs()]
    fl = flightlog.open(f"sqlite:///{database}")

    @fl.task
    def step(index: int) -> int:
        return index

    @fl.workflow
    def pipeline() -> int:
        step(1)
        os.replace(other, database)  # an atomic rewrite of the path by someone else
        return step(2)

    try:
        with pytest.raises(StoreError, match="was replaced by another file") as raised:
            pipeline()
        assert str(database) in str(raised.value)
    finally:
        fl.close()
    with flightlog.open(f"sqlite:///{database}") as after:
        assert [run["run_id"] for run in after.list_runs()] == before


def test_the_monitor_notices_a_deleted_folder_during_a_run_and_no_new_step_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "CHECK_INTERVAL", 0.05, raising=False)
    folder = tmp_path / "store"
    fl = flightlog.open(f"sqlite:///{folder}/fl.db")
    executed: list[int] = []
    refused: list[StoreError] = []

    @fl.task
    def step(index: int) -> int:
        executed.append(index)
        return index

    @fl.workflow
    def pipeline() -> None:
        step(0)
        shutil.rmtree(folder)
        deadline = time.monotonic() + WAIT
        index = 1
        while time.monotonic() < deadline:
            try:
                step(index)
            except StoreError as error:
                refused.append(error)
                raise
            index += 1
            time.sleep(0.01)

    try:
        with pytest.raises(StoreError, match="was deleted"):
            pipeline()
        assert refused, "no step was refused before the run's end"
        assert "was deleted while this process had it open" in str(refused[0])
        assert len(executed) == len(set(executed))  # the refused step did not run
        assert not folder.exists()
    finally:
        fl.close()


def test_a_thread_that_connects_after_the_deletion_makes_no_new_database(tmp_path: Path) -> None:
    database = tmp_path / "fl.db"
    store = open_store(f"sqlite:///{database}")
    errors: list[BaseException] = []
    try:
        store.list_runs()
        database.unlink()
        thread = threading.Thread(target=lambda: _capture(errors, store.list_runs))
        thread.start()
        thread.join(WAIT)
        assert len(errors) == 1 and isinstance(errors[0], StoreError), errors
        assert "was deleted" in str(errors[0])
        assert not database.exists()
    finally:
        store.close()


def _capture(errors: list[BaseException], action: object) -> None:
    try:
        action()  # type: ignore[operator]
    except BaseException as error:
        errors.append(error)


def test_check_passes_while_the_file_is_in_place(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path}/fl.db")
    try:
        store.check()
        os.utime(tmp_path / "fl.db")  # touched, still the same file
        store.check()
        (tmp_path / "fl.db").unlink()
        with pytest.raises(StoreError, match="was deleted"):
            store.check()
        with pytest.raises(StoreError, match="was deleted"):  # and it stays so
            store.check()
    finally:
        store.close()


def test_a_process_whose_store_folder_is_deleted_exits_with_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    done = run_python(
        tmp_path,
        """
        import shutil, sys
        import flightlog

        folder = sys.argv[1]
        fl = flightlog.open(f"sqlite:///{folder}/fl.db")

        @fl.task
        def add(left, right):
            return left + right

        @fl.workflow
        def pipeline(n):
            total = 0
            for index in range(n):
                total += add(index, 1)
                if index == 50:
                    shutil.rmtree(folder)
            return total

        print(pipeline(200))
        """,
        str(folder),
    )
    assert done.returncode != 0, done.stdout
    assert "flightlog.errors.StoreError" in done.stderr
    assert f"{folder}/fl.db was deleted while this process had it open" in done.stderr
    assert not folder.exists()


# ---------------------------------------------------------------------------- a full disk
@contextlib.contextmanager
def small_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Callable[[SQLiteStore], None]]]:
    """A folder on a 1 MiB tmpfs, and the way to give it 32 MiB. Where the machine refuses the
    mount, a simulation: every connection of the store may grow the database to 40 pages
    only (SQLite then reports SQLITE_FULL, as for a full disk)."""
    try:
        with mounts.tmpfs(tmp_path / "small", "1m") as folder:
            yield folder, lambda store: mounts.resize(folder, "32m")
            return
    except mounts.MountRefused:
        pass
    limit = [40]
    connect = SQLiteStore._connect

    def limited(store: SQLiteStore) -> sqlite3.Connection:
        connection = connect(store)
        connection.execute(f"PRAGMA max_page_count = {limit[0]}")
        return connection

    def make_room(store: SQLiteStore) -> None:
        limit[0] = 1 << 30
        for _, connection in store._all:
            connection.execute(f"PRAGMA max_page_count = {limit[0]}")

    monkeypatch.setattr(SQLiteStore, "_connect", limited)
    folder = tmp_path / "small"
    folder.mkdir()
    yield folder, make_room


def test_a_full_disk_fails_the_run_and_it_resumes_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a 1 MiB tmpfs, made 32 MiB for the resume (or the simulation of small_disk)."""
    with small_disk(tmp_path, monkeypatch) as (folder, make_room):
        database = folder / "fl.db"
        fl = flightlog.open(f"sqlite:///{database}")

        @fl.task
        def chunk(index: int) -> str:
            return f"{index:06d}" + "x" * 20_000

        @fl.workflow
        def fill(n: int) -> int:
            return len([chunk(index) for index in range(n)])

        try:
            with pytest.raises(StoreError) as raised:
                fill.run(200, run_id="filling")
            message = str(raised.value)
            assert message.startswith(f"SQLite store {database}: the disk is full"), message
            assert "SQLITE_FULL" in message
            assert fl.get_metadata("filling")["status"] in ("FAILED", "RESUMABLE")
            kept = {s["name"] for s in fl.steps("filling") if s["status"] == "SUCCESSFUL"}
            assert kept, "nothing was committed before the disk filled"
            make_room(fl.store)  # type: ignore[arg-type]
            assert fl.resume("filling") == 200
            steps = fl.steps("filling")
            assert len(steps) == 200
            assert {s["name"] for s in steps if s["origin"] == "replayed"} == kept
        finally:
            fl.close()


# ------------------------------------------------------------- a filesystem gone read-only
FLOW = """
import os, sys
import flightlog

fl = flightlog.open(f"sqlite:///{sys.argv[1]}")


@fl.task
def step(index):
    return index


@fl.workflow
def pipeline(n):
    total = 0
    for index in range(n):
        total += step(index)
        if index == 4 and sys.argv[2] == "fail":
            os.sync()  # the disk fails once what was committed is on it
            with open(sys.argv[3], "w") as trigger:
                trigger.write("1")
    return total


if sys.argv[2] == "fail":
    pipeline.run(10, run_id="on-ext4")
else:
    print(fl.resume("on-ext4"))
"""


def test_a_filesystem_that_goes_read_only_fails_the_run_and_it_resumes_after_repair(
    tmp_path: Path,
) -> None:
    """An ext4 image that an error turns read-only under the store's open files (as
    ``errors=remount-ro`` does: ext4's ``trigger_fs_error``); repaired with e2fsck and
    mounted again for the resume. Where the machine refuses the mount, this test fails: no
    simulation gives a filesystem that turns read-only under open files."""
    with mounts.ext4(tmp_path) as disk:
        database = disk.point / "fl.db"
        done = run_python(tmp_path, FLOW, str(database), "fail", str(disk.trigger))
        assert done.returncode != 0
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(
            f"flightlog.errors.StoreError: SQLite store {database}: the filesystem is read-only"
        ), done.stderr
        disk.repair()
        done = run_python(tmp_path, FLOW, str(database), "resume")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [str(sum(range(10)))]
        with flightlog.open(f"sqlite:///{database}") as fl:
            steps = fl.steps("on-ext4")
            assert [step["origin"] for step in steps[:5]] == ["replayed"] * 5
            assert fl.get_status("on-ext4") == "SUCCESSFUL"


# ----------------------------------------------------------------------- the log (WAL) size
def record_steps(
    fl: flightlog.Flightlog,
    count: int,
    sample: list[int] | None = None,
    pace: Callable[[int], None] | None = None,
) -> int:
    wal = Path(f"{fl.store.data_directory()}/fl.db-wal")

    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.workflow
    def pipeline(n: int) -> int:
        total = 0
        for index in range(n):
            total += add(index, 1)
            if index % 100 == 0 and wal.exists():
                size = wal.stat().st_size
                if sample is not None:
                    sample.append(size)
                if pace is not None:
                    pace(size)
        return total

    return pipeline(count)


class Looks:
    """Counts the checkpoint thread's looks at a file, so that a test can wait for the next one
    instead of racing the thread (on a loaded machine it may run seldom)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.changed = threading.Condition()
        original = sqlite_checkpoint._look_after

        def look_after(*args: object) -> bool:
            grew = original(*args)  # type: ignore[arg-type]
            with self.changed:
                self.count += 1
                self.changed.notify_all()
            return grew

        monkeypatch.setattr(sqlite_checkpoint, "_look_after", look_after)

    def at_limit(self, log: int) -> None:
        """Once the log has passed the size that the thread cuts it back at, wait until the
        thread's next look ends (at most 30 s): a thread starved of CPU cannot fall behind."""
        if log < sqlite_checkpoint.LOG_LIMIT:
            return
        with self.changed:
            wanted = self.count + 1
            assert self.changed.wait_for(lambda: self.count >= wanted, timeout=30)


@pytest.fixture
def no_checkpoint_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checkpoint thread looks at no file (it would cut an idle log itself)."""
    monkeypatch.setattr(sqlite_checkpoint, "_look_after", lambda *args: False)


def test_the_log_is_truncated_when_the_last_store_on_the_file_closes(
    tmp_path: Path, no_checkpoint_thread: None
) -> None:
    wal = tmp_path / "fl.db-wal"
    first = flightlog.open(f"sqlite:///{tmp_path}/fl.db")
    second = flightlog.open(f"sqlite:///{tmp_path}/fl.db")
    record_steps(first, 3000)
    first.close()
    assert wal.stat().st_size > 1_000_000  # the other store still has it open
    second.close()
    assert not wal.exists() or wal.stat().st_size == 0


def test_the_log_is_truncated_when_the_interpreter_exits(tmp_path: Path) -> None:
    done = run_python(
        tmp_path,
        """
        import sys
        import flightlog
        from flightlog.stores import sqlite_checkpoint

        sqlite_checkpoint._look_after = lambda *args: False  # it would cut an idle log itself
        fl = flightlog.open(f"sqlite:///{sys.argv[1]}/fl.db")

        @fl.task
        def add(left, right):
            return left + right

        @fl.workflow
        def pipeline(n):
            return sum(add(index, 1) for index in range(n))

        print(pipeline(3000))
        print((sqlite_checkpoint.Path(sys.argv[1]) / "fl.db-wal").stat().st_size)
        # and exits without closing anything
        """,
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[1]) > 1_000_000
    wal = tmp_path / "fl.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_an_idle_log_is_cut_by_the_checkpoint_thread(tmp_path: Path) -> None:
    wal = tmp_path / "fl.db-wal"
    fl = flightlog.open(f"sqlite:///{tmp_path}/fl.db")
    try:
        record_steps(fl, 2000)
        deadline = time.monotonic() + WAIT
        while wal.stat().st_size and time.monotonic() < deadline:
            time.sleep(0.02)
        assert wal.stat().st_size == 0
    finally:
        fl.close()


def test_the_log_stays_small_while_a_long_run_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    looks = Looks(monkeypatch)
    fl = flightlog.open(f"sqlite:///{tmp_path}/fl.db")
    sizes: list[int] = []
    try:
        # The thread runs as it does for users, but once the log is long enough to be cut, the
        # run waits for its next look: on a loaded machine the thread could be starved of CPU
        # (a log that grew to 34 MB then, while the cut was still to come).
        record_steps(fl, 16_000, sizes, pace=looks.at_limit)
    finally:
        fl.close()
    # Each commit adds a page of 4 KiB to the log: left alone, it reaches 40 MB here, where
    # the writers' own checkpoint cuts it. The thread starts it over after LOG_LIMIT bytes, so
    # the log is cut back, and stays near that size.
    assert max(sizes) < 1.5 * sqlite_checkpoint.LOG_LIMIT, str([s // 2**20 for s in sizes])
    assert sqlite_checkpoint.LOG_LIMIT <= 16 * 1024 * 1024


def test_a_store_closed_twice_stays_closed(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path}/fl.db")
    store.list_runs()
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="is closed"):
        store.list_runs()
