"""The UI's actions in a real browser, on a server guarded by a token: cancel a running run,
resume a failed run after a fix (in the background: the server keeps answering and the page
shows the run running), delete a finished run (refused for a running one); each refused
without the token or with a bad CSRF token."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import flightlog
from flightlog.web.security import csrf_token

from .conftest import Page, Server

pytestmark = pytest.mark.timeout(120)
TOKEN = "actions-token-42"


class Gate:
    """A step held until the test opens it."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def hold(self) -> None:
        self.started.set()
        for _ in range(1200):
            if self.release.wait(0.05):
                return
        raise TimeoutError("the test never opened the gate")


@pytest.fixture
def fl(store_url: str) -> Iterator[flightlog.Flightlog]:
    with flightlog.open(store_url) as found:
        yield found


def in_background(work: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except Exception:  # the run records its own outcome; the test reads it from there
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def open_with_token(page: Page, server: Server, path: str) -> Any:
    p = page.page
    p.goto(f"{server.url}{path}?token={TOKEN}")  # the server keeps it as a cookie
    return p


def post(p: Any, server: Server, path: str, csrf: str) -> Any:
    """A form POST from the page's browser context (its cookie, this server's origin)."""
    return p.request.post(
        server.url + path, form={"csrf": csrf}, headers={"Origin": server.url}, max_redirects=0
    )


def test_cancel_a_running_run(fl: flightlog.Flightlog, page: Page) -> None:
    gate = Gate()

    @fl.task
    def wait() -> int:
        gate.hold()
        return 1

    @fl.workflow
    def held() -> int:
        return wait()

    worker = in_background(lambda: held.run(run_id="to-cancel"))
    try:
        assert gate.started.wait(30)
        with Server(fl, token=TOKEN) as server:
            p = open_with_token(page, server, "/runs/to-cancel")
            assert p.locator("#run-status").inner_text() == "RUNNING"
            p.click("form[action$='/cancel'] button")
            p.wait_for_selector("#run-status.s-CANCELED", timeout=30_000)
            assert p.locator("form[action$='/resume']").count() == 1  # it may resume now
            gate.release.set()  # a plain step in flight runs to its end; no new one starts
            worker.join(30)
            assert not worker.is_alive()
            assert fl.get_status("to-cancel") == "CANCELED"
            page.shot("action-canceled")
            assert page.errors == []
    finally:
        gate.release.set()
        worker.join(30)


def test_resume_a_failed_run_after_a_fix(fl: flightlog.Flightlog, page: Page) -> None:
    state = {"broken": True}
    gate = Gate()

    @fl.task
    def load() -> int:
        return 2

    @fl.task
    def square(x: int) -> int:
        if state["broken"]:
            raise ValueError("not fixed yet")
        gate.hold()
        return x * x

    @fl.workflow
    def flow() -> int:
        return square(load())

    with pytest.raises(ValueError):
        flow.run(run_id="to-resume")
    state["broken"] = False  # the fix
    with Server(fl, token=TOKEN) as server:
        p = open_with_token(page, server, "/runs/to-resume")
        assert p.locator("#run-status").inner_text() == "FAILED"
        p.click("form[action$='/resume'] button")
        # Back on the run's page at once, the run shown running while its step waits.
        p.wait_for_selector("#run-status.s-RUNNING", timeout=10_000)
        assert gate.started.wait(30)
        other = page.context.new_page()  # the server is not blocked by the resume
        other.goto(server.url + "/")
        assert other.locator("text=to-resume").count() >= 1
        other.close()
        gate.release.set()
        p.wait_for_selector("#run-status.s-SUCCESSFUL", timeout=30_000)
        assert fl.get_output("to-resume") == 4
        assert [step["origin"] for step in fl.steps("to-resume")] == ["replayed", "executed"]
        page.shot("action-resumed")
        assert page.errors == []


def test_delete_a_finished_run_but_not_a_running_one(fl: flightlog.Flightlog, page: Page) -> None:
    gate = Gate()

    @fl.task
    def wait() -> int:
        gate.hold()
        return 1

    @fl.workflow
    def flow(hold: bool) -> int:
        return wait() if hold else 0

    flow.run(False, run_id="finished")
    worker = in_background(lambda: flow.run(True, run_id="running"))
    try:
        assert gate.started.wait(30)
        with Server(fl, token=TOKEN) as server:
            p = open_with_token(page, server, "/runs/running")
            assert p.locator("form[action$='/delete']").count() == 0  # no button for it
            refused = post(p, server, "/runs/running/delete", csrf_token(TOKEN))
            assert refused.status == 409
            assert "running" in refused.text() and "RUNNING" in refused.text()
            assert fl.get_status("running") == "RUNNING"
            p.goto(server.url + "/runs/finished")
            p.once("dialog", lambda dialog: dialog.accept())  # "Delete run finished …?"
            p.click("form[action$='/delete'] button")
            p.wait_for_url(server.url + "/")
            assert p.locator("a", has_text="finished").count() == 0
            with pytest.raises(flightlog.NotFoundError):
                fl.get_metadata("finished")
            assert page.errors == []
    finally:
        gate.release.set()
        worker.join(30)


def test_each_action_is_refused_without_token_or_with_a_bad_csrf_token(
    fl: flightlog.Flightlog, page: Page
) -> None:
    @fl.workflow
    def flow() -> int:
        raise ValueError("failed on purpose")

    with pytest.raises(ValueError):
        flow.run(run_id="target")
    with Server(fl) as server:  # no token: read-only, no forms, every action refused
        p = page.page
        p.goto(server.url + "/runs/target")
        assert p.locator(".actions form").count() == 0
        for action in ("cancel", "resume", "delete"):
            answer = post(p, server, f"/runs/target/{action}", csrf_token(TOKEN))
            assert answer.status == 403, action
    with Server(fl, token=TOKEN) as server:
        p = open_with_token(page, server, "/runs/target")
        assert p.locator(".actions form").count() == 2  # resume and delete for a failed run
        for action in ("cancel", "resume", "delete"):
            answer = post(p, server, f"/runs/target/{action}", "0" * 64)
            assert answer.status == 400, action
            assert "CSRF" in answer.text()
        anonymous = page.context.browser.new_context()  # the right CSRF value, no token
        try:
            answer = anonymous.request.post(
                server.url + "/runs/target/delete", form={"csrf": csrf_token(TOKEN)},
                max_redirects=0,
            )  # fmt: skip
            assert answer.status == 401
        finally:
            anonymous.close()
    assert fl.get_status("target") == "FAILED"  # nothing was done


def test_a_resume_that_cannot_start_says_why(store_url: str, page: Page) -> None:
    with flightlog.open(store_url) as recorder:

        @recorder.workflow
        def hidden() -> int:  # defined here only: the UI's process cannot import it
            raise ValueError("failed on purpose")

        with pytest.raises(ValueError):
            hidden.run(run_id="orphan")
    with flightlog.open(store_url) as fl, Server(fl, token=TOKEN) as server:
        p = open_with_token(page, server, "/runs/orphan")
        p.click("form[action$='/resume'] button")
        message = p.locator(".error-message").inner_text()
        assert "cannot resume run 'orphan'" in message and "not defined" in message, message
        assert fl.get_status("orphan") == "FAILED"
