"""The conformance suite, run unchanged against every store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flightlog.stores import Store, open_store
from flightlog.testing import StoreContract

from ..store_urls import STORE_KINDS, store_url


class TestStores(StoreContract):
    @pytest.fixture(params=STORE_KINDS)
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
        store = open_store(store_url(request.param, request, tmp_path))
        yield store
        store.close()


def test_sqlite_settings(tmp_path: Path) -> None:
    from flightlog.stores.sqlite import SQLiteStore

    normal = open_store(f"sqlite:///{tmp_path}/a.db")
    full = open_store(f"sqlite:///{tmp_path}/b.db?synchronous=FULL")
    also_full = open_store(f"sqlite:///{tmp_path}/c.db", synchronous="full")
    for store, expected in ((normal, 1), (full, 2), (also_full, 2)):
        assert isinstance(store, SQLiteStore)
        connection = store._connection()
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == expected
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        store.close()
