"""Hostile and broken stores: planted symlinks, tampered blobs, corrupt records, read-only
media and full disks. Every case is a clear flightlog error naming the path, never a write
outside the store, wrong bytes, or a traceback.

The read-only and full-disk cases use real mounts (a read-only bind mount, a small tmpfs):
the tests run as root here. Where the machine refuses the mount, they fail saying so (they
never skip silently).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

import flightlog
from flightlog import Flightlog
from flightlog.cli import main
from flightlog.errors import (
    ConfigurationError,
    FlightlogError,
    SchemaVersionError,
    StoreError,
    StoreWarning,
)
from flightlog.stores import FileStore, Store, open_store

from ..store_urls import STORE_KINDS, store_url


def build(fl: Flightlog, *, failing: bool = False) -> Any:
    """A workflow of two steps (the second fails while ``failing`` says so), attaching a
    file."""
    state = {"failing": failing}

    @fl.task
    def first(x: int) -> int:
        flightlog.attach("first.txt", data=b"first bytes")
        return x + 1

    @fl.task
    def second(x: int) -> int:
        if state["failing"]:
            raise ValueError("not yet")
        return x * 2

    @fl.workflow
    def pipeline(x: int) -> int:
        return second(first(x))

    pipeline.state = state  # type: ignore[attr-defined]
    return pipeline


def files_url(root: Path) -> str:
    return f"file://{root}?fsync=false"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) and its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def plant(link: Path, outside: Path) -> None:
    """Move what ``link`` names to ``outside`` and leave a symbolic link to it in its place."""
    shutil.move(str(link), str(outside))
    link.symlink_to(outside)


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A files store holding a FAILED run ``r1`` and a SUCCESSFUL run ``r2``, and an empty
    folder outside it."""
    root, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    with flightlog.open(files_url(root)) as fl:
        pipeline = build(fl, failing=True)
        with pytest.raises(ValueError, match="not yet"):
            pipeline.run(1, run_id="r1")
        pipeline.state["failing"] = False
        assert pipeline.run(2, run_id="r2") == 6
    yield root, outside


# -- symbolic links out of the store -------------------------------------------------------------
def test_resume_refuses_a_run_folder_linked_outside(recorded: tuple[Path, Path]) -> None:
    root, outside = recorded
    plant(root / "runs" / "r1", outside / "r1")
    before = snapshot(outside)
    with flightlog.open(files_url(root)) as fl:
        build(fl)
        with pytest.raises(StoreError) as caught:
            fl.resume("r1")
    message = str(caught.value)
    assert f"{root}/runs/r1" in message and str(outside / "r1") in message
    assert "symbolic link" in message
    assert snapshot(outside) == before  # run-info.json out there was not rewritten


def test_a_run_info_linked_outside_is_not_read(recorded: tuple[Path, Path]) -> None:
    root, outside = recorded
    plant(root / "runs" / "r2" / "run-info.json", outside / "secret.json")
    refused = rf"runs/r2/run-info.json: .*symbolic link.*outside {root}"
    with flightlog.open(files_url(root)) as fl, pytest.raises(StoreError, match=refused):
        fl.get_metadata("r2")


def test_new_steps_are_not_written_through_a_linked_folder(tmp_path: Path) -> None:
    root, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    with flightlog.open(files_url(root)) as fl:
        build(fl).run(1, run_id="before")
    plant(root / "tasks", outside / "tasks")
    before = snapshot(outside)
    refused = rf"{root}/tasks .*symbolic link"
    with flightlog.open(files_url(root)) as fl, pytest.raises(StoreError, match=refused):
        build(fl).run(5, run_id="after")
    assert snapshot(outside) == before


def test_a_lock_file_linked_outside_is_not_created(recorded: tuple[Path, Path]) -> None:
    root, outside = recorded
    lock = root / "flightlog" / "locks" / "run.r1"
    lock.unlink(missing_ok=True)
    lock.symlink_to(outside / "made-by-the-store")
    with flightlog.open(files_url(root)) as fl:
        build(fl)
        with pytest.raises(StoreError, match=r"locks/run\.r1"):
            fl.resume("r1")
    assert not (outside / "made-by-the-store").exists()


def test_attachments_and_blobs_linked_outside_are_not_read(recorded: tuple[Path, Path]) -> None:
    root, outside = recorded
    (blob,) = [path for path in (root / "blobs").rglob("*") if path.is_file()]
    plant(blob.parent, outside / "blobs")
    refused = rf"{root}/blobs/{blob.parent.name} .*outside"
    with flightlog.open(files_url(root)) as fl, pytest.raises(StoreError, match=refused):
        fl.read_attachment("r2", "first.txt")


def test_the_steps_index_of_a_run_cannot_lead_elsewhere(recorded: tuple[Path, Path]) -> None:
    root, outside = recorded
    steps = root / "flightlog" / "runs" / "r2" / "steps"
    plant(steps, outside / "steps")
    with flightlog.open(files_url(root)) as fl, pytest.raises(StoreError, match="r2/steps"):
        fl.steps("r2")


def test_links_that_stay_inside_the_store_are_followed(recorded: tuple[Path, Path]) -> None:
    """The store's own links (steps/<position> -> session folders) and a folder moved
    elsewhere inside the root and linked back keep working."""
    root, _ = recorded
    plant(root / "blobs", root / "flightlog" / "moved-blobs")
    with flightlog.open(files_url(root)) as fl:
        assert fl.read_attachment("r2", "first.txt") == b"first bytes"
        assert [step["name"] for step in fl.steps("r2")] == ["first", "second"]
        pipeline = build(fl)
        assert fl.resume("r1") == 4
        assert pipeline.run(3, run_id="r3") == 8


def test_a_store_reached_through_a_link_is_its_own_root(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    with flightlog.open(files_url(tmp_path / "alias")) as fl:
        assert build(fl).run(1, run_id="r") == 4
        assert fl.read_attachment("r", "first.txt") == b"first bytes"
    assert (tmp_path / "real" / "runs" / "r" / "run-info.json").is_file()


# -- blobs checked against their digest ---------------------------------------------------------
def _tamper(kind: str, store: Store, digest: str, url: str) -> None:
    """Replace the bytes stored under ``digest`` behind the store's back."""
    if kind == "memory":
        store._blobs[digest] = b"tampered"  # type: ignore[attr-defined]
    elif kind == "sqlite":
        with sqlite3.connect(url[len("sqlite:///") :]) as connection:
            connection.execute("UPDATE blobs SET data = ? WHERE sha256 = ?", (b"tampered", digest))
    elif kind == "postgres":
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                "UPDATE blobs SET data = %s WHERE sha256 = %s", (b"tampered", digest)
            )
    else:
        assert isinstance(store, FileStore)
        path = Path(store.root) / "blobs" / digest[:2] / digest
        path.chmod(0o644)
        path.write_bytes(b"tampered")


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_blob_that_does_not_match_its_digest_is_refused(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = store_url(kind, request, tmp_path)
    with flightlog.open(url) as fl:
        build(fl).run(1, run_id="r")
        digest = fl.attachments("r")[0]["sha256"]
        assert fl.store.get_blob(digest) == b"first bytes"
        _tamper(kind, fl.store, digest, url)
        with pytest.raises(StoreError, match=rf"{digest}.*does not match"):
            fl.store.get_blob(digest)
        with pytest.raises(StoreError, match=digest):
            fl.read_attachment("r", "first.txt")


# -- the run's metadata is kept once -----------------------------------------------------------
def test_steps_reference_the_runs_metadata_instead_of_copying_it(tmp_path: Path) -> None:
    root = tmp_path / "store"
    metadata = {"notes": "x" * 200_000}
    with flightlog.open(files_url(root)) as fl:

        @fl.task
        def step(i: int) -> int:
            return i

        @fl.workflow
        def many(n: int) -> int:
            return sum(step(i) for i in range(n))

        assert many.run(20, run_id="big", metadata=metadata) == 190
        assert fl.get_metadata("big")["user_metadata"] == metadata
    run_info = json.loads((root / "runs/big/run-info.json").read_text())
    assert run_info["meta"] == metadata  # bandsaw's place for it, once
    written = sum(path.stat().st_size for path in (root / "tasks").rglob("*") if path.is_file())
    assert written < 100_000  # 20 steps copying it wrote 8 MB
    sessions = [path.parent for path in (root / "tasks").rglob("session-info.json")]
    assert len(sessions) == 20
    session = sessions[0]
    info = json.loads((session / "session-info.json").read_text())
    assert info["run"] == {"id": "big", "workflow": "many"}  # bandsaw's run{id}, not a copy
    assert "notes" not in (session / "session-info.json").read_text()


# -- unreadable records --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda text: text[: len(text) // 2], r"not valid JSON"),
        (lambda text: "[1, 2]", r"not a JSON object"),
        (
            lambda text: text.replace('"status":"SUCCESSFUL"', '"status":"BOGUS"'),
            r"'BOGUS' is not a valid Status",
        ),
        (lambda text: text.replace('"workflow":"pipeline"', '"workflow":7'), r"workflow.*7"),
        (lambda text: text.replace('"run_id":"r2",', ""), r"lacks 'run_id'"),
    ],
    ids=["truncated", "not-an-object", "bad-status", "wrong-type", "missing-field"],
)
def test_an_unreadable_run_is_named_and_hides_no_other(
    recorded: tuple[Path, Path], damage: Callable[[str], str], why: str
) -> None:
    root, _ = recorded
    path = root / "runs" / "r2" / "run-info.json"
    path.write_text(damage(path.read_text()))
    with flightlog.open(files_url(root)) as fl:
        with pytest.raises(StoreError, match=rf"{path}.*{why}"):
            fl.get_metadata("r2")
        with pytest.warns(StoreWarning, match=rf"{path}.*{why}"):
            listed = fl.list_runs()
        assert [run["run_id"] for run in listed] == ["r1"]


def test_a_step_whose_session_file_is_missing_is_named(recorded: tuple[Path, Path]) -> None:
    root, _ = recorded
    link = root / "flightlog" / "runs" / "r2" / "steps" / "1"
    missing = link.resolve() / "session-info.json"
    missing.unlink()
    with flightlog.open(files_url(root)) as fl:
        with pytest.raises(StoreError, match=rf"{link}.*{missing.name}.*missing"):
            fl.steps("r2")
        assert [run["run_id"] for run in fl.list_runs()] == ["r2", "r1"]


def test_a_corrupt_task_record_is_named(recorded: tuple[Path, Path]) -> None:
    root, _ = recorded
    path = next((root / "tasks").glob("*/task-info.json"))
    info = json.loads(path.read_text())
    info["flightlog"]["task"]["name"] = 5
    path.write_text(json.dumps(info))
    refused = rf"{path}: its field 'name' is 5 \(int\), not str"
    with flightlog.open(files_url(root)) as fl, pytest.raises(StoreError, match=refused):
        fl.store.get_task(path.parent.name)


def test_the_command_line_lists_the_readable_runs_and_warns_in_one_line(
    recorded: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = recorded
    (root / "runs" / "r1" / "run-info.json").write_text("{")
    assert main(["runs", "--url", files_url(root)]) == 0
    out, err = capsys.readouterr()
    assert "r2" in out and "r1" not in out
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("flightlog: warning: ")
    assert "runs/r1/run-info.json" in lines[0]


@pytest.mark.parametrize("path", ["/etc/hostname", "/dev/null"])
def test_a_file_is_not_a_store(path: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"names {path}, which is not a folder"):
        open_store(f"file://{path}")


def test_the_root_of_the_file_system_is_not_a_store() -> None:
    with pytest.raises(ConfigurationError, match=r"file:///.*root of the file system"):
        open_store("file:///")


# -- read-only media, full disks, and stores that do not exist --------------------------------
def _mount(*arguments: str) -> None:
    done = subprocess.run(["mount", *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"mount {' '.join(arguments)} was refused: {done.stderr.strip()}")


def _unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


@pytest.fixture
def read_only(recorded: tuple[Path, Path], tmp_path: Path) -> Iterator[Path]:
    """The recorded store, seen through a read-only bind mount."""
    root, _ = recorded
    view = tmp_path / "read-only"
    view.mkdir()
    _mount("--bind", str(root), str(view))
    try:
        _mount("-o", "remount,bind,ro", str(view))
        yield view
    finally:
        _unmount(view)


def test_a_store_on_read_only_media_is_read_and_refuses_writes(read_only: Path) -> None:
    with flightlog.open(files_url(read_only)) as fl:
        assert [run["run_id"] for run in fl.list_runs()] == ["r2", "r1"]
        assert fl.get_output("r2") == 6
        assert fl.read_attachment("r2", "first.txt") == b"first bytes"
        pipeline = build(fl)
        with pytest.raises(StoreError, match=rf"{read_only}.*read-only") as caught:
            pipeline.run(3, run_id="r3")
        assert not isinstance(caught.value, SchemaVersionError)
        with pytest.raises(StoreError, match="read-only"):
            fl.resume("r1")
    assert main(["show", "r2", "--url", files_url(read_only)]) == 0


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs holding a store with one run, then filled to the last byte."""
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    try:
        with flightlog.open(files_url(disk / "store")) as fl:
            assert build(fl).run(1, run_id="r") == 4
        with open(disk / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        yield disk / "store"
    finally:
        _unmount(disk)


def test_a_store_on_a_full_disk_is_read_and_writes_fail_clearly(full_disk: Path) -> None:
    with flightlog.open(files_url(full_disk)) as fl:
        assert fl.get_output("r") == 4
        with pytest.raises(StoreError, match=rf"{full_disk}.*No space left on device"):
            build(fl).run(2, run_id="r-2")
        assert fl.get_output("r") == 4


def test_a_store_that_does_not_exist_is_not_created_when_asked_not_to(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(StoreError, match=rf"no store at file://{missing}: "):
        FileStore(f"file://{missing}", create=False)
    with pytest.raises(StoreError, match="no store at"):
        flightlog.open(f"file://{missing}", create=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="no store at"):
        open_store(f"file://{tmp_path}/empty", create=False)
    assert not (tmp_path / "no").exists() and not list((tmp_path / "empty").iterdir())


def test_an_existing_store_opens_without_writing(recorded: tuple[Path, Path]) -> None:
    root, _ = recorded
    before = {path: path.stat().st_mtime_ns for path in root.rglob("*") if not path.is_symlink()}
    with closing(FileStore(files_url(root), create=False)) as store:
        assert {run.run_id for run in store.list_runs()} == {"r1", "r2"}
    after = {path: path.stat().st_mtime_ns for path in root.rglob("*") if not path.is_symlink()}
    assert after == before


def test_every_error_here_is_a_flightlog_error() -> None:
    assert issubclass(StoreError, FlightlogError) and issubclass(StoreWarning, UserWarning)


def test_a_nul_in_the_url_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="NUL"):
        open_store(f"file://{tmp_path}/a%00b")


def test_bandsaws_own_folder_is_read_without_writing_and_set_up_at_the_first_write(
    recorded: tuple[Path, Path],
) -> None:
    """A folder of bandsaw's layout without flightlog's ``store.json`` (bandsaw's own, or a
    FileSystemTracker's mirror) opened with create=False: read as it is; a write sets it up."""
    root, _ = recorded
    (root / "flightlog" / "store.json").unlink()
    with closing(FileStore(files_url(root), create=False)) as store:
        assert {run.run_id for run in store.list_runs()} == {"r1", "r2"}
        assert not (root / "flightlog" / "store.json").exists()
    with flightlog.open(files_url(root), create=False) as fl:
        assert build(fl).run(3, run_id="r3") == 8
    assert json.loads((root / "flightlog" / "store.json").read_text())["layout"] == "bandsaw"
