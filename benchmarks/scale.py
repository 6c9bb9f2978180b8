"""Questions at scale: a store of 1,000,000 steps in 10,000 runs, one of them 100,000 steps.

Built once and cached (under ``$TMPDIR/flightlog-scale/``, keyed by the schema version and
the sizes; ``--rebuild`` builds it again): the big run is recorded by the real runtime (a
workflow of ``add`` steps whose last step fails, so that it can be resumed); the other runs
are written through the store API in bulk (``Store.finish_steps`` of many steps in one
transaction, ``create_run`` and ``finish_run`` per run), created over the last 200 days, one
in 50 FAILED, with arguments ``(lr, epochs)`` and metadata ``{"team": ...}``. Each benchmark
works on a copy of the cached file. Then, with the bare query that reads the same rows
measured in the same process:

- per-step recording overhead on that store against an empty store;
- ``counts()``; ``list_runs`` by status, date range, argument, metadata;
- ``fl.steps()`` of the big run against the bare ``SELECT``, ``iter_steps`` memory;
- ``get_status`` of the big run; resume of the big run (time and memory, in a new process);
- ``copy`` of the whole store to PostgreSQL (steps per second), its ``counts()`` there;
- store bytes per step: SQLite, PostgreSQL, the JSON files store (on a sample of runs);
- ``gc`` of half the runs (time, file size before and after, and after ``VACUUM``).

    python benchmarks/scale.py                       # 1,000,000 steps, 10,000 runs
    python benchmarks/scale.py --steps 100000 --runs 1000 --big 10000   # a quicker try
    python benchmarks/scale.py --no-postgres --no-files
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flightlog
from flightlog.model import ErrorInfo, Run, Status, Step
from flightlog.stores.base import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIG_RUN = "big-run"
DAY = 86_400.0
LAYOUT = 1  # bump when what is built changes: the cache key holds it


def define(fl: flightlog.Flightlog) -> Any:
    """The workflow of the big run: ``n`` steps of ``add``, then ``finish``, which fails while
    ``FLIGHTLOG_SCALE_FAIL`` is set (so the run can be resumed)."""

    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.task
    def finish(total: int) -> int:
        if os.environ.get("FLIGHTLOG_SCALE_FAIL"):
            raise RuntimeError("stopped on purpose")
        return total

    @fl.workflow(name="big")
    def big(n: int) -> int:
        total = 0
        for index in range(n):
            total += add(index, 1)
        return finish(total)

    return big


def median_ms(action: Callable[[], Any], repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def median_ms_and_cpu(action: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """The median time of ``action`` and the median CPU time of this process meanwhile (on a
    busy machine, the wall time varies with the load; the CPU time much less)."""
    times, used = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        action()
        times.append(time.perf_counter() - started)
        used.append(time.process_time() - cpu)
    return statistics.median(times) * 1000, statistics.median(used) * 1000


# -- building --------------------------------------------------------------------------------
def build(path: Path, steps: int, runs: int, big: int) -> None:
    """The store at ``path``: the big run (recorded), then ``runs - 1`` runs in bulk."""
    url = f"sqlite:///{path}"
    os.environ["FLIGHTLOG_SCALE_FAIL"] = "1"
    try:
        with flightlog.open(url) as fl:
            workflow = define(fl)
            started = time.perf_counter()
            try:
                workflow.run(big, run_id=BIG_RUN)
            except RuntimeError:
                pass
            elapsed = time.perf_counter() - started
            print(f"  the big run: {big + 1:,} steps recorded in {elapsed:.1f} s")
    finally:
        del os.environ["FLIGHTLOG_SCALE_FAIL"]
    with flightlog.open(url) as fl:
        store = fl.store
        task_id = fl.get_metadata(BIG_RUN, "add")["task_id"]
        started = time.perf_counter()
        others = runs - 1
        rest = steps - big - 1
        now = time.time()
        batch: list[tuple[Step, tuple[()], tuple[()]]] = []
        for number in range(others):
            per_run = rest // others + (1 if number < rest % others else 0)
            run_id = f"run-{number:06d}"
            created = now - 200 * DAY * (others - number) / others
            failed = number % 50 == 7
            store.create_run(
                Run(
                    run_id,
                    "train",
                    Status.RUNNING,
                    arguments=json.dumps(
                        {"args": [(number % 10) / 10, number % 7], "kwargs": {}},
                        separators=(",", ":"),
                    ),
                    user_metadata={"team": "nlp" if number % 3 else "cv"},
                    environment={"entry": {"parameters": ["lr", "epochs"]}},
                    created_time=created,
                    start_time=created,
                )
            )
            for position in range(per_run):
                bad = failed and position == per_run - 1
                step = Step(
                    run_id,
                    f"add_{position}" if position else "add",
                    position,
                    "add",
                    task_id,
                    f"{number:016x}{position:016x}",
                    status=Status.FAILED if bad else Status.SUCCESSFUL,
                    start_time=created + position * 0.001,
                    end_time=created + position * 0.001 + 0.0005,
                    arguments=f'{{"args":[{position},1],"kwargs":{{}}}}',
                    result=None if bad else str(position + 1),
                    error=ErrorInfo("ValueError", "bad input", "") if bad else None,
                )
                batch.append((step, (), ()))
            if len(batch) >= 20_000 or number == others - 1:
                store.finish_steps(batch)
                batch = []
            if number % 1000 == 999:
                print(f"  {number + 1:,} runs", end="\r", flush=True)
        for number in range(others):
            failed = number % 50 == 7
            created = now - 200 * DAY * (others - number) / others
            store.finish_run(
                f"run-{number:06d}",
                status=Status.FAILED if failed else Status.SUCCESSFUL,
                end_time=created + 60,
                error=ErrorInfo("TimeoutError", "gave up after 30 s", "") if failed else None,
            )
        print(
            f"  {others:,} runs of {rest:,} steps in bulk in {time.perf_counter() - started:.1f} s"
        )
    connection = sqlite3.connect(path)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def cached_store(steps: int, runs: int, big: int, rebuild: bool, folder: Path) -> Path:
    key = f"schema{SCHEMA_VERSION}-layout{LAYOUT}-{steps}-{runs}-{big}"
    path = folder / key / "store.db"
    if path.exists() and not rebuild:
        print(f"the store, cached: {path}")
        return path
    if path.parent.exists():
        shutil.rmtree(path.parent)
    building = folder / f"{key}.building-{os.getpid()}"
    building.mkdir(parents=True)
    print(f"building {steps:,} steps in {runs:,} runs ({big:,} in one) into {path.parent}")
    started = time.perf_counter()
    build(building / "store.db", steps, runs, big)
    for extra in building.glob("store.db-*"):
        extra.unlink()
    building.rename(path.parent)
    print(f"built in {time.perf_counter() - started:.0f} s")
    return path


# -- measuring -------------------------------------------------------------------------------
def recording_us(url: str, count: int) -> float:
    """Microseconds per step of a workflow of ``count`` trivial steps (best of 5)."""
    best = float("inf")
    with flightlog.open(url) as fl:

        @fl.task
        def add(left: int, right: int) -> int:
            return left + right

        @fl.workflow
        def pipeline(n: int) -> int:
            return sum(add(index, 1) for index in range(n))

        pipeline(10)
        for _ in range(5):
            gc.collect()
            gc.disable()
            started = time.perf_counter()
            pipeline(count)
            best = min(best, time.perf_counter() - started)
            gc.enable()
    return best / count * 1e6


def peak_mb(action: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def consume(iterator: Any) -> int:
    count = 0
    for _ in iterator:
        count += 1
    return count


def resume_in_child(url: str) -> dict[str, float]:
    found = subprocess.run(
        [sys.executable, __file__, "--resume-child", url],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(found.stdout.strip().splitlines()[-1])
    return result


def high_water_mark() -> int:
    """This process's peak resident bytes (not ``ru_maxrss``: on Linux that keeps the peak of
    the process that started this one, across ``exec``)."""
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmHWM:"):
            return int(text.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def resume_child(url: str) -> None:
    """(In a new process.) Resume the big run; print its time and memory as JSON."""
    with flightlog.open(url) as fl:
        workflow = define(fl)
        fl.get_status(BIG_RUN)
        del workflow
        page = os.sysconf("SC_PAGE_SIZE")
        before = int(Path("/proc/self/statm").read_text().split()[1]) * page
        started = time.perf_counter()
        fl.resume(BIG_RUN)
        elapsed = time.perf_counter() - started
        peak = high_water_mark()
        metadata = fl.steps(BIG_RUN, offset=0, limit=3)
        assert all(step["origin"] == "replayed" for step in metadata), metadata
        print(json.dumps({"seconds": elapsed, "rss_mb": max(0, peak - before) / 1e6}))


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<48}{value:>12}   {note}")


def measure_sqlite(path: Path, steps: int, big: int, record: int) -> None:
    url = f"sqlite:///{path}"
    bare = sqlite3.connect(path)
    on_empty = on_full = float("inf")
    with tempfile.TemporaryDirectory() as empty:
        for number in range(3):  # alternately: a busy machine slows one or the other
            on_empty = min(on_empty, recording_us(f"sqlite:///{empty}/{number}.db", record))
            on_full = min(on_full, recording_us(url, record))
    line(
        "recording, us per step: empty store",
        f"{on_empty:.1f}",
        f"at {steps:,} steps: {on_full:.1f} us ({(on_full / on_empty - 1) * 100:+.0f} %)",
    )
    with flightlog.open(url) as fl:
        seq = bare.execute("SELECT seq FROM runs WHERE run_id = ?", (BIG_RUN,)).fetchone()[0]
        low = seq << 32

        def bare_steps() -> list[Any]:
            return bare.execute(
                "SELECT * FROM steps WHERE id BETWEEN ? AND ? ORDER BY id", (low, low + 2**32 - 1)
            ).fetchall()

        group = median_ms(
            lambda: bare.execute("SELECT status, count(*) FROM steps GROUP BY status").fetchall(),
            3,
        )
        line("counts()", f"{median_ms(fl.counts):.2f} ms", f"bare GROUP BY status: {group:.0f} ms")
        middle = time.time() - 100 * DAY
        for label, action in (
            ("list_runs(status='FAILED')", lambda: fl.list_runs(status="FAILED")),
            (
                "list_runs(since=100 days ago, limit=50)",
                lambda: fl.list_runs(since=middle, limit=50),
            ),
            (
                "list_runs(since=, until=) 2 days",
                lambda: fl.list_runs(since=middle, until=middle + 2 * DAY),
            ),
            (
                "list_runs(params={'lr': 0.3}, limit=50)",
                lambda: fl.list_runs(params={"lr": 0.3}, limit=50),
            ),
            (
                "list_runs(metadata={'team': 'cv'}, limit=50)",
                lambda: fl.list_runs(metadata={"team": "cv"}, limit=50),
            ),
            ("list_runs(limit=50)", lambda: fl.list_runs(limit=50)),
        ):
            line(label, f"{median_ms(action):.2f} ms")
        bare_ms, bare_cpu = median_ms_and_cpu(bare_steps, 5)
        steps_ms, steps_cpu = median_ms_and_cpu(lambda: fl.steps(BIG_RUN), 5)
        line(
            f"steps() of the {big:,}-step run",
            f"{steps_ms:.0f} ms",
            f"bare SELECT of its rows {bare_ms:.0f} ms: {steps_ms / bare_ms:.2f}x"
            f" (CPU time {steps_cpu:.0f} / {bare_cpu:.0f} ms: {steps_cpu / bare_cpu:.2f}x)",
        )
        line("steps(limit=100) of it", f"{median_ms(lambda: fl.steps(BIG_RUN, limit=100)):.2f} ms")
        held = peak_mb(lambda: fl.steps(BIG_RUN))
        streamed = peak_mb(lambda: consume(fl.iter_steps(BIG_RUN)))
        line("memory: steps() of it", f"{held:.0f} MB", f"iter_steps(): {streamed:.1f} MB peak")
        status_ms = median_ms(lambda: fl.get_status(BIG_RUN), 21)
        bare_status = median_ms(
            lambda: bare.execute("SELECT status FROM runs WHERE run_id = ?", (BIG_RUN,)).fetchall(),
            21,
        )
        line("get_status(the big run)", f"{status_ms:.3f} ms", f"bare SELECT {bare_status:.3f} ms")
        # As while it runs (or after it was resumed): its counts not kept, its steps counted
        # when it is read.
        bare.execute("UPDATE runs SET step_count = NULL WHERE run_id = ?", (BIG_RUN,))
        bare.commit()
        live_ms = median_ms(lambda: fl.get_status(BIG_RUN), 21)
        counted_ms = median_ms(lambda: fl.get_metadata(BIG_RUN), 21)
        line(
            "get_status(it), its steps not counted yet",
            f"{live_ms:.3f} ms",
            f"get_metadata (counts them): {counted_ms:.2f} ms",
        )
        bare.execute("UPDATE runs SET step_count = 1 + ? WHERE run_id = ?", (big, BIG_RUN))
        bare.commit()
    bare.close()
    resumed = resume_in_child(url)
    line(
        f"resume of the {big:,}-step run",
        f"{resumed['seconds']:.2f} s",
        f"+{resumed['rss_mb']:.0f} MB resident (new process)",
    )


def store_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def measure_gc(path: Path, runs: int) -> None:
    url = f"sqlite:///{path}"
    before = store_bytes(path)
    with flightlog.open(url) as fl:
        started = time.perf_counter()
        report = fl.gc(older_than="100d")
        elapsed = time.perf_counter() - started
        after = store_bytes(path)
        started = time.perf_counter()
        compacted = fl.store.compact(full=True)  # type: ignore[attr-defined]
        vacuumed = time.perf_counter() - started
        final = store_bytes(path)
    line(
        f"gc(older_than='100d'): {len(report.runs):,} of {runs:,} runs",
        f"{elapsed:.1f} s",
        f"{report.steps:,} steps; file {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB"
        f" (compacted {report.compacted / 1e6:.0f} MB); VACUUM {vacuumed:.1f} s -> "
        f"{final / 1e6:.0f} MB ({compacted / 1e6:.0f} MB less)",
    )


def measure_postgres(path: Path, url: str | None) -> None:
    """Copy the store into PostgreSQL (a server started here, or the empty schema at
    ``url``) and ask it the same questions."""
    if url is not None:
        copy_to_postgres(path, url)
        return
    from tests.postgres_server import PostgresServer, Schemas

    with PostgresServer() as server:
        schemas = Schemas(server.url())
        copy_to_postgres(path, schemas.fresh_url())
        schemas.close()


def copy_to_postgres(path: Path, url: str) -> None:
    import psycopg

    started = time.perf_counter()
    report = flightlog.copy(f"sqlite:///{path}", url)
    elapsed = time.perf_counter() - started
    line(
        "copy to PostgreSQL",
        f"{elapsed:.1f} s",
        f"{report.steps:,} steps, {report.steps / elapsed:,.0f} steps/s",
    )
    with psycopg.connect(url, autocommit=True) as bare:
        bare.execute("ANALYZE")
        size = bare.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()
        assert size is not None
        line(
            "PostgreSQL bytes per step",
            f"{int(size[0]) / max(report.steps, 1):.0f} B",
            "tables with their indexes",
        )
        with flightlog.open(url) as fl:
            group = median_ms(
                lambda: bare.execute("SELECT status, count(*) FROM steps GROUP BY status"), 3
            )
            line(
                "counts() on PostgreSQL",
                f"{median_ms(fl.counts):.2f} ms",
                f"bare GROUP BY status: {group:.0f} ms",
            )
            line(
                "list_runs(status='FAILED') on PostgreSQL",
                f"{median_ms(lambda: fl.list_runs(status='FAILED')):.2f} ms",
            )
            status_ms = median_ms(lambda: fl.get_status(BIG_RUN), 21)
            bare_ms = median_ms(
                lambda: bare.execute(
                    "SELECT status FROM runs WHERE run_id = %s", (BIG_RUN,)
                ).fetchall(),
                21,
            )
            line(
                "get_status(the big run) on PostgreSQL",
                f"{status_ms:.3f} ms",
                f"bare SELECT {bare_ms:.3f} ms",
            )


def measure_files(path: Path, sample_runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder, flightlog.open(f"sqlite:///{path}") as fl:
        chosen = [run["run_id"] for run in fl.list_runs(limit=sample_runs, workflow="train")]
        report = flightlog.copy(fl, f"file://{folder}/files", runs=chosen)
        size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
        line(
            f"files store bytes per step ({len(chosen)} runs)",
            f"{size / max(report.steps, 1):.0f} B",
            f"{report.steps:,} steps copied",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000, help="steps of the big run")
    parser.add_argument("--record", type=int, default=2_000, help="steps per recording test")
    parser.add_argument("--rebuild", action="store_true", help="build the cached store again")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "flightlog-scale",
        help="where built stores are kept (default: $TMPDIR/flightlog-scale)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--postgres-url", help="an empty PostgreSQL schema to copy into")
    parser.add_argument("--no-files", action="store_true")
    parser.add_argument("--resume-child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.resume_child:
        resume_child(options.resume_child)
        return
    if options.big >= options.steps or options.runs < 2:
        parser.error("--big must be below --steps, and --runs at least 2")
    cached = cached_store(
        options.steps, options.runs, options.big, options.rebuild, options.cache_dir
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        shutil.copyfile(cached, path)
        size = store_bytes(path)
        print(
            f"\nflightlog {flightlog.__version__}: {options.steps:,} steps in {options.runs:,} runs"
        )
        line("SQLite bytes per step", f"{size / options.steps:.0f} B", f"file {size / 1e6:.0f} MB")
        measure_sqlite(path, options.steps, options.big, options.record)
        if not options.no_files:
            measure_files(path, max(1, options.runs // 100))
        if not options.no_postgres:
            measure_postgres(path, options.postgres_url)
        measure_gc(path, options.runs)


if __name__ == "__main__":
    main()
