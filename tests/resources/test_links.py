"""A resource's folder never leads out of its data directory through a planted symbolic link:
``ctx.subdir``, ``ctx.logger``, ``Resource.paths``, ``fetch_log`` and ``flightlog resources
log`` refuse with a StoreError naming the path and the link, and write or read nothing
outside. Links that stay inside the data directory keep working. Over every store (each has
resource folders: the SQLite file's folder, a files store's root, ``.flightlog/`` here)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from flightlog import Flightlog
from flightlog.cli import main
from flightlog.errors import StoreError


def data_dir(fl: Flightlog) -> Path:
    return Path(fl.store.data_directory() or ".flightlog").absolute()


def plant(link: Path, outside: Path) -> None:
    """What ``link`` names moved to ``outside`` (made if missing), a link to it in its place."""
    if link.exists():
        shutil.move(str(link), str(outside))
    else:
        outside.mkdir(parents=True, exist_ok=True)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path.parent / f"{tmp_path.name}-outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("not for the store\n")
    return folder


def test_subdir_through_a_linked_collection_folder_is_refused(fl: Flightlog, outside: Path) -> None:
    @fl.resource("images")
    def make(ident: str, args: Any, ctx: Any) -> str:
        (ctx.subdir / "out.png").write_bytes(b"png")
        return "made"

    plant(data_dir(fl) / "resources" / "images", outside / "images")
    with pytest.raises(StoreError, match=r"resources/images is a symbolic link .*outside"):
        fl.fetch("images", "a")
    assert files_of(outside) == {"secret.txt": b"not for the store\n"}
    assert fl.status("images", "a") == "error"


def test_a_log_file_linked_outside_is_neither_written_nor_read(
    fl: Flightlog, outside: Path
) -> None:
    @fl.resource("logged")
    def make(ident: str, args: Any, ctx: Any) -> str:
        ctx.logger.info("computing %s", ident)
        return ident

    fl.fetch("logged", "a")
    log = data_dir(fl) / "resources" / "logged" / "a" / "run.log"
    log.unlink()
    log.symlink_to(outside / "secret.txt")
    with pytest.raises(StoreError, match=rf"{log} is a symbolic link"):
        fl.fetch_log("logged", "a")
    with pytest.raises(StoreError, match=r"run\.log is a symbolic link"):
        fl.fetch("logged", "a", recompute=True)
    assert (outside / "secret.txt").read_text() == "not for the store\n"


def test_paths_of_a_resource_folder_linked_outside_are_refused(
    fl: Flightlog, outside: Path
) -> None:
    fl.resource("plain")(lambda ident, args, ctx: ident)
    resource = fl.fetch("plain", "a")
    plant(data_dir(fl) / "resources" / "plain" / "a", outside / "a")
    with pytest.raises(StoreError, match=r"plain/a is a symbolic link"):
        resource.paths  # noqa: B018 - the property makes the files
    assert files_of(outside) == {"secret.txt": b"not for the store\n"}


def test_a_rotated_log_linked_outside_is_not_read(fl: Flightlog, outside: Path) -> None:
    @fl.resource("logged")
    def make(ident: str, args: Any, ctx: Any) -> str:
        ctx.logger.info("computing %s", ident)
        return ident

    fl.fetch("logged", "a")
    backup = data_dir(fl) / "resources" / "logged" / "a" / "run.log.1"
    backup.symlink_to(outside / "secret.txt")
    with pytest.raises(StoreError, match=r"run.log.1 is a symbolic link"):
        fl.fetch_log("logged", "a")


def test_the_command_line_refuses_a_log_linked_outside(
    tmp_path: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/fl.db"
    from flightlog import open as open_recorder

    with open_recorder(url) as fl:

        @fl.resource("logged")
        def make(ident: str, args: Any, ctx: Any) -> str:
            ctx.logger.info("computing %s", ident)
            return ident

        fl.fetch("logged", "a")
    log = tmp_path / "resources" / "logged" / "a" / "run.log"
    log.unlink()
    log.symlink_to(outside / "secret.txt")
    assert main(["resources", "log", "logged", "a", "--url", url]) == 5  # a store error
    out, err = capsys.readouterr()
    assert "not for the store" not in out + err
    assert err.startswith("flightlog: error: ") and "run.log is a symbolic link" in err


def test_links_inside_the_data_directory_are_followed(fl: Flightlog) -> None:
    @fl.resource("images")
    def make(ident: str, args: Any, ctx: Any) -> str:
        ctx.logger.info("computing %s", ident)
        (ctx.subdir / "out.png").write_bytes(b"png")
        return ident

    plant(data_dir(fl) / "resources" / "images", data_dir(fl) / "elsewhere-inside")
    assert fl.fetch("images", "a").result == "a"
    assert "computing a" in fl.fetch_log("images", "a")
    paths = fl.get_resource("images", "a").paths
    assert Path(paths["storage"], "out.png").read_bytes() == b"png"
    assert (data_dir(fl) / "elsewhere-inside" / "a" / "storage" / "out.png").exists()
