"""Per-step overhead of recording, for each store, against the bare floor.

The bare floor is a plain ``sqlite3`` loop in this process that commits one row per step with
the store's own settings (WAL, ``synchronous=NORMAL``, autocommit). The per-step overhead of a
store is the time of a workflow of N trivial steps, less the time of calling the undecorated
function N times, divided by N.

    python benchmarks/overhead.py [N]
"""

from __future__ import annotations

import gc
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import flightlog


def bare_sqlite(directory: Path, count: int) -> float:
    """Seconds per committed row of a minimal step table."""
    path = directory / "bare.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(
        "CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id TEXT, name TEXT, result TEXT)"
    )
    started = time.perf_counter()
    for index in range(count):
        connection.execute(
            "INSERT INTO steps (run_id, name, result) VALUES (?, ?, ?)",
            ("brave-curie-0412", f"add_{index}", str(index)),
        )
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed / count


def plain_loop(count: int) -> float:
    def add(left: int, right: int) -> int:
        return left + right

    started = time.perf_counter()
    total = 0
    for index in range(count):
        total += add(index, 1)
    return (time.perf_counter() - started) / count


def recorded(url: str, count: int) -> float:
    fl = flightlog.open(url)

    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.workflow
    def pipeline(n: int) -> int:
        total = 0
        for index in range(n):
            total += add(index, 1)
        return total

    pipeline(10)  # warm up: task identity, connections, statements
    started = time.perf_counter()
    pipeline(count)
    elapsed = time.perf_counter() - started
    fl.close()
    return elapsed / count


def best(measure: Callable[[], float], repeats: int) -> float:
    """The median of a few repeats, with the garbage collector quiet while measuring."""
    results = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            results.append(measure())
        finally:
            gc.enable()
    return statistics.median(results)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    repeats = 3
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        runs = iter(range(1000))
        floor = best(lambda: bare_sqlite(Path(tempfile.mkdtemp(dir=directory)), count), repeats)
        call = best(lambda: plain_loop(count), repeats)
        memory = best(lambda: recorded("memory://", count), repeats) - call
        sqlite = (
            best(lambda: recorded(f"sqlite:///{directory}/fl-{next(runs)}.db", count), repeats)
            - call
        )
    print(f"flightlog {flightlog.__version__}, {count} steps per run, median of {repeats} runs")
    print(f"{'what':<42}{'us/step':>10}{'x floor':>10}")
    rows = [
        ("bare sqlite3 commit per step (floor)", floor),
        ("memory:// store, per-step overhead", memory),
        ("sqlite:// store (durable), per-step overhead", sqlite),
    ]
    for label, seconds in rows:
        print(f"{label:<42}{seconds * 1e6:>10.1f}{seconds / floor:>10.2f}")
    print("targets: sqlite <= 2.0x floor; memory <= 6 us per step")


if __name__ == "__main__":
    main()
