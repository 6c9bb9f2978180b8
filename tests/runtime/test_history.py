"""A run's times and history: the latest attempt in ``stats``, every attempt in ``attempts``,
its first start in ``created_time``; runs that stopped without recording an end (killed,
canceled) get one, so that their duration stops growing."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.cli import main

from .test_crash import BLOCKFLOW, WAIT, _child, _run_child, _wait_for


def _show(url: str, *arguments: str) -> str:
    out = io.StringIO()
    assert main(["show", *arguments, "--url", url], out=out) == 0
    return out.getvalue()


def _assert_in_order(attempts: list[dict[str, Any]]) -> None:
    """Numbered from 1, each ended, none overlapping the next."""
    assert [a["attempt_number"] for a in attempts] == list(range(1, len(attempts) + 1))
    for attempt in attempts:
        assert attempt["end_time"] is not None
        assert attempt["start_time"] <= attempt["end_time"]
        assert attempt["duration"] == pytest.approx(attempt["end_time"] - attempt["start_time"])
    for earlier, later in itertools.pairwise(attempts):
        assert earlier["end_time"] <= later["start_time"]


def test_failed_resumed_failed_resumed_run_keeps_every_attempt(fl: Flightlog) -> None:
    failing = {2}
    calls: list[int] = []

    @fl.task
    def work(i: int) -> int:
        calls.append(i)
        if i in failing:
            raise RuntimeError(f"failing at {i}")
        return i

    @fl.workflow
    def flow(n: int) -> int:
        return sum(work(i) for i in range(n))

    with pytest.raises(RuntimeError):
        flow.run(4, run_id="r")
    with pytest.raises(RuntimeError):
        fl.resume("r")
    failing.clear()
    assert fl.resume("r") == 6

    meta = fl.get_metadata("r")
    attempts = meta["attempts"]
    assert [a["status"] for a in attempts] == ["FAILED", "FAILED", "SUCCESSFUL"]
    _assert_in_order(attempts)
    assert {(a["host"], a["pid"]) for a in attempts} == {(socket.gethostname(), os.getpid())}
    assert meta["created_time"] == attempts[0]["start_time"]
    # Ray's rule stays: stats describe the latest attempt.
    assert meta["stats"]["start_time"] == attempts[-1]["start_time"]
    assert meta["stats"]["end_time"] == attempts[-1]["end_time"]
    assert meta["resumes"] == 2
    assert fl.list_runs()[0]["attempts"] == attempts

    log = fl.run_log("r")
    assert [a["status"] for a in log["attempts"]] == ["FAIL", "FAIL", "SUCCESS"]
    assert [a["attempt_number"] for a in log["attempts"]] == [1, 2, 3]
    assert all(a["pid"] == os.getpid() for a in log["attempts"])


def test_show_lists_the_attempts_of_a_resumed_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/show.db"
    failing = [True]
    with contextlib.closing(flightlog.open(url)) as fl:

        @fl.task
        def work() -> int:
            if failing[0]:
                raise RuntimeError("not yet")
            return 1

        @fl.workflow
        def flow() -> int:
            return work()

        with pytest.raises(RuntimeError):
            flow.run(run_id="shown")
        failing[0] = False
        assert fl.resume("shown") == 1
        expected = fl.get_metadata("shown")["attempts"]
    text = _show(url, "shown")
    assert "created " in text.splitlines()[1]
    lines = [line.strip() for line in text.splitlines() if line.startswith("  attempt ")]
    assert len(lines) == 2, text
    assert lines[0].startswith("attempt 1: FAILED") and f"pid {os.getpid()}" in lines[0]
    assert lines[1].startswith("attempt 2: SUCCESSFUL")
    shown = json.loads(_show(url, "shown", "--json"))
    assert shown["run"]["attempts"] == expected
    assert shown["run"]["created_time"] == expected[0]["start_time"]
    assert len(json.loads(_show(url, "shown", "--format", "run-log"))["attempts"]) == 2


def test_a_run_that_was_never_resumed_has_one_attempt(fl: Flightlog) -> None:
    @fl.workflow
    def once() -> int:
        return 1

    once.run(run_id="once")
    meta = fl.get_metadata("once")
    assert [a["status"] for a in meta["attempts"]] == ["SUCCESSFUL"]
    assert meta["created_time"] == meta["stats"]["start_time"] == meta["attempts"][0]["start_time"]
    assert meta["attempts"][0]["end_time"] == meta["stats"]["end_time"]


def test_a_canceled_attempt_is_kept_with_its_end(fl: Flightlog) -> None:
    entered = threading.Event()
    release = threading.Event()

    @fl.task
    def first() -> int:
        entered.set()
        assert release.wait(WAIT)
        return 1

    @fl.task
    def second(x: int) -> int:
        return x + 1

    @fl.workflow
    def flow() -> int:
        return second(first())

    handle = flow.run_async(run_id="c")
    assert entered.wait(WAIT)
    handle.cancel()  # while ``first`` runs: the run stops before ``second``
    release.set()
    with pytest.raises(flightlog.CanceledError):
        handle.result(WAIT)
    assert fl.get_status("c") == "CANCELED"
    assert fl.resume("c") == 2
    attempts = fl.get_metadata("c")["attempts"]
    assert [a["status"] for a in attempts] == ["CANCELED", "SUCCESSFUL"]
    _assert_in_order(attempts)


@pytest.mark.timeout(120)
def test_killed_run_ends_when_last_seen_and_keeps_that_attempt(tmp_path: Path) -> None:
    (tmp_path / "blockflow.py").write_text(BLOCKFLOW)
    url = f"sqlite:///{tmp_path}/store.db"
    env = dict(os.environ, BLOCK_URL=url, BLOCK_DIR=str(tmp_path))
    output = tmp_path / "child.out"
    with contextlib.closing(flightlog.open(url)) as fl:
        with _child(
            tmp_path, "import blockflow\nblockflow.blockflow.run(run_id='k')", env, output
        ) as child:

            def blocking() -> bool:
                try:
                    return bool(fl.get_metadata("k", name="block")["status"] == "RUNNING")
                except flightlog.NotFoundError:
                    return False

            _wait_for(blocking, "the blocking step to run", child, output)
            running = fl.get_metadata("k")
            assert running["status"] == "RUNNING"
            assert "end_time" not in running["stats"]
            assert running["attempts"][0]["end_time"] is None
            child.send_signal(signal.SIGKILL)
            assert child.wait(WAIT) == -signal.SIGKILL
            killed_pid = child.pid

        killed = fl.get_metadata("k")
        assert killed["status"] == "RESUMABLE"
        end = killed["stats"]["end_time"]
        assert killed["stats"]["start_time"] <= end <= time.time()
        assert killed["attempts"] == [
            {
                "attempt_number": 1,
                "start_time": killed["stats"]["start_time"],
                "end_time": end,
                "duration": killed["stats"]["duration"],
                "status": "RESUMABLE",
                "host": socket.gethostname(),
                "pid": killed_pid,
            }
        ]
        time.sleep(0.05)
        again = fl.get_metadata("k")
        assert again["stats"] == killed["stats"]  # the duration does not grow
        assert fl.list_runs()[0]["stats"] == killed["stats"]

        (tmp_path / "release").touch()
        resume = "import os, flightlog\nflightlog.open(os.environ['BLOCK_URL']).resume('k')"
        _run_child(tmp_path, resume, env)

        done = fl.get_metadata("k")
        assert done["status"] == "SUCCESSFUL"
        attempts = done["attempts"]
        assert [a["status"] for a in attempts] == ["RESUMABLE", "SUCCESSFUL"]
        # the attempt that died ended no earlier than the step it was running began
        block = next(step for step in fl.steps("k") if step["name"] == "block")
        assert attempts[0]["end_time"] >= block["attempts"][0]["start_time"]
        assert {**attempts[0], "end_time": None, "duration": None} == {
            **killed["attempts"][0],
            "end_time": None,
            "duration": None,
        }
        assert attempts[1]["pid"] not in (killed_pid, None)
        _assert_in_order(attempts)
        assert done["created_time"] == attempts[0]["start_time"]
