"""Time of ``flightlog show`` (text and ``--json``) for a run of many steps, in a fresh
process each time, as a user runs it.

    python benchmarks/cli_show.py [STEPS]
"""

from __future__ import annotations

import compileall
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import flightlog


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    # As a user runs it: from compiled modules (even where PYTHONDONTWRITEBYTECODE is set).
    compileall.compile_dir(Path(flightlog.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'show.db'}"
        with flightlog.open(url) as fl:

            @fl.task
            def add(left: int, right: int) -> int:
                return left + right

            @fl.workflow
            def many(steps: int) -> int:
                return sum(add(n, 1) for n in range(steps))

            many.run(count, run_id="many")
        print(f"flightlog show of a run of {count} steps, best of 3 fresh processes")
        for extra in ([], ["--json"]):
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "flightlog", "show", "many", "--url", url, *extra],
                    stdout=subprocess.DEVNULL,
                    check=True,
                )
                best = min(best, time.perf_counter() - started)
            print(f"  show {' '.join(extra) or '(text)':8} {best:.2f} s")


if __name__ == "__main__":
    main()
