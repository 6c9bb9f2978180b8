"""Metric series for plots: numbers only, thinned to their envelope for a plot's width."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import flightlog
from flightlog.browse import thin


def test_thinning_keeps_a_one_point_spike_and_the_ends() -> None:
    values: list[float | None] = [1.0 + (index % 7) / 100 for index in range(100_000)]
    values[61_234] = 50.0
    values[12_345] = -3.0
    steps, kept = thin(range(100_000), values, 1_000)
    assert len(kept) <= 1_002
    assert max(value for value in kept if value is not None) == 50.0
    assert min(value for value in kept if value is not None) == -3.0
    assert steps[kept.index(50.0)] == 61_234 and steps[kept.index(-3.0)] == 12_345
    assert steps[0] == 0 and steps[-1] == 99_999
    assert steps == sorted(steps)


def test_thinning_keeps_a_gap_so_the_line_breaks_there() -> None:
    values: list[float | None] = [1.0] * 100_000
    values[50_000] = None  # one NaN: the plot of the whole series breaks there
    steps, kept = thin(range(100_000), values, 1_000)
    assert len(kept) <= 1_002
    assert kept.count(None) == 1 and steps[kept.index(None)] == 50_000
    assert steps == sorted(steps)
    before = thin(range(100_000), [1.0] * 100_000, 1_000)
    assert None not in before[1] and len(before[1]) <= 1_002


def test_a_short_series_is_sent_whole() -> None:
    assert thin([1, 2, 3], [1.0, None, 2.0], 16) == ([1, 2, 3], [1.0, None, 2.0])


@given(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=1, max_size=400),
    st.integers(2, 64),
)
def test_thinning_keeps_every_bucket_envelope(values: list[float | None], points: int) -> None:
    steps, kept = thin(list(range(len(values))), values, points)
    assert len(kept) <= max(len(values), points + 2)
    present = [value for value in values if value is not None]
    shown = [value for value in kept if value is not None]
    if present:
        assert max(shown) == max(present) and min(shown) == min(present)
    assert all(values[step] == value or (value is None and values[step] is None)
               for step, value in zip(steps, kept, strict=True))  # fmt: skip


def test_metric_series_thins_only_when_asked(tmp_path: Path) -> None:
    with flightlog.open(f"sqlite:///{tmp_path}/m.db") as fl:

        @fl.workflow
        def train() -> None:
            for index in range(5_000):
                flightlog.track(loss=float("nan") if index == 7 else 1.0 / (index + 1), step=index)
            flightlog.track(note="text", step=0)

        train.run(run_id="r")
        whole = fl.browse.metric_series("r", "loss")
        assert whole["loss"]["total"] == 5_000 and len(whole["loss"]["values"]) == 5_000
        assert whole["loss"]["values"][7] is None and not whole["loss"]["thinned"]
        thinned = fl.browse.metric_series("r", None, 200)
        assert thinned["loss"]["thinned"] and len(thinned["loss"]["values"]) <= 202
        assert thinned["loss"]["values"][0] == 1.0
        assert math.isclose(thinned["loss"]["values"][-1], 1.0 / 5_000)
        assert thinned["note"]["values"] == [None]
