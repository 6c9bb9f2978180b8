"""Resources across processes: computed once, errors shared, dead owners found out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.model import Owner, ResourceRecord, ResourceStatus
from flightlog.resources.claims import FLIGHTS

from ..store_urls import store_url

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    import flightlog

    url, ledger, go, ident, args = sys.argv[1:6]
    fl = flightlog.open(url)

    @fl.resource("shared")
    def compute(ident, args, ctx):
        with open(ledger, "a") as stream:
            stream.write(f"{os.getpid()}\\n")
        with open(ledger + ".started", "w"):
            pass
        time.sleep(args.get("sleep", 0.0))
        while args.get("hold") and not os.path.exists(args["hold"]):
            time.sleep(0.005)
        if args.get("fail"):
            raise ValueError("failed on purpose")
        return {"pid": os.getpid()}

    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.001)
    with open(f"{ledger}.fetching.{os.getpid()}", "w"):
        pass
    try:
        found = fl.fetch("shared", ident, args=json.loads(args))
        print(json.dumps({"result": found.result}))
    except Exception as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    """
)


@pytest.fixture(params=["sqlite", "postgres", "files"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url(request.param, request, tmp_path)


class Workers:
    """Worker processes that fetch one resource when the go file appears."""

    def __init__(self, directory: Path, url: str) -> None:
        self.directory = directory
        self.url = url
        self.script = directory / "worker.py"
        self.script.write_text(WORKER)
        self.ledger = directory / "ledger.txt"
        self.go = directory / "go"
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, ident: str, args: dict[str, Any], count: int = 1) -> None:
        for _ in range(count):
            command = [sys.executable, str(self.script), self.url, str(self.ledger)]
            command += [str(self.go), ident, json.dumps(args)]
            self.processes.append(
                subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                    cwd=self.directory,
                )
            )

    def release(self) -> None:
        self.go.touch()

    def outcomes(self) -> list[dict[str, Any]]:
        found = []
        for process in self.processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            found.append(json.loads(out.strip().splitlines()[-1]))
        return found

    def computations(self) -> list[str]:
        return self.ledger.read_text().split() if self.ledger.exists() else []

    def wait_started(self) -> None:
        deadline = time.monotonic() + 30
        while not (self.directory / "ledger.txt.started").exists():
            assert time.monotonic() < deadline, "the computation never started"
            time.sleep(0.01)

    def wait_fetching(self, count: int) -> None:
        """Until ``count`` workers are about to fetch, and a little more."""
        deadline = time.monotonic() + 30
        while len(list(self.directory.glob("ledger.txt.fetching.*"))) < count:
            assert time.monotonic() < deadline, "the workers never got to fetch"
            time.sleep(0.01)
        time.sleep(0.3)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            if process.stdout is not None and not process.stdout.closed:
                process.communicate(timeout=30)


@pytest.fixture
def workers(tmp_path: Path, url: str) -> Iterator[Workers]:
    running = Workers(tmp_path, url)
    try:
        yield running
    finally:
        running.stop()


def test_processes_fetching_one_resource_compute_it_once(workers: Workers) -> None:
    workers.start("x", {"sleep": 0.3}, count=3)  # all three fetch at once
    workers.release()
    outcomes = workers.outcomes()
    computed = workers.computations()
    assert len(computed) == 1
    assert outcomes == [{"result": {"pid": int(computed[0])}}] * 3


SWEEP = textwrap.dedent(
    """
    import json, os, sys, time
    import flightlog

    url, ledger, go, idents = sys.argv[1:5]
    fl = flightlog.open(url)

    @fl.resource("swept")
    def compute(ident, args, ctx):
        with open(ledger, "a") as stream:
            stream.write(f"{ident} {os.getpid()}\\n")
        time.sleep(0.002)
        return {"ident": ident, "pid": os.getpid()}

    fl.fetch_by_status("swept", "pending")  # connected and ready
    with open(f"{go}.ready.{os.getpid()}", "w"):
        pass
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.001)
    found = {ident: fl.fetch("swept", ident).result for ident in json.loads(idents)}
    print(json.dumps(found))
    """
)


def test_processes_sweeping_one_new_collection_compute_each_resource_once(
    url: str, tmp_path: Path
) -> None:
    # Each process claims before reading once it has computed one: they race on every claim.
    script, ledger, go = tmp_path / "sweep.py", tmp_path / "ledger.txt", tmp_path / "go"
    script.write_text(SWEEP)
    idents = [f"r{index:03d}" for index in range(60)]
    orders = [idents, idents, idents[::-1]]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), url, str(ledger), str(go), json.dumps(order)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        for order in orders
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("go.ready.*"))) < len(processes):
            assert time.monotonic() < deadline, "the sweeping processes never got ready"
            assert all(process.poll() is None for process in processes), "a process ended"
            time.sleep(0.01)
        go.touch()
        outcomes = []
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            outcomes.append(json.loads(out))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)
    computed = [line.split() for line in ledger.read_text().splitlines()]
    assert sorted(ident for ident, _ in computed) == idents  # each one, once
    by_whom = {ident: int(pid) for ident, pid in computed}
    for found in outcomes:
        assert found == {ident: {"ident": ident, "pid": by_whom[ident]} for ident in idents}
    with flightlog.open(url, data_dir=tmp_path) as fl:
        assert fl.stats("swept")["counts"]["completed"] == len(idents)
        assert all(fl.get_resource("swept", ident).attempt == 1 for ident in idents)


def test_a_waiting_process_gets_the_error(workers: Workers, url: str) -> None:
    hold = workers.directory / "hold"
    workers.start("x", {"hold": str(hold), "fail": True})
    workers.release()
    workers.wait_started()
    workers.start("x", {})  # arrives while the first computes
    workers.wait_fetching(2)
    hold.touch()
    first, second = workers.outcomes()
    assert first == {"error": "ValueError", "message": "failed on purpose"}
    assert second["error"] == "ResourceError"
    assert (
        "failed in the process that computed it: ValueError: failed on purpose"
        in (second["message"])
    )
    assert len(workers.computations()) == 1
    with flightlog.open(url) as fl:
        assert fl.status("shared", "x") == "error"


def test_a_killed_computation_reads_as_error(workers: Workers, url: str, tmp_path: Path) -> None:
    workers.start("x", {"hold": str(tmp_path / "never")})
    workers.release()
    workers.wait_started()
    workers.start("x", {})  # a waiter in another process
    workers.wait_fetching(2)
    with flightlog.open(url) as fl:
        assert fl.status("shared", "x") == "pending"
        computing = workers.processes[0]
        computing.send_signal(signal.SIGKILL)
        computing.wait(30)
        waiter = workers.processes[1]
        out, _ = waiter.communicate(timeout=60)
        waited = json.loads(out.strip().splitlines()[-1])
        assert waited["error"] == "ResourceError"
        assert "the process computing it died" in waited["message"]

        assert fl.status("shared", "x") == "error"
        explanation = fl.fetch_error("shared", "x")
        assert "the process computing it died" in explanation
        assert f"process {computing.pid}" in explanation and "no longer running" in explanation
        assert fl.fetch_by_status("shared", "error") == ["x"]
        assert fl.fetch_by_status("shared", "pending") == []
        assert fl.stats("shared")["counts"]["error"] == 1
        assert fl.get_metadata("resource:shared", name="x")["status"] == "FAILED"
        assert fl.get_status("resource:shared") == "FAILED"

        fl.resource("shared")(lambda ident, args, ctx: "again")
        again = fl.fetch("shared", "x")
        assert again.result == "again" and again.attempt == 2
        assert "the process computing it died" in again.history[0]["error"]


def test_a_claim_from_another_host_lives_by_its_lease(url: str, tmp_path: Path) -> None:
    with flightlog.open(url, data_dir=tmp_path) as fl:
        now = time.time()
        elsewhere = Owner(host="another-host.invalid", pid=1, process_start=1, boot_id="b")
        for ident, lease in (("live", now + 60), ("expired", now - 1)):
            claim = ResourceRecord(
                "remote",
                ident,
                ResourceStatus.PENDING,
                1,
                "t",
                "{}",
                start_time=now,
                owner=elsewhere,
                lease_expires=lease,
                created_time=now,
            )
            assert fl.store.claim_resource(claim, expected_attempt=0)
        assert fl.status("remote", "live") == "pending"
        assert fl.fetch("remote", "live", wait=False).status == "pending"
        assert fl.status("remote", "expired") == "error"
        assert "lease of process 1 on host another-host.invalid ran out" in fl.fetch_error(
            "remote", "expired"
        )
        assert fl.stats("remote")["counts"] == {
            "total": 2,
            "pending": 1,
            "completed": 0,
            "error": 1,
            "unavailable": 0,
        }
        assert fl.fetch_by_status("remote", "error") == ["expired"]
        assert fl.fetch_by_status("remote", "pending") == ["live"]
        fl.resource("remote")(lambda ident, args, ctx: ident.upper())
        assert fl.fetch("remote", "expired").result == "EXPIRED"  # taken over
        assert [r.status for r in fl.retry_errors("remote")] == []


def test_leases_are_renewed_while_computing(url: str, tmp_path: Path) -> None:
    with flightlog.open(url, data_dir=tmp_path) as fl:
        seen: dict[str, float | None] = {}

        @fl.resource("long")
        def long(ident: str, args: Any, ctx: Any) -> None:
            before = fl.store.get_resource("long", ident)
            assert before is not None and before.lease_expires is not None
            time.sleep(0.01)
            FLIGHTS.renew()  # what its thread does for computations that run long
            after = fl.store.get_resource("long", ident)
            assert after is not None
            seen["before"], seen["after"] = before.lease_expires, after.lease_expires

        fl.fetch("long", "x")
        assert seen["after"] is not None and seen["before"] is not None
        assert seen["after"] > seen["before"]
        finished = fl.store.get_resource("long", "x")
        assert finished is not None and finished.lease_expires is None
