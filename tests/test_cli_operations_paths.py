"""The paths of ``flightlog delete``, ``gc`` and ``cache clear`` that change what happens:
``--dry-run``, ``--force``, a live run (exit 4), ``--vacuum``, ``cache clear --version``."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

import flightlog

from .cli_run import run_cli


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("flightlog: error: "), lines
    return lines[0]


def _runs(url: str) -> list[str]:
    with flightlog.open(url) as fl:
        return sorted(run["run_id"] for run in fl.list_runs())


@pytest.fixture
def url(tmp_path: Path) -> str:
    """run-0 and run-1 computed ``embed``; ``again`` took run-0's cached result."""
    url = f"sqlite:///{tmp_path}/ops.db"
    with flightlog.open(url) as fl:

        @fl.task(cache=True)
        def embed(x: int) -> str:
            return f"{x}:" + os.urandom(100_000).hex()  # 200 KB that do not compress

        @fl.workflow
        def pipeline(x: int) -> str:
            return embed(x)[:10]

        for index in range(2):
            pipeline.run(index, run_id=f"run-{index}")
        pipeline.run(0, run_id="again")
        assert fl.steps("again")[0]["origin"] == "cached"
    return url


def test_delete_dry_run_deletes_nothing(url: str) -> None:
    code, out = run_cli("delete", "run-1", "--dry-run", "--url", url)
    assert code == 0
    assert out.startswith("would delete run-1\nwould delete 1 runs, 1 steps")
    assert "(a dry run: nothing was deleted; --yes deletes)" in out
    code, out = run_cli("delete", "run-1", "--dry-run", "--url", url, "--json")
    assert code == 0 and json.loads(out)["dry_run"] and json.loads(out)["runs"] == ["run-1"]
    assert _runs(url) == ["again", "run-0", "run-1"]


def test_delete_of_a_run_others_took_results_from_needs_force(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_cli("delete", "run-0", "--url", url)
    assert (code, out) == (4, "")
    assert "again" in one_line(capsys)
    assert _runs(url) == ["again", "run-0", "run-1"]
    code, out = run_cli("delete", "run-0", "--force", "--url", url)
    assert code == 0 and out.startswith("deleted run-0\n")
    assert _runs(url) == ["again", "run-1"]
    with flightlog.open(url) as fl:  # the run that took the result keeps it
        assert fl.get_output("again").startswith("0:")


@pytest.fixture
def live_run(url: str) -> Iterator[str]:
    """A run of this process that is RUNNING until the test ends."""
    started, release = threading.Event(), threading.Event()
    fl = flightlog.open(url)

    @fl.workflow
    def waiting() -> None:
        started.set()
        assert release.wait(30)

    thread = threading.Thread(target=lambda: waiting.run(run_id="live"))
    thread.start()
    try:
        assert started.wait(30)
        yield "live"
    finally:
        release.set()
        thread.join(30)
        fl.close()


def test_delete_of_a_live_run_is_refused(
    url: str, live_run: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for options in ([], ["--force"], ["--dry-run"]):
        code, out = run_cli("delete", "run-1", live_run, *options, "--url", url)
        assert (code, out) == (4, ""), options
        line = one_line(capsys)
        assert "'live' is RUNNING" in line and "cancel it first" in line
    assert _runs(url) == ["again", "live", "run-0", "run-1"]  # nothing went


def _pages(database: Path) -> tuple[int, int]:
    """The file's auto_vacuum mode and bytes in free pages."""
    with closing(sqlite3.connect(database)) as connection:
        mode = connection.execute("PRAGMA auto_vacuum").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        return mode, size * connection.execute("PRAGMA freelist_count").fetchone()[0]


def _shrank(out: str) -> float:
    """The bytes the command said the store shrank by (0 when it did not say)."""
    found = re.search(r"shrank by ([0-9.]+) (bytes|KB|MB|GB)", out)
    if found is None:
        return 0.0
    units = {"bytes": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
    return float(found.group(1)) * units[found.group(2)]


def test_gc_vacuum_rewrites_a_file_that_cannot_shrink_by_itself(url: str, tmp_path: Path) -> None:
    database = tmp_path / "ops.db"
    with closing(sqlite3.connect(database)) as connection:  # as a file made before flightlog
        connection.executescript("PRAGMA auto_vacuum = NONE; VACUUM")  # set its mode
    assert _pages(database) == (0, 0)
    code, out = run_cli("delete", "run-1", "--url", url)
    assert code == 0 and _shrank(out) < 16 * 1024  # a checkpoint may move a page or so
    mode, free = _pages(database)
    assert mode == 0 and free > 150_000  # the deleted result's pages stay in the file
    size = database.stat().st_size
    code, out = run_cli("gc", "--status", "FAILED", "--yes", "--vacuum", "--url", url)
    assert code == 0
    assert out.startswith("deleted 0 runs, 0 steps, 0 blobs (0 bytes); the store shrank by ")
    assert _pages(database) == (2, 0)  # rewritten, and from now on it shrinks by itself
    assert database.stat().st_size <= size - free // 2
    assert _runs(url) == ["again", "run-0"]


def test_cache_clear_of_one_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/versions.db"
    with flightlog.open(url) as fl:
        for version in ("v1", "v2"):

            @fl.task(cache=True, version=version)
            def embed(x: int) -> int:
                return x

            @fl.workflow
            def pipeline(x: int) -> int:
                return embed(x)

            pipeline.run(1, run_id=f"{version}-a")
            pipeline.run(2, run_id=f"{version}-b")
    code, out = run_cli("cache", "clear", "embed", "--version", "v1", "--url", url)
    assert (code, out) == (0, "cleared 2 cached results of task embed (1 task versions)\n")
    code, out = run_cli("cache", "clear", "embed", "--version", "v1", "--url", url, "--json")
    assert code == 0 and list(json.loads(out).values()) == [0]  # v1 is clear already
    code, out = run_cli("cache", "clear", "embed", "--version", "v3", "--url", url)
    assert (code, out) == (3, "")
    assert "task 'embed' has no version 'v3'" in one_line(capsys)
    code, out = run_cli("cache", "clear", "embed", "--url", url)  # v2's are left
    assert (code, out) == (0, "cleared 2 cached results of task embed (2 task versions)\n")
