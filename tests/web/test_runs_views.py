"""The runs page in a real browser over a real SQLite store: the form's search, sort and
order, a status chip and a resource collection's workflow, each answered by the store (with
a run whose owner died, RESUMABLE, merged in)."""

from __future__ import annotations

import time

import pytest

import flightlog
from flightlog.model import Run, Status
from flightlog.resources.view import PREFIX
from flightlog.testing import make_step

from .conftest import Page, Server

pytestmark = pytest.mark.timeout(120)


def record(fl: flightlog.Flightlog) -> None:
    now = time.time() - 1_000
    # run id, workflow, arguments, steps, final status (None: its owner died while running)
    for number, (run_id, workflow, arguments, steps, status) in enumerate([
        ("a1", "train", '{"lr":"needle"}', 3, Status.SUCCESSFUL),
        ("a2", "train", '{"lr":"hay"}', 1, Status.FAILED),
        ("a3", "eval", '{"text":"Needle"}', 2, Status.SUCCESSFUL),
        ("a4", "train", '{"lr":"needles"}', 0, None),
    ]):  # fmt: skip
        fl.store.create_run(
            Run(run_id, workflow, Status.RUNNING, arguments=arguments,
                created_time=now + number, start_time=now + number,
                lease_expires=time.time() + 3600)
        )  # fmt: skip
        for position in range(steps):
            fl.store.finish_step(make_step(run_id, position))
        if status is None:
            fl.store.renew_leases([run_id], time.time() - 5)
        else:
            fl.store.finish_run(run_id, status=status, end_time=now + number + 1)

    @fl.resource("pictures")
    def compute(ident: str, args: object, ctx: object) -> str:
        return ident

    fl.fetch("pictures", "one")


def shown(page: Page) -> list[str]:
    page.page.wait_for_selector("#runs-table")
    return page.page.locator("#runs-table tbody tr td:nth-child(2)").all_inner_texts()


def test_search_sort_status_and_collection_views(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as fl:
        record(fl)
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/")
            assert shown(page) == [f"{PREFIX}pictures", "a4", "a3", "a2", "a1"]
            assert "RESUMABLE 1" in p.locator(".chips").inner_text()
            p.fill("input[name=q]", "NEEDLE")
            p.select_option("select[name=sort]", "steps")
            p.select_option("select[name=order]", "asc")
            p.click("button[type=submit]")
            p.wait_for_url("**/?*q=NEEDLE*")
            assert shown(page) == ["a4", "a3", "a1"]
            assert "SUCCESSFUL 2" in p.locator(".chips").inner_text()
            p.click(".chips a.s-RESUMABLE")
            p.wait_for_url("**status=RESUMABLE**")
            assert shown(page) == ["a4"]
            p.goto(server.url + "/?sort=workflow&order=asc")
            assert shown(page) == ["a3", f"{PREFIX}pictures", "a4", "a2", "a1"]
            p.select_option("select[name=workflow]", f"{PREFIX}pictures")
            p.click("button[type=submit]")
            p.wait_for_url("**workflow=**")
            assert shown(page) == [f"{PREFIX}pictures"]
            assert page.errors == []
