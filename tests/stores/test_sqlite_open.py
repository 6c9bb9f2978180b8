"""Opening stores: a bad file or path is a clear error that names it (never a raw sqlite3
traceback); a store on read-only media or a full disk can be read without writing anything;
and ``create=False``, which the command line's read commands use, never makes a store.

Read-only media and full disks are real (a read-only bind mount, a filled tmpfs) where the
machine allows; where a mount is refused, the test says which simulation it uses instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import flightlog
from flightlog import ConfigurationError, NotFoundError, StoreError
from flightlog.stores import open_store

from . import mounts


def make_store(database: Path, runs: int = 2, steps: int = 3) -> list[str]:
    """A closed SQLite store with some runs; their ids."""
    fl = flightlog.open(f"sqlite:///{database}")

    @fl.task
    def double(value: int) -> int:
        return 2 * value

    @fl.workflow
    def pipeline(count: int) -> int:
        return sum(double(index) for index in range(count))

    try:
        for index in range(runs):
            pipeline.run(steps, run_id=f"run-{index}")
    finally:
        fl.close()
    return [f"run-{index}" for index in range(runs)]


def listing(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in folder.iterdir()}


# ---------------------------------------------------------------------- bad files and paths
def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("these are my notes, not a database\n" * 40)
    for create in (True, False):
        with pytest.raises(StoreError, match="is not an SQLite database") as raised:
            open_store(f"sqlite:///{notes}", create=create)
        assert str(notes) in str(raised.value)
    assert notes.read_text().startswith("these are my notes")


def test_a_database_truncated_to_its_first_page_is_named(tmp_path: Path) -> None:
    database = tmp_path / "fl.db"
    make_store(database)
    database.write_bytes(database.read_bytes()[:3000])
    with pytest.raises(StoreError, match="is damaged or truncated") as raised:
        open_store(f"sqlite:///{database}")
    assert str(database) in str(raised.value)


def test_a_database_cut_in_the_middle_fails_its_reads_with_a_store_error(tmp_path: Path) -> None:
    database = tmp_path / "fl.db"
    make_store(database, runs=40, steps=40)
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="is damaged or truncated") as raised:
        fl = flightlog.open(f"sqlite:///{database}")
        try:
            for run in fl.list_runs(limit=None):
                fl.steps(run["run_id"])
        finally:
            fl.close()
    assert str(database) in str(raised.value)


@pytest.mark.parametrize(
    "url", ["sqlite:///fl\x00.db", "file:///tmp/a\x00b", "sqlite:////tmp/x.db?synchronous=\x00"]
)
def test_a_nul_in_a_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="contains a NUL character"):
        open_store(url)


def test_a_directory_is_not_an_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a directory, not an SQLite database file"):
        open_store(f"sqlite:///{tmp_path}")
    with pytest.raises(ConfigurationError, match=f"{tmp_path} is a directory"):
        open_store(f"sqlite:///{tmp_path}", create=False)


@pytest.mark.parametrize("create", [True, False])
def test_a_device_is_not_a_store(create: bool) -> None:
    before = os.stat("/dev/null")
    with pytest.raises(ConfigurationError, match="/dev/null is a character device"):
        open_store("sqlite:////dev/null", create=create)
    with pytest.raises(ConfigurationError, match="names /dev/null, which is not a folder"):
        open_store("file:///dev/null", create=create)
    with pytest.raises(ConfigurationError, match="names /etc/hostname, which is not a folder"):
        open_store("file:///etc/hostname", create=create)
    assert os.stat("/dev/null").st_rdev == before.st_rdev


def test_the_root_folder_is_not_a_files_store() -> None:
    before = sorted(os.listdir("/"))
    for url in ("file:///", "file:////", "file:///.", "file:///tmp/.."):
        with pytest.raises(ConfigurationError, match="root of the file system"):
            open_store(url)
    assert sorted(os.listdir("/")) == before


# ------------------------------------------------------------------- create=False: no store
def test_create_false_opens_no_missing_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFoundError, match=r"there is no store at sqlite:///tpyo/x\.db") as raised:
        flightlog.open("sqlite:///tpyo/x.db", create=False)
    assert f"{tmp_path}/tpyo/x.db does not exist" in str(raised.value)
    assert os.listdir(tmp_path) == []


def test_create_false_opens_no_missing_files_store(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="there is no store at file://"):
        open_store(f"file://{tmp_path}/missing", create=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="holds no store"):
        open_store(f"file://{tmp_path}/empty", create=False)
    assert sorted(os.listdir(tmp_path)) == ["empty"]
    assert os.listdir(tmp_path / "empty") == []


def test_create_false_makes_no_store_of_an_empty_file_or_a_foreign_database(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(NotFoundError, match=r"empty\.db is an empty file"):
        open_store(f"sqlite:///{empty}", create=False)
    assert empty.stat().st_size == 0
    foreign = tmp_path / "app.db"
    import sqlite3

    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE users (name TEXT)")
    connection.commit()
    connection.close()
    size = foreign.stat().st_size
    with pytest.raises(NotFoundError, match=r"app\.db is not a flightlog store"):
        open_store(f"sqlite:///{foreign}", create=False)
    assert foreign.stat().st_size == size
    assert sorted(os.listdir(tmp_path)) == ["app.db", "empty.db"]


def test_create_false_opens_a_store_that_exists_for_reading_and_writing(tmp_path: Path) -> None:
    database = tmp_path / "fl.db"
    make_store(database)
    fl = flightlog.open(f"sqlite:///{database}", create=False)
    try:
        assert [run["run_id"] for run in fl.list_runs()] == ["run-1", "run-0"]
        fl.task(lambda: 1)()
        assert len(fl.list_runs()) == 3
    finally:
        fl.close()
    files = flightlog.open(f"file://{tmp_path}/files")
    files.close()
    open_store(f"file://{tmp_path}/files", create=False).close()


def test_memory_and_plugin_stores_take_create_false() -> None:
    open_store("memory://", create=False).close()
    open_store("teststore://", create=False).close()  # its factory takes no create keyword


# ------------------------------------------------------------- read-only media, full disks
@contextlib.contextmanager
def read_only(folder: Path, view: Path) -> Iterator[Path]:
    """``folder`` seen through a read-only bind mount. Where the machine refuses the mount, a
    simulation: the folder and its files made read-only by their permissions, which binds
    only users other than root (as root, the test then fails: say so)."""
    try:
        with mounts.read_only_view(folder, view) as point:
            yield point
            return
    except mounts.MountRefused as refused:
        if os.geteuid() == 0:
            pytest.fail(f"cannot make read-only media as root without a mount: {refused}")
    modes = {path: path.stat().st_mode for path in [folder, *folder.iterdir()]}
    for path in modes:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield folder
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.mark.parametrize("log_files", ["left by the last process", "removed"])
def test_a_store_on_read_only_media_is_read_and_refuses_writes(
    tmp_path: Path, log_files: str
) -> None:
    folder = tmp_path / "disk"
    folder.mkdir()
    runs = make_store(folder / "fl.db")
    if log_files == "removed":
        for suffix in ("-wal", "-shm"):
            Path(f"{folder}/fl.db{suffix}").unlink(missing_ok=True)
    with read_only(folder, tmp_path / "ro") as media:
        before = listing(media)
        url = f"sqlite:///{media}/fl.db"
        fl = flightlog.open(url)
        try:
            assert [run["run_id"] for run in fl.list_runs()] == runs[::-1]
            assert fl.get_metadata("run-0")["status"] == "SUCCESSFUL"
            assert [step["name"] for step in fl.steps("run-0")] == [
                "double",
                "double_1",
                "double_2",
            ]
            with pytest.raises(StoreError) as raised:
                fl.task(lambda: 1)()
            message = str(raised.value)
            assert f"the SQLite store {media}/fl.db can be read, not written" in message
            assert "read-only" in message
        finally:
            fl.close()
        assert listing(media) == before


def test_a_store_on_a_full_disk_is_read_and_refuses_writes(tmp_path: Path) -> None:
    """On a 1 MiB tmpfs filled to its last byte (the log files removed, as after a clean
    close, so that opening would have to make them). Where the machine refuses the mount, this
    test fails: a full disk cannot be simulated for SQLite's own files."""
    with mounts.tmpfs(tmp_path / "small", "1m") as folder:
        runs = make_store(folder / "fl.db")
        for suffix in ("-wal", "-shm"):
            Path(f"{folder}/fl.db{suffix}").unlink(missing_ok=True)
        filler = folder / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
        assert shutil.disk_usage(folder).free == 0
        fl = flightlog.open(f"sqlite:///{folder}/fl.db")
        try:
            assert [run["run_id"] for run in fl.list_runs()] == runs[::-1]
            assert len(fl.steps("run-1")) == 3
            with pytest.raises(StoreError, match=f"{folder}/fl.db.*the disk is full"):
                fl.task(lambda: 1)()
        finally:
            fl.close()
        filler.unlink()
        with flightlog.open(f"sqlite:///{folder}/fl.db") as again:  # room again: writable
            again.task(lambda: 1)()
            assert len(again.list_runs()) == 3


def test_the_docs_example_of_stores_gone_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = Path(__file__).resolve().parents[2] / "docs" / "guides" / "stores.md"
    section = readme.read_text().split("## When the store goes wrong", 1)[1]
    found = re.search(r"```python\n(.*?)```\s*```text title=\"Output\"\n(.*?)```", section, re.S)
    assert found is not None, "stores.md has no example under 'When the store goes wrong'"
    monkeypatch.chdir(tmp_path)
    code = found.group(1)
    exec(compile(code, str(readme), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed == found.group(2).splitlines()  # the page's Output block
