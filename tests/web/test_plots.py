"""Metric plots in a real browser: a long series arrives thinned to its envelope (a one-point
spike still drawn), and smoothing fetches the whole series."""

from __future__ import annotations

from typing import Any

import pytest

import flightlog

from .conftest import Page, Server

pytestmark = pytest.mark.timeout(120)

POINTS = 30_000


def test_a_long_series_is_plotted_from_its_envelope_with_its_spike(
    store_url: str, page: Page
) -> None:
    with flightlog.open(store_url) as fl:

        @fl.workflow
        def train() -> None:
            for index in range(POINTS):
                flightlog.track(
                    loss=500.0 if index == 23_456 else 1.0 + (index % 10) / 10, step=index
                )

        train.run(run_id="long")
        with Server(fl) as server:
            p = page.page
            asked: list[Any] = []
            p.on(
                "response",
                lambda response: "/api/metrics" in response.url and asked.append(response),
            )
            p.goto(server.url + "/metrics?run=long")
            p.wait_for_selector("#plots[data-drawn]")
            canvas = p.locator("#plots canvas")
            assert float(canvas.get_attribute("data-high") or 0) == 500.0
            assert float(canvas.get_attribute("data-low") or 0) == 1.0
            assert "points=" in asked[0].url
            sent = asked[0].json()["long"]["loss"]
            assert sent["total"] == POINTS and len(sent["steps"]) < POINTS / 5
            assert "30,000 points" in p.locator(".plot-note").inner_text()
            page.shot("metric-envelope")
            p.locator("#metric-smooth").fill("0.5")
            p.wait_for_function(
                "() => !document.querySelector('.plot-note').textContent.includes('envelope')"
            )
            assert "points=" not in asked[-1].url
            assert float(canvas.get_attribute("data-high") or 0) < 500.0  # smoothed
            assert page.errors == []
