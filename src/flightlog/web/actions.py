"""Actions on a run (cancel, resume, delete): open only on a server guarded by a token (the
guard has checked it), each a POST carrying the CSRF token and, when the browser names one,
an Origin of this very server. Resume runs the workflow in this process, in the background:
the run's page follows it live."""

from __future__ import annotations

import hmac
import logging
import threading
from urllib.parse import urlsplit

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
    context_of(request).fl.cancel(run_id)
    return _to_run(run_id)


async def resume(request: Request) -> Response:
    run_id = await _checked(request)
    fl = context_of(request).fl
    fl.get_metadata(run_id)  # an unknown run: 404 now, not in the background

    def work() -> None:
        try:
            fl.resume(run_id)
        except (FlightlogError, Exception) as error:  # the run records its own failure
            LOGGER.warning(
                "resume of run %r ended with %s: %s", run_id, type(error).__name__, error
            )

    threading.Thread(target=work, name=f"flightlog-resume-{run_id}", daemon=True).start()
    return _to_run(run_id)


async def delete(request: Request) -> Response:
    run_id = await _checked(request)
    fl = context_of(request).fl
    remove = getattr(fl, "delete_run", None)
    if remove is None:
        raise ConfigurationError("this flightlog cannot delete runs")
    remove(run_id)
    return RedirectResponse("/", status_code=303)
