"""Resource collections at scale: 100,000 resources in one collection, then ``stats``,
``fetch_by_status`` and cached fetches, on the SQLite store (and the memory store beside it).

The trivial compute function fails for one identifier in a hundred, so ``fetch_by_status(
"error")`` has 1,000 matches. The per-resource overhead of computing is the time of a fetch
that computes, less the time of calling the bare function. The bare floor is a plain
``sqlite3`` loop committing one row per iteration with the store's settings (WAL,
``synchronous=NORMAL``, autocommit); a computed resource commits twice (its claim and its
outcome), so its floor is two of those. Computing is timed in 20 chunks, each followed by a
chunk of the floor, and the medians are reported: on a busy machine both then see the same
moments, and one slow spell does not decide the figure. The design check times, in bare SQL,
the two ways of recording a computation: in the resource's own row (what flightlog does), or
as a run and a step of its own plus the resource's row. A cached fetch inside a run records,
the first time per run, that the run used the resource (one more commit): timed too.

    python benchmarks/resources.py [N]
"""

from __future__ import annotations

import gc
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flightlog

HADROSAUR = {"computed": 593e-6, "cached": 59e-6}
CHUNKS = 20  # computing is timed in this many chunks, each followed by a chunk of the floor
FLOOR_ROWS = 2_000


def quiet(measure: Callable[[], float]) -> float:
    gc.collect()
    gc.disable()
    try:
        return measure()
    finally:
        gc.enable()


def median_of(measure: Callable[[], float], repeats: int) -> float:
    return statistics.median(quiet(measure) for _ in range(repeats))


def connect(path: Path, schema: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    for statement in schema.split(";"):
        if statement.strip():
            connection.execute(statement)
    return connection


def bare_floor(directory: Path, count: int) -> float:
    """Seconds per committed row of a minimal table."""
    connection = connect(
        directory / "floor.db",
        "CREATE TABLE steps (id INTEGER PRIMARY KEY, run_id TEXT, name TEXT, result TEXT)",
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


def design_check(directory: Path, count: int) -> tuple[float, float]:
    """Seconds per computation recorded (bare SQL): in the resource's row; as run + step."""
    from flightlog.stores.sqlite import SCHEMA

    owner = json.dumps({"host": "h", "pid": 1, "process_start": 5, "boot_id": "b" * 36})
    claim = (
        "INSERT INTO resources (collection, ident, status, attempt, start_time, owner,"
        " lease_expires) VALUES ('c', ?, 'pending', 1, 1.0, ?, 61.0)"
        " ON CONFLICT (collection, ident) DO UPDATE SET status = 'pending'"
        " WHERE resources.attempt = 0"
    )
    finish = (
        "UPDATE resources SET status = 'completed', result = ?, end_time = 2.0, owner = NULL"
        " WHERE collection = 'c' AND ident = ? AND attempt = 1"
    )
    results = []
    for design in ("row", "run and step"):
        connection = connect(directory / f"design-{len(results)}.db", SCHEMA)
        started = time.perf_counter()
        for index in range(count):
            ident = f"r{index}"
            connection.execute(claim, (ident, owner))
            if design == "row":
                connection.execute(finish, ('{"n":1}', ident))
                continue
            connection.execute("BEGIN IMMEDIATE")
            seq = connection.execute(
                "INSERT INTO runs (run_id, workflow, status, start_time, end_time, output,"
                " owner) VALUES (?, 'resource:c', 'SUCCESSFUL', 1.0, 2.0, ?, ?)",
                (f"c-{ident}", '{"n":1}', owner),
            ).lastrowid
            assert seq is not None
            connection.execute(
                "INSERT INTO steps (id, name, task_id, status, start_time, end_time, arguments,"
                " result) VALUES (?, ?, 't', 'SUCCESSFUL', 1.0, 2.0, '{}', ?)",
                (seq << 32, ident, '{"n":1}'),
            )
            connection.execute(finish, ('{"n":1}', ident))
            connection.execute("COMMIT")
        results.append((time.perf_counter() - started) / count)
        connection.close()
    return results[0], results[1]


def trivial(ident: str, args: Any, ctx: Any) -> dict[str, Any]:
    if ident.endswith("00"):
        raise ValueError(f"{ident} fails, as one in a hundred does")
    return {"ident": ident, "n": 1}


def plain_call(count: int) -> float:
    started = time.perf_counter()
    for index in range(count):
        trivial(f"r{index:06d}1", None, None)
    return (time.perf_counter() - started) / count


def measure_store(
    url: str, data_dir: Path, count: int, floor: Callable[[], float] | None = None
) -> dict[str, float]:
    """The store's figures. Computing is timed in chunks, each followed by a chunk of the
    bare floor when one is given (so that both see the same moment of a noisy machine); the
    medians of the chunks are reported."""
    fl = flightlog.open(url, data_dir=data_dir)
    fl.resource("bench")(trivial)
    idents = [f"r{index:06d}" for index in range(count)]
    good = [ident for ident in idents if not ident.endswith("00")]
    bad = [ident for ident in idents if ident.endswith("00")]
    fl.fetch("bench", "warm-up")
    figures: dict[str, float] = {}

    def compute(chunk: list[str]) -> Callable[[], float]:
        def measure() -> float:
            started = time.perf_counter()
            for ident in chunk:
                fl.fetch("bench", ident)
            return (time.perf_counter() - started) / len(chunk)

        return measure

    computed: list[float] = []
    floors: list[float] = []
    size = max(1, len(good) // CHUNKS)
    for start in range(0, len(good), size):
        computed.append(quiet(compute(good[start : start + size])))
        if floor is not None:
            floors.append(quiet(floor))
    figures["computed"] = statistics.median(computed)
    if floors:
        figures["floor"] = statistics.median(floors)

    def compute_bad() -> float:
        started = time.perf_counter()
        for ident in bad:
            try:
                fl.fetch("bench", ident)
            except ValueError:
                pass
        return (time.perf_counter() - started) / len(bad)

    figures["failed"] = quiet(compute_bad)
    sample = good[:: max(1, len(good) // 20_000)]

    def cached() -> float:
        started = time.perf_counter()
        for ident in sample:
            fl.fetch("bench", ident)
        return (time.perf_counter() - started) / len(sample)

    figures["cached"] = median_of(cached, 3)

    # Inside a run, the first fetch of each resource records the run's use of it (one commit).
    in_run: list[float] = []
    chunk = sample[:2_000]

    @fl.workflow
    def reader(attempt: int) -> int:
        started = time.perf_counter()
        for ident in chunk:
            fl.fetch("bench", ident)
        in_run.append((time.perf_counter() - started) / len(chunk))
        return attempt

    for attempt in range(3):
        quiet(lambda attempt=attempt: float(reader.run(attempt)))
    figures["in_run"] = statistics.median(in_run)

    def timed(call: Callable[[], Any]) -> Callable[[], float]:
        def measure() -> float:
            started = time.perf_counter()
            call()
            return time.perf_counter() - started

        return measure

    counts = fl.stats("bench")["counts"]
    assert counts["total"] == count + 1 and counts["error"] == len(bad), counts
    assert len(fl.fetch_by_status("bench", "error")) == len(bad)
    figures["stats"] = median_of(timed(lambda: fl.stats("bench")), 21)
    figures["by_status"] = median_of(timed(lambda: fl.fetch_by_status("bench", "error")), 21)
    figures["matches"] = len(bad)
    fl.close()
    return figures


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        row, run_and_step = design_check(directory, 20_000)
        call = median_of(lambda: plain_call(count), 3)
        sqlite = measure_store(
            f"sqlite:///{directory}/fl.db",
            directory,
            count,
            lambda: bare_floor(Path(tempfile.mkdtemp(dir=directory)), FLOOR_ROWS),
        )
        memory = measure_store("memory://", directory / "memory", count)
        floor = sqlite["floor"]
    print(f"flightlog {flightlog.__version__}: {count:,} resources in one collection")
    print(f"{'what':<58}{'figure':>12}{'x floor':>9}")

    def row_of(label: str, seconds: float, unit: str = "us", ratio: float | None = None) -> None:
        scale = 1e6 if unit == "us" else 1e3
        figure = f"{seconds * scale:.1f} {unit}"
        times = "" if ratio is None else f"{ratio:.2f}"
        print(f"{label:<58}{figure:>12}{times:>9}")

    row_of("bare sqlite3 commit per row (floor)", floor, ratio=1.0)
    for label, figures in (("sqlite", sqlite), ("memory", memory)):
        computed = figures["computed"] - call
        row_of(f"{label}: computing a resource, overhead", computed, ratio=computed / floor)
        row_of(f"{label}: a failed computation, overhead", figures["failed"] - call)
        row_of(f"{label}: cached fetch", figures["cached"], ratio=figures["cached"] / floor)
        row_of(
            f"{label}: cached fetch in a run, first of it there (its use)",
            figures["in_run"],
            ratio=figures["in_run"] / floor,
        )
        row_of(f"{label}: stats of the collection", figures["stats"], "ms")
        row_of(
            f"{label}: fetch_by_status, {int(figures['matches']):,} matches",
            figures["by_status"],
            "ms",
        )
    row_of("design check, bare SQL: computation in the resource row", row, ratio=row / floor)
    row_of("design check, bare SQL: as a run + step + resource row", run_and_step,
           ratio=run_and_step / floor)  # fmt: skip
    row_of("hadrosaur (its README's kind of machine): computed", HADROSAUR["computed"])
    row_of("hadrosaur: cached fetch", HADROSAUR["cached"])
    print(
        "targets (sqlite): computing <= 100 us overhead (one claim, one commit), cached fetch"
        " <= 30 us, stats <= 20 ms, fetch_by_status of 1,000 <= 20 ms"
    )


if __name__ == "__main__":
    main()
