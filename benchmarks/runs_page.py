"""The web runs page (``fl.browse.runs``, what ``/api/runs`` serves) over the cached store of
``benchmarks/scale.py`` (1,000,000 steps in 10,000 runs): every kind of view (no filter, a
workflow, a tag, a text search, a status, each sort, a far page), with and without a resource
collection in the store. The store is copied first (never written to).

    python benchmarks/runs_page.py [STORE_DB]

Prints the median of 7 calls per view, in milliseconds, after one warm-up call.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import flightlog
from flightlog.browse import RunFilter

DEFAULT = Path(tempfile.gettempdir()) / "flightlog-scale"

VIEWS: list[tuple[str, RunFilter, str, bool, int]] = [
    ("newest first", RunFilter(), "created", True, 0),
    ("oldest first", RunFilter(), "created", False, 0),
    ("workflow", RunFilter(workflow="train"), "created", True, 0),
    ("tag", RunFilter(tag="nightly"), "created", True, 0),
    ("text", RunFilter(text="run-00042"), "created", True, 0),
    ("status FAILED", RunFilter.parse(statuses=["FAILED"]), "created", True, 0),
    ("status RUNNING", RunFilter.parse(statuses=["RUNNING"]), "created", True, 0),
    ("sort start", RunFilter(), "start", True, 0),
    ("sort duration", RunFilter(), "duration", True, 0),
    ("sort status", RunFilter(), "status", False, 0),
    ("sort steps", RunFilter(), "steps", True, 0),
    ("sort workflow", RunFilter(), "workflow", False, 0),
    ("sort tag", RunFilter(), "tag", False, 0),
    ("sort run_id", RunFilter(), "run_id", False, 0),
    ("page 100 of 200", RunFilter(), "created", True, 5000),
    ("workflow+sort steps", RunFilter(workflow="train"), "steps", True, 0),
]


def _source(argv: list[str]) -> Path:
    if argv:
        return Path(argv[0])
    found = sorted(DEFAULT.glob("*-1000000-10000-*/store.db"))
    if not found:
        sys.exit(f"no cached store under {DEFAULT}: run python benchmarks/scale.py first")
    return found[-1]


def _median_ms(fl: flightlog.Flightlog, item: RunFilter, sort: str, desc: bool, off: int) -> float:
    fl.browse.runs(item, sort=sort, descending=desc, offset=off, limit=50)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        fl.browse.runs(item, sort=sort, descending=desc, offset=off, limit=50)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str]) -> None:
    source = _source(argv)
    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory) / "store.db"
        shutil.copyfile(source, copy)
        with flightlog.open(f"sqlite:///{copy}") as fl:
            print(f"{fl.browse.runs()['total']:,} runs in {source}")
            plain = {name: _median_ms(fl, *view) for name, *view in VIEWS}  # type: ignore[misc]

            @fl.resource("bench-resources")
            def compute(ident: str, args: object, ctx: object) -> str:
                return ident

            for number in range(20):
                fl.fetch("bench-resources", f"r{number}")
            with_resources = {name: _median_ms(fl, *view) for name, *view in VIEWS}  # type: ignore[misc]
    print(f"{'view':<22}{'ms':>9}{'ms (a collection)':>19}")
    for name, _, _, _, _ in VIEWS:
        print(f"{name:<22}{plain[name]:>9.1f}{with_resources[name]:>19.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
