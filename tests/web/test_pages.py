"""The web UI in a real browser against a real server over a real SQLite store: every page
loads without console errors, a failed run's timeline shows the failing step, user text is
shown as text, a live run updates."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import flightlog

from .conftest import Page, Server

pytestmark = pytest.mark.timeout(120)

SCRIPT_NAME = "<script>window.pwned=1</script>"


def record(fl: flightlog.Flightlog) -> None:
    state = {"calls": 0}

    @fl.task(retries=1)
    def load(n: int) -> list[int]:
        state["calls"] += 1
        if state["calls"] == 1:
            raise OSError("flaky disk")
        for index in range(200):
            flightlog.track(loss=1.0 / (index + 1) + n, accuracy=index / 200, step=index)
        flightlog.attach("notes.txt", b"<b>not bold</b> plain text")
        print("INFO loaded", n)
        print("WARNING nearly full")
        return list(range(n))

    @fl.task
    def child(x: int) -> int:
        return x * 2

    @fl.task
    def parent(x: int) -> int:
        return child(x) + child(x + 1)

    @fl.task(name=SCRIPT_NAME)
    def odd(x: int) -> int:
        return x

    @fl.task
    def boom(x: int) -> int:
        raise ValueError(f"bad input {x} <img src=x onerror=window.pwned=2>")

    @fl.workflow
    def pipeline(n: int, label: str = "a") -> int:
        load(n)
        parent(n)
        odd(n)
        return boom(n)

    @fl.workflow
    def fine(n: int) -> int:
        return parent(n)

    with pytest.raises(ValueError):
        pipeline.run(3, run_id="failed-run", tag="nightly")
    fine.run(1, run_id="good-run", tag="nightly")
    fine.run(2, run_id="good-run-2")


def test_every_page_loads_without_console_errors(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        record(fl)
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/")
            p.wait_for_selector("#runs-table tbody tr")
            assert p.locator("#runs-table tbody tr").count() == 3
            assert "FAILED 1" in p.locator(".chips").inner_text()
            page.shot("runs")
            p.goto(server.url + "/?status=FAILED")
            assert p.locator("#runs-table tbody tr").count() == 1
            p.goto(server.url + "/runs/failed-run")
            p.wait_for_selector("#timeline[data-loaded='1']")
            page.shot("run-failed")
            p.goto(server.url + "/runs/failed-run/steps/load")
            p.wait_for_selector("#log")
            assert "loaded 3" in p.locator("#log").inner_text()
            assert p.locator(".attachment pre").inner_text() == "<b>not bold</b> plain text"
            page.shot("step-load")
            p.goto(server.url + "/runs/failed-run/steps/load?level=WARNING")
            assert p.locator("#log").inner_text().strip() == "WARNING nearly full"
            p.goto(server.url + "/runs/failed-run/steps/boom")
            assert "ValueError" in p.locator(".failure").inner_text()
            p.goto(server.url + "/metrics?run=failed-run&run=good-run")
            p.wait_for_selector("#plots[data-drawn]")
            assert p.locator("#plots .plot").count() == 2
            assert int(p.locator("#plots").get_attribute("data-drawn") or 0) > 10
            p.locator("#metric-log").check()
            assert "log=1" in p.url
            page.shot("metrics")
            p.goto(server.url + "/compare?run=good-run&run=good-run-2")
            assert p.locator("table.compare tr.differs").count() >= 1
            page.shot("compare")
            p.goto(server.url + "/compare?run=good-run&run=good-run-2&diff=1")
            assert p.locator("table.compare tbody tr:not(.differs)").count() == 0
            p.goto(server.url + "/resources")
            p.goto(server.url + "/runs/no-such-run")
            assert "no run with id 'no-such-run'" in p.locator(".error-message").inner_text()
            assert page.errors == [] or all("404" in error for error in page.errors)


def test_failed_run_timeline_shows_the_failing_step_first(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        record(fl)
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/runs/failed-run")
            failure = p.locator("#failure")
            assert "boom" in failure.inner_text() and "bad input 3" in failure.inner_text()
            p.wait_for_selector("#timeline[data-loaded='1']")
            bar = p.locator(".tl-bar-item.s-FAILED")
            assert bar.count() == 1 and bar.is_visible()
            assert "boom" in (bar.get_attribute("title") or "")
            labels = p.locator(".tl-label").all_inner_texts()
            assert labels.index("child") == labels.index("parent") + 1  # under its parent
            assert p.locator(".tl-bar-item .tl-attempt").count() == 2  # load's two attempts
            assert page.errors == []


def test_user_text_is_shown_as_text(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        record(fl)
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/runs/failed-run")
            p.wait_for_selector("#timeline[data-loaded='1']")
            assert SCRIPT_NAME in p.locator("#steps-table").inner_text()
            assert SCRIPT_NAME in p.locator(".tl-label").all_inner_texts()
            assert "<img src=x" in p.locator("#failure").inner_text()
            p.goto(server.url + "/runs/failed-run/steps/" + SCRIPT_NAME.replace("/", "%2F"))
            assert SCRIPT_NAME in p.locator("h1").inner_text()
            assert p.evaluate("window.pwned") is None
            assert page.errors == []


def test_the_metrics_of_a_live_run_plot_as_they_are_recorded(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        more, release = threading.Event(), threading.Event()
        first, second = threading.Event(), threading.Event()

        @fl.task
        def train(epochs: int) -> int:
            for index in range(epochs):
                flightlog.track(loss=1.0 / (index + 1), step=index)
            first.set()
            assert more.wait(60)
            for index in range(epochs, 2 * epochs):
                flightlog.track(loss=1.0 / (index + 1), step=index)
            second.set()
            assert release.wait(60)
            return epochs

        @fl.workflow
        def fit(epochs: int) -> int:
            return train(epochs)

        worker = threading.Thread(target=lambda: fit.run(5, run_id="live-metrics"))
        worker.start()
        try:
            assert first.wait(30)
            with Server(fl) as server:
                p = page.page
                # The running step's points are written in the background (within a second).
                deadline = time.monotonic() + 10
                series = fl.browse.metric_series
                while len(series("live-metrics", "loss").get("loss", {"steps": []})["steps"]) < 5:
                    assert time.monotonic() < deadline, "the live metrics were not written"
                    time.sleep(0.1)
                p.goto(server.url + "/metrics?run=live-metrics")
                p.wait_for_selector("#plots[data-drawn]")
                note = p.locator(".plot-note")
                assert note.inner_text().startswith("5 points")
                more.set()
                assert second.wait(30)
                # The page fetches the series again by itself, and draws the new points.
                p.wait_for_function(
                    "() => document.querySelector('.plot-note').textContent.startsWith('10 ')",
                    timeout=15_000,
                )
                refreshed = int(p.locator("#plots").get_attribute("data-refreshed") or 0)
                assert refreshed >= 1
                release.set()
                worker.join(30)
                # The run ended: the page looks once more, then stops.
                p.wait_for_timeout(3_000)
                settled = p.locator("#plots").get_attribute("data-refreshed")
                p.wait_for_timeout(2_500)
                assert p.locator("#plots").get_attribute("data-refreshed") == settled
                assert page.errors == []
        finally:
            more.set()
            release.set()
            worker.join(30)


def test_a_live_run_updates(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        release = threading.Event()
        started = threading.Event()

        @fl.task
        def quick(x: int) -> int:
            if x == 1:
                # The running bar starts a second after the run: as the time axis grows with
                # the run, the bar's share of it (its width) grows visibly however late the
                # page is opened (a bar that starts with the run fills the axis at once).
                time.sleep(1.0)
            return x

        @fl.task
        def waiting(x: int) -> int:
            started.set()
            assert release.wait(60)
            return x

        @fl.workflow
        def slow(n: int) -> int:
            quick(n)
            waiting(n)
            return quick(n + 1)

        worker = threading.Thread(target=lambda: slow.run(1, run_id="live-run"))
        worker.start()
        try:
            assert started.wait(30)
            with Server(fl) as server:
                p = page.page
                p.goto(server.url + "/runs/live-run")
                p.wait_for_selector("#timeline[data-loaded='1']")
                assert p.locator("#run-status").inner_text() == "RUNNING"
                # The running step appears (its start record is written shortly after it
                # starts) through the live updates, if it was not recorded yet.
                p.wait_for_selector(".tl-bar-item.s-RUNNING", timeout=10_000)
                running = p.locator(".tl-bar-item.s-RUNNING")
                assert running.count() == 1
                first: Any = running.bounding_box()
                p.wait_for_function(
                    "w => document.querySelector('.tl-bar-item.s-RUNNING')"
                    ".getBoundingClientRect().width > w",
                    arg=first["width"] + 1,
                    timeout=10_000,
                )  # the running bar grows
                page.shot("run-live")
                release.set()
                p.wait_for_selector("#run-status.s-SUCCESSFUL", timeout=20_000)
                assert p.locator(".tl-bar-item").count() == 3
                assert page.errors == []
        finally:
            release.set()
            worker.join(30)
