"""The parts of the pages that #14 names, in a real browser: a resumed run's history of
attempts and its plan, a step's explain answer, compare's step-by-step diff, and the
resources pages (counts, identifiers by status, a resource's error and log)."""

from __future__ import annotations

from typing import Any

import pytest

import flightlog

from .conftest import Page, Server

pytestmark = pytest.mark.timeout(120)


def record(fl: flightlog.Flightlog) -> None:
    state = {"broken": True}

    @fl.task
    def load(n: int) -> int:
        return n

    @fl.task
    def scale(x: int) -> int:
        if state["broken"]:
            raise ValueError("broken <scale>")
        return 2 * x

    @fl.workflow
    def flow(n: int) -> int:
        return scale(load(n))

    with pytest.raises(ValueError):
        flow.run(1, run_id="twice")
    state["broken"] = False
    flow.run(2, run_id="other")
    assert fl.resume("twice") == 2

    @fl.resource("tiles")
    def tile(ident: str, args: object, ctx: Any) -> str:
        ctx.logger.info("drawing %s", ident)
        if ident == "bad":
            raise RuntimeError("cannot draw <bad>")
        return ident

    fl.fetch_many("tiles", ["a", "b", "bad"], progress=False)


def test_attempts_plan_explain_step_diff_and_resources(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        record(fl)
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/runs/twice")
            p.wait_for_selector("#timeline[data-loaded='1']")
            attempts = p.locator("h2:has-text('Attempts') + table tbody tr")
            assert attempts.count() == 2
            assert "FAILED" in attempts.nth(0).inner_text()
            assert "SUCCESSFUL" in attempts.nth(1).inner_text()
            assert "resumed 1\u00d7" in p.locator(".facts").inner_text()
            arguments = p.locator("h2:has-text('Arguments') + pre").inner_text()
            assert '"n": 1' in arguments and "args" not in arguments  # by parameter name
            p.click("text=plan: what a resume would do")
            rows = p.locator("table.grid tbody tr")
            assert rows.count() == 2
            assert "replay" in rows.nth(0).inner_text() and "load" in rows.nth(0).inner_text()
            page.shot("plan")
            p.goto(server.url + "/runs/twice/steps/load")
            assert "Why it ran" in p.locator("body").inner_text()
            p.goto(server.url + "/compare?run=twice&run=other")
            diff = p.locator("h2:has-text('Step by step') + table tbody tr")
            assert diff.count() == 2
            assert "arguments" in diff.nth(0).inner_text()  # load(1) against load(2)
            named = p.locator("table.compare tr", has_text="arguments").first.inner_text()
            assert named.split() == ["arguments", "n", "1", "2"]
            page.shot("compare-steps")
            p.goto(server.url + "/resources")
            row = p.locator("table.grid tbody tr", has_text="tiles")
            assert row.locator("td").nth(1).inner_text() == "3"  # total
            p.click("a[href='/resources/tiles?status=error']")
            assert p.locator("ul.idents li").all_inner_texts() == ["bad"]
            p.click("ul.idents a")
            assert "RuntimeError: cannot draw <bad>" in p.locator("pre.trace").inner_text()
            assert "drawing bad" in p.locator("pre.log").inner_text()
            page.shot("resource-error")
            p.goto(server.url + "/resources/tiles?status=completed")
            assert p.locator("ul.idents li").all_inner_texts() == ["a", "b"]
            assert page.errors == []
