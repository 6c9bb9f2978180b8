"""Per-step overhead of a tracker (MLflowTracker), against the bare floor of the same run.

A workflow of N trivial steps on a durable SQLite store, without a tracker and with an
``MLflowTracker`` (to MLflow's default kind of store, ``sqlite:`` in a temporary folder), once
with steps that track nothing and once with steps that each track one metric point. The step
path is the time until the workflow's last step has ended, less the undecorated loop, per step;
the run's end is then timed on its own: it waits until MLflow has every point (the flush);
"all in" spreads it over the steps.
Figures are per step and as ratios to the bare ``sqlite3`` commit loop measured in this run
(see ``benchmarks/overhead.py``).

    python benchmarks/trackers.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from overhead import bare_sqlite, best, plain_loop

import flightlog
from flightlog.trackers import MLflowTracker, Tracker


def run_steps(
    url: str, count: int, trackers: list[Tracker], *, metric: bool
) -> tuple[float, float]:
    """Seconds per step until the last step ended, and seconds of the run's end."""
    fl = flightlog.open(url, trackers=trackers)
    track = flightlog.track
    marks: dict[str, float] = {}

    @fl.task
    def add(left: int, right: int) -> int:
        if metric:
            track(loss=1 / (left + 1), step=left)
        return left + right

    @fl.workflow
    def pipeline(n: int) -> int:
        total = 0
        for index in range(n):
            total += add(index, 1)
        marks["last step"] = time.perf_counter()
        return total

    pipeline(10)  # warm up: task identity, connections, the MLflow experiment
    started = time.perf_counter()
    pipeline(count)
    ended = time.perf_counter()
    fl.close()
    return (marks["last step"] - started) / count, ended - marks["last step"]


def case(
    url: Callable[[], str], count: int, trackers: list[Tracker], metric: bool, repeats: int
) -> tuple[float, float]:
    """The best step path of a few runs (seconds per step), and the shortest run end."""
    ends: list[float] = []

    def measure() -> float:
        step, end = run_steps(url(), count, trackers, metric=metric)
        ends.append(end)
        return step

    return best(measure, repeats), min(ends)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeats = 5
    warnings.simplefilter("ignore", DeprecationWarning)  # MLflow's own, on SQLAlchemy 2.1
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        runs = iter(range(1000))
        print("creating the MLflow store (its migrations take seconds) ...", flush=True)
        tracker = MLflowTracker(tracking_uri=f"sqlite:///{directory}/mlflow.db")
        tracker.client.search_experiments()  # the store exists before anything is timed

        def url() -> str:
            return f"sqlite:///{directory}/fl-{next(runs)}.db"

        floor = best(lambda: bare_sqlite(Path(tempfile.mkdtemp(dir=directory)), count), repeats)
        call = best(lambda: plain_loop(count), repeats)
        rows = []
        for metric in (False, True):
            what = "one metric point" if metric else "nothing"
            for label, trackers in (("no tracker", []), ("MLflowTracker", [tracker])):
                per_step, end = case(url, count, trackers, metric, repeats)
                rows.append((f"steps tracking {what}, {label}", per_step - call, end))
    print(
        f"flightlog {flightlog.__version__}, {count} steps per run on sqlite://, best of "
        f"{repeats} runs; MLflow store: sqlite: in a temporary folder"
    )
    print(f"{'what':<46}{'us/step':>9}{'x floor':>9}{'run end ms':>12}{'all in, us/step':>17}")
    print(f"{'bare sqlite3 commit per step (floor)':<46}{floor * 1e6:>9.1f}{1:>9.2f}")
    for label, seconds, end in rows:
        all_in = seconds + end / count
        print(
            f"{label:<46}{seconds * 1e6:>9.1f}{seconds / floor:>9.2f}{end * 1e3:>12.1f}"
            f"{all_in * 1e6:>17.1f}"
        )
    print(
        f"a tracker on steps that track nothing: {rows[1][1] / rows[0][1]:.2f}x the step "
        "without it (what is left: MLflow creating the run, in the background, as the first "
        "steps run)"
    )


if __name__ == "__main__":
    main()
