"""``flightlog.copy`` brings changed runs up to date, selects runs, refuses to mix two runs of one
id, and ``flightlog copy`` is its thin face (a bar on a terminal only)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flightlog
from flightlog import cli
from flightlog.cli_stores import ProgressBar
from flightlog.operations.copy import CopyProgress, parse_since


def _recorded(url: str) -> None:
    with flightlog.open(url) as fl:
        broken = {"on": True}

        @fl.task
        def step(value: int) -> int:
            flightlog.track(seen=value)
            if broken["on"] and value > 1:
                raise ValueError("not yet")
            return value

        @fl.workflow
        def flow(n: int) -> int:
            return sum(step(i) for i in range(n))

        flow.run(1, run_id="done")
        with pytest.raises(ValueError):
            flow.run(3, run_id="later-fixed")


def test_a_run_changed_since_the_last_copy_is_brought_up_to_date(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    _recorded(source)
    first = flightlog.copy(source, target)
    assert (first.runs, first.unchanged) == (2, 0)
    with flightlog.open(source) as fl:  # the failed run is fixed and resumed in the source

        @fl.task
        def step(value: int) -> int:
            flightlog.track(seen=value)
            return value

        @fl.workflow
        def flow(n: int) -> int:
            return sum(step(i) for i in range(n))

        assert fl.resume("later-fixed") == 3
    second = flightlog.copy(source, target)
    # The fixed task is a new version: every step of the run ran again, and tracked again
    # (appended after the metrics of the first attempt).
    assert (second.runs, second.unchanged, second.steps, second.chunks) == (1, 1, 3, 3)
    assert second.tasks == 1
    with flightlog.open(source) as old, flightlog.open(target) as new:
        for run_id in ("done", "later-fixed"):
            assert new.get_metadata(run_id) == old.get_metadata(run_id)
            assert new.steps(run_id) == old.steps(run_id)
            assert new.metrics(run_id) == old.metrics(run_id)
        assert new.get_status("later-fixed") == "SUCCESSFUL"
        assert len(new.get_metadata("later-fixed")["attempts"]) == 2
    assert flightlog.copy(source, target).runs == 0


def test_runs_and_since_choose_what_is_copied(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    _recorded(source)
    report = flightlog.copy(source, target, runs=["done"])
    assert report.runs == 1
    with flightlog.open(target) as fl:
        assert [run["run_id"] for run in fl.list_runs()] == ["done"]
    assert flightlog.copy(source, target, since=time.time() + 60).runs == 0
    assert flightlog.copy(source, target, since="1h").runs == 1  # the other one
    with pytest.raises(flightlog.NotFoundError, match="no run with id 'nope'"):
        flightlog.copy(source, target, runs=["nope"])


def test_another_run_under_the_same_id_is_left_alone_and_reported(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    _recorded(source)
    with flightlog.open(target) as fl:

        @fl.workflow
        def other() -> int:
            return 7

        other.run(run_id="done")
    with flightlog.open(target) as fl:
        created = fl.get_metadata("done")["created_time"]
    report = flightlog.copy(source, target)
    assert report.runs == 1
    assert report.conflicts == [
        f"run done: the destination holds another run under this id (workflow 'other', "
        f"created {created})"
    ]
    with flightlog.open(target) as fl:
        assert fl.get_output("done") == 7


def test_times_are_read_in_every_documented_form() -> None:
    now = 1_800_000_000.0
    assert parse_since("2h", now=now) == now - 7200
    assert parse_since("30d", now=now) == now - 30 * 86400
    assert parse_since(now) == now and parse_since(str(now)) == now
    assert parse_since("2027-01-15T08:00:00+00:00") == 1_800_000_000.0
    with pytest.raises(flightlog.InvalidInputError, match="cannot read 'yesterday' as a time"):
        parse_since("yesterday")


def test_copy_on_the_command_line(tmp_path: Path) -> None:
    source, target = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    _recorded(source)
    out = io.StringIO()
    assert cli.main(["copy", source, target], out=out) == 0
    assert out.getvalue().startswith(
        "copied 2 runs (0 up to date already), 4 steps, 4 metric chunks, "
    )
    out = io.StringIO()
    assert cli.main(["copy", source, target, "--run", "done", "--json"], out=out) == 0
    assert json.loads(out.getvalue())["unchanged"] == 1


def test_copy_from_nowhere_is_one_line_and_makes_nothing(tmp_path: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-m", "flightlog", "copy", f"sqlite:///{tmp_path}/none.db",
         f"sqlite:///{tmp_path}/b.db"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert found.returncode == 3, found.stderr
    assert found.stderr.count("\n") == 1 and "there is no store" in found.stderr
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "b.db").exists()
    assert found.stdout == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_on_a_terminal_only() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = ProgressBar(stream)
        bar(CopyProgress("runs", 1, 2))
        bar(CopyProgress("runs", 2, 2))
        bar.end()
    assert terminal.getvalue().endswith("\rcopying runs      [" + "#" * 30 + "] 2/2\n")
    assert "[" + "#" * 15 + "." * 15 + "] 1/2" in terminal.getvalue()
    assert pipe.getvalue() == ""
