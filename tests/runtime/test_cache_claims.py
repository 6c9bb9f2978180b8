"""One computation per cache key: of the cache-enabled steps that start at once with the same
task and arguments, one computes and the others wait for its result; a failure, a cancel or
the death of the computing process hands the computation over to a waiter.

Every computing function waits for the test's go-ahead until the other steps are seen
waiting (their RUNNING records say so), so the steps always overlap. Child processes run a
small module written into ``tmp_path``, are killed if still running and reaped in a
``finally``; every wait has a time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import CanceledError, Flightlog, cli
from flightlog.errors import ConflictError, InvalidInputError
from flightlog.model import Owner, ResourceRecord, ResourceStatus, Status
from flightlog.runtime.liveness import current_owner, process_start

SRC = str(Path(flightlog.__file__).resolve().parent.parent)
WAIT = 60.0
WAITED = r"waited \d+\.\d s for step '{step}' of run '{run}' to compute it"


def wait_for(
    condition: Callable[[], bool], what: str, state: Callable[[], object] = lambda: None
) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state()}"
        time.sleep(0.01)


def records(fl: Flightlog, *run_ids: str) -> list[tuple[str, str, str, str | None]]:
    """What the runs' steps are recorded as, for messages."""
    return [
        (run_id, step.name, step.status.value, step.reason)
        for run_id in run_ids
        for step in fl.store.list_steps(run_id)
    ]


def waiting(fl: Flightlog, *run_ids: str) -> list[str]:
    """The steps of these runs recorded RUNNING and waiting for another step's result."""
    return [
        f"{run_id}/{step.name}"
        for run_id in run_ids
        for step in fl.store.list_steps(run_id)
        if step.status is Status.RUNNING and (step.reason or "").startswith("waiting for")
    ]


def outcome(future: Future[Any]) -> Any:
    error = future.exception()
    return future.result() if error is None else f"{type(error).__name__}: {error}"


def fan_out(fl: Flightlog, task: Callable[[int], Any], count: int) -> Any:
    """A workflow that calls ``task(x)`` from ``count`` threads at once (each carries the
    run's context) and gives every outcome."""

    @fl.workflow
    def fan(x: int) -> list[Any]:
        with ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(contextvars.copy_context().run, task, x) for _ in range(count)]
            return [outcome(future) for future in futures]

    return fan


def by_origin(fl: Flightlog, run_id: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for step in fl.steps(run_id):
        found.setdefault(step["origin"], []).append(step)
    return found


# -- threads of this process -------------------------------------------------------------------
def test_threads_of_one_run_compute_a_key_once(fl: Flightlog) -> None:
    computed: list[int] = []
    go = threading.Event()

    @fl.task(cache=True)
    def embed(x: int) -> int:
        computed.append(x)
        assert go.wait(WAIT)
        return x * 2

    handle = fan_out(fl, embed, 4).run_async(21, run_id="fan")
    wait_for(
        lambda: computed == [21] and len(waiting(fl, "fan")) == 3,
        "one computation and three waiting steps",
        lambda: (computed, records(fl, "fan")),
    )
    go.set()
    assert handle.result(WAIT) == [42] * 4
    assert computed == [21]
    steps = by_origin(fl, "fan")
    [executed] = steps["executed"]
    assert executed["status"] == "SUCCESSFUL" and executed["reason"] is None
    assert len(steps["cached"]) == 3
    for step in steps["cached"]:
        assert step["status"] == "SUCCESSFUL" and step["source_run"] == "fan"
        assert re.fullmatch(WAITED.format(step=executed["name"], run="fan"), step["reason"])
        assert fl.get_step_result("fan", step["name"]) == 42


def test_two_runs_in_threads_compute_a_key_once(fl: Flightlog) -> None:
    computed: list[int] = []
    go = threading.Event()

    @fl.task(cache=True)
    def embed(x: int) -> int:
        computed.append(x)
        assert go.wait(WAIT)
        return x * 2

    @fl.workflow
    def flow(x: int) -> int:
        return embed(x) + 1

    first = flow.run_async(5, run_id="first")
    wait_for(lambda: computed == [5], "the first run to compute")
    second = flow.run_async(5, run_id="second")
    wait_for(lambda: bool(waiting(fl, "second")), "the second run")
    go.set()
    assert first.result(WAIT) == 11 and second.result(WAIT) == 11
    assert computed == [5]
    step = fl.get_metadata("second", name="embed")
    assert step["origin"] == "cached" and step["source_run"] == "first"
    assert re.fullmatch(WAITED.format(step="embed", run="first"), step["reason"])
    assert fl.get_metadata("first", name="embed")["origin"] == "executed"
    # Later runs are plain cache hits: no wait, no claim in the way.
    assert flow.run(5, run_id="third") == 11
    assert fl.get_metadata("third", name="embed")["reason"] is None


def test_a_failed_computation_is_taken_over_by_one_waiter(fl: Flightlog) -> None:
    computed: list[int] = []
    go = threading.Event()

    @fl.task(cache=True)
    def flaky(x: int) -> int:
        computed.append(x)
        first = len(computed) == 1
        assert go.wait(WAIT)
        if first:
            raise ValueError("the first computation fails")
        return x + 1

    handle = fan_out(fl, flaky, 4).run_async(7, run_id="fan")
    wait_for(
        lambda: len(waiting(fl, "fan")) == 3,
        "three waiting steps",
        lambda: (computed, records(fl, "fan")),
    )
    go.set()
    outcomes = handle.result(WAIT)
    assert sorted(map(str, outcomes)) == ["8", "8", "8", "ValueError: the first computation fails"]
    assert computed == [7, 7]  # errors are not cached: one waiter computed again, once
    steps = by_origin(fl, "fan")
    failed, took_over = sorted(steps["executed"], key=lambda step: step["status"])
    assert failed["status"] == "FAILED" and took_over["status"] == "SUCCESSFUL"
    assert re.fullmatch(
        rf"step '{failed['name']}' of run 'fan' failed computing it \(ValueError: the first "
        r"computation fails\) while this step waited \d+\.\d s, so this step computed it",
        took_over["reason"],
    )
    assert len(steps["cached"]) == 2
    for step in steps["cached"]:
        assert re.fullmatch(WAITED.format(step=took_over["name"], run="fan"), step["reason"])
    why = fl.explain("fan", took_over["name"])["why"]
    assert why.startswith(f"step '{failed['name']}' of run 'fan' failed computing it")


def test_cancel_ends_a_wait(fl: Flightlog) -> None:
    computed: list[int] = []
    go = threading.Event()

    @fl.task(cache=True)
    def embed(x: int) -> int:
        computed.append(x)
        assert go.wait(WAIT)
        return x * 2

    @fl.workflow
    def flow(x: int) -> int:
        return embed(x)

    first = flow.run_async(3, run_id="first")
    try:
        wait_for(lambda: computed == [3], "the first run to compute")
        second = flow.run_async(3, run_id="second")
        wait_for(lambda: bool(waiting(fl, "second")), "the wait")
        second.cancel()
        with pytest.raises(CanceledError):
            second.result(WAIT)
        step = fl.get_metadata("second", name="embed")
        assert step["status"] == "CANCELED"
        assert "was canceled while its step 'embed' waited" in step["error"]["message"]
        assert fl.get_status("second") == "CANCELED"
    finally:
        go.set()
    assert first.result(WAIT) == 6
    assert computed == [3]


def test_async_steps_on_one_event_loop_compute_a_key_once(fl: Flightlog) -> None:
    computed: list[int] = []

    @fl.task(cache=True)
    async def embed(x: int) -> int:
        computed.append(x)
        # The others wait on this same event loop: it must stay free for them to reach it.
        while len(waiting(fl, "fan")) < 3:
            await asyncio.sleep(0.01)
        return x * 2

    @fl.workflow
    async def fan(x: int) -> list[int]:
        return list(await asyncio.gather(*(embed(x) for _ in range(4))))

    assert asyncio.run(asyncio.wait_for(fan.run(4, run_id="fan"), WAIT)) == [8] * 4
    assert computed == [4]
    steps = by_origin(fl, "fan")
    assert [step["name"] for step in steps["executed"]] == ["embed"]
    assert len(steps["cached"]) == 3
    for step in steps["cached"]:
        assert re.fullmatch(WAITED.format(step="embed", run="fan"), step["reason"])


def test_the_wait_shows_in_show_and_explain(sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url)
    go = threading.Event()

    @fl.task(cache=True)
    def embed(x: int) -> int:
        assert go.wait(WAIT)
        return x

    @fl.workflow
    def flow(x: int) -> int:
        return embed(x)

    try:
        first = flow.run_async(1, run_id="first")
        wait_for(lambda: bool(fl.store.list_steps("first")), "the first step")
        second = flow.run_async(1, run_id="second")
        wait_for(lambda: bool(waiting(fl, "second")), "the wait")
        out = io.StringIO()
        assert cli.main(["show", "second", "--url", sqlite_url], out=out) == 0
        assert "why: waiting for another step to compute it" in out.getvalue()
        go.set()
        assert first.result(WAIT) == 1 and second.result(WAIT) == 1
    finally:
        go.set()
        fl.close()
    out = io.StringIO()
    assert cli.main(["show", "second", "--url", sqlite_url], out=out) == 0
    assert re.search(r"- embed  SUCCESSFUL \(cached\)", out.getvalue())
    assert re.search(r"why: " + WAITED.format(step="embed", run="first"), out.getvalue())
    out = io.StringIO()
    assert cli.main(["explain", "second", "embed", "--url", sqlite_url], out=out) == 0
    assert re.search(
        r"served from cache: run 'first' computed it with the same code and arguments; "
        + WAITED.format(step="embed", run="first"),
        out.getvalue(),
    )


def test_claims_stay_out_of_resource_listings(fl: Flightlog) -> None:
    @fl.task(cache=True)
    def embed(x: int) -> int:
        return x

    @fl.workflow
    def flow(x: int) -> int:
        return embed(x)

    flow.run(1, run_id="first")
    counts = fl.store.count_resources()  # the claim is recorded ...
    assert [count.collection for count in counts] == [f"flightlog.cache.{embed.task_id}"]
    assert fl.stats() == {}  # ... but is no collection of the user's
    assert [run["run_id"] for run in fl.list_runs()] == ["first"]
    with pytest.raises(InvalidInputError, match="flightlog's own"):
        fl.resource(f"flightlog.cache.{embed.task_id}")(lambda ident, args, ctx: 1)
    with pytest.raises(InvalidInputError, match="flightlog's own"):
        fl.stats(f"flightlog.cache.{embed.task_id}")


def test_steps_without_cache_take_no_claim(fl: Flightlog) -> None:
    @fl.task
    def plain(x: int) -> int:
        return x

    @fl.task(cache=True)
    def cached(x: int) -> int:
        return x

    @fl.workflow
    def flow(x: int) -> int:
        return plain(x) + cached.options(recompute=True)(x)

    flow.run(1, run_id="first")
    assert fl.store.count_resources() == []


def test_a_step_that_would_wait_for_itself_fails_clearly(fl: Flightlog) -> None:
    @fl.task(cache=True)
    def loop(x: int) -> int:
        return loop(x) if x else 0

    @fl.workflow
    def flow(x: int) -> int:
        return loop(x)

    with pytest.raises(ConflictError, match="it would wait for itself for ever"):
        flow.run(1, run_id="loop")
    assert [step["status"] for step in fl.steps("loop")] == ["FAILED", "FAILED"]
    [claim] = fl.store.list_resources(f"flightlog.cache.{loop.task_id}")
    assert claim.status is ResourceStatus.ERROR  # let go, with the error
    assert claim.error is not None and claim.error.type == "flightlog.errors.ConflictError"


def test_a_claim_whose_lease_ran_out_is_taken_over_though_its_process_lives(
    fl: Flightlog,
) -> None:
    failures = [ValueError("the first run fails")]

    @fl.task(cache=True)
    def embed(x: int) -> int:
        if failures:
            raise failures.pop()
        return x

    @fl.workflow
    def flow(x: int) -> int:
        return embed(x)

    with pytest.raises(ValueError):
        flow.run(1, run_id="first")
    key = fl.store.list_steps("first")[0].execution_id
    assert key is not None
    collection = f"flightlog.cache.{embed.task_id}"
    [released] = fl.store.list_resources(collection)
    parent = os.getppid()  # a process that lives, on this host, and that no longer renews it
    owner = Owner(socket.gethostname(), parent, process_start(parent), current_owner().boot_id)
    abandoned = ResourceRecord(
        collection,
        key,
        ResourceStatus.PENDING,
        released.attempt + 1,
        embed.task_id,
        '{"run": "elsewhere", "step": "embed"}',
        start_time=time.time() - 120,
        owner=owner,
        lease_expires=time.time() - 60,
        created_time=time.time() - 120,
    )
    assert fl.store.claim_resource(abandoned, expected_attempt=released.attempt)
    assert flow.run(1, run_id="second") == 1
    assert re.fullmatch(
        r"step 'embed' of run 'elsewhere' did not finish computing it \(its lease ran out at "
        r".+ and was not renewed\), so this step computed it",
        fl.get_metadata("second", name="embed")["reason"],
    )


# -- processes sharing a store -----------------------------------------------------------------
WORKERS = """
import os, pathlib, socket, time

if os.environ.get("FAKE_HOST"):  # each process on a host of its own: only leases tell
    socket.gethostname = lambda: os.environ["FAKE_HOST"]

import flightlog
from flightlog.runtime import flights, monitor, runs

if os.environ.get("FAKE_HOST"):  # leases of 1 s, of claims and of runs
    flights.LEASE_SECONDS, flights.LEASE_RENEWAL = 1.0, 0.2
    runs.LEASE_SECONDS = monitor.LEASE_SECONDS = 1.0
    monitor.LEASE_RENEWAL = 0.2

fl = flightlog.open(os.environ["FLIGHTLOG_URL"])
COMPUTED = pathlib.Path(os.environ["COMPUTED"])
GO = pathlib.Path(os.environ["GO"])


@fl.task(cache=True)
def shared(x: int) -> int:
    with COMPUTED.open("a") as computed:
        computed.write(f"{os.getpid()}\\n")
    while not GO.exists():  # the test's go-ahead, once it saw the others waiting
        time.sleep(0.01)
    return x + 1


@fl.workflow
def one(x: int) -> int:
    return shared(x)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment of the child processes: the store, the computations file, the flag."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/shared.db"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    (tmp_path / "workers.py").write_text(WORKERS)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([SRC, str(tmp_path)]),
        "FLIGHTLOG_URL": url,
        "COMPUTED": str(tmp_path / "computed.txt"),
        "GO": str(tmp_path / "go"),
    }


def computations(world: dict[str, str]) -> list[int]:
    """The pids of the processes that computed the key, in order."""
    path = Path(world["COMPUTED"])
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def start(world: dict[str, str], run_id: str, **extra: str) -> subprocess.Popen[str]:
    code = f"from workers import *\nprint(one.run(7, run_id={run_id!r}))"
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=Path(world["COMPUTED"]).parent,
        env={**world, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextlib.contextmanager
def children(processes: list[subprocess.Popen[str]]) -> Iterator[None]:
    """Kill every child still running at the end, and reap them all."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=WAIT)


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=WAIT)
    assert process.returncode == 0, f"child failed ({process.returncode}):\n{output}"
    return output.strip()


def run_of(processes: list[subprocess.Popen[str]], pid: int, run_ids: list[str]) -> str:
    return run_ids[[process.pid for process in processes].index(pid)]


def test_four_processes_compute_a_key_once(world: dict[str, str]) -> None:
    run_ids = [f"worker-{number}" for number in range(4)]
    processes = [start(world, run_id) for run_id in run_ids]
    with children(processes), contextlib.closing(flightlog.open(world["FLIGHTLOG_URL"])) as fl:
        wait_for(
            lambda: len(computations(world)) == 1 and len(waiting(fl, *run_ids)) == 3,
            "one computation and three waiting steps",
        )
        Path(world["GO"]).touch()
        assert [finish(process) for process in processes] == ["8"] * 4
        [pid] = computations(world)
        computer = run_of(processes, pid, run_ids)
        for run_id in run_ids:
            step = fl.get_metadata(run_id, name="shared")
            assert step["status"] == "SUCCESSFUL"
            if run_id == computer:
                assert step["origin"] == "executed"
            else:
                assert step["origin"] == "cached" and step["source_run"] == computer
                assert re.fullmatch(WAITED.format(step="shared", run=computer), step["reason"])


@pytest.mark.parametrize("where", ["this host", "other hosts"])
def test_a_killed_computation_is_taken_over(world: dict[str, str], where: str) -> None:
    """On this host the death is seen at once (pid and start time); from another host, when
    the lease (shortened to 1 s here) runs out."""
    run_ids = [f"worker-{number}" for number in range(3)]
    hosts = [{"FAKE_HOST": f"host-{n}"} if where == "other hosts" else {} for n in range(3)]
    processes = [start(world, run_id, **host) for run_id, host in zip(run_ids, hosts, strict=True)]
    with children(processes), contextlib.closing(flightlog.open(world["FLIGHTLOG_URL"])) as fl:
        wait_for(
            lambda: len(computations(world)) == 1 and len(waiting(fl, *run_ids)) == 2,
            "one computation and two waiting steps",
        )
        [victim_pid] = computations(world)
        victim = processes[[process.pid for process in processes].index(victim_pid)]
        victim.kill()
        victim.wait(WAIT)
        wait_for(lambda: len(computations(world)) == 2, "a waiter to take over")
        Path(world["GO"]).touch()
        survivors = [process for process in processes if process is not victim]
        assert [finish(process) for process in survivors] == ["8", "8"]
        taker_pid = computations(world)[1]
        assert taker_pid != victim_pid
        victim_run = run_of(processes, victim_pid, run_ids)
        taker_run = run_of(processes, taker_pid, run_ids)
        wait_for(lambda: fl.get_status(victim_run) == "RESUMABLE", "the victim's run")
        taken = fl.get_metadata(taker_run, name="shared")
        assert taken["origin"] == "executed" and taken["status"] == "SUCCESSFUL"
        death = (
            rf"process {victim_pid} on host .+ is no longer running"
            if where == "this host"
            else rf"the lease of process {victim_pid} on host host-\d ran out at .+ and was not "
            "renewed"
        )
        assert re.fullmatch(
            rf"step 'shared' of run '{victim_run}' did not finish computing it \({death}\) "
            r"while this step waited \d+\.\d s, so this step computed it",
            taken["reason"],
        )
        [other_run] = set(run_ids) - {victim_run, taker_run}
        other = fl.get_metadata(other_run, name="shared")
        assert other["origin"] == "cached" and other["source_run"] == taker_run
        assert re.fullmatch(WAITED.format(step="shared", run=taker_run), other["reason"])


def test_readme_example(capsys: pytest.CaptureFixture[str]) -> None:
    readme = Path(__file__).resolve().parents[2] / "docs" / "guides" / "resume-and-cache.md"
    section = readme.read_text().split("## One computation per cache key", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "resume-and-cache.md has no example of one computation per key"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), str(readme), "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.startswith("served from cache: run 'run-0' computed it")
    namespace["fl"].close()
