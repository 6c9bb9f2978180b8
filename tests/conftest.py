"""Shared fixtures: a recorder over each embedded store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flightlog


@pytest.fixture(params=["memory", "sqlite"])
def fl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[flightlog.Flightlog]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/fl.db"
    recorder = flightlog.open(url)
    yield recorder
    recorder.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/shared.db"
