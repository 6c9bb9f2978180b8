"""Whether a run's owner lives, where there is no ``/proc`` (macOS, the BSDs, Windows).

There the owner is recorded without a process start time or boot id; a pid that answers
``kill(pid, 0)`` may still be a reused one, so the lease decides: a live owner renews it. A pid
that does not answer is dead at once. Never "dead" only because ``/proc`` is missing: that made
a live run read RESUMABLE, and a second resume ran beside the first.

The tests point :data:`flightlog.runtime.liveness.PROC` at a folder that does not exist.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flightlog import ConflictError, Flightlog
from flightlog.model import Owner
from flightlog.runtime import liveness

from .test_crash import _running_run

WAIT = 30.0


@pytest.fixture
def no_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(liveness, "PROC", str(tmp_path / "no-proc"))


def test_the_owner_is_recorded_without_process_start_or_boot_id(no_proc: None) -> None:
    owner = liveness.current_owner()
    assert owner.process_start is None and owner.boot_id is None
    assert liveness.process_start(owner.pid) is None


def test_a_live_owner_reads_running_and_a_second_resume_is_refused(
    fl: Flightlog, no_proc: None
) -> None:
    release = threading.Event()
    entered = threading.Event()

    @fl.task
    def hold() -> int:
        entered.set()
        assert release.wait(WAIT)
        return 1

    @fl.workflow
    def flow() -> int:
        return hold() + 1

    handle = flow.run_async(run_id="held")
    try:
        assert entered.wait(WAIT)
        run = fl.store.get_run("held")
        assert run is not None and run.owner is not None
        assert run.owner.process_start is None
        assert fl.get_status("held") == "RUNNING"
        assert [run["run_id"] for run in fl.list_runs(status="RUNNING")] == ["held"]
        with pytest.raises(ConflictError, match="still RUNNING"):
            fl.resume("held")
        with pytest.raises(ConflictError, match="still RUNNING"):
            flow.run(run_id="held")
    finally:
        release.set()
    assert handle.result(WAIT) == 2
    assert fl.get_status("held") == "SUCCESSFUL"


def test_another_process_alive_dead_or_with_a_lapsed_lease(fl: Flightlog, no_proc: None) -> None:
    host = liveness.current_owner().host
    later, earlier = time.time() + 600, time.time() - 600
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    try:
        owner = Owner(host, child.pid, None, None)
        _running_run(fl, "alive", owner, later)
        assert fl.get_status("alive") == "RUNNING"
        # A pid that answers but whose lease ran out: reused by another process, or a zombie.
        _running_run(fl, "lapsed", owner, earlier)
        assert fl.get_status("lapsed") == "RESUMABLE"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(WAIT)
    # The pid answers no more: dead at once, whatever the lease says.
    assert fl.get_status("alive") == "RESUMABLE"
    assert {run["run_id"] for run in fl.list_runs(status="RESUMABLE")} == {"alive", "lapsed"}


def test_an_owner_that_gave_its_run_up_reads_resumable(fl: Flightlog, no_proc: None) -> None:
    """This process's own run, given up in an outage (see test_outage): RESUMABLE here at once,
    even though its pid answers and its lease still runs."""
    me = liveness.current_owner()
    _running_run(fl, "mine", me, time.time() + 600)
    assert fl.get_status("mine") == "RUNNING"
    run = fl.store.get_run("mine")
    assert run is not None
    key = ("mine", run.start_time)
    liveness.GIVEN_UP.add(key)
    try:
        assert fl.get_status("mine") == "RESUMABLE"
    finally:
        liveness.GIVEN_UP.discard(key)
