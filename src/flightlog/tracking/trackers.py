"""Trackers: write-only observers of what runs record (bandsaw's tracker interface).

A tracker receives, after the store has recorded it, what a run records, through the methods
of bandsaw's tracking backends plus ``track_metrics``. Each takes ``(ids, info)``: ``ids``
names the run, task, execution and session (bandsaw's ``Ids``), ``info`` is the dict that
bandsaw's info files hold (see :mod:`flightlog.tracking.infos`). When they are called:

- ``track_run`` and ``track_distribution_archive`` when a run starts (or resumes): the run's
  status is RUNNING; ``track_run`` again when it ends, with its final status and outcome;
- ``track_parameters`` when a run starts (or resumes), after ``track_run``: the workflow's
  arguments by parameter name;
- at the end of each step, in the order of bandsaw's ``TrackerExtension``: ``track_task``
  (the first time this tracker sees the task in the run), ``track_execution`` (the first time
  it sees the execution), ``track_session``, ``track_result`` and ``track_attachments``
  (every step, as bandsaw: the mapping may be empty); then ``track_metrics`` when the step
  tracked any (flightlog's own);
- ``track_metrics`` and ``track_attachments`` with run ``ids`` (no task) for what the run's
  own body tracked, when it tracked any.

A tracker written for bandsaw works unchanged: its ``track_distribution_archive`` takes one
argument (bandsaw's interface), and such a one is not called, as bandsaw's extension never
calls it; an attachment is ``bytes`` that also opens like bandsaw's (``open()``, ``size``).

Calls come from the thread that drives the run or step. A tracker that raises is reported
once, as a :class:`~flightlog.errors.TrackerWarning`, and never fails the run.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..bandsaw import Ids, anonymous_execution_id
from ..model import AttachmentRecord

__all__ = ["Attachment", "Attachments", "Ids", "Tracker", "anonymous_execution_id"]


class Attachment(bytes):
    """The bytes of one attached file, which also read like bandsaw's ``Attachment``:
    ``open()`` gives a binary stream of them and ``size`` their length."""

    def open(self) -> io.BytesIO:
        """A binary stream of the bytes (bandsaw's ``Attachment.open``)."""
        return io.BytesIO(self)

    @property
    def size(self) -> int:
        """The length in bytes."""
        return len(self)


class Attachments(Mapping[str, bytes]):
    """The files a step attached, by name; reading one loads its bytes from the store (an
    :class:`Attachment`: ``bytes`` with bandsaw's ``open()`` and ``size``).

    ``records`` holds their name, size, sha256 digest and time (``AttachmentRecord``).
    """

    def __init__(
        self, records: Sequence[AttachmentRecord], read: Callable[[str], bytes | None]
    ) -> None:
        latest: dict[str, AttachmentRecord] = {}
        for record in records:
            latest[record.name] = record
        self.records = list(latest.values())
        self._by_name = latest
        self._read = read

    def __getitem__(self, name: str) -> bytes:
        record = self._by_name[name]
        data = self._read(record.sha256)
        if data is None:
            raise KeyError(f"the bytes of attachment {name!r} ({record.sha256}) are missing")
        return Attachment(data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def info(self) -> list[dict[str, Any]]:
        """The attachments as JSON-ready dicts: name, size, sha256."""
        return [
            {"name": record.name, "size": record.size, "sha256": record.sha256}
            for record in self.records
        ]


class Tracker:
    """Base class of trackers: every method does nothing; override those you need.

    See :mod:`flightlog.tracking.trackers` for when each is called and what it receives.
    """

    def track_run(self, ids: Ids, info: dict[str, Any]) -> None:
        """A run started (status RUNNING) or ended (its final status and outcome)."""

    def track_distribution_archive(self, ids: Ids, info: dict[str, Any]) -> None:
        """The code a run runs: ``info["distribution_archive"]`` (git commit, modules).
        Overridden with bandsaw's one argument, it is not called (see the module)."""

    def track_task(self, ids: Ids, info: dict[str, Any]) -> None:
        """A task version, the first time this tracker meets it."""

    def track_execution(self, ids: Ids, info: dict[str, Any]) -> None:
        """A task applied to arguments, the first time this tracker meets it."""

    def track_session(self, ids: Ids, info: dict[str, Any]) -> None:
        """A step (bandsaw: session) was recorded."""

    def track_result(self, ids: Ids, info: dict[str, Any]) -> None:
        """A step's result (``info["result"]["value"]``) or error (``exception``,
        ``message``)."""

    def track_attachments(self, ids: Ids, attachments: Attachments) -> None:
        """The files a step attached (every step; maybe none): a mapping of name to bytes
        (bandsaw's ``Attachments``: each value also has ``open()`` and ``size``)."""

    def track_parameters(self, ids: Ids, info: dict[str, Any]) -> None:
        """The workflow's arguments, ``info["parameters"]``: ``{name: value}`` named as in
        its signature, values decoded (an ``Undecoded`` where the class is not imported)."""

    def track_metrics(self, ids: Ids, info: dict[str, Any]) -> None:
        """Metric points a step (or, with run ids, the run's own body) tracked:
        ``info["metrics"]`` is a list of ``{"name", "step", "value", "time"}``."""

    def describe(self) -> dict[str, Any]:
        """How the tracker is set up, as recorded with each run (no secrets)."""
        kind = type(self)
        return {"type": f"{kind.__module__}.{kind.__qualname__}"}

    def close(self) -> None:
        """Release what the tracker holds (called by ``Flightlog.close``)."""
