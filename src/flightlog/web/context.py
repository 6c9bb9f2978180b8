"""What every request handler reaches: the Flightlog, the templates and the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from ..client import Flightlog
from .render import Pages
from .timelines import Timelines


@dataclass
class Context:
    fl: Flightlog
    pages: Pages
    token: str | None
    poll_seconds: float = 1.0
    timelines: Timelines = field(default_factory=Timelines)

    @property
    def actions(self) -> bool:
        """Actions (cancel, resume, delete) are open only on a server guarded by a token."""
        return self.token is not None


def context_of(request: Request) -> Context:
    found: Context = request.app.state.context
    return found
