"""The steps an earlier attempt of a run recorded, as a resume reads them: only what it needs.

A resumed run must know, for every recorded step, its name and position (a step of a recorded
name takes its position again, a new name the next free one), and which steps hang below which
(a replayed step's sub-steps are not called again). That much is read at once, from the
store's light outline of the run. A step's whole record (its result, arguments, attempts) is
read only when the workflow calls a step of that name, in pages of consecutive positions,
since a re-run calls its steps in the order it recorded them: resuming a run of 100,000 steps
holds its names, and a page of records at a time, never the whole run.

Stores that cannot read a page without reading the whole run (those that answer
``steps_page`` from ``list_steps``: memory, JSON files) are read whole, once, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ..model import Step
from ..stores import OutlinedStore, Store
from ..stores.python_selection import PythonSelection

FIRST_PAGE = 64
PAGE = 1024
# Records of earlier pages not claimed yet, kept (at most this many) while a later page is
# read: a run that calls its steps from two places in turn (a step, then its sub-steps
# recorded further on) reads each page once, not once per call.
KEPT = 4 * PAGE
Fetch = Callable[[int, int], list[Step]]
"""Reads up to ``limit`` (second) steps from ``position`` (first) on, in order."""


class RecordedSteps:
    """The recorded steps not yet claimed by the resumed run, by name (a small part of a
    dict's interface: ``pop``, ``values``, ``len``, truth)."""

    def __init__(
        self,
        positions: dict[str, int],
        below: dict[str, tuple[str, str]],
        fetch: Fetch | None = None,
        steps: dict[str, Step] | None = None,
        latest: float = 0.0,
    ) -> None:
        self.positions = positions  # name -> position, of the steps not claimed yet
        # name -> (parent's name, task name), for the steps that have a parent
        self.below = below
        self._fetch = fetch
        self._whole = steps  # every record, when read at once
        self._page: dict[int, Step] = {}
        self._kept: dict[int, Step] = {}  # see KEPT
        self._size = FIRST_PAGE
        self.latest = latest  # the latest start or end time among the steps
        self.reads = 0  # pages read (or 1 for a run read whole)

    @classmethod
    def of(cls, steps: Sequence[Step]) -> RecordedSteps:
        """From records already read."""
        return cls(
            {step.name: step.position for step in steps},
            {step.name: (step.parent, step.task_name) for step in steps if step.parent},
            steps={step.name: step for step in steps},
            latest=max((step.end_time or step.start_time or 0.0 for step in steps), default=0.0),
        )

    def __len__(self) -> int:
        return len(self.positions)

    def __bool__(self) -> bool:
        return bool(self.positions)

    def __contains__(self, name: str) -> bool:
        return name in self.positions

    def pop(self, name: str, default: Step | None = None) -> Step | None:
        """The whole record of the step called ``name``, now claimed; ``default`` when there
        is none (or it was claimed before)."""
        position = self.positions.pop(name, None)
        if position is None:
            return default
        if self._whole is not None:
            return self._whole.pop(name, default)
        step = self._page.pop(position, None)
        if step is None:
            step = self._kept.pop(position, None)
        if step is None:
            step = self._read(position)
        return default if step is None or step.name != name else step

    def discard(self, name: str) -> None:
        """Claim the step called ``name`` without reading its record."""
        position = self.positions.pop(name, None)
        if position is not None:
            self._page.pop(position, None)
            self._kept.pop(position, None)
            if self._whole is not None:
                self._whole.pop(name, None)

    def _read(self, position: int) -> Step | None:
        """Read the page that starts at ``position``; a page that served few of its steps
        makes the next one smaller, one that served them all the next one larger."""
        assert self._fetch is not None
        if self._page:
            self._size = max(FIRST_PAGE, self._size // 4)
            if len(self._kept) + len(self._page) > KEPT:
                self._kept = {}
            self._kept.update(self._page)
        elif self.reads:
            self._size = min(PAGE, self._size * 2)
        found = self._fetch(position, self._size)
        self.reads += 1
        unclaimed = self.positions
        self._page = {
            step.position: step for step in found if unclaimed.get(step.name) == step.position
        }
        return next((step for step in found if step.position == position), None)

    def values(self) -> Iterator[Step]:
        """The whole records of the steps not claimed yet, in call order (read a page at a
        time; claiming some while iterating is allowed)."""
        if self._whole is not None:
            yield from list(self._whole.values())
            return
        for position in sorted(self.positions.values()):
            step = self._page.get(position) or self._kept.get(position)
            if step is None:
                self._read(position)
                step = self._page.get(position)
            if step is not None:
                yield step

    def children(self) -> dict[str, list[tuple[str, str]]]:
        """The steps not claimed yet that have a parent, as (name, task name), by parent."""
        found: dict[str, list[tuple[str, str]]] = {}
        for name, (parent, task_name) in self.below.items():
            if name in self.positions:
                found.setdefault(parent, []).append((name, task_name))
        return found


def read_recorded(store: Store, run_id: str) -> RecordedSteps:
    """The steps recorded for the run, as a resume needs them (see the module's text)."""
    if isinstance(store, PythonSelection) or not isinstance(store, OutlinedStore):
        return RecordedSteps.of(store.list_steps(run_id))
    outline = store.step_outline(run_id)
    positions = dict(zip(outline.names, outline.positions, strict=True))
    below = {
        name: (parent, task_name)
        for name, parent, task_name in zip(
            outline.names, outline.parents, outline.task_names, strict=True
        )
        if parent
    }
    latest = max(
        (
            end or start or 0.0
            for start, end in zip(outline.start_times, outline.end_times, strict=True)
        ),
        default=0.0,
    )
    del outline

    def fetch(position: int, limit: int) -> list[Step]:
        return store.steps_page(run_id, after=position - 1, limit=limit)

    return RecordedSteps(positions, below, fetch, latest=latest)
