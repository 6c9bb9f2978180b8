"""Parallel steps: flightlog's cost per step on each executor, next to the bare engine's per-task
cost measured in the same run, and the speed-ups that parallel steps buy.

    python benchmarks/parallel.py [N] [--engines threads,processes,dask,ray] [--postgres URL]

1. N trivial steps through ``task.map`` on each executor (SQLite store), against the bare
   engine: ``ThreadPoolExecutor.map``, ``ProcessPoolExecutor(2).map``, Ray ``@ray.remote`` no-ops
   gathered, Dask ``client.submit`` no-ops gathered; and the store's own per-step floor (the same
   steps called inline). The target: flightlog per step <= 1.5 x bare + the floor.
2. Real speed-up: 200 steps that sleep 50 ms on 8 threads against inline; 4 CPU-bound steps of
   about 1 s on 2 processes against inline.
3. The same fan-out recorded on SQLite and (with ``--postgres``) PostgreSQL: steps per second,
   against one step at a time inline.

Ray binds to every interface: when run as root outside a network namespace, the Ray part runs
in a child process inside one that has only loopback (``unshare --net``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import flightlog
from flightlog.executors import Dask, Processes, Ray, Threads


def noop(x: int) -> int:
    return x


def spin(seconds: float) -> int:
    """About ``seconds`` of pure-Python work."""
    end = time.process_time() + seconds
    count = 0
    while time.process_time() < end:
        count += 1
    return count


def nap(x: int) -> int:
    time.sleep(0.05)
    return x


def _timed(function: Any) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def bare(engine: str, count: int) -> float:
    """Seconds per task of the bare engine."""
    if engine == "threads":
        with concurrent.futures.ThreadPoolExecutor() as pool:
            list(pool.map(noop, range(100)))
            return _timed(lambda: list(pool.map(noop, range(count)))) / count
    if engine == "processes":
        with concurrent.futures.ProcessPoolExecutor(2) as pool:
            list(pool.map(noop, range(100)))
            return _timed(lambda: list(pool.map(noop, range(count)))) / count
    if engine == "ray":
        import ray

        remote = ray.remote(noop)
        ray.get([remote.remote(x) for x in range(100)])
        return _timed(lambda: ray.get([remote.remote(x) for x in range(count)])) / count
    if engine == "dask":
        client = _dask_client()
        client.gather([client.submit(noop, x, pure=False) for x in range(100)])
        return (
            _timed(
                lambda: client.gather([client.submit(noop, x, pure=False) for x in range(count)])
            )
            / count
        )
    raise ValueError(engine)


_CLIENT: Any = None


def _dask_client() -> Any:
    global _CLIENT
    if _CLIENT is None:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
        )
        _CLIENT = Client(cluster)
    return _CLIENT


def executor_for(engine: str) -> Any:
    if engine == "threads":
        return Threads()
    if engine == "processes":
        return Processes(2)
    if engine == "ray":
        return Ray()  # uses the Ray that bare() initialised
    if engine == "dask":
        return Dask(_dask_client())
    raise ValueError(engine)


def flightlog_per_step(url: str, executor: Any, count: int, task_function: Any = noop) -> float:
    fl = flightlog.open(url, executor=executor)
    task = fl.task(task_function)

    @fl.workflow
    def fan(n: int) -> int:
        return len(task.map(range(n)))

    fan.run(100)  # warm: pools, workers, imports
    seconds = _timed(lambda: fan.run(count))
    fl.close()
    return seconds / count


def inline_per_step(url: str, count: int) -> float:
    fl = flightlog.open(url)
    task = fl.task(noop)

    @fl.workflow
    def loop(n: int) -> int:
        return sum(task(x) for x in range(n))

    loop.run(100)
    seconds = _timed(lambda: loop.run(count))
    fl.close()
    return seconds / count


def overheads(engines: list[str], count: int, directory: Path) -> list[dict[str, Any]]:
    rows = []
    floor = inline_per_step(f"sqlite:///{directory}/floor.db", count)
    for engine in engines:
        base = bare(engine, count)
        ours = flightlog_per_step(f"sqlite:///{directory}/{engine}.db", executor_for(engine), count)
        rows.append(
            {
                "engine": engine,
                "bare_us": base * 1e6,
                "floor_us": floor * 1e6,
                "flightlog_us": ours * 1e6,
                "ratio_to_bare_plus_floor": ours / (base + floor),
            }
        )
    return rows


def speedups(directory: Path) -> list[dict[str, Any]]:
    rows = []
    url = f"sqlite:///{directory}/speed.db"

    def measure(executor: Any, function: Any, items: list[Any]) -> float:
        fl = flightlog.open(url, executor=executor)
        task = fl.task(function)

        @fl.workflow
        def fan(values: list[Any]) -> int:
            return len(task.map(values))

        fan.run(items[:2])  # warm: both workers of a pool started
        seconds = _timed(lambda: fan.run(items))
        fl.close()
        return seconds

    inline = measure(None, nap, list(range(200)))
    threads = measure(Threads(8), nap, list(range(200)))
    rows.append(
        {
            "case": "200 x sleep 50 ms, 8 threads",
            "inline_s": inline,
            "parallel_s": threads,
            "speedup": inline / threads,
        }
    )
    inline = measure(None, spin, [1.0] * 4)
    processes = measure(Processes(2), spin, [1.0] * 4)
    rows.append(
        {
            "case": "4 x 1 s CPU, 2 processes",
            "inline_s": inline,
            "parallel_s": processes,
            "speedup": inline / processes,
        }
    )
    return rows


def stores(count: int, directory: Path, postgres: str | None) -> list[dict[str, Any]]:
    rows = []
    urls = [("sqlite", f"sqlite:///{directory}/stores.db")]
    if postgres:
        urls.append(("postgresql", postgres))
    for name, url in urls:
        one = inline_per_step(url, count)
        fanned = flightlog_per_step(url, Processes(2), count)
        rows.append(
            {"store": name, "inline_steps_per_s": 1 / one, "processes_map_steps_per_s": 1 / fanned}
        )
    return rows


def _in_loopback_namespace() -> bool:
    """Set by this script for its own child that runs inside ``unshare --net``."""
    return os.environ.get("FLIGHTLOG_BENCH_NETNS") == "1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--engines", default="threads,processes,dask,ray")
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--json", action="store_true", help="print rows as JSON (for the parent)")
    args = parser.parse_args()
    engines = args.engines.split(",")
    directory = Path(tempfile.mkdtemp(prefix="flightlog-parallel-"))
    results: dict[str, Any] = {}
    try:
        here = [engine for engine in engines if engine != "ray" or _in_loopback_namespace()]
        results["overhead"] = overheads(here, args.count, directory)
        if "ray" in engines and "ray" not in here:
            command = f"{sys.executable} {__file__} {args.count} --engines ray --json"
            script = f"ip link set lo up && exec {command}"
            env = dict(
                os.environ,
                RAY_USAGE_STATS_ENABLED="0",
                RAY_AUTH_MODE="disabled",
                FLIGHTLOG_BENCH_NETNS="1",
            )
            done = subprocess.run(
                ["unshare", "--net", "sh", "-c", script],
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if lines:
                results["overhead"] += json.loads(lines[-1])["overhead"]
            else:
                print("ray part failed:", done.stderr[-2000:], file=sys.stderr)
        if not args.json:
            results["speedup"] = speedups(directory)
            results["stores"] = stores(args.count, directory, args.postgres)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if _CLIENT is not None:
            _CLIENT.close()
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'engine':<10} {'bare µs':>9} {'floor µs':>9} {'flightlog µs':>13} {'ratio':>7}")
    for row in results["overhead"]:
        print(
            f"{row['engine']:<10} {row['bare_us']:>9.1f} {row['floor_us']:>9.1f} "
            f"{row['flightlog_us']:>13.1f} {row['ratio_to_bare_plus_floor']:>7.2f}"
        )
    for row in results["speedup"]:
        print(
            f"{row['case']:<32} inline {row['inline_s']:.2f} s  parallel "
            f"{row['parallel_s']:.2f} s  speed-up {row['speedup']:.2f}x"
        )
    for row in results["stores"]:
        print(
            f"{row['store']:<10} inline {row['inline_steps_per_s']:.0f} steps/s  processes map "
            f"{row['processes_map_steps_per_s']:.0f} steps/s"
        )


if __name__ == "__main__":
    main()
