"""What a list of runs can be narrowed to, checked once: the filters of the runs page (and of
any face that pages through runs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidInputError
from ..model import Status
from ..questions.times import parse_time
from ..stores.python_ordering import RUN_ORDERS

RUN_SORTS = RUN_ORDERS
"""The columns a list of runs can be sorted by (``created``: its first start, the default):
the orders a store gives runs in (``Store.order_runs``)."""


def parse_when(text: str, what: str, now: float | None = None) -> float:
    """An instant as epoch seconds, read as every time filter is (see
    :func:`flightlog.questions.parse_time`): an ISO date or time, epoch seconds, or an age."""
    moment = parse_time(text, what, now=now)
    if moment is None:
        raise InvalidInputError(f"{what} must be a time, not None")
    return moment


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
