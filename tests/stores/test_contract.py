"""The conformance suite, run unchanged against every store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flightlog.stores import Store, open_store
from flightlog.testing import StoreContract


class TestStores(StoreContract):
    @pytest.fixture(params=["memory", "sqlite"])
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
        urls = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path}/store.db"}
        store = open_store(urls[request.param])
        yield store
        store.close()
