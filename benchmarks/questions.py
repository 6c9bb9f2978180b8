"""``list_runs`` filters at 10,000 runs: the argument, metric and date filters of issue #15.

Usage: ``python benchmarks/questions.py [STORE.db]``. Without a path it reuses the store that
``benchmarks/scale.py`` builds (1,000,000 steps in 10,000 runs, cached under
``$TMPDIR/flightlog-scale``), copied first so that the cached file is never written.
``python benchmarks/questions.py --postgres`` starts a throwaway PostgreSQL server and asks
the same questions of 10,000 runs made there as ``scale.py`` makes them (without their steps,
which these questions do not read).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flightlog
from flightlog.model import ErrorInfo, MetricChunk, Run, Status
from flightlog.selection import RunSelection

ROOT = Path(__file__).resolve().parent.parent
DAY = 86_400.0

CASES: list[tuple[str, dict[str, Any]]] = [
    ("params={'lr': 0.3}, limit=50", {"params": {"lr": 0.3}, "limit": 50}),
    ("params={'lr': 1.0}, limit=50", {"params": {"lr": 1.0}, "limit": 50}),
    ("params={'epochs': 2.0}, limit=50", {"params": {"epochs": 2.0}, "limit": 50}),
    ("params={'epochs': 2.0}", {"params": {"epochs": 2.0}}),
    ("params={'lr': [0.3]}, limit=50", {"params": {"lr": [0.3]}, "limit": 50}),
    ("params={'epochs': 3}", {"params": {"epochs": 3}}),
    ("metric=('loss', '<', 0.3), limit=50", {"metric": ("loss", "<", 0.3), "limit": 50}),
    ("since='30d', limit=50", {"since": "30d", "limit": 50}),
    # every run has a score (see add_scores): 30 % and 1 % of them pass
    ("metric=('score', '<', 0.3), limit=50", {"metric": ("score", "<", 0.3), "limit": 50}),
    ("metric=('score', '<', 0.01), limit=50", {"metric": ("score", "<", 0.01), "limit": 50}),
    ("metric=('score', '<', 0.01)", {"metric": ("score", "<", 0.01)}),
]


def timed_ms(action: Callable[[], Any], repeats: int = 9) -> tuple[float, float]:
    """The median and the fastest of ``repeats`` calls (the fastest is steadier on a busy
    machine)."""
    action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, min(times) * 1000


def cached_store() -> Path:
    folder = Path(tempfile.gettempdir()) / "flightlog-scale"
    found = sorted(folder.glob("*-1000000-10000-*/store.db"))
    if not found:
        sys.exit(f"no store under {folder}: run benchmarks/scale.py first, or give a path")
    return found[-1]


def ask(fl: flightlog.Flightlog) -> None:
    """Each case, and its floor: listing as many runs without a filter (what describing the
    runs found costs by itself), measured in the same run."""
    print(f"{'list_runs(...)':<42} {'median':>9} {'fastest':>9}  {'floor':>8}")
    floors: dict[int, float] = {}
    for label, filters in CASES:
        found = len(fl.list_runs(**filters))
        median, fastest = timed_ms(lambda f=filters: fl.list_runs(**f))
        if found and found not in floors:
            floors[found] = timed_ms(lambda n=found: fl.list_runs(limit=max(n, 1)))[1]
        floor = f"{floors[found]:5.1f} ms  {fastest / floors[found]:5.2f}x" if found else "-"
        print(f"{label:<42} {median:6.1f} ms {fastest:6.1f} ms  {floor:>16}  ({found} runs)")


def fill(fl: flightlog.Flightlog, runs: int) -> None:
    """``runs`` finished runs of ``train(lr, epochs)`` as ``scale.py`` makes them."""
    now = time.time()
    for number in range(runs):
        created = now - 200 * DAY * (runs - number) / runs
        failed = number % 50 == 7
        fl.store.create_run(
            Run(
                f"run-{number:06d}",
                "train",
                Status.FAILED if failed else Status.SUCCESSFUL,
                arguments=f'{{"args":[{(number % 10) / 10},{number % 7}],"kwargs":{{}}}}',
                user_metadata={"team": "nlp" if number % 3 else "cv"},
                environment={"entry": {"parameters": ["lr", "epochs"]}},
                created_time=created,
                start_time=created,
                end_time=created + 60,
                error=ErrorInfo("TimeoutError", "gave up after 30 s", "") if failed else None,
            )
        )


def add_scores(fl: flightlog.Flightlog) -> None:
    """A metric ``score`` of three points for every run (its last one in [0, 1))."""
    for number, run in enumerate(fl.store.select_runs(RunSelection())):
        last = (number * 37 % 100) / 100
        chunk = MetricChunk("score", None, None, [0, 1, 2], [1.0, 0.5, last], [0.0, 1.0, 2.0])
        fl.store.record_tracked(run.run_id, metrics=[chunk])


def on_postgres(runs: int = 10_000) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import PostgresServer, Schemas

    with PostgresServer() as server:
        schemas = Schemas(server.url())
        with flightlog.open(schemas.fresh_url()) as fl:
            fill(fl, runs)
            add_scores(fl)
            ask(fl)
        schemas.close()


def main() -> None:
    if sys.argv[1:] == ["--postgres"]:
        on_postgres()
        return
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else cached_store()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        shutil.copyfile(source, path)
        with flightlog.open(f"sqlite:///{path}") as fl:
            add_scores(fl)
            ask(fl)


if __name__ == "__main__":
    main()
