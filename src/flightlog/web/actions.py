"""Actions on a run (cancel, resume, delete): open only on a server guarded by a token (the
guard has checked it), each a POST carrying the CSRF token and, when the browser names one,
an Origin of this very server. Resume runs the workflow in this process, in the background:
the answer waits (a few seconds at most) until the run is recorded running again, so that
the run's page it leads to follows it live. Cancel and delete run off the event loop."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import ConfigurationError, FlightlogError, InvalidInputError
from .context import context_of
from .render import path
from .security import csrf_token

LOGGER = logging.getLogger("flightlog.web")


async def _checked(request: Request) -> str:
    context = context_of(request)
    if context.token is None:
        raise ConfigurationError(
            "actions need a server started with a token (flightlog ui --token ...)"
        )
    form = await request.form()
    given = str(form.get("csrf") or "")
    if not hmac.compare_digest(given.encode(), csrf_token(context.token).encode()):
        raise InvalidInputError("the form's CSRF token is missing or wrong: reload the page")
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise InvalidInputError(f"a form from another site ({origin}) may not act here")
    run_id: str = request.path_params["run_id"]
    return run_id


def _to_run(run_id: str) -> Response:
    return RedirectResponse(f"/runs/{path(run_id)}", status_code=303)


async def cancel(request: Request) -> Response:
    run_id = await _checked(request)
    await run_in_threadpool(context_of(request).fl.cancel, run_id)
    return _to_run(run_id)


async def resume(request: Request) -> Response:
    run_id = await _checked(request)
    fl = context_of(request).fl

    failed: list[BaseException] = []

    def work() -> None:
        try:
            fl.resume(run_id)
        except (FlightlogError, Exception) as error:  # the run records its own failure
            failed.append(error)
            LOGGER.warning(
                "resume of run %r ended with %s: %s", run_id, type(error).__name__, error
            )

    resumes = fl.get_metadata(run_id)["resumes"]  # an unknown run: 404 now
    worker = threading.Thread(target=work, name=f"flightlog-resume-{run_id}", daemon=True)
    worker.start()
    restarted = await run_in_threadpool(_restarted, fl, run_id, resumes, worker)
    if failed and not restarted and isinstance(failed[0], FlightlogError):
        raise failed[0]  # it could not start (a conflict, a workflow it cannot import): say so
    return _to_run(run_id)


RESTART_WAIT = 5.0
"""Seconds the resume action waits for the run to be recorded running again."""


def _restarted(fl: Any, run_id: str, resumes: int, worker: threading.Thread) -> bool:
    """Whether the resume recorded a new attempt of the run, waiting until it did, or ended,
    or RESTART_WAIT passed."""
    deadline = time.monotonic() + RESTART_WAIT
    while True:
        alive = worker.is_alive()  # before the read: a resume that ended is seen whole
        if fl.get_metadata(run_id)["resumes"] > resumes:
            return True
        if not alive or time.monotonic() >= deadline:
            return False
        worker.join(0.02)


async def delete(request: Request) -> Response:
    run_id = await _checked(request)
    fl = context_of(request).fl
    remove = getattr(fl, "delete_run", None)
    if remove is None:
        raise ConfigurationError("this flightlog cannot delete runs")
    await run_in_threadpool(remove, run_id)
    return RedirectResponse("/", status_code=303)
