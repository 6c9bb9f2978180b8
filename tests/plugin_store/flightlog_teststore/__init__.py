"""An example store plugin: flightlog's memory store under its own URL scheme.

A plugin registers ``factory(url, **options) -> Store`` under the entry-point group
``flightlog.stores``; the entry point's name is the URL scheme. ``flightlog.open("teststore://")``
then finds it.
"""

from __future__ import annotations

from typing import Any

from flightlog import ConfigurationError
from flightlog.stores import MemoryStore

__all__ = ["TestStore", "open_teststore"]


class TestStore(MemoryStore):
    """The memory store, remembering the options it was opened with."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, url: str, label: str | None = None) -> None:
        super().__init__(url)
        self.label = label


def open_teststore(url: str, **options: Any) -> TestStore:
    if not url.startswith("teststore://"):
        raise ConfigurationError(f"not a teststore URL: {url!r}")
    return TestStore(url, **options)
