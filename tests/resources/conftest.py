"""A recorder over each store, in a fresh working directory (resource files land there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flightlog

from ..store_urls import STORE_KINDS, store_url


@pytest.fixture(params=STORE_KINDS)
def fl(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[flightlog.Flightlog]:
    monkeypatch.chdir(tmp_path)
    recorder = flightlog.open(store_url(request.param, request, tmp_path))
    yield recorder
    recorder.close()


@pytest.fixture
def sqlite_fl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[flightlog.Flightlog]:
    monkeypatch.chdir(tmp_path)
    recorder = flightlog.open(f"sqlite:///{tmp_path}/fl.db")
    yield recorder
    recorder.close()
