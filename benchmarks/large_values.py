"""Memory and time of a large step result (a numpy array) through each store.

For each store: the array is returned by a step (written out of line) and read back with
``get_step_result``. Printed: seconds, the peak of memory traced by ``tracemalloc`` above what
was held before (the array itself excluded), and the process's peak RSS growth, in multiples
of the payload. Run as a script with a store URL to measure one store in a fresh process
(``--json`` prints the figures as JSON: the tests read them).

    python benchmarks/large_values.py [MEGABYTES]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(url: str, megabytes: int) -> dict[str, float]:
    import numpy as np

    import flightlog

    fl = flightlog.open(url)
    payload = megabytes << 20
    array = np.arange(payload // 8, dtype=np.float64)

    @fl.task
    def make() -> object:
        return array

    @fl.workflow
    def flow() -> int:
        make()
        return 1

    rss_before = _rss_mb()
    tracemalloc.start()
    held = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    flow.run(run_id="large")
    write_seconds = time.perf_counter() - start
    write_peak = tracemalloc.get_traced_memory()[1] - held
    tracemalloc.reset_peak()
    held = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    back = fl.get_step_result("large", "make")
    read_seconds = time.perf_counter() - start
    read_peak = tracemalloc.get_traced_memory()[1] - held
    tracemalloc.stop()
    equal = bool(np.array_equal(back, array))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step = fl.store.get_step("large", "make")
    fl.close()
    return {
        "payload_mb": megabytes,
        "equal": equal,
        "stored_text_bytes": len(step.result or "") if step else -1,
        "write_seconds": write_seconds,
        "read_seconds": read_seconds,
        "write_peak_x": write_peak / payload,
        "read_peak_x": read_peak / payload,
        # peak RSS above the process before the run (which held the array already)
        "rss_peak_x": (peak_rss - rss_before) / megabytes,
    }


def in_fresh_process(url: str, megabytes: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--json", url, str(megabytes)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    result: dict[str, float] = json.loads(output)
    return result


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as folder:
        urls = {
            "memory://": "memory://",
            "sqlite://": f"sqlite:///{folder}/store.db",
            "file://": f"file://{folder}/files",
        }
        print(f"a {megabytes} MB numpy array as a step result, then read back")
        print(f"{'store':<10} {'write s':>8} {'read s':>8} {'write peak':>11} {'read peak':>10}")
        for name, url in urls.items():
            found = in_fresh_process(url, megabytes)
            print(
                f"{name:<10} {found['write_seconds']:8.2f} {found['read_seconds']:8.2f}"
                f" {found['write_peak_x']:10.2f}x {found['read_peak_x']:9.2f}x"
            )
        print("peaks: tracemalloc, above what the process held before, in payloads")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--json":
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
