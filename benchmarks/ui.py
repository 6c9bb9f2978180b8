"""The web UI over a big store: 1,000,000 steps in 10,000 runs, one of them 100,000 steps
with a 100,000-point metric; measured through a real HTTP client and in a real browser.

- the runs page: its JSON (``/api/runs``) and HTML, and in the browser the first useful
  paint (the table's first row drawn); target under 300 ms;
- the 100,000-step run: its page until the timeline is drawn; target under 1 s; then a jump
  to the middle of the timeline (redrawing only the rows in view);
- a 100,000-point metric plotted; target under 500 ms;
- bytes transferred per page (gzip, as a browser asks), with every script and style.

Times are medians of 5 (the browser: of 3, each in a fresh browser context, so nothing is
cached). The store is SQLite, loaded in bulk through the store's own statements.

    python benchmarks/ui.py [RUNS] [BIG_RUN_STEPS]
"""

from __future__ import annotations

import http.client
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import flightlog
from flightlog.model import ErrorInfo, MetricChunk, Run, Status, Step
from flightlog.stores.sql import STEP_UPSERT, step_row

BIG = "big-run"
CHROMIUM = "/usr/bin/chromium"


def load(fl: flightlog.Flightlog, runs: int, big_steps: int, total_steps: int) -> None:
    store: Any = fl.store
    now = time.time() - runs * 10
    per_run = max(1, (total_steps - big_steps) // max(1, runs - 1))
    error = ErrorInfo("ValueError", "bad input", "Traceback ...\nValueError: bad input\n")
    for number in range(runs):
        run_id = BIG if number == runs // 2 else f"run-{number:05d}"
        count = big_steps if run_id == BIG else per_run
        start = now + number * 10
        store.create_run(
            Run(run_id, f"flow{number % 7}", Status.RUNNING, tag=f"t{number % 3}",
                arguments=f'{{"args":[{number}],"kwargs":{{}}}}', created_time=start,
                start_time=start)
        )  # fmt: skip
        seq = store._seq(run_id)
        rows = []
        for position in range(count):
            # Four lanes side by side: steps overlap in time, as parallel steps do.
            begin = start + (position // 4) * 0.01 + (position % 4) * 0.002
            failed = run_id == BIG and position == count - 1
            step = Step(
                run_id, f"step_{position}", position, f"task{position % 5}", "t" * 32,
                f"{position:032x}", status=Status.FAILED if failed else Status.SUCCESSFUL,
                start_time=begin, end_time=begin + 0.008, error=error if failed else None,
            )  # fmt: skip
            rows.append(step_row(seq, step))
        store._write_many(STEP_UPSERT, rows)
        failed = run_id == BIG or number % 10 == 0
        store.finish_run(
            run_id,
            status=Status.FAILED if failed else Status.SUCCESSFUL,
            end_time=start + count * 0.0025 + 0.01,
            error=error if failed else None,
            output=None if failed else "1",
        )
    points = 100_000
    store.record_tracked(
        BIG,
        metrics=[
            MetricChunk(
                "loss", None, None, range(points),
                [1.0 / (index + 1) + (index % 100) / 1e4 for index in range(points)],
                [now + index * 1e-4 for index in range(points)],
            )
        ],
    )  # fmt: skip


class Server:
    def __init__(self, fl: flightlog.Flightlog) -> None:
        import uvicorn

        from flightlog.web import create_app

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(fl), host="127.0.0.1", port=self.port, log_level="error")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def fetch(port: int, path: str) -> tuple[float, int]:
    """Seconds for the whole response, and the bytes transferred (gzip asked for)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
    body = connection.getresponse().read()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, len(body)


def median(action: Callable[[], float], repeats: int) -> float:
    return statistics.median(action() for _ in range(repeats))


def browser_figures(url: str) -> dict[str, tuple[float, int]]:
    from playwright.sync_api import sync_playwright

    pages = {
        "runs page": ("/", "#runs-table tbody tr"),
        "100k-step run, timeline drawn": (f"/runs/{BIG}", "#timeline[data-loaded='1']"),
        "100k-point metric plotted": (f"/metrics?run={BIG}&metric=loss", "#plots[data-drawn]"),
    }
    found: dict[str, tuple[float, int]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        for label, (path, ready) in pages.items():
            times, sizes = [], []
            for _ in range(3):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                requests: list[Any] = []
                page.on("requestfinished", lambda request, into=requests: into.append(request))
                started = time.perf_counter()
                page.goto(url + path, wait_until="commit")
                page.wait_for_selector(ready, state="attached", timeout=60_000)
                times.append(time.perf_counter() - started)
                page.wait_for_load_state("load")
                sizes.append(
                    sum(
                        request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"]
                        for request in requests
                    )
                )
                if path.startswith("/runs/"):
                    started = time.perf_counter()
                    page.evaluate(
                        "() => { const s = document.querySelector('.tl-scroll');"
                        " s.scrollTop = s.scrollHeight / 2; }"
                    )
                    page.wait_for_function(
                        "() => document.querySelector('.tl-label') &&"
                        " Number(document.querySelector('.tl-row').style.top.slice(0, -2)) > 1e5"
                    )
                    found.setdefault("jump to the middle of the timeline", (0.0, 0))
                    jump = time.perf_counter() - started
                    found["jump to the middle of the timeline"] = (
                        max(found["jump to the middle of the timeline"][0], jump),
                        0,
                    )
                context.close()
            found[label] = (statistics.median(times), int(statistics.median(sizes)))
        browser.close()
    return found


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    big_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    total = 1_000_000 if runs == 10_000 else big_steps + (runs - 1) * 10
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/ui.db"
        started = time.perf_counter()
        with flightlog.open(url) as fl:
            load(fl, runs, big_steps, total)
        steps = big_steps + (runs - 1) * max(1, (total - big_steps) // max(1, runs - 1))
        print(f"loaded {runs:,} runs, {steps:,} steps in {time.perf_counter() - started:.0f} s")
        with flightlog.open(url) as fl, Server(fl) as server:
            print("\nHTTP (median of 5; bytes with gzip)")
            paths = {
                "runs page JSON (/api/runs, 50 of 10,000)": "/api/runs",
                "runs page HTML": "/",
                "runs page, failed, searched": "/?status=FAILED&q=flow3",
                "100k-step run page HTML": f"/runs/{BIG}",
                "100k-step timeline JSON": f"/api/runs/{BIG}/timeline",
                "100k-point metric JSON": f"/api/metrics?run={BIG}&name=loss",
            }
            for label, path in paths.items():
                fetch(server.port, path)  # warm
                size = fetch(server.port, path)[1]
                seconds = median(lambda path=path: fetch(server.port, path)[0], 5)
                print(f"  {label:<44} {seconds * 1000:8.0f} ms {size / 1024:10.1f} KB")
            print("\nBrowser (chromium, median of 3 fresh contexts; bytes incl. script, style)")
            for label, (seconds, size) in browser_figures(server.url).items():
                shown = f"{size / 1024:10.1f} KB" if size else ""
                print(f"  {label:<44} {seconds * 1000:8.0f} ms {shown}")


if __name__ == "__main__":
    main()
