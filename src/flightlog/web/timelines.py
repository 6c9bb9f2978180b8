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
status and end (never a resource collection's, which grows while it looks finished).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..client import Flightlog
from ..model import StepOutline
from ..resources.view import PREFIX

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
    packed["runs"] = []
    for key in ("status_of", "origin_of", "failed", "parents", "task"):
        runs = _runs(columns[key])
        if len(runs) < len(columns[key]):  # (tasks that take turns do not shrink)
            packed[key] = runs
            packed["runs"].append(key)
        else:
            packed[key] = columns[key]
    packed["packed"] = 1
    return packed


def packed_text(
    fl: Flightlog, run_id: str, first: int = 0, outline: StepOutline | None = None
) -> str:
    """The run's timeline from step ``first`` on, packed, as JSON text."""
    columns = fl.browse.timeline(run_id, first, outline)
    return json.dumps(pack(columns), separators=(",", ":"), ensure_ascii=False)


class Timelines:
    """The packed timelines (and outlines) of the last few finished runs shown, with their
    gzip encoding (made once: a 100,000-step run's is about 2 MB of text)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._found: OrderedDict[tuple[str, str, Any], list[Any]] = OrderedDict()

    def _key(self, run: dict[str, Any]) -> tuple[str, str, Any] | None:
        end = run["stats"].get("end_time")
        if run["status"] not in FINISHED or end is None or run["run_id"].startswith(PREFIX):
            return None  # (a resource collection shown as a run grows while "finished")
        return (run["run_id"], run["status"], end)

    def _entry(self, fl: Flightlog, run: dict[str, Any], key: Any) -> list[Any]:
        """``[outline, text or None, gzipped or None]``, kept when ``key`` is not None."""
        if key is not None:
            with self._lock:
                found = self._found.get(key)
                if found is not None:
                    self._found.move_to_end(key)
                    return found
        entry = [fl.browse.outline(run["run_id"]), None, None]
        if key is not None:
            with self._lock:
                entry = self._found.setdefault(key, entry)
                self._found.move_to_end(key)
                while len(self._found) > self._kept:
                    self._found.popitem(last=False)
        return entry

    def outline(self, fl: Flightlog, run: dict[str, Any]) -> StepOutline:
        """The outline of ``run`` (its metadata, as ``get_metadata`` gives it)."""
        outline: StepOutline = self._entry(fl, run, self._key(run))[0]
        return outline

    def text(self, fl: Flightlog, run: dict[str, Any], first: int = 0) -> str:
        """The packed timeline of ``run`` from step ``first`` on."""
        key = None if first else self._key(run)
        entry = self._entry(fl, run, key)
        if entry[1] is None:
            entry[1] = packed_text(fl, run["run_id"], first, entry[0])
        text: str = entry[1]
        return text

    def gzipped(self, fl: Flightlog, run: dict[str, Any]) -> bytes:
        """The packed timeline of the whole run, gzip-encoded."""
        entry = self._entry(fl, run, self._key(run))
        if entry[2] is None:
            entry[2] = gzip.compress(self.text(fl, run).encode(), compresslevel=6, mtime=0)
        data: bytes = entry[2]
        return data
