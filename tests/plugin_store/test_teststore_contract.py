"""The plugin author's own test: flightlog's conformance suite, run against the plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import flightlog
from flightlog.stores import Store
from flightlog.testing import StoreContract


class TestTestStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Store]:
        recorder = flightlog.open("teststore://")
        yield recorder.store
        recorder.close()
