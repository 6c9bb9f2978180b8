"""What a list of runs can be narrowed to, checked once: the filters of the runs page (and of
any face that pages through runs)."""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass, field

from ..errors import InvalidInputError
from ..model import Status
from ..stores.python_ordering import RUN_ORDERS

RUN_SORTS = RUN_ORDERS
"""The columns a list of runs can be sorted by (``created``: its first start, the default):
the orders a store gives runs in (``Store.order_runs``)."""

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, what: str, now: float | None = None) -> float:
    """An instant as epoch seconds, from an ISO date or date-time (local time unless it names
    its zone), or a time before now (``90s``, ``15m``, ``2h``, ``3d``, ``1w``)."""
    found = _RELATIVE.match(text)
    if found:
        return (time.time() if now is None else now) - float(found.group(1)) * _UNIT[found.group(2)]
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{what} must be an ISO date or date-time (2026-12-04, 2026-12-04T10:30) or a time "
            f"ago (2h, 3d), not {text!r}"
        ) from None
    return moment.timestamp()


@dataclass(frozen=True)
class RunFilter:
    """Runs to show: every given part must match. ``statuses`` are effective statuses (a
    RUNNING run whose process died is RESUMABLE); ``since`` and ``until`` bound its first
    start (epoch seconds); ``text`` is the store's search (``RunSelection.search``): found,
    ignoring the case of ASCII letters, in the run id, workflow, tag, error type or message,
    user metadata, or encoded arguments."""

    statuses: frozenset[Status] = field(default_factory=frozenset)
    workflow: str | None = None
    tag: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        statuses: list[str] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        since: str | None = None,
        until: str | None = None,
        text: str | None = None,
    ) -> RunFilter:
        """A filter from text as a person types it (empty parts mean no filter); a bad part
        raises InvalidInputError naming it."""
        wanted = set()
        for name in statuses or ():
            if not name:
                continue
            try:
                wanted.add(Status(name.upper()))
            except ValueError:
                known = ", ".join(status.value for status in Status)
                raise InvalidInputError(f"unknown status {name!r}; known: {known}") from None
        return cls(
            statuses=frozenset(wanted),
            workflow=workflow or None,
            tag=tag or None,
            since=parse_when(since, "since") if since else None,
            until=parse_when(until, "until") if until else None,
            text=text.strip() or None if text else None,
        )
