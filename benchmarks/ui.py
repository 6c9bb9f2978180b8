"""The web UI over a big store: 1,000,000 steps in 10,000 runs, one of them 100,000 steps
with a 100,000-point metric; measured through a real HTTP client and in a real browser.

- the runs page: its JSON (``/api/runs``) and HTML, and in the browser the first useful
  paint (the table's first row drawn); target under 300 ms;
- the 100,000-step run: its page until the timeline is drawn; target under 1 s; then a jump
  to the middle of the timeline (redrawing only the rows in view);
- a 100,000-point metric plotted; target under 500 ms (the page asks for the series thinned
  to two points per pixel column of its plot: ``points=2800``);
- bytes transferred per page (gzip, as a browser asks), with every script and style.

HTTP times: the first request (the server's caches empty), then the median of 5. Browser
times are read in the page: from navigation start to the moment the element that shows the
answer exists (the harness's own view, which adds its round trips, is printed beside): the
first visit, then medians of 3 in fresh browser contexts (nothing cached, a new renderer
process) and of 3 in new tabs of one warm context (script and style cached, as when a user
follows a link). The store is SQLite, loaded in bulk through the store's own statements.

    python benchmarks/ui.py [RUNS] [BIG_RUN_STEPS]

With ``FLIGHTLOG_UI_BENCH_DB=PATH`` the store is kept in PATH (and reused when it exists), so
that two versions of the UI can be measured over the same store.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import flightlog
from flightlog.model import ErrorInfo, MetricChunk, Run, Status, Step, TaskRecord
from flightlog.stores.sql import STEP_UPSERT, step_row

BIG = "big-run"
CHROMIUM = "/usr/bin/chromium"


def load(fl: flightlog.Flightlog, runs: int, big_steps: int, total_steps: int) -> None:
    store: Any = fl.store
    now = time.time() - runs * 10
    per_run = max(1, (total_steps - big_steps) // max(1, runs - 1))
    error = ErrorInfo("ValueError", "bad input", "Traceback ...\nValueError: bad input\n")
    for task in range(5):  # as a real run records its tasks (the timeline names them)
        store.record_task(TaskRecord(f"{task:032x}", f"task{task}"))
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
                run_id, f"step_{position}", position, f"task{position % 5}", f"{position % 5:032x}",
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


# Navigation start to the moment the page shows what was asked for, read in the page
# (``performance.now()`` when the element first exists, polled every animation frame): what a
# user sees, without the harness's own round trips.
SEEN = "selector => document.querySelector(selector) ? performance.now() : 0"
PAGES = {
    # What any page costs this browser here: a 7 KB file, no script, no database.
    "floor: a static file": ("/static/style.css", "body"),
    "runs page, table drawn": ("/", "#runs-table tbody tr"),
    "100k-step run, timeline drawn": (f"/runs/{BIG}", "#timeline[data-loaded='1']"),
    "100k-point metric plotted": (f"/metrics?run={BIG}&metric=loss", "#plots[data-drawn]"),
}


def _visit(page: Any, url: str, ready: str) -> tuple[float, float, int]:
    """(ms in the page from navigation start, ms seen from here, bytes transferred)."""
    requests: list[Any] = []

    def finished(request: Any) -> None:
        requests.append(request)

    page.on("requestfinished", finished)
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    in_page = float(
        page.wait_for_function(SEEN, arg=ready, timeout=60_000, polling="raf").json_value()
    )
    outside = (time.perf_counter() - started) * 1000
    page.wait_for_load_state("load")
    size = sum(
        request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"]
        for request in requests
    )
    page.remove_listener("requestfinished", finished)
    return in_page, outside, size


# A jump to the middle of the timeline, timed in the page: from the scroll to the frame that
# shows the rows there.
JUMP = """async () => {
  const scroll = document.querySelector('.tl-scroll'), started = performance.now();
  scroll.scrollTop = scroll.scrollHeight / 2;
  for (let frame = 0; frame < 600; frame++) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const row = document.querySelector('.tl-row');
    if (row && Number(row.style.top.slice(0, -2)) > 1e5) return performance.now() - started;
  }
  return -1;
}"""


def _jump(page: Any) -> float:
    return float(page.evaluate(JUMP))


def browser_figures(url: str, repeats: int = 3) -> list[tuple[str, float, float, int]]:
    """Per page: the first visit (the server's caches empty, a fresh browser context), then
    the median of ``repeats`` visits in fresh contexts (cold browser cache, a new renderer)
    and of ``repeats`` visits in new tabs of one warm context (script and style cached, as
    when a user follows a link)."""
    from playwright.sync_api import sync_playwright

    found: list[tuple[str, float, float, int]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        viewport = {"width": 1400, "height": 1000}
        warm = browser.new_context(viewport=viewport)
        _visit(warm.new_page(), url + "/static/style.css", "body")  # the warm context's start
        for label, (path, ready) in PAGES.items():
            cold: list[tuple[float, float, int]] = []
            jumps: list[float] = []
            for _ in range(repeats + 1):
                context = browser.new_context(viewport=viewport)
                page = context.new_page()
                cold.append(_visit(page, url + path, ready))
                if path.startswith("/runs/"):
                    jumps.append(_jump(page))
                context.close()
            first, rest = cold[0], cold[1:]
            found.append((f"{label}: first visit", first[0], first[1], first[2]))
            found.append(
                (
                    f"{label}: fresh context",
                    statistics.median(item[0] for item in rest),
                    statistics.median(item[1] for item in rest),
                    int(statistics.median(item[2] for item in rest)),
                )
            )
            tabs = []
            for _ in range(repeats):
                page = warm.new_page()
                tabs.append(_visit(page, url + path, ready))
                page.close()
            found.append(
                (
                    f"{label}: new tab, warm",
                    statistics.median(item[0] for item in tabs),
                    statistics.median(item[1] for item in tabs),
                    int(statistics.median(item[2] for item in tabs)),
                )
            )
            if jumps:
                found.append(("jump to the middle of that timeline", max(jumps), max(jumps), 0))
        warm.close()
        browser.close()
    return found


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    big_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    total = 1_000_000 if runs == 10_000 else big_steps + (runs - 1) * 10
    kept = os.environ.get("FLIGHTLOG_UI_BENCH_DB")  # a store to keep (and reuse) across runs
    with tempfile.TemporaryDirectory() as directory:
        path = kept or f"{directory}/ui.db"
        url = f"sqlite:///{path}"
        started = time.perf_counter()
        if not (kept and os.path.exists(kept)):
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
                "100k-point metric JSON for a plot": (
                    f"/api/metrics?run={BIG}&name=loss&points=2800"
                ),
            }
            print(f"  {'':<44} {'first':>8}    {'median':>8}")
            for label, path in paths.items():
                first, size = fetch(server.port, path)  # the server's caches empty
                seconds = median(lambda path=path: fetch(server.port, path)[0], 5)
                print(
                    f"  {label:<44} {first * 1000:8.0f} ms {seconds * 1000:8.0f} ms"
                    f" {size / 1024:10.1f} KB"
                )
            print(
                "\nBrowser (chromium; ms from navigation start, read in the page, and as seen"
                " by the harness; bytes incl. script, style)"
            )
            for label, in_page, outside, size in browser_figures(server.url):
                shown = f"{size / 1024:10.1f} KB" if size else ""
                print(f"  {label:<58} {in_page:8.0f} ms {outside:8.0f} ms {shown}")


if __name__ == "__main__":
    main()
