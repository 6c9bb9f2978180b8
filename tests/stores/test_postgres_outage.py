"""A PostgreSQL outage longer than the store's retry window, with a real server.

The test has a server of its own (not the session's shared one, which other tests use): it is
stopped with ``pg_ctl stop -m immediate`` while a step runs, as a crash or a lost network would,
and started again on the same port. The run's process gives the run up: a StoreError that
names the store (never its password) and the cause; the run reads RESUMABLE, is recorded so
once the server is back, keeps every step committed before, and resumes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

import flightlog
from flightlog import StoreError

from ..postgres_server import PostgresServer, ServerError

PASSWORD = "not-to-be-shown"
RETRY_SECONDS = 1.0
WAIT = 30.0


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    try:
        started = PostgresServer().start()
    except ServerError as error:
        pytest.fail(f"cannot start a PostgreSQL test server: {error}", pytrace=False)
    try:
        yield started
    finally:
        started.stop()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_an_outage_longer_than_the_retry_window(
    server: PostgresServer, capfd: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute("CREATE DATABASE outage")
    # The server trusts every local connection: the password is only there to be hidden.
    url = server.url("outage").replace("postgres@", f"postgres:{PASSWORD}@")
    where = f"postgresql://postgres@127.0.0.1:{server.port}/outage"
    fl = flightlog.open(url, retry_seconds=RETRY_SECONDS)
    calls: list[str] = []
    outage = threading.Event()

    @fl.task
    def fetch(n: int) -> int:
        calls.append("fetch")
        return n * 10

    @fl.task
    def transform(x: int) -> int:
        calls.append("transform")
        if not outage.is_set():
            outage.set()
            server.halt("immediate")  # the server goes away while the step runs
        return x + 1

    @fl.workflow
    def pipeline(n: int) -> int:
        return transform(fetch(n))

    try:
        began = time.monotonic()
        with pytest.raises(StoreError) as raised:
            pipeline.run(4, run_id="outage")
        message = str(raised.value)
        assert where in message, message
        assert PASSWORD not in message
        assert f"gave up after {RETRY_SECONDS:g} s" in message or "may or may not" in message
        assert "connect" in message.lower(), message  # the cause: the server cannot be reached
        assert time.monotonic() - began < WAIT
        assert calls == ["fetch", "transform"]
        with pytest.raises(StoreError, match="gave up"):  # reading needs the server too
            fl.get_status("outage")

        server.start_again()
        # This process let the run go: it reads RESUMABLE here as soon as the store answers.
        assert fl.get_status("outage") == "RESUMABLE"
        # Once the server answers, the run is recorded RESUMABLE (by the monitor) for every
        # other reader; nothing committed before the outage was lost.
        with flightlog.open(url) as other:
            _wait_for(lambda: other.get_metadata("outage")["status"] == "RESUMABLE", "the end")
            steps = other.steps("outage")
            assert [(s["name"], s["status"]) for s in steps][:1] == [("fetch", "SUCCESSFUL")]
            assert other.get_step_result("outage", "fetch") == 40

        calls.clear()
        assert fl.resume("outage") == 41
        assert calls == ["transform"]
        assert fl.get_status("outage") == "SUCCESSFUL"
        origins = {s["name"]: s["origin"] for s in fl.steps("outage")}
        assert origins == {"fetch": "replayed", "transform": "executed"}
        # What the background monitor said meanwhile named the store, without its password.
        printed = capfd.readouterr().err
        assert PASSWORD not in printed
        assert all(where in line for line in printed.splitlines() if "StoreError" in line)
    finally:
        if not server.running:
            server.start_again()
        fl.close()
