"""A resource's folder, log file and paths: made only when used, rotated, never leaked."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog


def test_no_files_unless_the_function_uses_them(fl: Flightlog, tmp_path: Path) -> None:
    fl.resource("plain")(lambda ident, args, ctx: ident)
    fl.fetch("plain", "a")
    made = [path for path in tmp_path.rglob("*") if "resources" in path.parts[:-1]]
    assert [path.name for path in made] == ["plain"]  # the collection's folder (hadrosaur's)
    assert fl.fetch_log("plain", "a") == ""


def test_subdir_logger_and_paths_are_real(fl: Flightlog, tmp_path: Path) -> None:
    @fl.resource("images")
    def make_image(ident: str, args: Any, ctx: Any) -> dict[str, str]:
        ctx.logger.info("rendering %s", ident)
        out = ctx.subdir / "out.png"
        out.write_bytes(b"png")
        return {"path": str(out)}

    resource = fl.fetch("images", "img-1")
    paths = resource.paths
    assert set(paths) == {
        "base",
        "error",
        "log",
        "status",
        "start_time",
        "end_time",
        "result",
        "storage",
    }
    base = Path(paths["base"])
    assert base.parts[-3:] == ("resources", "images", "img-1")
    assert base.is_relative_to(tmp_path)
    assert Path(paths["storage"]).is_dir()
    assert Path(resource.result["path"]) == Path(paths["storage"]) / "out.png"
    assert Path(paths["status"]).read_text() == "completed"  # hadrosaur's: no newline
    assert json.loads(Path(paths["result"]).read_text()) == resource.result
    assert Path(paths["error"]).read_text() == ""
    log = Path(paths["log"]).read_text()
    assert "INFO     rendering img-1 (test_files.py:" in log
    assert fl.fetch_log("images", "img-1") == log


def test_error_files_and_log(fl: Flightlog) -> None:
    @fl.resource("images")
    def broken(ident: str, args: Any, ctx: Any) -> None:
        ctx.logger.warning("about to fail")
        raise RuntimeError("This is an error!")

    with pytest.raises(RuntimeError):
        fl.fetch("images", "bad")
    paths = fl.get_resource("images", "bad").paths
    assert Path(paths["status"]).read_text() == "error"
    assert "RuntimeError: This is an error!" in Path(paths["error"]).read_text()
    assert Path(paths["result"]).read_text() == ""  # no result: empty, as hadrosaur's
    log = fl.fetch_log("images", "bad")
    assert "WARNING  about to fail" in log
    assert "ERROR    computing bad failed (test_files.py:" in log
    assert "RuntimeError: This is an error!" in log


def test_files_sit_beside_the_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with flightlog.open(f"sqlite:///{tmp_path}/db/store.db") as fl:
        fl.resource("c")(lambda ident, args, ctx: str(ctx.subdir))
        assert fl.fetch("c", "x").result == str(tmp_path / "db/resources/c/x/storage")


def test_default_data_dir_is_flightlog_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLIGHTLOG_URL", raising=False)
    with flightlog.open() as fl:  # sqlite:///.flightlog/flightlog.db
        fl.resource("c")(lambda ident, args, ctx: str(ctx.subdir))
        assert fl.fetch("c", "x").result == str(tmp_path / ".flightlog/resources/c/x/storage")
    with flightlog.open("memory://") as fl:
        fl.resource("c")(lambda ident, args, ctx: str(ctx.subdir))
        assert fl.fetch("c", "x").result == str(tmp_path / ".flightlog/resources/c/x/storage")


def test_data_dir_option(tmp_path: Path) -> None:
    with flightlog.open("memory://", data_dir=tmp_path / "files") as fl:
        fl.resource("c")(lambda ident, args, ctx: str(ctx.subdir))
        assert fl.fetch("c", "x").result == str(tmp_path / "files/resources/c/x/storage")


def test_log_rotates_and_fetch_log_reads_every_part(fl: Flightlog, tmp_path: Path) -> None:
    @fl.resource("chatty", log_max_bytes=400, log_backups=2)
    def chatty(ident: str, args: Any, ctx: Any) -> None:
        for line in range(args["lines"]):
            ctx.logger.info("line %03d of %s", line, ident)

    fl.fetch("chatty", "a", args={"lines": 40})
    base = Path(fl.get_resource("chatty", "a").paths["base"])
    names = sorted(path.name for path in base.iterdir() if path.name.startswith("run.log"))
    assert names == ["run.log", "run.log.1", "run.log.2"]  # older parts beyond 2 are dropped
    assert all(path.stat().st_size <= 400 for path in base.glob("run.log*"))
    text = fl.fetch_log("chatty", "a")
    numbers = [int(line.split("line ")[1][:3]) for line in text.splitlines()]
    assert numbers == sorted(numbers) and numbers[-1] == 39 and numbers[0] > 0


def test_loggers_and_files_are_not_leaked(fl: Flightlog) -> None:
    @fl.resource("many")
    def many(ident: str, args: Any, ctx: Any) -> None:
        ctx.logger.info("hello")

    def descriptors() -> int | None:
        """Open files, but those of the database itself: the store's checkpoint thread opens
        its own connections a moment after the store opens, whenever it gets to it."""
        if not os.path.isdir("/proc/self/fd"):
            return None
        found = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # (the listing's own descriptor, closed meanwhile)
                continue
            if not target.endswith((".db", ".db-wal", ".db-shm")):
                found += 1
        return found

    fl.fetch("many", "warm-up")
    before = descriptors()
    for index in range(300):
        fl.fetch("many", f"r{index}")
    if before is not None:
        after = descriptors()
        assert after is not None and after <= before + 2
    assert not [name for name in logging.Logger.manager.loggerDict if "many" in name]


def test_log_records_also_reach_the_application_logging(
    fl: Flightlog, caplog: pytest.LogCaptureFixture
) -> None:
    @fl.resource("told")
    def told(ident: str, args: Any, ctx: Any) -> None:
        ctx.logger.warning("look at %s", ident)

    with caplog.at_level(logging.INFO):
        fl.fetch("told", "x")
    assert "look at x" in caplog.text
