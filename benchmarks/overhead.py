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
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import flightlog
from flightlog.stores import sqlite_checkpoint


class Bare:
    pass


def bare_sqlite(directory: Path, count: int, *, background: bool = False) -> float:
    """Seconds per committed row of a minimal step table. With ``background``, WAL checkpoints
    run in flightlog's checkpoint thread, as they do for the store, instead of in commits."""
    path = directory / "bare.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    token = Bare()  # stands for a store while the loop runs
    if background:
        connection.execute(f"PRAGMA wal_autocheckpoint = {sqlite_checkpoint.SAFETY_PAGES}")
        connection.execute(f"PRAGMA journal_size_limit = {sqlite_checkpoint.LOG_LIMIT}")
        found = path.stat()
        sqlite_checkpoint.watch(token, path, (found.st_dev, found.st_ino))
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
    sqlite_checkpoint.unwatch(token)
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
    """The best of a few repeats, with the garbage collector quiet while measuring: as with
    ``timeit``, slower repeats are the machine's other work interfering, not the code."""
    results = []
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            results.append(measure())
        finally:
            gc.enable()
    return min(results)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    repeats = 5
    # A memory-store run takes a tenth of a second: more of them find a quiet moment of a
    # shared machine, whose pauses would otherwise decide that figure.
    quick = 15
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        runs = iter(range(1000))
        floor = best(lambda: bare_sqlite(Path(tempfile.mkdtemp(dir=directory)), count), repeats)
        floor_background = best(
            lambda: bare_sqlite(Path(tempfile.mkdtemp(dir=directory)), count, background=True),
            repeats,
        )
        call = best(lambda: plain_loop(count), quick)
        memory = best(lambda: recorded("memory://", count), quick) - call
        sqlite = (
            best(lambda: recorded(f"sqlite:///{directory}/fl-{next(runs)}.db", count), repeats)
            - call
        )
    print(
        f"flightlog {flightlog.__version__}, {count} steps per run, best of {repeats} runs "
        f"({quick} for the memory store)"
    )
    print(f"{'what':<42}{'us/step':>10}{'x floor':>10}")
    rows = [
        ("bare sqlite3 commit per step (floor)", floor),
        ("  the same, checkpoints in a thread", floor_background),
        ("memory:// store, per-step overhead", memory),
        ("sqlite:// store (durable), per-step overhead", sqlite),
    ]
    for label, seconds in rows:
        print(f"{label:<42}{seconds * 1e6:>10.1f}{seconds / floor:>10.2f}")
    print(
        f"sqlite store against the floor with checkpoints in a thread (as the store runs them): "
        f"{sqlite / floor_background:.2f}x"
    )
    print("targets: sqlite <= 2.0x floor; memory <= 6 us per step")


if __name__ == "__main__":
    main()
