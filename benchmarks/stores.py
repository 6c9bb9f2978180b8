"""Every store side by side, each next to the floor of its bare driver.

Per-step overhead: a workflow of N trivial steps, less N plain calls, divided by N (as in
``overhead.py``). Its floor is a bare driver loop that commits one small row per step: sqlite3
with the store's settings (WAL, ``synchronous=NORMAL``), and psycopg in autocommit on the
same PostgreSQL server. The JSON-files store's floor writes a step's session-info.json,
result-info.json and session marker atomically in plain Python (``files_floor.py``).

Status queries over one run of 100,000 steps (loaded in bulk): the run's status with its step
count (``fl.get_metadata(run_id)``) and the status of every step (``fl.steps(run_id)``). Their
floor is the bare driver running the same SQL over the same tables and fetching the rows.
The files store is loaded through its own methods without fsync, with fewer steps (its
``list_steps`` reads one session file per step). Then ``list_runs`` over 2,000 runs of 3 steps.

PostgreSQL is a throwaway server on loopback, started with the tests' helper
(``tests/postgres_server.py``) with ``fsync`` off: commits cost no disk flush, which makes
flightlog's own share of each step as large as it can be.

    python benchmarks/stores.py [STEPS] [QUERY_STEPS] [RUNS]
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from files_floor import bare_files, load_files
from overhead import bare_sqlite, best, plain_loop, recorded

import flightlog
from flightlog.model import Run, Status, Step
from flightlog.stores.sql import (
    POSITION_BITS,
    POSITION_MASK,
    RUN_COLUMNS,
    STEP_COLUMNS,
    STEP_UPSERT,
    step_row,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.postgres_server import PostgresServer, Schemas

RUN_ID = "big-run"
Reader = Callable[[str, tuple[Any, ...]], list[Any]]


@dataclass
class Subject:
    """One store to measure: fresh URLs, its bare step floor, a bare reader of its tables."""

    label: str
    fresh_url: Callable[[], str]
    step_floor: Callable[[int], float] | None = None
    bare_reader: Callable[[str], Reader] | None = None
    # Writes runs of steps in bulk: (url, runs, steps per run, run id or None).
    loader: Callable[[str, int, int, str | None], None] | None = None
    query_steps: int | None = None


def bare_postgres(url: str, count: int) -> float:
    """Seconds per committed row of a minimal step table, psycopg in autocommit."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE bare (id BIGINT PRIMARY KEY, run_id TEXT, name TEXT, result TEXT)"
        )
        started = time.perf_counter()
        for index in range(count):
            connection.execute(
                "INSERT INTO bare (id, run_id, name, result) VALUES (%s, %s, %s, %s)",
                (index, "brave-curie-0412", f"add_{index}", str(index)),
            )
        elapsed = time.perf_counter() - started
    return elapsed / count


def load_run(fl: flightlog.Flightlog, steps: int) -> None:
    """One finished run of ``steps`` successful steps, written in bulk."""
    store = fl.store
    now = time.time()
    store.create_run(
        Run(RUN_ID, "bulk", Status.SUCCESSFUL, created_time=now, start_time=now, end_time=now)
    )
    records = [
        Step(
            RUN_ID,
            f"add_{position}" if position else "add",
            position,
            "add",
            "t" * 32,
            f"{position:032x}",
            status=Status.SUCCESSFUL,
            start_time=now,
            end_time=now + 0.001,
            arguments=f'{{"args":[{position},1],"kwargs":{{}}}}',
            result=str(position + 1),
        )
        for position in range(steps)
    ]
    write_many = getattr(store, "_write_many", None)
    if write_many is None:
        for record in records:
            store.finish_step(record)
        return
    seq = store._seq(RUN_ID)  # type: ignore[attr-defined]
    for start in range(0, steps, 10_000):
        write_many(STEP_UPSERT, [step_row(seq, record) for record in records[start:][:10_000]])


def median_seconds(action: Callable[[], Any], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure_queries(subject: Subject, steps: int) -> dict[str, float | None]:
    url = subject.fresh_url()
    steps = subject.query_steps or steps
    results: dict[str, float | None] = {"status floor": None, "listing floor": None}
    if subject.loader is not None:
        subject.loader(url, 1, steps, RUN_ID)
    with flightlog.open(url) as fl:
        if subject.loader is None:
            load_run(fl, steps)
        assert fl.get_metadata(RUN_ID)["step_count"] == steps
        results["status"] = median_seconds(lambda: fl.get_metadata(RUN_ID), 21)
        results["listing"] = median_seconds(lambda: fl.steps(RUN_ID), 3)
        if subject.bare_reader is not None:
            # The store's own statements, run by the bare driver over the same tables.
            store: Any = fl.store
            low = store._seq(RUN_ID) << POSITION_BITS
            read = subject.bare_reader(url)
            status = f"SELECT {RUN_COLUMNS}, {store._count_sql()} FROM runs WHERE run_id = ?"
            listing = (
                f"SELECT {STEP_COLUMNS} FROM steps LEFT JOIN tasks"
                " ON tasks.task_id = steps.task_id WHERE steps.id BETWEEN ? AND ? ORDER BY steps.id"
            )
            results["status floor"] = median_seconds(lambda: read(status, (RUN_ID,)), 21)
            bounds = (low, low | POSITION_MASK)
            results["listing floor"] = median_seconds(lambda: read(listing, bounds), 3)
    return results


def load_runs(store: Any, runs: int, steps: int) -> None:
    """``runs`` finished runs of ``steps`` steps each, through the store's methods."""
    now = time.time()
    for number in range(runs):
        name = f"run-{number:05d}"
        store.create_run(Run(name, "bulk", Status.RUNNING, created_time=now, start_time=now))
        for position in range(steps):
            step = Step(name, f"s{position}", position, "add", "t" * 32, f"{position:032x}")
            step.status, step.start_time, step.end_time = Status.SUCCESSFUL, now, now
            store.finish_step(step)
        store.finish_run(name, status=Status.SUCCESSFUL, end_time=now + 1, output="1")


def measure_runs(subject: Subject, runs: int) -> dict[str, float]:
    """list_runs over ``runs`` runs of 3 steps: the newest 20, and all of them."""
    url = subject.fresh_url()
    if subject.loader is not None:
        subject.loader(url, runs, 3, None)
    with flightlog.open(url) as fl:
        if subject.loader is None:
            load_runs(fl.store, runs, 3)
        assert len(fl.list_runs()) == runs
        return {
            "newest": median_seconds(lambda: fl.list_runs(limit=20), 11),
            "all": median_seconds(lambda: fl.list_runs(), 3),
        }


def measure_steps(
    subject: Subject, count: int, repeats: int, call: float
) -> tuple[str, float, float | None]:
    """(label, per-step overhead, floor) in seconds: medians of repeats that take turns, so
    that a busy machine slows the store and its floor alike."""
    overheads, floors = [], []
    step_floor = subject.step_floor
    for _ in range(repeats):
        overheads.append(best(lambda: recorded(subject.fresh_url(), count), 1) - call)
        if step_floor is not None:
            floors.append(best(lambda: step_floor(count), 1))
    floor = statistics.median(floors) if floors else None
    return subject.label, statistics.median(overheads), floor


def sqlite_reader(url: str) -> Reader:
    connection = sqlite3.connect(url[len("sqlite:///") :])
    return lambda sql, params: connection.execute(sql, params).fetchall()


def postgres_reader(url: str) -> Reader:
    import psycopg

    from flightlog.stores.postgres_statements import translate

    connection = psycopg.connect(url, autocommit=True)
    return lambda sql, params: connection.execute(translate(sql)[0], params).fetchall()


def ratio(value: float | None, floor: float | None) -> str:
    return "-" if value is None or floor is None else f"{value / floor:.2f}"


def number(value: float | None, scale: float, digits: int = 1) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    query_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    list_runs = int(sys.argv[3]) if len(sys.argv) > 3 else 2_000
    repeats = 5
    with tempfile.TemporaryDirectory() as name, PostgresServer() as server:
        directory = Path(name)
        numbers = iter(range(1_000_000))
        schemas = Schemas(server.url())

        def sqlite_url() -> str:
            return f"sqlite:///{directory}/fl-{next(numbers)}.db"

        def sqlite_floor(steps: int) -> float:
            return bare_sqlite(Path(tempfile.mkdtemp(dir=directory)), steps)

        def files_url() -> str:
            return f"file://{directory}/files-{next(numbers)}"

        def files_floor(steps: int) -> float:
            return bare_files(Path(tempfile.mkdtemp(dir=directory)), steps)

        subjects = [
            Subject("memory://", lambda: "memory://"),
            Subject("sqlite:// (durable)", sqlite_url, sqlite_floor, sqlite_reader),
            Subject(
                "postgresql:// (loopback)",
                schemas.fresh_url,
                lambda steps: bare_postgres(schemas.fresh_url(), steps),
                postgres_reader,
            ),
            Subject(
                "file:// (JSON files)",
                files_url,
                files_floor,
                loader=load_files,
                query_steps=min(query_steps, 20_000),
            ),
        ]
        call = best(lambda: plain_loop(count), repeats)
        step_rows = [measure_steps(subject, count, repeats, call) for subject in subjects]
        query_rows = [
            (subject.label, measure_queries(subject, query_steps)) for subject in subjects
        ]
        run_rows = [(subject.label, measure_runs(subject, list_runs)) for subject in subjects]
        schemas.close()

    print(f"flightlog {flightlog.__version__}; median of {repeats} runs of {count} steps")
    print(f"{'store':<26}{'us/step':>10}{'floor':>10}{'x floor':>10}")
    for label, overhead, floor in step_rows:
        print(
            f"{label:<26}{overhead * 1e6:>10.1f}{number(floor, 1e6):>10}"
            f"{ratio(overhead, floor):>10}"
        )
    print(
        f"\nstatus queries over one run of {query_steps} steps (ms; floor: bare driver, same SQL)"
    )
    print(
        f"{'store':<26}{'run+count':>10}{'floor':>8}{'x':>7}{'all steps':>11}{'floor':>8}{'x':>7}"
    )
    for label, found in query_rows:
        print(
            f"{label:<26}{number(found['status'], 1e3, 2):>10}"
            f"{number(found['status floor'], 1e3, 2):>8}"
            f"{ratio(found['status'], found['status floor']):>7}"
            f"{number(found['listing'], 1e3):>11}{number(found['listing floor'], 1e3):>8}"
            f"{ratio(found['listing'], found['listing floor']):>7}"
        )
    print("(file://: over one run of", min(query_steps, 20_000), "steps)")
    print(f"\nlist_runs over {list_runs} runs of 3 steps (ms)")
    print(f"{'store':<26}{'newest 20':>10}{'all':>10}")
    for label, timed in run_rows:
        print(f"{label:<26}{timed['newest'] * 1e3:>10.2f}{timed['all'] * 1e3:>10.1f}")
    print("targets: postgresql per-step overhead <= 2.5x its floor; file:// <= 3x its floor")


if __name__ == "__main__":
    main()
