"""A run's timeline as the page's script receives it: the columns of
:func:`flightlog.browse.timeline`, packed small, and kept for finished runs.

Packing (the script's ``unpack`` reverses it), for a 100,000-step run about a third of the
plain columns' size and quicker to parse:

- ``names`` front-coded: ``name_shared[i]`` characters of the previous name, then
  ``name_tail[i]`` (``step_12345`` after ``step_12344`` is ``9, "5"``);
- ``start`` as differences from the previous known start, ``stop`` as the difference from
  the step's own start (from 0 when that is unknown); unknown times stay null;
- ``status_of``, ``origin_of``, ``failed``, ``parents`` and ``task`` run-length encoded as flat
  ``[value, count, value, count, ...]`` lists (parents are -1 for most steps, one status
  for most).

The packed text of a finished run (SUCCESSFUL, FAILED, CANCELED) does not change until the
run is resumed, which changes its status: the last few are kept, keyed by the run's id,
status and end.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..client import Flightlog
from ..model import StepOutline

PACKED = ("names", "start", "stop", "status_of", "origin_of", "failed", "parents", "task")
FINISHED = ("SUCCESSFUL", "FAILED", "CANCELED")
KEPT = 4


def _front_coded(names: Sequence[str]) -> tuple[list[int], list[str]]:
    shared: list[int] = []
    tails: list[str] = []
    previous = ""
    last = 0  # neighbours in a run of repeats mostly share as much as the pair before
    for name in names:
        size = len(name) if len(name) < len(previous) else len(previous)
        same = last if last <= size else size
        if name[:same] == previous[:same]:
            while same < size and name[same] == previous[same]:
                same += 1
        else:
            while name[:same] != previous[:same]:
                same -= 1
        shared.append(same)
        tails.append(name[same:])
        previous, last = name, same
    return shared, tails


def _runs(values: Sequence[int]) -> list[int]:
    packed: list[int] = []
    iterator = iter(values)
    current = next(iterator, None)
    if current is None:
        return packed
    count = 1
    for value in iterator:
        if value == current:
            count += 1
        else:
            packed += (current, count)
            current, count = value, 1
    packed += (current, count)
    return packed


def _starts(starts: Sequence[int | None]) -> list[int | None]:
    found: list[int | None] = []
    last = 0
    for value in starts:
        if value is None:
            found.append(None)
        else:
            found.append(value - last)
            last = value
    return found


def _stops(starts: Sequence[int | None], stops: Sequence[int | None]) -> list[int | None]:
    return [
        None if stop is None else stop - (start or 0)
        for start, stop in zip(starts, stops, strict=True)
    ]


def pack(columns: dict[str, Any]) -> dict[str, Any]:
    """The columns of :func:`flightlog.browse.timeline`, packed (see the module)."""
    packed = {key: value for key, value in columns.items() if key not in PACKED}
    packed["name_shared"], packed["name_tail"] = _front_coded(columns["names"])
    packed["start"] = _starts(columns["start"])
    packed["stop"] = _stops(columns["start"], columns["stop"])
    for key in ("status_of", "origin_of", "failed", "parents", "task"):
        packed[key] = _runs(columns[key])
    packed["packed"] = 1
    return packed


def packed_text(
    fl: Flightlog, run_id: str, first: int = 0, outline: StepOutline | None = None
) -> str:
    """The run's timeline from step ``first`` on, packed, as JSON text."""
    columns = fl.browse.timeline(run_id, first, outline)
    return json.dumps(pack(columns), separators=(",", ":"), ensure_ascii=False)


class Timelines:
    """The packed timelines (and outlines) of the last few finished runs shown."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._found: OrderedDict[tuple[str, str, Any], tuple[StepOutline, str | None]] = (
            OrderedDict()
        )

    def _key(self, run: dict[str, Any]) -> tuple[str, str, Any] | None:
        if run["status"] not in FINISHED:
            return None
        return (run["run_id"], run["status"], run["stats"].get("end_time"))

    def _get(self, key: tuple[str, str, Any] | None) -> tuple[StepOutline, str | None] | None:
        if key is None:
            return None
        with self._lock:
            found = self._found.get(key)
            if found is not None:
                self._found.move_to_end(key)
            return found

    def _put(
        self, key: tuple[str, str, Any] | None, outline: StepOutline, text: str | None
    ) -> None:
        if key is None:
            return
        with self._lock:
            self._found[key] = (outline, text)
            self._found.move_to_end(key)
            while len(self._found) > self._kept:
                self._found.popitem(last=False)

    def outline(self, fl: Flightlog, run: dict[str, Any]) -> StepOutline:
        """The outline of ``run`` (its metadata, as ``get_metadata`` gives it)."""
        key = self._key(run)
        found = self._get(key)
        if found is not None:
            return found[0]
        outline = fl.browse.outline(run["run_id"])
        self._put(key, outline, None)
        return outline

    def text(self, fl: Flightlog, run: dict[str, Any], first: int = 0) -> str:
        """The packed timeline of ``run`` from step ``first`` on."""
        key = None if first else self._key(run)
        found = self._get(key)
        if found is not None and found[1] is not None:
            return found[1]
        outline = found[0] if found is not None else fl.browse.outline(run["run_id"])
        text = packed_text(fl, run["run_id"], first, outline)
        self._put(key, outline, text)
        return text
