"""Pages from templates: autoescaped Jinja2 (every text a run recorded shows as text), and the
small formatting helpers the templates use."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .._version import __version__


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.2f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def duration(stats: dict[str, Any]) -> str:
    found = stats.get("duration")
    if found is None and stats.get("start_time") is not None:
        return seconds(time.time() - stats["start_time"]) + " so far"
    return seconds(found)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=repr, sort_keys=True)


def size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def path(value: str) -> str:
    """A name as one URL path segment."""
    return quote(value, safe="")


class Pages:
    """The template environment, with what every page needs (the version, whether actions
    are open, the CSRF token)."""

    def __init__(self, *, actions: bool, csrf: str | None) -> None:
        self.environment = jinja2.Environment(
            loader=jinja2.PackageLoader("flightlog.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.environment.filters.update(
            when=when, seconds=seconds, duration=duration, pretty=pretty, size=size, path=path
        )
        self.environment.globals.update(
            version=__version__, actions=actions, csrf=csrf, urlencode=urlencode
        )

    def render(
        self, request: Request, template: str, *, code: int = 200, **context: Any
    ) -> HTMLResponse:
        html = self.environment.get_template(template).render(request=request, **context)
        return HTMLResponse(html, status_code=code)
