"""Shared fixtures: a recorder over each store, and the PostgreSQL test server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flightlog

from .postgres_server import Schemas, ServerError, schemas_for_tests
from .store_urls import STORE_KINDS, store_url


@pytest.fixture(params=STORE_KINDS)
def fl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[flightlog.Flightlog]:
    recorder = flightlog.open(store_url(request.param, request, tmp_path))
    yield recorder
    recorder.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/shared.db"


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[Schemas]:
    """A PostgreSQL server for the whole session (started here unless
    ``$FLIGHTLOG_TEST_POSTGRES_URL`` names one); its tests fail, never skip, without one."""
    try:
        schemas, server = schemas_for_tests()
    except ServerError as error:
        pytest.fail(f"cannot start the PostgreSQL test server: {error}", pytrace=False)
    try:
        yield schemas
    finally:
        try:
            schemas.close()
        finally:
            if server is not None:
                server.stop()


@pytest.fixture
def postgres_url(postgres_schemas: Schemas) -> str:
    """The URL of a fresh, empty PostgreSQL schema for this test."""
    return postgres_schemas.fresh_url()
