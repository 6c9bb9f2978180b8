"""The Python versions flightlog declares, and that the tests run on one of them."""

from __future__ import annotations

import re
import sys

from .pythons import ROOT, declared_versions


def test_the_declared_versions_are_consecutive_from_requires_python() -> None:
    versions = declared_versions()
    minors = [int(version.split(".")[1]) for version in versions]
    assert minors == list(range(minors[0], minors[-1] + 1)), versions
    floor = re.search(r'requires-python = ">=(3\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert floor is not None and floor.group(1) == versions[0]


def test_this_python_is_a_declared_version() -> None:
    """A Python newer than the newest declared one is to be tested and declared first."""
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in declared_versions()
