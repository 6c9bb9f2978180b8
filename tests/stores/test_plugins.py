"""Third-party stores, found by the entry-point group ``flightlog.stores``.

The example plugin in ``tests/plugin_store`` is installed into the test environment by
``make test`` (``pip install --no-deps -e tests/plugin_store``); it runs the conformance suite
itself (``tests/plugin_store/test_teststore_contract.py``), as a plugin author would.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

import flightlog
from flightlog import ConfigurationError
from flightlog.stores import ENTRY_POINT_GROUP, known_schemes, open_store

PLUGIN = Path(__file__).resolve().parent.parent / "plugin_store"


def _installed() -> None:
    names = {point.name for point in entry_points(group=ENTRY_POINT_GROUP)}
    assert "teststore" in names, (
        "the example plugin is not installed in this environment: "
        f"pip install --no-deps -e {PLUGIN} (make test does it)"
    )


def test_plugin_is_found_by_its_scheme_with_its_options() -> None:
    _installed()
    with flightlog.open("teststore://a", label="mine") as fl:
        assert type(fl.store).__name__ == "TestStore"
        assert fl.store.label == "mine"  # type: ignore[attr-defined]

        @fl.workflow
        def double(x: int) -> int:
            return 2 * x

        assert double.run(21, run_id="r") == 42
        assert fl.get_status("r") == "SUCCESSFUL"
    with pytest.raises(ConfigurationError, match="bad options"):
        open_store("teststore://", colour="blue")


def test_unknown_scheme_lists_built_in_and_plugin_schemes() -> None:
    _installed()
    assert {"memory", "sqlite", "postgresql", "postgres", "teststore"} <= set(known_schemes())
    with pytest.raises(ConfigurationError) as caught:
        flightlog.open("nosuch://x")
    message = str(caught.value)
    assert "'nosuch'" in message
    for scheme in ("memory", "postgresql", "sqlite", "teststore"):
        assert scheme in message
