"""The web application: routes, errors as pages (or JSON under ``/api``), static files."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from ..client import Flightlog
from ..errors import (
    ConfigurationError,
    ConflictError,
    FlightlogError,
    InvalidInputError,
    NotFoundError,
)
from ..query import NoOutputError
from . import actions, analysis, api, pages
from .assets import Assets
from .context import Context, context_of
from .render import Pages
from .security import Guard, csrf_token

_STATUS = ((NotFoundError, 404), (ConflictError, 409), (InvalidInputError, 400),
           (NoOutputError, 409), (ConfigurationError, 403))  # fmt: skip


def _error(request: Request, error: Exception) -> Response:
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), 500)
    message = str(error) if isinstance(error, FlightlogError) else "an unexpected error"
    if isinstance(error, HTTPException):
        status, message = error.status_code, str(error.detail)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return context_of(request).pages.render(
        request, "error.html", code=status, status=status, message=message, title=f"Error {status}"
    )


def create_app(fl: Flightlog, *, token: str | None = None) -> Starlette:
    """The UI over ``fl``'s store; with a ``token``, every request must present it and the
    actions (cancel, resume, delete) open."""
    assets = Assets()
    routes = [
        Route("/", pages.runs),
        Route("/runs/{run_id}/steps/{name:path}", pages.step),
        Route("/runs/{run_id}/attachments/{name:path}", api.attachment),
        Route("/runs/{run_id}/plan", pages.plan),
        Route("/runs/{run_id}/cancel", actions.cancel, methods=["POST"]),
        Route("/runs/{run_id}/resume", actions.resume, methods=["POST"]),
        Route("/runs/{run_id}/delete", actions.delete, methods=["POST"]),
        Route("/runs/{run_id}", pages.run),
        Route("/metrics", analysis.metrics),
        Route("/compare", analysis.compare),
        Route("/resources", analysis.resources),
        Route("/resources/{collection}/{ident:path}", analysis.resource),
        Route("/resources/{collection}", analysis.collection),
        Route("/api/runs", api.runs),
        Route("/api/runs/{run_id}/timeline", api.timeline),
        Route("/api/runs/{run_id}/steps/{name:path}/live", api.step_live),
        Route("/api/metrics", api.metrics),
        Route("/api/status", api.statuses),
        Mount("/static", assets, name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(Guard, token=token),
            Middleware(GZipMiddleware, minimum_size=2048, compresslevel=1),
        ],
        exception_handlers={Exception: _error, HTTPException: _error},
    )
    pages_ = Pages(actions=token is not None, csrf=None if token is None else csrf_token(token))
    pages_.environment.globals["assets"] = assets.version
    app.state.context = Context(fl=fl, pages=pages_, token=token)
    return app
