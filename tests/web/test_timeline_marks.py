"""The timeline's marks in a real browser: the time replayed and cached steps saved (per bar
and for the run), steps that waited for another run's computation of their result (live,
then finished), a parent's span of running children; and a 100,000-step run that still
jumps to a step."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import flightlog
from flightlog.model import Status
from flightlog.runtime.cache_claims import wait_of

from .conftest import Page, Server

pytestmark = pytest.mark.timeout(180)
WAIT = 60.0


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_wait_of_reads_what_the_claims_write() -> None:
    assert wait_of("waited 0.5 s for step 'embed_1' of run 'brave-run' to compute it") == {
        "seconds": 0.5, "step": "embed_1", "run": "brave-run",
        "text": "step 'embed_1' of run 'brave-run'",
    }  # fmt: skip
    assert wait_of("resumed; waiting for step \"it's\" of run 'a b' to compute it") == {
        "seconds": None, "step": "it's", "run": "a b", "text": "step \"it's\" of run 'a b'",
    }  # fmt: skip
    assert wait_of("waiting for another step to compute it")["step"] is None  # type: ignore[index]
    assert wait_of("changed arguments") is None and wait_of(None) is None


def test_replayed_and_cached_steps_show_the_time_they_saved(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        state = {"fail": True}

        @fl.task
        def prepare(x: int) -> int:
            time.sleep(0.3)
            return x

        @fl.task(cache=True)
        def train(x: int) -> int:
            time.sleep(0.4)
            return x * 2

        @fl.task
        def check(x: int) -> int:
            if state["fail"]:
                raise ValueError("not yet")
            return x

        @fl.workflow
        def pipeline(x: int) -> int:
            return check(train(prepare(x)))

        with pytest.raises(ValueError):
            pipeline.run(1, run_id="first")
        state["fail"] = False
        fl.resume("first")  # prepare and train replay
        pipeline.run(1, run_id="second")  # prepare runs again, train is served from the cache
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/runs/first")
            p.wait_for_selector("#timeline[data-loaded='1']")
            bars = {
                bar.get_attribute("title").split(":")[0]: bar
                for bar in p.locator(".tl-bar-item").all()
            }  # type: ignore[union-attr]
            assert float(bars["prepare"].get_attribute("data-saved") or 0) >= 0.3
            assert float(bars["train"].get_attribute("data-saved") or 0) >= 0.4
            assert "(replayed)" in (bars["train"].get_attribute("title") or "")
            assert bars["check"].get_attribute("data-saved") is None
            saved = p.locator("#tl-saved").inner_text()
            assert (
                saved.startswith("replayed and cached steps saved ")
                and float(saved.split()[-2]) >= 0.7
            )
            page.shot("run-replayed")
            p.goto(server.url + "/runs/second")
            p.wait_for_selector("#timeline[data-loaded='1']")
            train = p.locator(".tl-bar-item.o-cached")
            assert train.count() == 1
            assert float(train.get_attribute("data-saved") or 0) >= 0.35  # 0.4 less its lookup
            assert "; saved " in (train.get_attribute("title") or "")
            assert p.locator(".tl-bar-item[data-saved]").count() == 1  # prepare ran again
            assert page.errors == []


def test_a_step_that_waits_for_another_runs_computation_is_drawn_waiting(
    store_url: str, page: Page
) -> None:
    with flightlog.open(store_url) as fl:
        go = threading.Event()

        @fl.task(cache=True)
        def embed(x: int) -> int:
            assert go.wait(WAIT)
            return x * 2

        @fl.task
        def part(x: int) -> int:
            return x + 1

        @fl.workflow
        def flow(x: int) -> int:
            return embed(x) + part(x) + part(x + 1)

        computing = threading.Thread(target=lambda: flow.run(3, run_id="computes"))
        computing.start()
        waiter = threading.Thread(target=lambda: flow.run(3, run_id="waits"))
        try:
            wait_for(lambda: fl.store.get_step("computes", "embed") is not None, "the claim")
            waiter.start()
            wait_for(
                lambda: (
                    (step := fl.store.get_step("waits", "embed")) is not None
                    and step.status is Status.RUNNING
                    and bool(step.reason)
                ),
                "the waiting step's record",
            )
            with Server(fl) as server:
                p = page.page
                p.goto(server.url + "/runs/waits")
                p.wait_for_selector(".tl-bar-item.tl-waiting")
                title = p.locator(".tl-bar-item.tl-waiting").get_attribute("title") or ""
                # (a waiter in the same process as the computation names no step until done)
                assert "RUNNING" in title and "; waiting for " in title
                page.shot("run-waiting-live")
                go.set()
                p.wait_for_selector("#run-status.s-SUCCESSFUL", timeout=30_000)
                p.wait_for_selector("#timeline[data-loaded='1']")
                waited = p.locator(".tl-bar-item.tl-waiting")
                assert waited.count() == 1
                title = waited.get_attribute("title") or ""
                assert "(cached)" in title and "waited " in title
                assert "for step 'embed' of run 'computes'" in title
                # It saved what computing took less what it waited (which was most of it).
                computed = fl.store.get_step("computes", "embed")
                mine = fl.store.get_step("waits", "embed")
                assert computed and mine and computed.end_time and mine.end_time
                expected = (computed.end_time - (computed.start_time or 0)) - (
                    mine.end_time - (mine.start_time or 0)
                )
                saved = float(waited.get_attribute("data-saved") or -1)
                assert saved == pytest.approx(max(0.0, expected), abs=1e-3)
                page.shot("run-waited")
                assert page.errors == []
        finally:
            go.set()
            computing.join(WAIT)
            if waiter.is_alive() or waiter.ident is not None:
                waiter.join(WAIT)


def test_a_parent_shows_the_span_its_children_ran(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:

        @fl.task
        def child(x: int) -> int:
            time.sleep(0.05)
            return x

        @fl.task
        def parent(x: int) -> int:
            time.sleep(0.1)
            return child(x) + child(x + 1)

        @fl.workflow
        def nest(x: int) -> int:
            return parent(x)

        nest.run(1, run_id="nested")
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/runs/nested")
            p.wait_for_selector("#timeline[data-loaded='1']")
            bar = p.locator(".tl-bar-item", has=p.locator(".tl-children"))
            assert bar.count() == 1
            assert "its 2 children ran" in (bar.get_attribute("title") or "")
            outer: Any = bar.bounding_box()
            inner: Any = bar.locator(".tl-children").bounding_box()
            assert 0 < inner["width"] < outer["width"] and inner["x"] > outer["x"]
            assert page.errors == []


def test_a_100000_step_run_draws_and_jumps_to_a_step(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:

        @fl.task
        def step(x: int) -> int:
            return x

        @fl.workflow
        def big(n: int) -> int:
            return sum(step(i) for i in range(n))

        big.run(100_000, run_id="big")
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/runs/big#step=step_61234")
            p.wait_for_selector("#timeline[data-loaded='1']")
            assert p.locator("#tl-info").inner_text().startswith("100000 steps")
            assert int(p.locator("#timeline").get_attribute("data-drawn") or 0) < 100
            found = p.locator(".tl-row.tl-found .tl-label")
            assert found.inner_text() == "step_61234" and found.is_visible()
            p.locator(".tl-find").fill("step_99999")
            p.locator(".tl-find").press("Enter")
            p.wait_for_function("() => location.hash === '#step=step_99999'")
            assert p.locator(".tl-row.tl-found .tl-label").inner_text() == "step_99999"
            p.locator(".tl-find").fill("no-such-step")
            p.locator(".tl-find").press("Enter")
            p.wait_for_selector(".tl-find.missing")
            p.evaluate("() => { const s = document.querySelector('.tl-scroll');"
                       " s.scrollTop = s.scrollHeight / 2; }")  # fmt: skip
            p.wait_for_function("() => [...document.querySelectorAll('.tl-label')]"
                                ".some((label) => label.textContent === 'step_50000')")  # fmt: skip
            page.shot("run-100k")
            assert page.errors == []
