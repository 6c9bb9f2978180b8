"""``flightlog delete``, ``gc`` and ``cache clear`` on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import flightlog

from .cli_run import run_cli


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ops.db"
    with flightlog.open(url) as fl:

        @fl.task(cache=True)
        def embed(x: int) -> int:
            flightlog.attach("out.txt", data=f"out {x}".encode())
            return x

        @fl.workflow
        def pipeline(x: int) -> int:
            return embed(x)

        for index in range(3):
            pipeline.run(index, run_id=f"run-{index}")
    return url


def _runs(url: str) -> list[str]:
    with flightlog.open(url) as fl:
        return sorted(run["run_id"] for run in fl.list_runs())


def test_gc_is_a_dry_run_unless_yes(url: str) -> None:
    code, out = run_cli("gc", "--url", url, "--keep-last", "1")
    assert code == 0
    assert "would delete run-0\n" in out and "would delete run-1\n" in out
    assert "would delete 2 runs, 2 steps, 2 blobs (10 bytes)" in out
    assert "--yes deletes" in out
    assert _runs(url) == ["run-0", "run-1", "run-2"]
    code, out = run_cli("gc", "--url", url, "--keep-last", "1", "--yes")
    assert code == 0 and "deleted 2 runs, 2 steps, 2 blobs" in out
    assert _runs(url) == ["run-2"]
    code, out = run_cli("gc", "--url", url, "--older-than", "30d", "--json")
    assert code == 0 and json.loads(out)["runs"] == [] and json.loads(out)["dry_run"]


def test_gc_status_filter(url: str) -> None:
    code, out = run_cli("gc", "--url", url, "--status", "FAILED", "--yes")
    assert code == 0 and "deleted 0 runs" in out
    assert _runs(url) == ["run-0", "run-1", "run-2"]


def test_delete_runs(url: str) -> None:
    code, out = run_cli("delete", "run-0", "run-1", "--url", url)
    assert code == 0 and "deleted run-0\ndeleted run-1\n" in out
    assert _runs(url) == ["run-2"]


def test_cache_clear(url: str) -> None:
    code, out = run_cli("cache", "clear", "embed", "--url", url)
    assert code == 0 and out == "cleared 3 cached results of task embed (1 task versions)\n"
    code, out = run_cli("cache", "clear", "--url", url, "--json")
    assert code == 0 and list(json.loads(out).values()) == [0]


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (("gc", "--older-than", "30x"), 1, "bad older_than '30x'"),
        (("gc",), 1, "say which runs may go"),
        (("delete", "nope"), 3, "no run with id 'nope'"),
        (("cache", "clear", "nothing"), 3, "no task named 'nothing'"),
    ],
)
def test_errors_are_one_line(
    url: str, args: tuple[str, ...], status: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run_cli(*args, "--url", url)
    err = capsys.readouterr().err
    assert code == status
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_gc_from_a_shell(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flightlog", "gc", "--url", url, "--older-than", "30x"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLIGHTLOG_DEBUG": ""},
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("flightlog: ") and done.stderr.count("\n") == 1
