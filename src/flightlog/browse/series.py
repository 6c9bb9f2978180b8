"""Metric series ready to plot: numbers only, and, for a plot ``points`` wide, thinned to what
a line of that many pixel columns can show.

Thinning keeps, in each of ``points // 2`` buckets of consecutive points, the lowest and the
highest value (in the order recorded), plus the first and the last point of the series: a
line drawn through them has the same envelope as the full series, so a one-point spike
stays visible however long the series. A series with gaps (values that are not numbers) keeps,
in each bucket that has one, its first gap too (in ``points // 3`` buckets then), so the line
breaks there as it would over the full series instead of bridging it. A series of at most
``points`` points is sent whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..tracked_query import TrackedQueries

# The smallest budget a caller may ask for (a plot narrower than this is drawn whole).
MIN_POINTS = 16


def numbers(values: Sequence[Any]) -> list[float | None]:
    """Values as plottable floats: anything that is not a finite number becomes None."""
    found: list[float | None] = []
    append = found.append
    for value in values:
        kind = type(value)
        if kind is float:
            append(value if math.isfinite(value) else None)
        elif kind is int:
            append(float(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
            append(number if math.isfinite(number) else None)
        else:
            append(None)
    return found


def thin(
    steps: Sequence[int], values: list[float | None], points: int
) -> tuple[list[int], list[float | None]]:
    """At most about ``points`` points with the envelope of the series (see the module)."""
    count = len(values)
    if count <= points:
        return list(steps), values
    gaps = None in values
    buckets = max(1, points // (3 if gaps else 2))
    kept: list[int] = [0]
    for bucket in range(buckets):
        low_index = high_index = gap_index = -1
        low = high = 0.0
        for index in range(bucket * count // buckets, (bucket + 1) * count // buckets):
            value = values[index]
            if value is None:
                if gap_index < 0:
                    gap_index = index
                    kept.append(index)
                continue
            if low_index < 0 or value < low:
                low_index, low = index, value
            if high_index < 0 or value > high:
                high_index, high = index, value
        if low_index >= 0:
            kept.extend(sorted({low_index, high_index}))
    kept.append(count - 1)
    chosen = sorted(set(kept))
    return [steps[index] for index in chosen], [values[index] for index in chosen]


def metric_series(
    tracked: TrackedQueries, run_id: str, name: str | None = None, points: int | None = None
) -> dict[str, dict[str, Any]]:
    """``{metric: {"steps", "values", "total", "thinned"}}`` for the run's metrics (or the one
    named): ``values`` numbers or None, ``total`` the series' length before thinning to about
    ``points`` points (None: the whole series)."""
    found: dict[str, dict[str, Any]] = {}
    budget = None if points is None else max(MIN_POINTS, points)
    for metric, (steps, raw, _tasks, _times) in sorted(tracked.columns(run_id, name).items()):
        values = numbers(raw)
        total = len(values)
        if budget is not None:
            kept_steps, values = thin(steps, values, budget)
        else:
            kept_steps = list(steps)
        found[metric] = {
            "steps": kept_steps,
            "values": values,
            "total": total,
            "thinned": len(values) < total,
        }
    return found
