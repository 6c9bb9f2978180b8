"""Questions over many runs, on SQLite and PostgreSQL, against the bare SQL that reads the
same rows.

A store of RUNS finished runs of STEPS/RUNS steps each (1 in 50 runs FAILED, with a failed
step), loaded in bulk, with run arguments ``(lr, epochs)`` and metadata ``{"team": ...}``.
Then, each the median of several calls:

- ``fl.counts()`` against the bare ``SELECT status, count(*) FROM steps GROUP BY status``,
  and against what answering it cost before (``fl.steps()`` of every run, counted);
- ``fl.list_runs(status="FAILED")``, and with a date range, a parameter, metadata, a search;
- ``fl.get_status()`` of the largest run, and ``fl.steps(run, limit=100)``.

    python benchmarks/queries.py [STEPS] [RUNS]      # default 20,000 steps in 200 runs
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flightlog
from flightlog.model import ErrorInfo, Run, Status, Step
from flightlog.stores.sql import STEP_UPSERT, step_row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.postgres_server import PostgresServer, Schemas


def median_ms(action: Callable[[], Any], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def load(fl: flightlog.Flightlog, steps: int, runs: int) -> float:
    """The store, in bulk; returns the creation time of the middle run."""
    store: Any = fl.store
    per_run = steps // runs
    start = time.time() - runs
    middle = start
    batch: list[tuple[Any, ...]] = []
    for number in range(runs):
        run_id = f"run-{number:06d}"
        created = start + number
        if number == runs // 2:
            middle = created
        failed = number % 50 == 7
        store.create_run(
            Run(
                run_id,
                "train",
                Status.RUNNING,
                arguments=f'{{"args":[{(number % 10) / 10},{number % 7}],"kwargs":{{}}}}',
                user_metadata={"team": "nlp" if number % 3 else "cv"},
                environment={"entry": {"parameters": ["lr", "epochs"]}},
                created_time=created,
                start_time=created,
            )
        )
        seq = store._seq(run_id)
        for position in range(per_run):
            bad = failed and position == per_run - 1
            step = Step(
                run_id,
                f"add_{position}" if position else "add",
                position,
                "add",
                "t" * 32,
                f"{position:032x}",
                status=Status.FAILED if bad else Status.SUCCESSFUL,
                start_time=created,
                end_time=created + 0.001,
                arguments=f'{{"left":{position}}}',
                result=None if bad else str(position),
            )
            batch.append(step_row(seq, step))
        if len(batch) >= 20_000 or number == runs - 1:
            store._write_many(STEP_UPSERT, batch)
            batch = []
    for number in range(runs):
        failed = number % 50 == 7
        store.finish_run(
            f"run-{number:06d}",
            status=Status.FAILED if failed else Status.SUCCESSFUL,
            end_time=start + number + 0.5,
            error=ErrorInfo("TimeoutError", "gave up after 30 s", "") if failed else None,
        )
    return middle


def counted_the_old_way(fl: flightlog.Flightlog) -> Counter[str]:
    found: Counter[str] = Counter()
    for run in fl.list_runs():
        found.update(step["status"] for step in fl.steps(run["run_id"]))
    return found


def measure(label: str, url: str, bare: Callable[[str], list[Any]], steps: int, runs: int) -> None:
    with flightlog.open(url) as fl:
        started = time.perf_counter()
        middle = load(fl, steps, runs)
        loaded = time.perf_counter() - started
        bare("ANALYZE")  # as autovacuum (PostgreSQL) or a long-lived store would have
        counts = fl.counts()
        assert sum(counts["steps"].values()) == steps, counts
        bare_ms = median_ms(lambda: bare("SELECT status, count(*) FROM steps GROUP BY status"))
        counts_ms = median_ms(fl.counts)
        old_ms = median_ms(lambda: counted_the_old_way(fl), 1) if steps <= 100_000 else None
        old = "-" if old_ms is None else f"{old_ms:.0f} ms"
        print(f"\n{label}: {steps:,} steps in {runs:,} runs (loaded in {loaded:.1f} s)")
        print(
            f"  {'counts()':<44}{counts_ms:8.2f} ms   bare GROUP BY {bare_ms:.2f}"
            f" ms; through fl.steps() of every run (before): {old}"
        )
        lines = {
            "list_runs(status='FAILED')": lambda: fl.list_runs(status="FAILED"),
            "list_runs(since=middle, limit=50)": lambda: fl.list_runs(since=middle, limit=50),
            "list_runs(params={'lr': 0.3}, limit=50)": lambda: fl.list_runs(
                params={"lr": 0.3}, limit=50
            ),
            "list_runs(metadata={'team':'cv'}, limit=50)": lambda: fl.list_runs(
                metadata={"team": "cv"}, limit=50
            ),
            "list_runs(search='gave up', limit=50)": lambda: fl.list_runs(
                search="gave up", limit=50
            ),
            "list_runs(params={'lr': 0.3}): all": lambda: fl.list_runs(params={"lr": 0.3}),
            "get_status(a run)": lambda: fl.get_status("run-000000"),
            "steps(a run, limit=100)": lambda: fl.steps("run-000000", limit=100),
        }
        for name, action in lines.items():
            print(f"  {name:<44}{median_ms(action):8.2f} ms")


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        connection = sqlite3.connect(path)
        measure(
            "sqlite://",
            f"sqlite:///{path}",
            lambda sql: connection.execute(sql).fetchall() if sql != "ANALYZE" else [],
            steps,
            runs,
        )
        connection.close()
    with PostgresServer() as server:
        import psycopg

        schemas = Schemas(server.url())
        url = schemas.fresh_url()
        with psycopg.connect(url, autocommit=True) as bare:
            measure(
                "postgresql://",
                url,
                lambda sql: bare.execute(sql).fetchall() if sql != "ANALYZE" else bare.execute(sql),
                steps,
                runs,
            )
        schemas.close()


if __name__ == "__main__":
    main()
