"""hadrosaur's exact files: what a resource's folder holds, file by file, and the collection's
folder made when the collection is defined.

What hadrosaur writes, read from its source (jayrbolton/hadrosaur, ``hadrosaur/main.py`` and
its tests in ``test/test_general.py``): ``Project.collection`` makes ``<base>/<collection>/``
at once; under ``<collection>/<ident>/``: ``storage/`` (``ctx.subdir``), ``status`` (the bare
word, no newline: pending, completed or error; no file while unavailable), ``start_time`` and
``end_time`` (Unix epoch milliseconds as digits, no newline; ``end_time`` empty while
pending), ``result.json`` (``json.dump`` of the result: default separators, ASCII; empty
until completed), ``error.log`` (the traceback, empty otherwise) and ``run.log`` (the
computation's log, emptied when a computation starts); ``paths`` names base, error, log,
status, start_time, end_time, result and storage. Files are text in UTF-8.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from flightlog import Flightlog
from flightlog.resources.api import data_root

PATH_KEYS = {"base", "error", "log", "status", "start_time", "end_time", "result", "storage"}


def read(paths: dict[str, str], key: str) -> str:
    return Path(paths[key]).read_bytes().decode("utf-8")


def test_a_collection_folder_exists_once_defined(fl: Flightlog) -> None:
    @fl.resource("images")
    def make(ident: str, args: Any, ctx: Any) -> str:
        return ident

    folder = data_root(fl.store, None) / "resources" / "images"
    assert folder.is_dir()
    assert list(folder.iterdir()) == []  # no resource's folder until one uses its files


def test_a_completed_resource_has_hadrosaurs_files(fl: Flightlog) -> None:
    @fl.resource("images")
    def make(ident: str, args: Any, ctx: Any) -> dict[str, Any]:
        ctx.logger.info("rendering %s", ident)
        return {"name": "café", "size": [1, 2]}

    resource = fl.fetch("images", "img-1")
    paths = resource.paths
    assert set(paths) == PATH_KEYS
    assert read(paths, "status") == "completed"  # the bare word, no newline
    assert read(paths, "start_time") == str(resource.start_time)
    assert read(paths, "end_time") == str(resource.end_time)
    assert read(paths, "result") == '{"name": "caf\\u00e9", "size": [1, 2]}'  # json.dump's
    assert json.loads(read(paths, "result")) == resource.result
    assert read(paths, "error") == ""
    assert "INFO     rendering img-1 (test_hadrosaur_shapes.py:" in read(paths, "log")
    assert Path(paths["storage"]).is_dir()


def test_a_failed_resource_has_hadrosaurs_files(fl: Flightlog) -> None:
    @fl.resource("images")
    def broken(ident: str, args: Any, ctx: Any) -> None:
        raise RuntimeError("This is an error!")

    with pytest.raises(RuntimeError):
        fl.fetch("images", "bad")
    resource = fl.get_resource("images", "bad")
    paths = resource.paths
    assert read(paths, "status") == "error"
    assert read(paths, "result") == ""  # no result: the file is empty, as hadrosaur leaves it
    error = read(paths, "error")
    assert error.startswith("Traceback (most recent call last):\n")
    assert error.endswith("RuntimeError: This is an error!\n")
    assert int(read(paths, "start_time")) <= int(read(paths, "end_time"))
    assert read(paths, "log") == ""  # made, empty: the function logged nothing


def test_a_pending_resource_has_hadrosaurs_files(fl: Flightlog) -> None:
    started, release = threading.Event(), threading.Event()

    @fl.resource("slow")
    def slow(ident: str, args: Any, ctx: Any) -> int:
        started.set()
        assert release.wait(30)
        return 1

    worker = threading.Thread(target=fl.fetch, args=("slow", "x"))
    worker.start()
    try:
        assert started.wait(30)
        resource = fl.get_resource("slow", "x")
        assert resource.status == "pending"
        paths = resource.paths
        assert read(paths, "status") == "pending"
        assert read(paths, "start_time") == str(resource.start_time)
        assert read(paths, "end_time") == ""  # not ended yet
        assert read(paths, "result") == "" and read(paths, "error") == ""
    finally:
        release.set()
        worker.join(30)
    done = fl.get_resource("slow", "x").paths
    assert read(done, "status") == "completed" and read(done, "result") == "1"


def test_an_unavailable_resource_has_no_status_file(fl: Flightlog) -> None:
    fl.resource("later")(lambda ident, args, ctx: ident)
    fl.declare("later", ["a"])
    paths = fl.get_resource("later", "a").paths
    assert Path(paths["storage"]).is_dir()
    for key in ("status", "start_time", "end_time", "result", "error"):
        assert not Path(paths[key]).exists(), key  # hadrosaur reads a missing status so


def test_run_log_holds_the_latest_computation(fl: Flightlog) -> None:
    @fl.resource("again")
    def again(ident: str, args: Any, ctx: Any) -> int:
        ctx.logger.info("computing with %s", args["n"])
        return int(args["n"])

    fl.fetch("again", "x", args={"n": 1})
    fl.fetch("again", "x", args={"n": 2}, recompute=True)
    log = read(fl.get_resource("again", "x").paths, "log")
    assert "computing with 2" in log and "computing with 1" not in log
    assert fl.fetch_log("again", "x") == log
