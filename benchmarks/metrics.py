"""Speed of metric tracking: points per second through ``flightlog.track``, and the time to
read one long series back, for the memory and SQLite stores.

One run whose single step tracks N points (``track(loss=..., step=i)``, default 1,000,000); the
time covers the whole run, including writing the points with the step's end record. The read
is ``fl.metrics(run_id, "loss")`` of a 100,000-point series (a list of dicts), median of 5.
For scale, the same loop appending ``(step, value)`` tuples to a Python list is shown too.

    python benchmarks/metrics.py [N]
"""

from __future__ import annotations

import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import flightlog

READ_POINTS = 100_000


def plain_loop(count: int) -> float:
    """Points per second of a bare Python loop keeping (step, value) pairs."""
    kept: list[tuple[int, float]] = []
    started = time.perf_counter()
    for step in range(count):
        kept.append((step, 1.0 / (step + 1)))
    return count / (time.perf_counter() - started)


def record(url: str, count: int, run_id: str) -> tuple[flightlog.Flightlog, float]:
    """Track ``count`` points in one step of one run; return the recorder and points/s."""
    fl = flightlog.open(url)
    track = flightlog.track

    @fl.task
    def train(points: int) -> int:
        for step in range(points):
            track(loss=1.0 / (step + 1), step=step)
        return points

    @fl.workflow
    def pipeline(points: int) -> int:
        return train(points)

    gc.collect()
    started = time.perf_counter()
    pipeline.run(count, run_id=run_id)
    elapsed = time.perf_counter() - started
    return fl, count / elapsed


def read_time(fl: flightlog.Flightlog, run_id: str) -> float:
    """Median seconds of reading the run's series back as a list of dicts."""
    times = []
    for _ in range(5):
        gc.collect()
        started = time.perf_counter()
        series = fl.metrics(run_id, "loss")
        times.append(time.perf_counter() - started)
        assert len(series) == READ_POINTS
    return statistics.median(times)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"flightlog {flightlog.__version__}, {count:,} points tracked in one step")
    print(f"{'what':<46}{'points/s':>12}{'read 100k':>12}")
    print(f"{'plain Python loop keeping (step, value)':<46}{plain_loop(count):>12,.0f}{'-':>12}")
    with tempfile.TemporaryDirectory() as folder:
        urls = {
            "memory:// store": "memory://",
            "sqlite:// store": f"sqlite:///{Path(folder) / 'metrics.db'}",
        }
        for label, url in urls.items():
            fl, rate = record(url, count, "big")
            fl.close()
            fl, _ = record(url, READ_POINTS, "series")
            seconds = read_time(fl, "series")
            fl.close()
            print(f"{label:<46}{rate:>12,.0f}{seconds * 1000:>10.1f}ms")
    print("targets: sqlite >= 500,000 points/s; a 100,000-point series read in < 100 ms")


if __name__ == "__main__":
    main()
