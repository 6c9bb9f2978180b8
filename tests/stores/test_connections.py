"""Every connection a store opens is closed: when the store closes (also those of flightlog's
background threads, which live on), and when the thread that opened it ends.

A connection left to the garbage collector is closed there with a ResourceWarning (SQLite from
Python 3.13, psycopg always), and a test run with warnings as errors fails. These tests record
every connection the SQLite and PostgreSQL stores open, and by which thread, and check them
directly, on every Python.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.stores.forking import background
from flightlog.stores.postgres import PostgresStore
from flightlog.stores.sqlite import SQLiteStore

from ..store_urls import store_url

WAIT = 30.0
Opened = list[tuple[str, Any]]


def _is_open(connection: Any) -> bool:
    if isinstance(connection, sqlite3.Connection):
        try:
            connection.total_changes  # noqa: B018 - raises once closed
        except sqlite3.ProgrammingError:
            return False
        return True
    return not connection.closed


@pytest.fixture(params=["sqlite", "postgres"])
def url_and_opened(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Opened]]:
    """A store URL, and the (thread name, connection) of every connection opened from now."""
    opened: Opened = []
    if request.param == "sqlite":
        connect = SQLiteStore._connect

        def recorded_sqlite(store: SQLiteStore) -> sqlite3.Connection:
            connection = connect(store)
            opened.append((threading.current_thread().name, connection))
            return connection

        monkeypatch.setattr(SQLiteStore, "_connect", recorded_sqlite)
    else:
        open_ = PostgresStore._open

        def recorded_postgres(store: PostgresStore) -> Any:
            connection = open_(store)
            opened.append((threading.current_thread().name, connection))
            return connection

        monkeypatch.setattr(PostgresStore, "_open", recorded_postgres)
    yield store_url(request.param, request, tmp_path), opened


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_the_monitors_connection_is_closed_with_the_store(
    url_and_opened: tuple[str, Opened],
) -> None:
    url, opened = url_and_opened
    fl = flightlog.open(url)
    release = threading.Event()

    @fl.task
    def hold() -> int:
        assert release.wait(WAIT)
        return 1

    @fl.workflow
    def flow() -> int:
        return hold()

    handle = flow.run_async(run_id="watched")
    try:
        # The monitor writes the start of a step that runs long, and looks for cancels: with
        # a connection of its own, in its own thread, which lives on after the run.
        _wait_for(lambda: any(name == "flightlog-monitor" for name, _ in opened), "the monitor")
        started = lambda: [step["status"] for step in fl.steps("watched")] == ["RUNNING"]  # noqa: E731
        _wait_for(started, "the step's start")
    finally:
        release.set()
    assert handle.result(WAIT) == 1
    monitors = [connection for name, connection in opened if name == "flightlog-monitor"]
    assert all(_is_open(connection) for connection in monitors)  # its thread lives on
    fl.close()
    still_open = [name for name, connection in opened if _is_open(connection)]
    assert still_open == []


def test_a_background_thread_that_lives_on_loses_its_connection_at_close(
    url_and_opened: tuple[str, Opened],
) -> None:
    """Like the monitor, the renewal of resource leases and the recording of given-up runs:
    a daemon thread that calls the store inside ``background()`` and never ends."""
    url, opened = url_and_opened
    store = flightlog.open(url).store
    used = threading.Event()
    stop = threading.Event()

    def serve() -> None:
        with background():
            store.list_runs()
        used.set()
        stop.wait(WAIT)

    thread = threading.Thread(target=serve, name="lives-on", daemon=True)
    thread.start()
    try:
        assert used.wait(WAIT)
        assert [_is_open(c) for name, c in opened if name == "lives-on"] == [True]
        store.close()
        assert [_is_open(c) for name, c in opened if name == "lives-on"] == [False]
        assert [name for name, c in opened if _is_open(c)] == []
        with pytest.raises(flightlog.StoreError):
            store.list_runs()
    finally:
        stop.set()
        thread.join(WAIT)


def test_a_thread_that_ends_closes_its_connection(url_and_opened: tuple[str, Opened]) -> None:
    url, opened = url_and_opened
    fl = flightlog.open(url)
    try:
        threads = [
            threading.Thread(target=fl.list_runs, name=f"worker-{n}", daemon=True) for n in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        workers = [connection for name, connection in opened if name.startswith("worker-")]
        assert len(workers) == 3
        # Closed as its thread ended, while the store stays open for the others.
        assert not any(_is_open(connection) for connection in workers)
        assert fl.list_runs() == []
    finally:
        fl.close()


def test_a_user_thread_alive_at_close_lets_go_of_its_connection_when_it_ends(
    url_and_opened: tuple[str, Opened],
) -> None:
    """A connection of a thread that may be inside a query is not closed under it: it is
    closed when that thread ends."""
    url, opened = url_and_opened
    fl = flightlog.open(url)
    used = threading.Event()
    closed = threading.Event()
    after_close: list[BaseException] = []

    def work() -> None:
        fl.list_runs()
        used.set()
        assert closed.wait(WAIT)
        try:
            fl.list_runs()
        except flightlog.StoreError as error:
            after_close.append(error)

    thread = threading.Thread(target=work, name="user-thread", daemon=True)
    thread.start()
    assert used.wait(WAIT)
    fl.close()
    closed.set()
    thread.join(WAIT)
    assert len(after_close) == 1, "a closed store must refuse to work"
    assert [name for name, c in opened if _is_open(c)] == []


def test_a_store_collected_unclosed_closes_its_connections(
    url_and_opened: tuple[str, Opened],
) -> None:
    """A store nobody closed: its connections close when it is collected (none can be in use
    then), not when the threads that opened them end (the main thread may never end)."""
    url, opened = url_and_opened
    fl = flightlog.open(url)
    fl.list_runs()
    assert [_is_open(connection) for _, connection in opened] == [True]
    del fl
    gc.collect()
    assert [_is_open(connection) for _, connection in opened] == [False]
