"""A metric series with a gap (NaN) is drawn broken there, whole or thinned to its envelope,
never bridged."""

from __future__ import annotations

import math

import pytest

import flightlog

from .conftest import Page, Server

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("points", [200, 30_000])
def test_a_gap_in_a_series_breaks_its_line(store_url: str, page: Page, points: int) -> None:
    with flightlog.open(store_url) as fl:

        @fl.workflow
        def train() -> None:
            for index in range(points):
                gap = points // 3 <= index < points // 3 + 5
                flightlog.track(loss=math.nan if gap else 1.0 + (index % 10) / 10, step=index)

        train.run(run_id="gappy")
        with Server(fl) as server:
            p = page.page
            p.goto(server.url + "/metrics?run=gappy")
            p.wait_for_selector("#plots[data-drawn]")
            canvas = p.locator("#plots canvas")
            assert canvas.get_attribute("data-breaks") == "1"
            page.shot(f"metric-gap-{points}")
            assert float(canvas.get_attribute("data-high") or 0) == 1.9
            assert page.errors == []
