"""What a cache hit costs: the lookup, decode and record of a step served from an earlier run.

A first run of N cache-enabled steps computes and records every result; a second run of the
same workflow is served entirely from cache. Printed per step, for each store, beside the
per-step cost of the first (executing) run.

    python benchmarks/cache.py [N]
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time

import flightlog
from flightlog import codec


def measure(url: str, count: int) -> tuple[float, float, float]:
    fl = flightlog.open(url)

    @fl.task(cache=True)
    def square(x: int) -> int:
        return x * x

    @fl.workflow
    def pipeline(n: int) -> int:
        return sum(square(i) for i in range(n))

    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        pipeline(count)
        first = (time.perf_counter() - started) / count
        started = time.perf_counter()
        pipeline(count)
        second = (time.perf_counter() - started) / count
        keys = [(step["task_id"], step["execution_id"]) for step in fl.steps(last_run(fl))]
        started = time.perf_counter()
        for task_id, execution_id in keys:
            hit = fl.store.find_cached(task_id, execution_id)
            assert hit is not None and hit.result is not None
            codec.decode(hit.result)
        lookup = (time.perf_counter() - started) / len(keys)
    finally:
        gc.enable()
    fl.close()
    return first, second, lookup


def last_run(fl: flightlog.Flightlog) -> str:
    return str(fl.list_runs(limit=1)[0]["run_id"])


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    with tempfile.TemporaryDirectory() as directory:
        stores = {"memory://": "memory://", "sqlite": f"sqlite:///{directory}/cache.db"}
        print(f"flightlog {flightlog.__version__}, {count} cache-enabled steps per run")
        print(
            f"{'store':<10}{'executed us/step':>18}{'cache hit us/step':>20}"
            f"{'lookup+decode us':>18}"
        )
        for label, url in stores.items():
            first, second, lookup = measure(url, count)
            print(f"{label:<10}{first * 1e6:>18.1f}{second * 1e6:>20.1f}{lookup * 1e6:>18.1f}")
        print("a cache hit records its step too (one commit); the lookup is the indexed query")


if __name__ == "__main__":
    main()
